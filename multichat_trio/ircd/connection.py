"""One client connection: a reader loop in the connection's task; sending is the flusher's job.

The reader frames bytes into lines and hands each to the hub; it also keeps the liveness rules
(registration deadline, PING when idle, drop when the PONG never comes). What the hub queues for
the client is written by the server-wide flusher (`flusher.py`) straight into the socket with a
non-blocking `send`. Only when the kernel takes less than that (a slow reader) does the outbox
keep the rest and the connection start a drain task, which finishes the job with `send_all` and
then hands sending back. When the hub closes the client (QUIT, flood, SendQ, shutdown) the reader
stops and the queued goodbye gets a short grace to be delivered.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

import trio

from ..chat.events import Event
from ..chat.hub import Client, Deferred, Hub
from ..protocol import LineFramer
from ..tls import certfp
from .outbox import Outbox
from .websocket import IrcWebSocket

log = logging.getLogger(__name__)

RECEIVE_SIZE = 16 * 1024
Publish = Callable[[list[Event]], Awaitable[None]]
SEND_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_BLOCKING = trio.lowlevel.RunVar[trio.CapacityLimiter]("blocking_work")


def blocking_limiter() -> trio.CapacityLimiter:
    """One worker thread for every deferred check of the server: a password guesser gets no more CPU."""
    try:
        return _BLOCKING.get()
    except LookupError:
        limiter = trio.CapacityLimiter(1)
        _BLOCKING.set(limiter)
        return limiter


def _through_drain(data: bytes) -> int:
    """The outbox's `send` on a TLS connection: nothing goes out at once, so the drain task sends it."""
    return 0


class Connection:
    def __init__(
        self,
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | IrcWebSocket,
        hub: Hub,
        publish: Publish,
        host: str,
        nagle: bool,
    ) -> None:
        send: Callable[[bytes], int]
        if isinstance(stream, trio.SSLStream):
            # Encrypted: every write goes through the drain task (`send_all` on the TLS stream).
            self.stream: trio.abc.Stream = stream
            self._sock: socket.socket | trio.socket.SocketType = stream.transport_stream.socket
            send = _through_drain
        elif isinstance(stream, IrcWebSocket):
            # One message per line: every write goes through the drain task too (`send_all` frames it).
            self.stream, self._sock, send = stream, stream.socket, _through_drain
        else:
            # Own the stdlib socket under trio's wrapper, so the flusher can send without awaiting.
            sock = socket.socket(fileno=stream.socket.detach())
            self.stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))  # sets TCP_NODELAY
            self._sock, send = sock, sock.send
        if nagle:
            self.set_nagle(True)
        self.hub = hub
        self.publish = publish
        self._nursery: trio.Nursery | None = None
        self._receive_scope: trio.CancelScope | None = None
        #: Set once the hub has queued the client's goodbye (or the socket failed): nothing more to wait for.
        self._goodbye_queued = trio.Event()
        self.outbox = Outbox(hub.config.sendq, send, self._start_drain, self._stop_reading)
        self.client: Client = hub.connect(host, self.outbox)
        self.client.tls = isinstance(stream, trio.SSLStream)
        self.client.websocket = isinstance(stream, IrcWebSocket)

    def set_nagle(self, on: bool) -> None:
        """Let the kernel hold a small write until the last is acknowledged (on), or send at once."""
        with contextlib.suppress(OSError):  # closed meanwhile: nothing to tune
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(not on))

    def _stop_reading(self) -> None:
        self._goodbye_queued.set()
        if self._receive_scope is not None:
            self._receive_scope.cancel()

    def _start_drain(self) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._drain)

    async def _drain(self) -> None:
        """Send what the outbox kept back, and whatever joins it meanwhile, then hand sending back."""
        try:
            while data := self.outbox.take():
                await self.stream.send_all(data)
        except SEND_ERRORS:
            self.outbox.finish()
            self._stop_reading()

    async def run(self) -> None:
        """Serve the client until it leaves or is dropped; never raises for the peer's faults."""
        grace = self.hub.config.shutdown_grace
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    if await self._handshake():
                        await self._read()
                finally:
                    # Whatever ended the reader, the goodbye only gets a grace period from here on.
                    deadline = nursery.cancel_scope.deadline = trio.current_time() + grace
                    try:
                        if self.client.closed:  # its ERROR may wait behind lines held for a commit
                            with trio.move_on_at(deadline):
                                await self._goodbye_queued.wait()
                    finally:
                        try:
                            self.hub.fanout.flush()  # what the hub queued for us so far, goodbye included
                        finally:
                            self.outbox.finish()  # later writes are dropped; the drain task sends the rest
        except Exception:
            log.exception("connection from %s failed", self.client.host)
            await self._close("Internal server error", "error")
        finally:
            if not self.client.closed:
                self.hub.disconnect(self.client, "Connection closed")
                events = self.hub.take_events()
                with trio.CancelScope(shield=True), trio.move_on_after(grace):
                    await self.publish(events)
            if isinstance(self.stream, IrcWebSocket):
                await self.stream.aclose()  # a bounded closing handshake, so the goodbye is not lost
            else:
                await trio.aclose_forcefully(self.stream)

    async def _handshake(self) -> bool:
        """TLS first, within the registration deadline; the client certificate's fingerprint is its CERTFP."""
        if not isinstance(self.stream, trio.SSLStream):
            return True
        with trio.move_on_at(self.client.connected_at + self.hub.config.register_timeout):
            try:
                await self.stream.do_handshake()
            except trio.BrokenResourceError as exc:
                log.debug("TLS handshake with %s failed: %s", self.client.host, exc.__cause__ or exc)
                return False
            self.client.certfp = certfp(self.stream)
            return True
        return False

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
            liveness = deadline
            if client.rename_at is not None:  # nick protection: the grace to log in ends then
                deadline = min(deadline, client.rename_at)
            with trio.CancelScope(deadline=deadline) as scope:
                self._receive_scope = scope
                try:
                    data = await self.stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
            self._receive_scope = None
            if client.closed:
                return
            if self.outbox.broken:
                await self._close("Connection reset", "error")
                return
            if client.rename_at is not None and trio.current_time() >= client.rename_at:
                hub.nick_grace_over(client)
                await self.publish(hub.take_events())
                if scope.cancelled_caught and trio.current_time() < liveness:
                    continue  # only the grace ran out: read on (data that came meanwhile is handled below)
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
                if (deferred := hub.take_deferred(client)) is not None:
                    await self._run_deferred(deferred)
                if client.hold_until > trio.current_time():  # a failed login: its next line waits
                    await self.publish(hub.take_events())
                    await trio.sleep_until(client.hold_until)
            await self.publish(hub.take_events())

    async def _run_deferred(self, deferred: Deferred) -> None:
        """A command's blocking work (an argon2 check, reading the config): on a worker thread, one at a time.

        The client's later lines wait for it, so they keep their order; other clients do not.
        """
        await self.publish(self.hub.take_events())
        result = await trio.to_thread.run_sync(deferred.work, limiter=deferred.limiter or blocking_limiter())
        deferred.then(result)
