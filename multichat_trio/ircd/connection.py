"""One client connection: a reader loop in the connection's task; sending is the flusher's job.

The reader frames bytes into lines and hands each to the hub, and notes when it last heard from the
client; the deadlines (registration, PING when idle, drop when the PONG never comes, the end of a
nick grace) are kept for every connection by one task (`liveness.py`). What the hub queues for
the client is written by the server-wide flusher (`flusher.py`) straight into the socket with a
non-blocking `send`. Only when the kernel takes less than that (a slow reader) does the outbox
keep the rest and the connection start a drain task, which finishes the job with `send_all` and
then hands sending back. When the hub closes the client (QUIT, flood, SendQ, shutdown) the reader
stops and the queued goodbye gets a short grace to be delivered.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from collections.abc import Awaitable, Callable

import trio

from ..chat.events import Event
from ..chat.hub import Client, Deferred, Hub
from ..protocol import LineFramer, LineTooLong
from ..tls import certfp
from .liveness import Liveness
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


class _ThroughDrain:
    """The outbox's socket on a TLS or WebSocket connection: nothing goes out at once, the drain task sends it."""

    def send(self, data: bytes, /) -> int:
        return 0


_THROUGH_DRAIN = _ThroughDrain()


def _recv(sock: socket.socket, max_bytes: int) -> bytes | None:
    """What the kernel has, or None: the exception is caught here, so no waiting frame keeps its traceback."""
    try:
        return sock.recv(max_bytes)
    except BlockingIOError:
        return None


class PlainSocket(trio.abc.Stream):
    """A plain TCP connection as the three stream calls a `Connection` makes, straight on the stdlib socket.

    An idle client is a task waiting in `receive_some`, and every coroutine on that wait is memory the
    connection holds for as long as it lives: trio's `SocketStream` (over a trio socket) waits five
    calls deep, this one call deep. Same checkpoints as trio's: a read is always one.
    """

    __slots__ = ("socket",)

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock

    async def receive_some(self, max_bytes: int) -> bytes:
        await trio.lowlevel.checkpoint_if_cancelled()
        while (data := _recv(self.socket, max_bytes)) is None:
            await trio.lowlevel.wait_readable(self.socket)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with memoryview(data) as view:
            while view:
                await trio.lowlevel.wait_writable(self.socket)
                with contextlib.suppress(BlockingIOError):
                    view = view[self.socket.send(view) :]

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self.socket)

    async def aclose(self) -> None:
        trio.lowlevel.notify_closing(self.socket)  # a drain waiting to write wakes with ClosedResourceError
        self.socket.close()
        await trio.lowlevel.checkpoint()


class Connection:
    __slots__ = (
        "_drain_scope",
        "_drained",
        "_drains",
        "_goodbye_queued",
        "_goodbye_waiter",
        "_liveness",
        "_receive_scope",
        "_sock",
        "awaiting_pong",
        "client",
        "due",
        "heard",
        "hub",
        "outbox",
        "publish",
        "stream",
    )

    def __init__(
        self,
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | IrcWebSocket,
        hub: Hub,
        publish: Publish,
        host: str,
        nagle: bool,
        drains: trio.Nursery,
        liveness: Liveness,
    ) -> None:
        kernel: _ThroughDrain | socket.socket
        self.stream: trio.abc.Stream
        if isinstance(stream, trio.SSLStream):
            # Encrypted: every write goes through the drain task (`send_all` on the TLS stream).
            self.stream = stream
            self._sock: socket.socket | trio.socket.SocketType = stream.transport_stream.socket
            kernel = _THROUGH_DRAIN
        elif isinstance(stream, IrcWebSocket):
            # One message per line: every write goes through the drain task too (`send_all` frames it).
            self.stream, self._sock, kernel = stream, stream.socket, _THROUGH_DRAIN
        else:
            # Own the stdlib socket, so the flusher can send without awaiting and the reader waits light.
            sock = socket.socket(fileno=stream.socket.detach())
            sock.setblocking(False)
            self.stream, self._sock, kernel = PlainSocket(sock), sock, sock
            self.set_nagle(False)  # as trio's SocketStream does: TCP_NODELAY unless the flusher is busy
        if nagle:
            self.set_nagle(True)
        self.hub = hub
        self.publish = publish
        #: Where drain tasks run (the server's connections nursery): one only while the kernel lags.
        self._drains = drains
        self._drain_scope: trio.CancelScope | None = None
        #: Set when the drain task started last has finished (None: none started).
        self._drained: trio.Event | None = None
        #: A TLS or WebSocket read's scope, cancelled to stop the reader (a plain socket's wait is woken instead).
        self._receive_scope: trio.CancelScope | None = None
        self._liveness = liveness
        #: When the client was last heard from (`trio.current_time()`), and whether a PING awaits its PONG.
        self.heard = trio.current_time()
        self.awaiting_pong = False
        #: When `liveness` looks at this connection next (inf: not in its heap).
        self.due = math.inf
        #: True once the hub has queued the client's goodbye (or the socket failed): nothing more to wait for.
        self._goodbye_queued = False
        self._goodbye_waiter: trio.Event | None = None  # made only when the end has to wait for that
        self.outbox = Outbox(hub.config.sendq, kernel, self)
        self.client: Client = hub.connect(host, self.outbox)
        self.client.tls = isinstance(stream, trio.SSLStream)
        self.client.websocket = isinstance(stream, IrcWebSocket)

    def set_nagle(self, on: bool) -> None:
        """Let the kernel hold a small write until the last is acknowledged (on), or send at once."""
        with contextlib.suppress(OSError):  # closed meanwhile: nothing to tune
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(not on))

    def on_stop(self) -> None:
        """The hub closed the client (or its socket failed): wake the reader, so the goodbye gets its grace."""
        self._goodbye_queued = True
        if self._goodbye_waiter is not None:
            self._goodbye_waiter.set()
        if self._receive_scope is not None:
            self._receive_scope.cancel()
        elif self._drain_scope is not None:
            # Waking the reader would wake the drain's wait too (one socket): the drain wakes it once done,
            # within the grace the goodbye has.
            self._drain_scope.deadline = min(
                self._drain_scope.deadline, trio.current_time() + self.hub.config.shutdown_grace
            )
        else:
            self._wake_reader()

    def _wake_reader(self) -> None:
        """A plain socket's reader waiting to read wakes with `ClosedResourceError` (the socket closes soon)."""
        if isinstance(self.stream, PlainSocket):
            with contextlib.suppress(OSError, ValueError):  # closed already
                trio.lowlevel.notify_closing(self._sock)

    def on_backlog(self) -> None:
        """The kernel took part of a write: a drain task sends the rest (and what joins it)."""
        self._drained = trio.Event()
        self._drains.start_soon(self._drain, self._drained)

    async def _drain(self, drained: trio.Event) -> None:
        """Send what the outbox kept back, and whatever joins it meanwhile, then hand sending back."""
        try:
            with trio.CancelScope() as self._drain_scope:
                while data := self.outbox.take():
                    await self.stream.send_all(data)
        except SEND_ERRORS:
            self.outbox.finish()
            self.on_stop()
        except Exception:  # it runs in the server's nursery: one client's fault must not stop the others
            log.exception("sending to %s failed", self.client.host)
            self.outbox.finish()
            self.on_stop()
        finally:
            self._drain_scope = None
            drained.set()
            if self._goodbye_queued:
                self._wake_reader()  # it waited for this drain (see `on_stop`)

    async def run(self, first: bytes = b"", gone: Callable[[Connection], None] | None = None) -> None:
        """Serve the client until it leaves or is dropped; never raises for the peer's faults.

        `first`: bytes the client sent that were read already (after a load balancer's PROXY header).
        `gone`: called at the very end (the server forgets the connection).
        """
        grace = self.hub.config.shutdown_grace
        try:
            try:
                if not await self._handshake():
                    return
                # The reader, in this coroutine: a helper's frame would be memory every idle client holds.
                client = self.client
                framer = LineFramer()
                plain = self.stream.socket if isinstance(self.stream, PlainSocket) else None
                if first:
                    await self._handle(framer.feed(first))
                    del first
                self._liveness.watch(self)
                while not client.closed:
                    data = b""
                    if self._goodbye_queued:
                        pass  # stopped while this reader was busy: no read
                    elif plain is None:
                        failed = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
                        with trio.CancelScope() as self._receive_scope, contextlib.suppress(*failed):
                            data = await self.stream.receive_some(RECEIVE_SIZE)
                        self._receive_scope = None
                    else:  # `PlainSocket.receive_some` inline: one coroutine fewer held by every idle client
                        try:
                            await trio.lowlevel.checkpoint_if_cancelled()
                            if (data := _recv(plain, RECEIVE_SIZE)) is None:
                                # Waited: that was this read's schedule point. No second one, which at light
                                # load would be a whole scheduler pass on a message's way for nothing.
                                while data is None:
                                    await trio.lowlevel.wait_readable(plain)
                                    data = _recv(plain, RECEIVE_SIZE)
                            else:  # there was more already: let the others run first (a flooder waits its turn)
                                await trio.lowlevel.cancel_shielded_checkpoint()
                        except (trio.ClosedResourceError, OSError):  # woken by `on_stop`, or reset
                            data = b""
                    if client.closed:
                        return
                    if self.outbox.broken:
                        await self._close("Connection reset", "error")
                        return
                    if not data:
                        await self._close("Connection closed", "quit")
                        return
                    self.heard = trio.current_time()
                    self.awaiting_pong = False
                    await self._handle(framer.feed(data))
                    data = b""  # what this loop's frame holds, it holds for every idle client: not the bytes read
            finally:
                # Whatever ended the reader, the goodbye (and the drain task) only get a grace period from here on.
                with trio.move_on_at(trio.current_time() + grace):
                    try:
                        if self.client.closed and not self._goodbye_queued:  # it may wait behind held lines
                            self._goodbye_waiter = trio.Event()
                            await self._goodbye_waiter.wait()
                    finally:
                        try:
                            self.hub.fanout.flush()  # what the hub queued for us so far, goodbye included
                        finally:
                            self.outbox.finish()  # later writes are dropped; the drain task sends the rest
                    if self._drained is not None:
                        await self._drained.wait()
                if self._drain_scope is not None:
                    self._drain_scope.cancel()
        except Exception:
            log.exception("connection from %s failed", self.client.host)
            await self._close("Internal server error", "error")
        finally:
            if not self.client.closed:
                self.hub.disconnect(self.client, "Connection closed")
                events = self.hub.take_events()
                with trio.CancelScope(shield=True), trio.move_on_after(grace):
                    await self.publish(events)
            try:
                if isinstance(self.stream, IrcWebSocket):
                    await self.stream.aclose()  # a bounded closing handshake, so the goodbye is not lost
                else:
                    await trio.aclose_forcefully(self.stream)
            finally:
                if gone is not None:
                    gone(self)

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

    async def _handle(self, lines: list[bytes | LineTooLong]) -> None:
        """The hub takes each line in turn; then what they caused is published (a frame of its own: see above)."""
        hub, client = self.hub, self.client
        for line in lines:
            hub.receive(client, line)
            if client.closed:
                break
            while (deferred := hub.take_deferred(client)) is not None:  # a follow-up may defer again
                await self._run_deferred(deferred)
            if client.hold_until > trio.current_time():  # a failed login: its next line waits
                await self.publish(hub.take_events())
                await trio.sleep_until(client.hold_until)
        await self.publish(hub.take_events())
        hub.fanout.settled()
        self._liveness.watch(self)  # a deadline may have come closer (registered: PINGs; a nick grace began)

    async def _run_deferred(self, deferred: Deferred) -> None:
        """A command's blocking work (an argon2 check, reading the config): on a worker thread, one at a time.

        The client's later lines wait for it, so they keep their order; other clients do not.
        """
        await self.publish(self.hub.take_events())
        if deferred.awaited:
            result = await deferred.work()
        else:
            result = await trio.to_thread.run_sync(deferred.work, limiter=deferred.limiter or blocking_limiter())
        self.hub.finish(self.client, deferred, result)
