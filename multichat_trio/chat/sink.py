"""What the chat rules write a client's bytes to: a small protocol, so they never see trio's side.

The trio side's `ircd.outbox.Outbox` is one; the tests use it, or anything with the same members.
"""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    def write(self, data: bytes) -> bool:
        """Take `data` (whole lines); False once the client is over its SendQ limit."""
        ...

    def allow(self, extra: int, most: int) -> None:
        """A query's answer is coming: `extra` more bytes (at most `most` in all) may queue until it is taken."""
        ...

    def close(self) -> None:
        """The hub closed the client: stop reading from it (what was written still goes out)."""
        ...

    @property
    def size(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        ...
