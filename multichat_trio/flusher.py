"""The flusher: the one task that writes the hub's output (`fanout.py`) once per scheduler tick.

The first item of a round wakes it; it then waits one more scheduler batch, so every reader that
was runnable has handled its input first, and one write per client carries everything those
readers produced (instead of a task switch and a syscall per delivery). A write the kernel cannot
take whole is finished by that client's own drain task (see `connection.py`). After each round it
calls `after_round` (the server publishes events of clients the round dropped).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from .fanout import Fanout


class Flusher:
    def __init__(self, fanout: Fanout, after_round: Callable[[], Awaitable[None]]) -> None:
        self._fanout = fanout
        self._after_round = after_round
        self._wakeup = trio.lowlevel.ParkingLot()
        fanout.on_pending = self._wakeup.unpark_all
        #: Rounds so far (for profiles and the benchmark notes).
        self.rounds = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            if not self._fanout.pending:
                await self._wakeup.park()
                # One more scheduler batch: readers whose input arrived meanwhile queue theirs too.
                await trio.lowlevel.checkpoint()
            self.rounds += 1
            self._fanout.flush()
            await self._after_round()
            # Let the readers run before the next round, even if this one queued more.
            await trio.lowlevel.checkpoint()
