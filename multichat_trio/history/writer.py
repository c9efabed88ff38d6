"""The history writer: the one task that commits hub events to the store, then lets them out.

It takes batches from the hub's bounded event channel, commits everything that has queued in one
transaction (group commit), then releases the held deliveries of those events to their recipients
(`Hub.release`) and forwards the events, now with their ids, to the feed. So
nothing anyone sees of a public message precedes its commit. When the disk is slow, the event
channel fills and the clients that are sending wait; readers and the web feed do not.

Where the commit runs: a small batch (the usual case below a few hundred messages a second) on the
trio thread, since writing it to the WAL takes about 50 µs and handing it to a worker thread and back
took 0.4 ms p50 and 2.8 ms p90 on our VM, which every held line waited on top. A large batch, and
every batch while the disk is slow, on the worker thread. The WAL's checkpoint (the only `fsync`
under `synchronous=NORMAL`) is never run by a commit (`wal_autocheckpoint=0`): `run` has it done
on the worker thread once enough was written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from ..chat.events import Event
from ..chat.hub import Hub
from ..protocol import casefold
from .store import HistoryStore, NewEvent, StoreError

log = logging.getLogger(__name__)

#: Events committed in one transaction at most.
MAX_BATCH = 2048
#: A commit slower than this is logged: the disk is holding the chat up.
STALL_WARNING = 1.0
#: A batch of at most this many events is committed on the trio thread, unless the last commit was slower
#: than `SLOW_COMMIT` (a slow disk: its commits go to the worker thread until one is quick again).
INLINE_MOST, SLOW_COMMIT = 64, 0.002
#: Events written between two WAL checkpoints (about 1000 pages of WAL, SQLite's own default interval).
CHECKPOINT_EVERY = 4000

Forward = Callable[[list[Event]], Awaitable[None]]


class Slot:
    """The store's one thread slot, as `trio.to_thread.run_sync`'s limiter: taken at once when free.

    A `CapacityLimiter` always yields to the scheduler on acquiring, even when free, so each commit would
    start a scheduler pass late (at load, a whole round of the flusher's writes). When busy (a CHATHISTORY
    read or a pruning is running), it waits as a `CapacityLimiter` does.
    """

    def __init__(self) -> None:
        self._limiter = trio.CapacityLimiter(1)

    def try_acquire(self, borrower: object) -> bool:
        """Take the slot if it is free (for a commit on the trio thread); False if a thread holds it."""
        try:
            self._limiter.acquire_on_behalf_of_nowait(borrower)
        except trio.WouldBlock:
            return False
        return True

    async def acquire_on_behalf_of(self, borrower: object) -> None:
        if not self.try_acquire(borrower):
            await self._limiter.acquire_on_behalf_of(borrower)

    def release_on_behalf_of(self, borrower: object) -> None:
        self._limiter.release_on_behalf_of(borrower)


class HistoryWriter:
    def __init__(
        self,
        store: HistoryStore,
        hub: Hub,
        forward: Forward,
        wallclock: Callable[[], float] = time.time,
        inline_most: int = INLINE_MOST,
    ) -> None:
        self.store = store
        #: Batches of at most this many events are committed on the trio thread (0: every one on the worker).
        self.inline_most = inline_most
        self.hub = hub
        self.forward = forward
        self.wallclock = wallclock
        self.committed = 0  # hub events committed (the count `Hub.release` compares with)
        self.failing = False
        self.limiter = Slot()  # one thread at a time uses the connection (CHATHISTORY too)
        #: Events appended since the last pruning, and how many make `prune` run before its hour.
        self._appended = 0
        self._prune_after = 0
        self._slow = False  # the last commit took longer than SLOW_COMMIT
        self._unchecked = 0  # events written since the last WAL checkpoint
        self._prune_now = trio.Event()
        #: Channel states taken from the hub and not stored yet (kept for the next commit if one fails).
        self._channels: dict[str, dict[str, Any] | None] = {}
        self._accounts: dict[str, dict[str, Any] | None] = {}

    async def run(self, events: trio.MemoryReceiveChannel[list[Event]]) -> None:
        """Commit and release until the hub's channel closes; a clean shutdown flushes everything.

        It waits (yields to the scheduler) only when nothing is queued: after a commit, what queued
        meanwhile goes straight into the next one. A checkpoint there would cost a whole scheduler pass
        per commit, and a busy pass (the flusher's round of writes) lasts milliseconds, which every held
        line would wait on top of its commit.
        """
        pending: list[Event] = []
        closed = False
        async with events:
            while True:
                while len(pending) < MAX_BATCH and not closed:
                    try:
                        pending.extend(events.receive_nowait())
                    except trio.WouldBlock:
                        break
                    except trio.EndOfChannel:
                        closed = True
                if not pending:
                    if closed:
                        return
                    try:
                        pending.extend(await events.receive())
                    except trio.EndOfChannel:
                        return
                    continue
                batch, pending = pending, []
                await self._commit(batch)
                if self._unchecked >= CHECKPOINT_EVERY:
                    await self._checkpoint()
                pending.extend(self.hub.take_events())  # e.g. SendQ drops caused by the release

    async def _commit(self, batch: list[Event]) -> None:
        now = self.wallclock()
        rows = [NewEvent(event.ts or now, event.type, _channel_key(event), event.data) for event in batch]
        self._channels.update(self.hub.take_changed())
        self._accounts.update(self.hub.accounts.take_changed())
        channels, self._channels = self._channels, {}
        accounts, self._accounts = self._accounts, {}
        ids: list[int] = []
        stored = self.committed + sum(event.type != "stats" for event in batch)  # stats come from the server

        def append() -> list[int]:
            started = time.monotonic()
            try:
                return self.store.append(rows, channels, accounts)
            finally:
                took = time.monotonic() - started
                self._slow = took > SLOW_COMMIT
                if took > STALL_WARNING:  # said before anyone sees what waited for it
                    log.warning("history commit of %d events took %.1f s: the disk is slow", len(rows), took)

        try:
            if len(rows) <= self.inline_most and not self._slow and self.limiter.try_acquire(self):
                try:
                    ids = append()
                finally:
                    self.limiter.release_on_behalf_of(self)
                    self._release(stored)
            else:
                on_thread = partial(self._append_then_release, append, stored, trio.lowlevel.current_trio_token())
                ids = await trio.to_thread.run_sync(on_thread, limiter=self.limiter)
            self._appended += len(ids)
            self._unchecked += len(ids)
            if self._prune_after and self._appended >= self._prune_after:
                self._prune_now.set()
            if self.failing:
                log.warning("history store writable again")
                self.failing = False
        except StoreError as exc:
            self._channels = channels | self._channels  # newer states taken meanwhile win
            self._accounts = accounts | self._accounts
            if not self.failing:
                log.error("%s; the chat goes on, these events are not stored", exc)
                self.failing = True
        self.committed = stored
        for event_id, event, row in zip(ids, batch, rows, strict=False):  # no ids: the commit failed
            event.id, event.ts = event_id, row.ts
        await self.forward(batch)

    def _append_then_release(
        self, append: Callable[[], list[int]], stored: int, token: trio.lowlevel.TrioToken
    ) -> list[int]:
        """On the worker thread: commit, then have the held lines let out by trio's very next callback pass, on
        the trio thread: one scheduler batch before this task would wake up to do it (and start the next commit)."""
        try:
            return append()
        finally:
            token.run_sync_soon(self._release, stored)

    def _release(self, stored: int) -> None:
        """Let the held lines out (a trio callback, not a task: an exception here would end the whole run,
        so one is logged and the chat goes on)."""
        try:
            self.hub.release(stored)
            self.hub.fanout.settled()
        except Exception:
            log.exception("history: letting the held lines out failed")

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file (and `fsync` it) on the worker thread, never in a commit."""
        self._unchecked = 0
        try:
            await trio.to_thread.run_sync(self.store.checkpoint, limiter=self.limiter)
        except StoreError as exc:
            log.error("%s", exc)

    async def close(self) -> None:
        """Close the store once no worker thread uses it (a pruning may still be finishing)."""
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self.store.close, limiter=self.limiter)

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
                    deleted = await trio.to_thread.run_sync(prune, limiter=self.limiter)
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
