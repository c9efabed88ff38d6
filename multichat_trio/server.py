"""`ChatServer`: the root nursery of `serve`, its TCP listener, and the orderly shutdown.

The nursery owns the listener (one task per client connection, see `connection.py`), the
flusher that sends every client's queued bytes (`flusher.py`) and the console stats task.
Events from the hub go to an optional bounded memory channel (the web monitor's feed); a reader
whose events cannot be queued waits, so backpressure lands on the clients that are sending,
never on the room's readers.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial

import trio

from .config import ServerConfig
from .connection import Connection
from .events import Event
from .flusher import Flusher
from .hub import Hub
from .stats import StatsMeter, format_line

log = logging.getLogger(__name__)


class ChatServer:
    def __init__(self, config: ServerConfig, events: trio.MemorySendChannel[list[Event]] | None = None) -> None:
        self.config = config
        self.hub = Hub(config, clock=trio.current_time)
        self.stats = StatsMeter(self.hub, trio.current_time)
        self.flusher = Flusher()
        self.port = 0
        self._events = events
        self._connections = 0
        self._all_gone = trio.Event()
        self._stop = trio.Event()
        self.stopped = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until `stop()`; then say goodbye to every client and return."""
        async with trio.open_nursery() as connections:
            await connections.start(self.flusher.run)
            async with trio.open_nursery() as listening:
                listeners = await listening.start(
                    partial(
                        trio.serve_tcp,
                        self._serve_connection,
                        self.config.port,
                        host=self.config.host,
                        backlog=self.config.max_clients,  # a connect storm waits in the queue, not in SYN retries
                        handler_nursery=connections,
                    )
                )
                self.port = listeners[0].socket.getsockname()[1]
                if self.config.stats_interval > 0:
                    listening.start_soon(self._print_stats)
                task_status.started(self)
                await self._stop.wait()
                listening.cancel_scope.cancel()  # closes the listeners: no newcomers during goodbyes
            self.hub.shutdown()
            await self.publish(self.hub.take_events())
            with trio.move_on_after(self.config.shutdown_grace):
                if self._connections:
                    await self._all_gone.wait()
            connections.cancel_scope.cancel()
        log.info("%s", format_line(self.stats.sample(), final=True))
        self.stopped.set()

    def stop(self) -> None:
        self._stop.set()

    async def publish(self, events: list[Event]) -> None:
        """Hand one hub call's events to the feed as one item, keeping their order."""
        if not events or self._events is None:
            return
        try:
            self._events.send_nowait(events)
        except trio.WouldBlock:
            await self._events.send(events)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._events = None

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        try:
            host = stream.socket.getpeername()[0]
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        if self._stop.is_set() or self._connections >= self.config.max_clients:
            await _refuse(stream, "Server shutting down" if self._stop.is_set() else "Server is full")
            return
        self._connections += 1
        try:
            await Connection(stream, self.hub, self.publish, host, self.flusher).run()
        finally:
            self._connections -= 1
            if not self._connections and self._stop.is_set():
                self._all_gone.set()

    async def _print_stats(self) -> None:
        while True:
            await trio.sleep(self.config.stats_interval)
            sample = self.stats.sample()
            log.info("%s", format_line(sample))
            await self.publish([Event("stats", sample)])


async def _refuse(stream: trio.SocketStream, reason: str) -> None:
    with trio.move_on_after(1):
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            await stream.send_all(f"ERROR :{reason}\r\n".encode())
    await trio.aclose_forcefully(stream)
