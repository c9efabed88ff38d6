"""The server-wide flusher: one task that sends every client's queued bytes once per scheduler tick.

A broadcast appends the same encoded line to each member's outbox; an outbox that goes from empty
to non-empty asks to be flushed. The flusher task is woken by the first such request and runs in
trio's next batch, after every reader that was runnable has handled its input, so one `send` per
client carries everything those readers produced (instead of one task switch and one syscall per
delivery). A send the kernel cannot take whole is finished by that client's own drain task, which
trio wakes when the socket is writable again (see `connection.py`).
"""

from __future__ import annotations

from typing import Protocol

import trio


class Flushable(Protocol):
    def flush(self) -> None:
        """Send what is queued without blocking; hand any remainder to a task of its own."""


class Flusher:
    def __init__(self) -> None:
        self._dirty: list[Flushable] = []
        self._wakeup = trio.lowlevel.ParkingLot()
        #: Flush rounds and client flushes so far (for profiles and the benchmark notes).
        self.rounds = 0
        self.flushes = 0

    def schedule(self, writer: Flushable) -> None:
        """Flush `writer` in the next round. Called once per empty → non-empty outbox transition."""
        if not self._dirty:
            self._wakeup.unpark()
        self._dirty.append(writer)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            if not self._dirty:
                await self._wakeup.park()
                # One more scheduler batch: readers whose input arrived meanwhile queue theirs too.
                await trio.lowlevel.checkpoint()
            dirty, self._dirty = self._dirty, []
            self.rounds += 1
            self.flushes += len(dirty)
            for writer in dirty:
                writer.flush()
            # Let the readers run before the next round, even if a flush queued more for someone.
            await trio.lowlevel.checkpoint()
