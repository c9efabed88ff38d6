"""The `*` relay: a trusted WEBIRC gateway (the trio proxy) and its sans-IO line rules."""
