"""The flusher: the one task that writes the hub's output (`fanout.py`) once per scheduler tick.

The first item of a round wakes it; it then waits one more scheduler batch, so every reader that
was runnable has handled its input first, and one write per client carries everything those
readers produced (instead of a task switch and a syscall per delivery). While writing is not busy,
there is nothing to join and those two scheduler passes would be most of a message's latency: then
a reader writes what its lines produced itself, as soon as it is through them (`Fanout.settled`).
A write the kernel cannot take whole is finished by that client's own drain task (see
`connection.py`). After each round it calls `after_round` (the server publishes events of clients
the round dropped).

It also measures how busy writing keeps it (`LoadMeter`) and reports when that crosses a line
either way: the server then lets the kernel join small writes (Nagle) while it is busy, and sends
every write at once while it is not (see docs/architecture.md, "Sending").
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import trio

from ..chat.fanout import Fanout

#: Seconds of wall time over which the share spent writing is judged: short, as until a load is judged busy each
#: reader writes its own message to every member, one after another (docs/architecture.md, "Sending").
WINDOW = 0.05
#: Busy above this share of a window: coalesce; below the lower one: send at once.
BUSY, IDLE = 0.5, 0.2


class LoadMeter:
    """The share of wall time spent flushing, judged once per window, with hysteresis.

    Plain Python: `add(start, end)` per round, in `time.perf_counter()` seconds; returns the new
    state when it changes (True: busy), else None.
    """

    def __init__(self, now: float) -> None:
        self.busy = False
        self._window_start = now
        self._spent = 0.0

    def add(self, start: float, end: float) -> bool | None:
        self._spent += end - start
        elapsed = end - self._window_start
        if elapsed < WINDOW:
            return None
        share = self._spent / elapsed
        self._window_start, self._spent = end, 0.0
        busy = share > IDLE if self.busy else share >= BUSY
        if busy == self.busy:
            return None
        self.busy = busy
        return busy


class Flusher:
    def __init__(
        self,
        fanout: Fanout,
        after_round: Callable[[], Awaitable[None]],
        on_load: Callable[[bool], None] = lambda busy: None,
    ) -> None:
        self._fanout = fanout
        self._after_round = after_round
        self._on_load = on_load
        self._wakeup = trio.lowlevel.ParkingLot()
        fanout.on_pending = self._wakeup.unpark_all
        fanout.on_settled = self._flush_unless_busy
        self._meter = LoadMeter(time.perf_counter())

    def _flush_unless_busy(self) -> None:
        """A task is through its input: write its output now, unless the round's joining pays (busy)."""
        if not self._meter.busy:
            self._flush()

    def _flush(self) -> None:
        started = time.perf_counter()
        self._fanout.flush()
        changed = self._meter.add(started, time.perf_counter())
        if changed is not None:
            self._on_load(changed)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            if not self._fanout.pending:
                await self._wakeup.park()
                # One more scheduler batch: readers whose input arrived meanwhile queue theirs too.
                await trio.lowlevel.checkpoint()
            self._flush()
            await self._after_round()
            # Let the readers run before the next round, even if this one queued more.
            await trio.lowlevel.checkpoint()
