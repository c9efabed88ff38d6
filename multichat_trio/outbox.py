"""A client's outgoing bytes: a byte-bounded queue that a writer drains in one `send_all`.

Plain Python: the hub pushes pre-encoded lines, the server's writer task takes them. When a push
would pass the limit the outbox refuses it and reports the overflow, so one slow reader is dropped
("SendQ exceeded") instead of slowing the room or growing without bound.
"""

from __future__ import annotations

from collections.abc import Callable


class Outbox:
    def __init__(self, limit: int, on_ready: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self._on_ready = on_ready
        #: Set once the connection is closing: the writer flushes what is queued, then stops.
        self.closing = False

    def push(self, data: bytes) -> bool:
        """Queue `data`; False (and nothing queued) if it would pass the limit or we are closing."""
        if self.closing:
            return True
        size = self._size + len(data)
        if size > self.limit:
            return False
        chunks = self._chunks
        if not chunks:
            self._on_ready()
        chunks.append(data)
        self._size = size
        return True

    def close(self, final: bytes = b"") -> None:
        """Queue a last line (whatever the limit) and mark the outbox closing."""
        if self.closing:
            return
        if final:
            self._chunks.append(final)
            self._size += len(final)
        self.closing = True
        self._on_ready()

    def take(self) -> bytes:
        """Everything queued, as one bytes object; empties the outbox."""
        if not self._chunks:
            return b""
        data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = []
        self._size = 0
        return data

    @property
    def size(self) -> int:
        return self._size
