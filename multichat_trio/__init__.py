"""MultiChat: a small self-hosted chat server speaking an IRC subset, built on trio."""

__version__ = "0.1.0"
