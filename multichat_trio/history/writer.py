"""The history writer: hub events into the store's journal, then out to their recipients, then into SQLite.

`record` runs in the task that publishes a hub call's events, on the trio thread: it writes them to
the journal (one `os.write`, see `journal.py`) and lets out the lines held for them (`Hub.release`)
at once, so nothing anyone sees of a public message precedes its write, and no scheduler pass or
thread hand-off comes between. `run`, the writer's task, applies the journal's records to SQLite,
everything that queued in one transaction (group commit), off the path of any message: SQLite reads
the rows from the records' JSON in one statement (`HistoryStore.apply`), with the GIL released. When
SQLite falls behind by `MAX_BACKLOG` events (a slow disk, a long burst), the clients that are sending
wait (`room`); readers and the web feed do not. A read of the store (CHATHISTORY) first waits until
what was recorded before it is applied (`Reads`).

The WAL's checkpoint (the only `fsync` under `synchronous=NORMAL`) is never run by a commit
(`wal_autocheckpoint=0`): `run` has it done on the worker thread once enough was written.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from ..chat.events import Event
from ..chat.hub import Hub
from ..protocol import casefold
from .journal import Record
from .store import HistoryStore, NewEvent, StoreError

log = logging.getLogger(__name__)

#: Events applied in one transaction at most.
MAX_BATCH = 2048
#: Events recorded and not yet in SQLite beyond which the sending clients wait (`room`): a burst of this many
#: (the closed-loop benchmark's 20,000 messages) rides on the journal while SQLite catches up on the other core.
MAX_BACKLOG = 16 * MAX_BATCH
#: A commit (or journal write) slower than this is logged: the disk is holding the chat up.
STALL_WARNING = 1.0
#: Seconds the journaled events wait to join one SQLite transaction (unless someone waits for it): off every
#: message's path, as their lines are out already; one transaction a message cost the trio thread 0.1-0.3 ms.
APPLY_WINDOW = 0.05
#: A window that took in this many events is a burst: SQLite waits another window, up to `MAX_DEFER` seconds in all,
#: so the burst's CPU goes to its lines (SQLite takes ~10 µs a row: in a burst, the other core is the load generator
#: or the clients); it does not wait once half `MAX_BACKLOG` is pending.
BURST, MAX_DEFER, HURRY_AT = 64, 1.0, MAX_BACKLOG // 2
#: A transaction of at most this many events runs on the trio thread (it is off every message's path: the lines
#: are out), unless the last was slower than `SLOW_COMMIT`; a thread's hand-off and its GIL switches cost more.
INLINE_MOST, SLOW_COMMIT = 64, 0.002
#: Events written between two WAL checkpoints (about 1000 pages of WAL, SQLite's own default interval).
CHECKPOINT_EVERY = 4000
#: Bytes of journal beyond which it is emptied once SQLite holds everything in it.
JOURNAL_RESET = 1 << 20


class Reads:
    """The store's limiter for readers (`trio.to_thread.run_sync`'s): a read starts after the writes before it.

    The writer's own transactions take the same one slot directly (`HistoryWriter.slot`).
    """

    def __init__(self, slot: trio.CapacityLimiter, caught_up: Callable[[], Awaitable[None]]) -> None:
        self._slot, self._caught_up = slot, caught_up

    async def acquire_on_behalf_of(self, borrower: object) -> None:
        await self._caught_up()
        await self._slot.acquire_on_behalf_of(borrower)

    def release_on_behalf_of(self, borrower: object) -> None:
        self._slot.release_on_behalf_of(borrower)


class HistoryWriter:
    def __init__(self, store: HistoryStore, hub: Hub, wallclock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.hub = hub
        self.wallclock = wallclock
        self.committed = 0  # hub events recorded (the count `Hub.release` compares with)
        self.failing = False
        self.slot = trio.CapacityLimiter(1)  # one thread at a time uses the connection
        self.limiter = Reads(self.slot, self.caught_up)  # CHATHISTORY's
        #: Journaled batches not yet in SQLite, and how many events they hold.
        self._pending: deque[Record] = deque()
        self.backlog = 0
        self._recorded = self._applied = 0  # the newest record journaled, and applied
        self._progress = trio.Event()  # set (and replaced) whenever a transaction ends
        self._wake = trio.Event()
        self._hurry = trio.Event()  # someone waits for SQLite (a read, a sender, the stop): no window
        self._stopping = False
        self._slow = False  # the last transaction took longer than SLOW_COMMIT
        self._behind = False  # senders wait for SQLite (said once until it catches up)
        #: Events appended since the last pruning, and how many make `prune` run before its hour.
        self._appended = 0
        self._prune_after = 0
        self._unchecked = 0  # events written since the last WAL checkpoint
        self._prune_now = trio.Event()
        #: Channel states and accounts taken from the hub and not journaled yet (kept if a write fails).
        self._channels: dict[str, dict[str, Any] | None] = {}
        self._accounts: dict[str, dict[str, Any] | None] = {}

    def record(self, batch: list[Event]) -> None:
        """Journal one hub call's events and let out what waited for them; the events get their ids.

        A journal that cannot be written (a full disk) is logged once: the chat goes on, these events unstored.
        """
        now = self.wallclock()
        rows = [NewEvent(event.ts or now, event.type, _channel_key(event), event.data) for event in batch]
        self._channels.update(self.hub.take_changed())
        self._accounts.update(self.hub.accounts.take_changed())
        stored = self.committed + sum(event.type != "stats" for event in batch)  # stats come from the server
        started = time.monotonic()
        try:
            record = self.store.record(rows, self._channels, self._accounts)
        except StoreError as exc:
            if not self.failing:
                log.error("%s; the chat goes on, these events are not stored", exc)
                self.failing = True
        else:
            self._pending.append(record)
            self._channels, self._accounts = {}, {}
            self.backlog += len(rows)
            self._recorded = record.seq
            for (event_id, ts, *_), event in zip(record.rows, batch, strict=True):
                event.id, event.ts = event_id, ts
            self._wake.set()
            if self.backlog >= HURRY_AT:
                self._hurry.set()
            if self.failing:
                log.warning("history store writable again")
                self.failing = False
        if (took := time.monotonic() - started) > STALL_WARNING:
            log.warning("history journal write took %.1f s: the disk is slow", took)
        self.committed = stored
        try:
            self.hub.release(stored)
            self.hub.fanout.settled()
        except Exception:  # in the task of whoever published: never end it for a bug in delivery
            log.exception("history: letting the held lines out failed")

    async def room(self) -> None:
        """Wait while SQLite is `MAX_BACKLOG` events behind the journal (a slow disk, a burst); said once a stall."""
        if self.backlog > MAX_BACKLOG and not self._behind:
            self._behind = True
            log.warning(
                "history: SQLite is %d events behind its journal (a slow disk or a long burst): senders wait",
                self.backlog,
            )
        while self.backlog > MAX_BACKLOG:
            self._hurry.set()
            await self._progress.wait()

    async def caught_up(self) -> None:
        """Wait until everything recorded so far is in SQLite (applied, or given up on)."""
        target = self._recorded
        while self._applied < target:
            self._hurry.set()
            await self._progress.wait()

    def stop(self) -> None:
        """No more records: `run` applies what is left, then returns."""
        self._stopping = True
        self._wake.set()
        self._hurry.set()

    async def run(self) -> None:
        """Apply the journaled batches to SQLite until `stop()`, whatever queued meanwhile in one transaction."""
        while True:
            if not self._pending:
                if self._stopping:
                    return
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            if not self._stopping:
                await self._window()
            taken = [self._pending.popleft()]
            size = len(taken[0].rows)
            while self._pending and size + len(self._pending[0].rows) <= MAX_BATCH:
                taken.append(self._pending.popleft())
                size += len(taken[-1].rows)
            await self._apply(taken, size)
            if self._unchecked >= CHECKPOINT_EVERY:
                await self._checkpoint()
            if not self._pending and self.store.journal.size > JOURNAL_RESET:
                self._reset_journal()

    async def _window(self) -> None:
        """Wait `APPLY_WINDOW` for more to join the transaction, more windows while a burst lasts (`BURST`)."""
        waited = 0.0
        while waited < MAX_DEFER:
            before = self.backlog
            with trio.move_on_after(APPLY_WINDOW):
                await self._hurry.wait()
            waited += APPLY_WINDOW
            if self._hurry.is_set() or self.backlog - before < BURST:
                return

    async def _apply(self, taken: list[Record], size: int) -> None:
        append = partial(self.store.apply, taken)
        started = time.monotonic()
        try:
            if size <= INLINE_MOST and not self._slow and self._try_slot():
                try:
                    append()
                finally:
                    self.slot.release_on_behalf_of(self)
            else:
                await trio.to_thread.run_sync(append, limiter=self.slot)
            self._appended += size
            self._unchecked += size
            if self._prune_after and self._appended >= self._prune_after:
                self._prune_now.set()
        except StoreError as exc:
            log.error("%s; the chat goes on, these events are not stored", exc)
        took = time.monotonic() - started
        self._slow = took > SLOW_COMMIT
        if took > STALL_WARNING:
            log.warning("history commit of %d events took %.1f s: the disk is slow", size, took)
        self._applied = taken[-1].seq
        self.backlog -= size
        self._behind = self._behind and self.backlog > 0
        self._progress.set()
        self._progress, self._hurry = trio.Event(), trio.Event()

    def _try_slot(self) -> bool:
        try:
            self.slot.acquire_on_behalf_of_nowait(self)
        except trio.WouldBlock:
            return False
        return True

    def _reset_journal(self) -> None:
        try:
            self.store.journal.reset()
        except OSError as exc:
            log.error("cannot empty the history journal %r: %s", self.store.journal.path, exc)

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file (and `fsync` it) on the worker thread, never in a commit."""
        self._unchecked = 0
        try:
            await trio.to_thread.run_sync(self.store.checkpoint, limiter=self.slot)
        except StoreError as exc:
            log.error("%s", exc)

    async def close(self) -> None:
        """Close the store once no worker thread uses it (a pruning may still be finishing)."""
        if not self._pending:  # a clean stop: SQLite holds everything, the journal is left empty
            self._reset_journal()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self.store.close, limiter=self.slot)

    async def prune(self, *, retention_days: float, max_events: int, every: float) -> None:
        """Delete old events every `every` seconds, and whenever a tenth of `max_events` was added since.

        So a burst cannot grow the file far past `max_events` before the next scheduled pruning.
        """
        self._prune_after = max(1, max_events // 10) if max_events > 0 else 0
        while True:
            self._appended = 0
            self._prune_now = trio.Event()
            older_than = self.wallclock() - retention_days * 86400 if retention_days > 0 else None
            keep = max_events if max_events > 0 else None
            if older_than is not None or keep is not None:
                try:
                    prune = partial(self.store.prune, older_than=older_than, keep=keep)
                    deleted = await trio.to_thread.run_sync(prune, limiter=self.slot)
                    if deleted:
                        log.info("history: pruned %d old events", deleted)
                        self._unchecked += deleted
                except StoreError as exc:
                    log.error("%s", exc)
            with trio.move_on_after(every):
                await self._prune_now.wait()


def _channel_key(event: Event) -> str | None:
    channel = event.data.get("channel")
    return casefold(channel) if isinstance(channel, str) else None
