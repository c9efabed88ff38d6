"""The web monitor: the HTTP app (hypercorn), the live feed and its WebSocket server, the page's files."""
