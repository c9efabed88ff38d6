"""`ChatServer`: the root nursery of `serve`, its TCP listener, and the orderly shutdown.

The nursery owns the listener (one task per client connection, see `connection.py`), the
flusher that writes what the hub queued for the clients (`flusher.py`) and the console stats task.
Events from the hub go to an optional bounded memory channel (the web monitor's feed); a reader
whose events cannot be queued waits, so backpressure lands on the clients that are sending,
never on the room's readers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
import trio_websocket

from ..chat import rehash
from ..chat.accounts import restore_accounts
from ..chat.commands import COMMANDS
from ..chat.events import Event, well_formed
from ..chat.hub import Hub
from ..chat.limits import LogEvery
from ..chat.replay import ReplayLine, stored_line
from ..chat.stats import StatsMeter, format_line
from ..config import ServerConfig, StartupError, naming_listener
from ..history.store import HistoryStore, NewEvent, StoreError, locate
from ..history.writer import MAX_BACKLOG, HistoryWriter
from ..protocol import casefold
from ..protocol.proxy import Parsed, ProxyError, ProxyHeader
from ..tls import LiveCertificate, certfp
from ..web.origins import OriginPolicy, parse_origins
from .accept import LOG_INTERVAL, accept_forever, client_cap, task_each
from .connection import Connection, blocking_limiter
from .flusher import Flusher
from .liveness import Liveness
from .websocket import MAX_MESSAGE, IrcWebSocket, choose_subprotocol, origin_header, tcp_socket

if TYPE_CHECKING:
    from ..cluster.link import Link

log = logging.getLogger(__name__)

#: Seconds between history prunings.
PRUNE_EVERY = 3600.0


class ChatServer:
    def __init__(
        self,
        config: ServerConfig,
        events: trio.MemorySendChannel[list[Event]] | None = None,
        *,
        irc_ws_port: int | None = -1,
    ) -> None:
        self.config = config
        #: The IRC-over-WebSocket port to bind: None is off, 0 any free port; -1 (default) takes the setting's.
        self._irc_ws_bind = (config.irc_ws_port or None) if irc_ws_port == -1 else irc_ws_port
        #: Its port once it listens, else None.
        self.irc_ws_port: int | None = None
        #: Which pages may open an IRC WebSocket: the web monitor's policy when `serve` runs it (app.py).
        self.origins = OriginPolicy(parse_origins(config.web_origins))
        self.hub = Hub(config, COMMANDS, clock=trio.current_time)
        self.stats = StatsMeter(self.hub, trio.current_time)
        self.flusher = Flusher(self.hub.fanout, self._publish_dropped, self._on_load)
        self.port = 0
        #: The TLS listener's port once it listens (with --tls-cert), else None.
        self.tls_port: int | None = None
        #: The certificate of the TLS listener (with --tls-cert); a rehash reads it again.
        self.tls: LiveCertificate | None = None
        if config.tls_cert:
            self.tls = LiveCertificate(
                "TLS", config.tls_cert, config.tls_key, client_ca=config.tls_client_ca, flag="--tls-cert"
            )
            self.hub.certificates.append(self.tls)
        #: Connections served at once: `max_clients`, or fewer if the open-file limit says so.
        self.max_clients = client_cap(config)
        if self.max_clients < config.max_clients:
            log.warning("open-file limit: at most %d chat clients, not %d", self.max_clients, config.max_clients)
        self._refusals: dict[str, LogEvery] = {}
        self._events = events
        self._writer: HistoryWriter | None = None
        #: Recent events read back from the history store at start (for the web feed).
        self.restored: list[Event] = []
        self._connections: dict[Connection, None] = {}  # a dict as a set: fewer bytes per entry
        #: WebSocket connections still in their upgrade: they hold a socket too, so they count as clients.
        self._upgrading = 0
        self._nagle = False  # see `_on_load`
        #: The connections' nursery, where a connection's drain task runs while the kernel lags.
        self._drains: trio.Nursery
        self._publish = self.publish  # one bound method for every Connection, not one each
        self.liveness = Liveness(self.hub, self._publish)
        #: Cluster mode's link to the other nodes through Redis (`--cluster`), else None.
        self.link: Link | None = None
        if config.cluster:
            from ..cluster.link import Link  # Redis's client is imported only by a node of a cluster

            self.link = Link(self.hub, config.cluster, self.publish, ttl=config.cluster_ttl)
        self._proxies = config.proxy_networks
        self._all_gone = trio.Event()
        self._stop = trio.Event()
        self.stopped = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[ChatServer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until `stop()`; then say goodbye to every client and return."""
        store = await self._open_history()
        async with trio.open_nursery() as recording:
            writer_done = trio.Event()
            if store is not None:
                self._writer = writer = HistoryWriter(store, self.hub)
                self.hub.history, self.hub.history_limiter = store, writer.limiter  # CHATHISTORY reads
                recording.start_soon(self._run_history, writer, writer_done)
                recording.start_soon(
                    partial(
                        writer.prune,
                        retention_days=self.config.retention_days,
                        max_events=self.config.max_events,
                        every=PRUNE_EVERY,
                    )
                )
            else:
                writer_done.set()
            link_done = trio.Event()
            if self.link is not None:  # before the listeners: the node starts from the cluster's state
                self.hub.cluster = self.link
                if store is not None:
                    await self._share_history(self.link, store, writer.limiter)
                await recording.start(self._run_link, self.link, link_done)
            else:
                link_done.set()
            await self._serve_chat(task_status)
            if self.link is not None:
                self.link.stop()  # the others remove this node's users at once
                await link_done.wait()
            if self._writer is not None:
                self._writer.stop()  # the writer stores what is left, then stops
            await writer_done.wait()
            recording.cancel_scope.cancel()
        log.info("%s", format_line(self.stats.sample(), final=True))
        self.stopped.set()

    async def _serve_chat(self, task_status: trio.TaskStatus[ChatServer]) -> None:
        async with trio.open_nursery() as connections:
            self._drains = connections
            await connections.start(self.flusher.run)
            await connections.start(self.liveness.run)
            async with trio.open_nursery() as listening:
                with naming_listener("chat", "--port", self.config.host, self.config.port):
                    listeners = await trio.open_tcp_listeners(
                        self.config.port,
                        host=self.config.host,
                        backlog=self.max_clients,  # a connect storm waits in the queue, not in SYN retries
                    )
                for listener in listeners:
                    listening.start_soon(accept_forever, listener, self._admit, connections)
                self.port = listeners[0].socket.getsockname()[1]
                if self.tls is not None:
                    with naming_listener("chat TLS", "--tls-port", self.config.host, self.config.tls_port):
                        secure = await trio.open_tcp_listeners(
                            self.config.tls_port, host=self.config.host, backlog=self.max_clients
                        )
                    serve_tls = partial(self._serve_connection, tls=True)
                    for listener in secure:
                        listening.start_soon(accept_forever, listener, task_each(serve_tls), connections, "chat TLS")
                    self.tls_port = self.hub.tls_port = secure[0].socket.getsockname()[1]
                if self._irc_ws_bind is not None:
                    port = self._irc_ws_bind
                    with naming_listener("chat WebSocket", "--irc-ws-port", self.config.host, port):
                        sockets = await trio.open_tcp_listeners(port, host=self.config.host, backlog=self.max_clients)
                    for listener in sockets:
                        listening.start_soon(
                            accept_forever, listener, task_each(self._serve_websocket), connections, "chat WS"
                        )
                    self.irc_ws_port = sockets[0].socket.getsockname()[1]
                if self.config.stats_interval > 0:
                    listening.start_soon(self._print_stats)
                listening.start_soon(self._report_refusals)
                task_status.started(self)
                await self._stop.wait()
                listening.cancel_scope.cancel()  # closes the listeners: no newcomers during goodbyes
            self.hub.shutdown()
            await self.publish(self.hub.take_events())
            with trio.move_on_after(self.config.shutdown_grace):
                if self._connections:
                    await self._all_gone.wait()
            connections.cancel_scope.cancel()

    def stop(self) -> None:
        self._stop.set()

    async def rehash(self) -> str:
        """Read the settings again (SIGHUP) and apply what can change live; the report says what did."""
        if self.hub.reload is None:
            return "Rehash refused: this server has no settings to read again"
        read = partial(rehash.read, self.hub.reload, list(self.hub.certificates))
        loaded = await trio.to_thread.run_sync(read, limiter=blocking_limiter())
        report = rehash.apply(self.hub, loaded)
        await self.publish(self.hub.take_events())
        return report

    async def publish(self, events: list[Event]) -> None:
        """Hand one hub call's events to the history writer, then to the feed as one item, keeping their order.

        The writer journals them and lets their held lines out before this returns; letting them out may
        record more (a client dropped for its SendQ), which go the same way at once.
        """
        writer = self._writer
        while events:
            if writer is not None:
                writer.record(events)
            if self._events is not None:
                try:
                    try:
                        self._events.send_nowait(events)  # no scheduler pass unless the feed is behind
                    except trio.WouldBlock:
                        await self._events.send(events)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._events = None  # the consumer is gone (shutting down): nothing left to tell
            events = self.hub.take_events() if writer is not None else []
        if writer is not None and writer.backlog > MAX_BACKLOG:
            await writer.room()  # a slow disk: the sender waits, not the room

    def _on_load(self, busy: bool) -> None:
        """The flusher got busy (or idle again): Nagle on every socket while busy, off after.

        While writing takes most of the time, letting the kernel join small writes to a client that
        has not acknowledged the last one saves a segment each, the bulk of the cost; when there is
        time to spare, every line goes out at once (docs/architecture.md, "Sending").
        """
        if not self.config.nagle_when_busy or busy == self._nagle:
            return
        self._nagle = busy
        log.debug("sending is %s: Nagle %s for %d clients", "busy" if busy else "idle", busy, len(self._connections))
        for connection in self._connections:
            connection.set_nagle(busy)

    async def _publish_dropped(self) -> None:
        """After a flush round: the events of clients it dropped (SendQ exceeded, broken socket)."""
        await self.publish(self.hub.take_events())

    async def _open_history(self) -> HistoryStore | None:
        """Open the store and read back the recent past; one that cannot be opened stops the start."""
        if not self.config.db:
            return None
        store: HistoryStore | None = None
        try:
            path = await trio.to_thread.run_sync(locate, self.config.db)
            store = HistoryStore(path)
            await trio.to_thread.run_sync(store.open)
            recent, restored, channels = await trio.to_thread.run_sync(self._read_back, store)
            bans = await trio.to_thread.run_sync(store.server_bans, self.hub.wallclock())
            accounts = await trio.to_thread.run_sync(store.accounts)
            markers = await trio.to_thread.run_sync(store.read_markers)
        except StoreError as exc:
            if store is not None:
                await trio.to_thread.run_sync(store.close)
            raise StartupError(f"{exc} (--db '' runs without history)") from exc
        kept = self.hub.restore_channels(channels)
        self.hub.recent = {key: lines for key, lines in recent.items() if key in self.hub.channels}
        self.restored = restored
        for ban in bans:
            self.hub.bans.add(ban)
        known = restore_accounts(self.hub.accounts, accounts)
        self.hub.read_markers.restore(markers)
        self.hub.durable = True
        shown = path if path == ":memory:" else os.path.abspath(path)
        log.info(
            "history: %s (%d channels restored, %d with recent messages, %d server bans, %d accounts)",
            shown,
            kept,
            len(self.hub.recent),
            len(bans),
            known,
        )
        if store.recovered:
            log.info("history: %d batches the last run let out were applied from its journal", store.recovered)
        if store.unreadable:
            log.warning("history: %d lines of the journal were not records, left out", store.unreadable)
        return store

    def _read_back(self, store: HistoryStore) -> tuple[dict[str, deque[ReplayLine]], list[Event], list[dict[str, Any]]]:
        """Runs in a worker thread: the replay caches, the feed's recent events and the stored channels.

        A row that could not be replayed or shown (see `stored_line`, `well_formed`) is left out,
        and said once here, not at every join.
        """
        recent: dict[str, deque[ReplayLine]] = {}
        skipped: set[int] = set()
        channels = store.channels()
        if self.config.replay > 0:
            # Only the channels that exist without members (autojoin, restored): the others start empty.
            names = [*self.config.autojoin_channels, *(str(state.get("name", "")) for state in channels)]
            for key in {casefold(name) for name in names if name}:
                lines: deque[ReplayLine] = deque(maxlen=self.config.replay)
                for row in store.recent(self.config.replay, channel=key, types=("message",)):
                    line = stored_line(row.ts, row.data)
                    if line is None:
                        skipped.add(row.id)
                    else:
                        lines.append(line)
                if lines:
                    recent[key] = lines
        restored: list[Event] = []
        for row in store.recent(self.config.feed_backlog):
            if well_formed(row.type, row.data, row.ts):
                restored.append(Event(row.type, row.data, row.id, row.ts))  # type: ignore[arg-type]
            else:
                skipped.add(row.id)
        if skipped:
            ids = ", ".join(map(str, sorted(skipped)[:10])) + (", ..." if len(skipped) > 10 else "")
            log.warning("history: %d stored events left out, malformed (ids %s)", len(skipped), ids)
        return recent, restored, channels

    async def _share_history(self, link: Link, store: HistoryStore, limiter: Any) -> None:
        """Cluster mode with a store: it takes in what the other nodes said that it lacks, once, at start."""
        from ..cluster.link import order

        newest = await trio.to_thread.run_sync(store.newest_msgid, limiter=limiter)
        link.stored_upto = order(newest or "")

        async def backfill(events: list[Event]) -> None:
            rows = [NewEvent(e.ts, "message", casefold(e.data["channel"]), e.data) for e in events]
            try:
                await trio.to_thread.run_sync(store.import_messages, rows, limiter=limiter)
            except StoreError as exc:
                log.error("%s; the other nodes' history is not brought in", exc)
                return
            for event in events:  # the replay for joiners, as if this node had seen them
                if (line := stored_line(event.ts, event.data)) is not None and self.config.replay > 0:
                    key = casefold(event.data["channel"])
                    self.hub.recent.setdefault(key, deque(maxlen=self.config.replay)).append(line)

        link.backfill = backfill

    async def _run_link(self, link: Link, done: trio.Event, *, task_status: trio.TaskStatus[None]) -> None:
        try:
            await link.run(task_status=task_status)
        finally:
            done.set()

    async def _run_history(
        self,
        writer: HistoryWriter,
        done: trio.Event,
    ) -> None:
        try:
            await writer.run()
        finally:
            await writer.close()
            done.set()

    def _admit(self, plain: trio.SocketStream, nursery: trio.Nursery, name: str) -> None:
        """A plain chat connection (`accept_forever`'s `start`): its task is `Connection.run` itself.

        So the only frame an idle client's task holds is the reader's. A load balancer's (PROXY header
        to read first) and a refused one get a task of their own.
        """
        try:
            host = plain.socket.getpeername()[0]
        except OSError:
            nursery.start_soon(trio.aclose_forcefully, plain, name=name)
            return
        if self._proxies and _among(host, self._proxies):
            nursery.start_soon(self._serve_connection, plain, name=name)
        elif (refusal := self._refusal(host)) is not None:
            nursery.start_soon(_refuse, plain, refusal, name=name)
        else:
            try:
                connection = self._connection(plain, host)
            except OSError:  # the socket failed meanwhile
                nursery.start_soon(trio.aclose_forcefully, plain, name=name)
                return
            nursery.start_soon(connection.run, b"", self._gone, name=name)

    def _connection(
        self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | IrcWebSocket, host: str
    ) -> Connection:
        """A `Connection` for a client let in, counted among the server's (`_gone` forgets it)."""
        connection = Connection(stream, self.hub, self._publish, host, self._nagle, self._drains, self.liveness)
        self._connections[connection] = None
        return connection

    async def _serve_connection(self, plain: trio.SocketStream, *, tls: bool = False) -> None:
        """One chat client; it owns `plain` (`accept_forever`), closed on every path (by the `Connection` once made)."""
        try:
            host = plain.socket.getpeername()[0]
        except OSError:
            await trio.aclose_forcefully(plain)
            return
        first = b""
        if self._proxies and _among(host, self._proxies):  # a load balancer's header says who it is
            parsed = await _proxy_header(plain, self.config.register_timeout)
            if parsed is None:
                await trio.aclose_forcefully(plain)
                return
            host, first = parsed.address or host, parsed.rest
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] | Prefixed = plain
        if first and tls:  # the handshake's first bytes came with the header
            stream, first = Prefixed(plain, first), b""
        if tls:
            assert self.tls is not None
            # The handshake is the connection's first step (counted, with the registration deadline);
            # a refusal below is sent encrypted.
            stream = trio.SSLStream(plain, self.tls.context, server_side=True)
        if (refusal := self._refusal(host)) is not None:
            await _refuse(stream, refusal)
            return
        try:
            connection = self._connection(stream, host)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        # A plain connection's socket is the Connection's now: no frame keeps the emptied wrappers while it lives.
        del plain, stream
        await connection.run(first, self._gone)

    def _refusal(self, host: str) -> str | None:
        """Why a newcomer from `host` is turned away (shutting down, full, its address's limits), if it is."""
        if self._stop.is_set():
            return "Server shutting down"
        refusal = "Server is full" if len(self._connections) + self._upgrading >= self.max_clients else None
        refusal = refusal or self.hub.addresses.check(host, trio.current_time())
        if refusal is not None:
            self._log_refusal(host, refusal)
        return refusal

    async def _serve_websocket(self, plain: trio.SocketStream) -> None:
        """An IRCv3 WebSocket client: the upgrade (Origin checked, subprotocol chosen), then a `Connection`."""
        try:
            host, local = plain.socket.getpeername()[0], plain.socket.getsockname()[0]
        except OSError:
            await trio.aclose_forcefully(plain)
            return
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = plain
        if self.tls is not None:
            stream = trio.SSLStream(plain, self.tls.context, server_side=True)
        try:
            async with trio.open_nursery() as nursery:  # the WebSocket's own reader task
                ws = None
                self._upgrading += 1
                with trio.move_on_after(self.config.register_timeout):
                    try:
                        request = await trio_websocket.wrap_server_stream(nursery, stream, max_message_size=MAX_MESSAGE)
                        if not self.origins.allows(origin_header(request.headers), local):
                            await request.reject(403, body=b"Origin not allowed")
                        else:
                            subprotocol = choose_subprotocol(request.proposed_subprotocols)
                            ws = await request.accept(subprotocol=subprotocol)
                    except (trio_websocket.ConnectionClosed, trio_websocket.HandshakeError, trio.BrokenResourceError):
                        pass
                    finally:
                        self._upgrading -= 1
                if ws is not None:
                    adapter = IrcWebSocket(ws, subprotocol, tcp_socket(stream))
                    if (refusal := self._refusal(host)) is not None:
                        await _refuse(adapter, refusal)
                    else:
                        connection = self._connection(adapter, host)
                        if isinstance(stream, trio.SSLStream):
                            connection.client.tls = True
                            connection.client.certfp = certfp(stream)
                        await connection.run(b"", self._gone)
                nursery.cancel_scope.cancel()
        finally:
            await trio.aclose_forcefully(stream)

    def _gone(self, connection: Connection) -> None:
        self._connections.pop(connection, None)
        self.liveness.forget(connection)
        if not self._connections and self._stop.is_set():
            self._all_gone.set()

    def _log_refusal(self, host: str, reason: str) -> None:
        """One log line per interval and reason, with how many were refused since the last one."""
        key = reason.split(":")[0]
        throttle = self._refusals.setdefault(key, LogEvery(LOG_INTERVAL))
        if (count := throttle.note(trio.current_time())) is not None:
            log.warning("refused %d connection(s) (%s), the last from %s", count, key, host)

    async def _report_refusals(self) -> None:
        """The refusals counted since the last line, once the interval has passed (a burst's tail)."""
        while True:
            await trio.sleep(LOG_INTERVAL / 5)  # so a tail is told at most 2 s late
            for key, throttle in self._refusals.items():
                if (count := throttle.due(trio.current_time())) is not None:
                    log.warning("refused %d more connection(s) (%s)", count, key)

    async def _print_stats(self) -> None:
        while True:
            await trio.sleep(self.config.stats_interval)
            sample = self.stats.sample()
            log.info("%s", format_line(sample))
            await self.publish([Event("stats", sample)])


def _among(host: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


async def _proxy_header(stream: trio.SocketStream, timeout: float) -> Parsed | None:
    """A trusted balancer's PROXY header, within the registration deadline; None (logged) if it sends none."""
    header = ProxyHeader()
    with trio.move_on_after(timeout):
        try:
            while (data := await stream.receive_some(1024)) and (parsed := header.feed(data)) is None:
                pass
            if data:
                return parsed
        except ProxyError as exc:
            log.warning("connection from a --proxy-from balancer closed: %s", exc)
        except (trio.BrokenResourceError, OSError):
            pass
    return None


class Prefixed(trio.abc.Stream):
    """A TCP stream whose first bytes were read already (they came with a PROXY header): TLS reads them first."""

    def __init__(self, stream: trio.SocketStream, first: bytes) -> None:
        self.transport = stream
        self.socket = stream.socket
        self._first = first

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            await trio.lowlevel.checkpoint()
            return data
        return await self.transport.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.transport.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.transport.aclose()


async def _refuse(stream: trio.abc.Stream, reason: str) -> None:
    with trio.move_on_after(1):
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            await stream.send_all(f"ERROR :{reason}\r\n".encode())
    await trio.aclose_forcefully(stream)
