"""Every connection's deadlines, kept by one task for the whole server (not a cancel scope per read).

An idle client is a reader waiting on its socket, and whatever that wait holds, every idle client
holds: a `CancelScope` with a deadline is about 1.3 KB of it (the scope, its `CancelStatus` with two
sets, the deadline heap's entries), a fifth of a client. So the reader only notes when it last heard
from the client (`Connection.heard`), and this task keeps one heap entry per connection: when one
comes due it works out the connection's real deadline from its state (registration, PING sent,
nick-protection grace), pushes the entry again if that is later, or acts: sends the PING, drops the
client whose registration or PONG is late, ends a nick grace. Dropping a client closes it through
the hub, which stops its reader (`Connection.on_stop`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from ..chat.events import Event
from ..chat.hub import Hub

if TYPE_CHECKING:
    from .connection import Connection

log = logging.getLogger(__name__)


class Liveness:
    def __init__(self, hub: Hub, publish: Callable[[list[Event]], Awaitable[None]]) -> None:
        self.hub = hub
        self.publish = publish
        self._heap: list[tuple[float, int, Connection]] = []
        self._order = itertools.count()  # ties broken by arrival, never by comparing connections
        self._sleep: trio.CancelScope | None = None
        self._gone = 0  # entries of connections that ended, left in the heap until compacted

    def forget(self, connection: Connection) -> None:
        """`connection` ended: its entry goes when popped, or when the ended ones are half the heap."""
        if connection.due == math.inf:
            return
        connection.due = math.inf
        self._gone += 1
        if self._gone > 64 and self._gone * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if entry[0] == entry[2].due]
            heapq.heapify(self._heap)
            self._gone = 0

    def watch(self, connection: Connection) -> None:
        """Check `connection` at its next deadline (again now, if that moved closer: a nick grace began)."""
        due = self.due(connection)
        if due >= connection.due:
            return  # an entry at or before it is in the heap: it will be worked out again then
        connection.due = due
        heapq.heappush(self._heap, (due, next(self._order), connection))
        if self._sleep is not None and due < self._sleep.deadline:
            self._sleep.deadline = due

    def due(self, connection: Connection) -> float:
        """When `connection` next needs something done, from its state now."""
        due, rename_at = self._deadline(connection), connection.client.rename_at
        return due if rename_at is None else min(due, rename_at)

    def _deadline(self, connection: Connection) -> float:
        """When the client is late: to register, to answer the PING, or (a PING due) to be heard from."""
        client, config = connection.client, self.hub.config
        if not client.registered:
            return client.connected_at + config.register_timeout
        return connection.heard + (config.ping_timeout if connection.awaiting_pong else config.ping_interval)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with trio.CancelScope(deadline=self._heap[0][0] if self._heap else math.inf) as self._sleep:
                await trio.sleep_forever()
            self._sleep = None
            now = trio.current_time()
            heap = self._heap
            while heap and heap[0][0] <= now:
                due, _, connection = heapq.heappop(heap)
                if due != connection.due:
                    continue  # a stale entry (a closer one was pushed since), or the connection ended
                connection.due = math.inf
                if connection.client.closed:
                    continue
                try:
                    self._check(connection, now)
                except Exception:  # a fault of ours with one client must not stop every client's deadlines
                    log.exception("deadline of %s failed", connection.client.host)
                    connection.client.outbox.close()  # its reader stops and the connection ends
                    continue
                if not connection.client.closed:
                    self.watch(connection)
            if (events := self.hub.take_events()) or self.hub.fanout.pending:
                await self.publish(events)
                self.hub.fanout.settled()

    def _check(self, connection: Connection, now: float) -> None:
        hub, client, config = self.hub, connection.client, self.hub.config
        if client.rename_at is not None and now >= client.rename_at:
            hub.nick_grace_over(client)
        if now < self._deadline(connection):
            return
        if not client.registered:
            hub.disconnect(client, "Registration timed out", kind="ping")
        elif connection.awaiting_pong:
            hub.disconnect(client, f"Ping timeout: {config.ping_timeout:g} seconds", kind="ping")
        else:
            hub.ping(client)
            connection.awaiting_pong = True
            connection.heard = now
