"""The relay proxy: `python -m multichat_trio relay`, a trusted gateway that marks its users with `*`.

`Relay.serve` owns one nursery: the listener and, per user, a `Link` whose two pump tasks copy
lines client → server and server → client. Each link first vouches for its user with `WEBIRC`
(see `relay_rules.webirc_line`), then relays; the line rules themselves (the `*` on every `NICK`)
live in the sans-IO `relay_rules` module.

Memory is bounded by construction: a pump holds at most one read (`RECEIVE_SIZE`) and one
unfinished line, and does not read again until its last send is done, so a slow peer slows the
other side through TCP instead of growing a queue. Every wait on a peer has a deadline
(`RelayLimits`): connecting upstream, each send, and silence in both directions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import trio

from ..config import RelayConfig, naming_listener
from ..ircd.accept import accept_forever, task_each
from ..protocol import Message, encode
from ..tls import client_context, server_context
from .rules import RelaySession, check_secret, webirc_line

log = logging.getLogger(__name__)

RECEIVE_SIZE = 64 * 1024
Connect = Callable[[], Awaitable[trio.abc.Stream]]


@dataclass(frozen=True)
class RelayLimits:
    """Deadlines and caps of the relay (seconds unless said otherwise)."""

    #: Time to reach the chat server before the user is told it is unavailable.
    connect_timeout: float = 10.0
    #: A link with no bytes either way for this long is closed. Longer than the server's own
    #: ping cycle (120 s + 60 s), so it only catches what the server's liveness check does not.
    idle_timeout: float = 300.0
    #: A send that cannot finish (a peer that stopped reading) ends the link after this long.
    send_timeout: float = 30.0
    #: Time users get to receive the goodbye when the relay stops.
    shutdown_grace: float = 2.0
    #: Users relayed at once (each costs two sockets).
    max_connections: int = 5000


class Relay:
    """The relay: listen on `config.port`, forward each user to `config.server_host:server_port`."""

    def __init__(self, config: RelayConfig, limits: RelayLimits | None = None) -> None:
        if config.relay_secret is None:
            raise ValueError("the relay needs the server's relay secret (relay_secret)")
        check_secret(config.relay_secret)
        self.secret = config.relay_secret
        self.config = config
        self.limits = limits or RelayLimits()
        #: Users connect over TLS (`--tls-cert`); the relay reaches the server over TLS (`--server-tls`).
        self.tls = server_context(config.tls_cert, config.tls_key) if config.tls_cert else None
        self.upstream_tls = client_context(config.server_ca) if config.server_tls else None
        self.port = 0
        self.connections_total = 0
        self.lines_up = 0  # client → server
        self.lines_down = 0  # server → client
        self._links: set[Link] = set()
        self._started = 0.0  # set by serve()
        self._stop = trio.Event()
        self._all_gone = trio.Event()
        self.stopped = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[Relay] = trio.TASK_STATUS_IGNORED) -> None:
        """Relay until `stop()`; then tell every user goodbye, close both sides and return."""
        self._started = trio.current_time()
        async with trio.open_nursery() as links:
            async with trio.open_nursery() as listening:
                with naming_listener("relay", "--port", self.config.host, self.config.port):
                    listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
                for listener in listeners:  # backs off, logging once in a while, when out of descriptors
                    listening.start_soon(
                        partial(accept_forever, listener, task_each(self._serve_user), links, what="relay")
                    )
                self.port = listeners[0].socket.getsockname()[1]
                if self.config.stats_interval > 0:
                    listening.start_soon(self._print_stats)
                task_status.started(self)
                await self._stop.wait()
                listening.cancel_scope.cancel()  # no newcomers during the goodbyes
            for link in list(self._links):
                link.close("relay shutting down", quit_reason="Relay shutting down")
            with trio.move_on_after(self.limits.shutdown_grace):
                if self._links:
                    await self._all_gone.wait()
            links.cancel_scope.cancel()
        log.info("%s", self.stats_line(final=True))
        self.stopped.set()

    def stop(self) -> None:
        self._stop.set()

    def stats_line(self, *, final: bool = False) -> str:
        uptime = int(trio.current_time() - self._started)
        return (
            f"{'final relay stats' if final else 'relay stats'}: {len(self._links)} users relayed now, "
            f"{self.connections_total} connections, {self.lines_up} lines client->server, "
            f"{self.lines_down} lines server->client, uptime {uptime // 60}m{uptime % 60:02d}s"
        )

    async def _print_stats(self) -> None:
        while True:
            await trio.sleep(self.config.stats_interval)
            log.info("%s", self.stats_line())

    async def _serve_user(self, plain: trio.SocketStream) -> None:
        """One relayed user; it owns `plain` (as `accept_forever` wants), closed on every path."""
        try:
            try:
                ip = plain.socket.getpeername()[0]
            except OSError:
                return
            # Over TLS the handshake happens at the first read or write, within the link's deadlines.
            stream = plain if self.tls is None else trio.SSLStream(plain, self.tls, server_side=True)
            if self._stop.is_set() or len(self._links) >= self.limits.max_connections:
                await _refuse(stream, "relay shutting down" if self._stop.is_set() else "relay is full")
                return
            link = Link(self, stream, ip, self._connect_upstream)
            self._links.add(link)
            self.connections_total += 1
            try:
                await link.run()
            finally:
                self._links.discard(link)
                if not self._links and self._stop.is_set():
                    self._all_gone.set()
        finally:
            await trio.aclose_forcefully(plain)

    async def _connect_upstream(self) -> trio.abc.Stream:
        """A stream to the chat server: TCP, and TLS on it with `--server-tls` (the server's name verified)."""
        host = self.config.server_host
        stream = await trio.open_tcp_stream(host, self.config.server_port)
        if self.upstream_tls is None:
            return stream
        secure = trio.SSLStream(stream, self.upstream_tls, server_hostname=host)
        try:
            await secure.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(secure)
            raise
        return secure


async def _refuse(stream: trio.abc.Stream, reason: str) -> None:
    with trio.move_on_after(1):
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            await stream.send_all(_error(reason))
    await trio.aclose_forcefully(stream)


class Link:
    """One relayed user: the user's stream, the server stream, and the two pumps between them.

    Whichever side ends (EOF, error, timeout) ends the link: both sockets are closed at once.
    """

    def __init__(self, relay: Relay, client: trio.abc.Stream, ip: str, connect: Connect) -> None:
        self.relay = relay
        self.limits = relay.limits
        self.client = client
        self.ip = ip
        self.upstream: trio.abc.Stream | None = None
        self.session = RelaySession()
        self._connect = connect
        self._scope = trio.CancelScope()
        self._client_lock = trio.Lock()  # both pumps write to the user; whole lines only
        self._torn: set[trio.abc.Stream] = set()  # streams whose last send may have stopped mid-line
        self._last_heard = trio.current_time()
        self._goodbye: str | None = None
        self._quit_reason: str | None = None

    def close(self, reason: str, *, quit_reason: str | None = None) -> None:
        """End the link: the user gets `ERROR :Closing link: reason`, the server `QUIT :quit_reason`."""
        if self._goodbye is None:
            self._goodbye, self._quit_reason = reason, quit_reason
        self._scope.cancel()

    async def run(self) -> None:
        """Connect upstream, vouch for the user, relay until either side ends; never raises for a peer's fault."""
        try:
            with self._scope:
                self.upstream = await self._open_upstream()
                if self.upstream is None:
                    return
                if not await self._send(self.upstream, webirc_line(self.relay.secret, self.ip)):
                    return
                async with trio.open_nursery() as pumps:
                    pumps.start_soon(self._pump_up, self.upstream)
                    pumps.start_soon(self._pump_down, self.upstream)
            if self._goodbye is not None:
                await self._say_goodbye()
        except Exception:
            log.exception("relay link for %s failed", self.ip)
        finally:
            # Nested: under an outer cancellation each aclose_forcefully re-raises Cancelled.
            try:
                await trio.aclose_forcefully(self.client)
            finally:
                if self.upstream is not None:
                    await trio.aclose_forcefully(self.upstream)

    async def _open_upstream(self) -> trio.abc.Stream | None:
        config = self.relay.config
        why = f"no answer in {self.limits.connect_timeout:g} s"
        with trio.move_on_after(self.limits.connect_timeout):
            try:
                return await self._connect()
            except OSError as exc:
                why = _strerror(exc)
            except trio.BrokenResourceError as exc:  # the TLS handshake failed
                cause = exc.__cause__
                why = f"TLS: {cause.reason if isinstance(cause, ssl.SSLError) and cause.reason else cause or exc}"
        why = f"{config.server_host}:{config.server_port}: {why}"
        log.warning("upstream unavailable for %s (%s)", self.ip, why)
        await self._send_client(_error(f"upstream unavailable ({why})"))
        return None

    async def _pump_up(self, upstream: trio.abc.Stream) -> None:
        """User → server: rewrite `NICK`, answer what the server must not see, forward the rest."""
        try:
            while data := await self._receive(self.client):
                result = self.session.from_client(data)
                if result.to_server and not await self._send(upstream, result.to_server):
                    return
                self.relay.lines_up += result.lines
                if result.to_client and not await self._send_client(result.to_client):
                    return
                if result.close is not None:
                    self.close(result.close)
                    return
        finally:
            self._scope.cancel()

    async def _pump_down(self, upstream: trio.abc.Stream) -> None:
        """Server → user: complete lines, unchanged. At the server's EOF its last lines are already sent.

        A server that closes without its own ERROR (it died, or was killed) still leaves the user
        a goodbye saying why, as a server would.
        """
        try:
            while data := await self._receive(upstream):
                result = self.session.from_server(data)
                if result.to_client and not await self._send_client(result.to_client):
                    return
                self.relay.lines_down += result.lines
            if not self.session.server_said_goodbye:
                self.close("upstream closed the connection")
        finally:
            self._scope.cancel()

    async def _receive(self, stream: trio.abc.Stream) -> bytes:
        """The next bytes from `stream`; b"" at its end, on error, or once the link has been idle too long."""
        while True:
            with trio.move_on_at(self._last_heard + self.limits.idle_timeout):
                try:
                    data = await stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return b""
                self._last_heard = trio.current_time()
                return data
            # The deadline passed, but the other direction may have been busy meanwhile.
            if trio.current_time() >= self._last_heard + self.limits.idle_timeout:
                self.close("idle timeout", quit_reason="Relay idle timeout")
                return b""

    async def _send_client(self, data: bytes) -> bool:
        with trio.move_on_after(self.limits.send_timeout):
            async with self._client_lock:
                return await self._send(self.client, data)
        self._torn.add(self.client)
        return False

    async def _send(self, stream: trio.abc.Stream, data: bytes) -> bool:
        """Send `data` within the send timeout; False if the peer is gone or stopped reading."""
        self._torn.add(stream)
        with trio.move_on_after(self.limits.send_timeout):
            try:
                await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return False
            self._torn.discard(stream)
            return True
        log.info("relay link for %s: send timed out after %g s", self.ip, self.limits.send_timeout)
        return False

    async def _say_goodbye(self) -> None:
        assert self._goodbye is not None
        with trio.move_on_after(self.limits.shutdown_grace):
            if self.upstream is not None and self._quit_reason is not None:
                await self._send(
                    self.upstream, self._after_torn(self.upstream, encode(Message("QUIT", (self._quit_reason,))))
                )
            await self._send(self.client, self._after_torn(self.client, _error(self._goodbye)))

    def _after_torn(self, stream: trio.abc.Stream, data: bytes) -> bytes:
        # A cancelled send may have left half a line: end it, so our line is read on its own
        # (an empty line is ignored by IRC peers).
        return b"\r\n" + data if stream in self._torn else data


def _error(reason: str) -> bytes:
    return encode(Message("ERROR", (f"Closing link: {reason}",)))


def _strerror(exc: OSError) -> str:
    """The most specific reason in `exc` (trio wraps each failed attempt in the cause group)."""
    cause = exc.__cause__
    for inner in (*getattr(cause, "exceptions", ()), exc):
        if isinstance(inner, OSError) and inner.errno:
            return os.strerror(inner.errno)
    return str(exc)


async def run_relay(config: RelayConfig, stop: trio.Event) -> None:
    """`python -m multichat_trio relay`: serve until `stop` is set (Ctrl+C or SIGTERM), then stop cleanly."""
    relay = Relay(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.serve)
        print(
            f"MultiChat relay is running on {config.host}:{relay.port}, "
            f"forwarding to {config.server_host}:{config.server_port}{' over TLS' if relay.upstream_tls else ''}\n"
            f"  connect with e.g.: irssi -c {config.host} -p {relay.port}{' -tls' if relay.tls else ''} -n yourname"
            "  (you appear as *yourname)\n"
            f"  stop with Ctrl+C",
            flush=True,
        )
        await stop.wait()
        relay.stop()
