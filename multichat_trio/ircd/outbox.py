"""A client's send side: bytes go straight to the socket; what the kernel cannot take waits here.

Plain Python: `sock.send` is a non-blocking socket send (no socket in unit tests: everything waits). When
the kernel takes only part of a write, the rest starts a backlog, its owner's `on_backlog` asks
for a task that drains it (`take()` until empty), and later writes join the backlog so nothing
overtakes it. The backlog is bounded: a write that takes it past `limit` returns False, and the hub drops
that slow reader ("SendQ exceeded") instead of letting it slow the room or grow without bound.
A query's answer (LIST, WHO) may take it further, by a bounded `allow`ance, until it drains.
"""

from __future__ import annotations

from typing import Protocol


class Owner(Protocol):
    """Who is told (the connection: one reference, where two bound methods cost a hundred bytes a client)."""

    def on_backlog(self) -> None:
        """A backlog started: start the task that drains it."""

    def on_stop(self) -> None:
        """The client was closed, or its socket failed: stop its reader."""


class Socket(Protocol):
    """Where writes go: a non-blocking socket (held itself: a bound `send` would be 64 bytes a client more)."""

    def send(self, data: bytes, /) -> int:
        """Bytes the kernel took (raises `BlockingIOError` or another `OSError` like a socket)."""
        ...


class _Nobody:
    def on_backlog(self) -> None:
        pass

    def on_stop(self) -> None:
        pass


NOBODY = _Nobody()


class Outbox:
    __slots__ = (
        "_backlog",
        "_direct",
        "_draining",
        "_extra",
        "_granted",
        "_most",
        "_owner",
        "_size",
        "_sock",
        "broken",
        "closing",
        "limit",
    )

    def __init__(
        self,
        limit: int,
        sock: Socket | None = None,
        owner: Owner = NOBODY,
    ) -> None:
        self.limit = limit
        self._sock = sock
        self._owner = owner
        self._backlog: list[bytes] | None = None  # a list only while there is one: most clients never lag
        self._size = 0
        #: Bytes allowed on top of `limit` for a query's answer: granted, then in force from the next
        #: write (the answer's) until the next `take()` (which hands the answer to the drain task).
        self._granted = 0
        self._extra = 0
        self._most = 0
        self._draining = sock is None  # without a socket, everything waits for `take()`
        #: Not broken, not draining, nothing granted: `write` goes straight to the socket.
        self._direct = not self._draining
        #: Set once the hub closed the client: its reader stops; writes go on until `finish()`.
        self.closing = False
        #: Set when the socket failed or the connection is done: writes are dropped.
        self.broken = False

    def write(self, data: bytes) -> bool:
        """Send `data`, or queue what the kernel does not take; False once the backlog is over the limit."""
        if not self._direct:  # broken, lagging or granted: the usual case (a socket, nothing waiting) skips this
            if self.broken:
                return True
            if self._granted:
                self._extra = min(self._extra + self._granted, self._most)
                self._granted = 0
                self._direct = not self._draining
            if self._draining:
                return self._queue(data)
        try:
            sent = self._sock.send(data)  # type: ignore[union-attr]  # not draining: there is a socket
        except BlockingIOError:
            sent = 0
        except OSError:
            self.finish()
            self._owner.on_stop()
            return True
        if sent == len(data):
            return True
        self._draining = True
        self._direct = False
        self._owner.on_backlog()
        return self._queue(data[sent:])

    def _queue(self, data: bytes) -> bool:
        if self._backlog is None:
            self._backlog = [data]
        else:
            self._backlog.append(data)
        self._size += len(data)
        return self._size <= self.limit + self._extra

    def allow(self, extra: int, most: int) -> None:
        """Let `extra` more bytes (at most `most` in all) queue, from the next write to the next `take()`."""
        self._granted = min(self._granted + extra, most)
        self._most = most
        self._direct = self._direct and not self._granted

    def take(self) -> bytes:
        """Everything waiting, as one `bytes`; b"" once it is all gone (and writes go direct again)."""
        self._extra = 0  # the answer it was allowed for has left the backlog
        if not self._backlog:
            self._draining = self._sock is None
            self._direct = not (self._draining or self.broken or self._granted)
            return b""
        data = b"".join(self._backlog) if len(self._backlog) > 1 else self._backlog[0]
        self._backlog = None
        self._size = 0
        return data

    def close(self) -> None:
        """The hub closed the client: its reader stops (what is queued still goes out)."""
        if not self.closing:
            self.closing = True
            self._owner.on_stop()

    def finish(self) -> None:
        """No more writes: the socket failed or is about to close."""
        self.broken = True
        self._direct = False

    @property
    def draining(self) -> bool:
        return self._draining and self._sock is not None

    @property
    def size(self) -> int:
        return self._size
