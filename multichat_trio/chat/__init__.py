"""The chat's state and rules, in plain Python: the hub, what each command does, the fan-out, events."""
