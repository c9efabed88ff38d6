"""The history: the SQLite store (synchronous, on a worker thread) and the task that commits to it."""
