"""One client connection: a reader loop in the connection's task and a writer task beside it.

The reader frames bytes into lines and hands each to the hub; it also keeps the liveness rules
(registration deadline, PING when idle, drop when the PONG never comes). The writer drains the
client's outbox with one `send_all` for everything queued. When the hub closes the client (QUIT,
flood, SendQ, shutdown) the reader stops and the writer gets a short grace to deliver the goodbye.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from .events import Event
from .hub import Client, Hub
from .outbox import Outbox
from .protocol import LineFramer

log = logging.getLogger(__name__)

RECEIVE_SIZE = 64 * 1024
Publish = Callable[[list[Event]], Awaitable[None]]


class Connection:
    def __init__(self, stream: trio.SocketStream, hub: Hub, publish: Publish, host: str) -> None:
        self.stream = stream
        self.hub = hub
        self.publish = publish
        self._wakeup = trio.lowlevel.ParkingLot()
        self._receive_scope: trio.CancelScope | None = None
        self.outbox = Outbox(hub.config.sendq, self._on_outbox_ready)
        self.client: Client = hub.connect(host, self.outbox)

    def _on_outbox_ready(self) -> None:
        self._wakeup.unpark_all()
        if self.outbox.closing and self._receive_scope is not None:
            self._receive_scope.cancel()  # closed from elsewhere: stop waiting for input

    async def run(self) -> None:
        """Serve the client until it leaves or is dropped; never raises for the peer's faults."""
        grace = self.hub.config.shutdown_grace
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write)
                try:
                    await self._read()
                finally:
                    # Whatever ended the reader, the writer only gets a grace period from here on.
                    nursery.cancel_scope.deadline = trio.current_time() + grace
        except Exception:
            log.exception("connection from %s failed", self.client.host)
            await self._close("Internal server error", "error")
        finally:
            if not self.client.closed:
                self.hub.disconnect(self.client, "Connection closed")
                events = self.hub.take_events()
                with trio.CancelScope(shield=True), trio.move_on_after(grace):
                    await self.publish(events)
            await trio.aclose_forcefully(self.stream)

    async def _close(self, reason: str, kind: str) -> None:
        self.hub.disconnect(self.client, reason, kind=kind)
        await self.publish(self.hub.take_events())

    async def _read(self) -> None:
        hub, client, config = self.hub, self.client, self.hub.config
        framer = LineFramer()
        last_heard = trio.current_time()
        awaiting_pong = False
        while not client.closed:
            if not client.registered:
                deadline = client.connected_at + config.register_timeout
            else:
                deadline = last_heard + (config.ping_timeout if awaiting_pong else config.ping_interval)
            with trio.CancelScope(deadline=deadline) as scope:
                self._receive_scope = scope
                try:
                    data = await self.stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
            self._receive_scope = None
            if client.closed:
                return
            if scope.cancelled_caught:
                if not client.registered:
                    await self._close("Registration timed out", "ping")
                elif awaiting_pong:
                    await self._close(f"Ping timeout: {config.ping_timeout:g} seconds", "ping")
                else:
                    hub.ping(client)
                    awaiting_pong = True
                    last_heard = trio.current_time()
                continue
            if not data:
                await self._close("Connection closed", "quit")
                return
            last_heard = trio.current_time()
            awaiting_pong = False
            for line in framer.feed(data):
                hub.receive(client, line)
                if client.closed:
                    break
            await self.publish(hub.take_events())

    async def _write(self) -> None:
        outbox = self.outbox
        while True:
            data = outbox.take()
            if data:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    if not self.client.closed:
                        await self._close("Connection reset", "error")
                    return
            elif outbox.closing:
                return
            else:
                await self._wakeup.park()
