"""`serve_all`: the one root nursery of `serve` — the chat, the feed broadcaster, HTTP and WebSocket.

Shutdown order, once `stop` is set: hypercorn stops accepting and finishes its requests within its
grace; the chat says goodbye to its clients (their leave events still reach the feed); the hub's
event channel closes, so the broadcaster publishes what is left and closes every viewer with 1001
after what was queued for it; then the WebSocket listener is cancelled. Nothing is cut short
except by a deadline, so the program ends with status 0 and no traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import trio

from .chat.accounts import operator_check
from .chat.events import Event
from .config import ServerConfig, naming_listener
from .ircd.server import ChatServer
from .tls import LiveCertificate
from .web.feed import Feed
from .web.http import MonitorApp, serve_http
from .web.login import MonitorLogin, login_required
from .web.origins import OriginPolicy, parse_origins
from .web.websocket import CLOSE_TIMEOUT, serve_feed

#: Batches of hub events waiting for the broadcaster (which never waits on a viewer).
EVENT_QUEUE = 1024
#: A wildcard bind has no address to show: the page is reached on this machine's loopback address.
LOOPBACK_URL_HOSTS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}


@dataclass(frozen=True)
class Running:
    """What `serve_all` started, handed to the parent by `nursery.start`."""

    server: ChatServer
    feed: Feed | None
    http_port: int | None
    ws_port: int | None
    #: Who may watch; the place to hang an accounts `verify` hook.
    login: MonitorLogin | None = None
    #: The page and the feed are served over TLS (HTTPS, WSS).
    web_tls: bool = False

    def web_url(self, web_host: str) -> str | None:
        """The web chat's URL on this machine (a wildcard bind is reached on loopback); None when it is off."""
        if self.http_port is None:
            return None
        shown = LOOPBACK_URL_HOSTS.get(web_host) or (f"[{web_host}]" if ":" in web_host else web_host)
        return f"{'https' if self.web_tls else 'http'}://{shown}:{self.http_port}/"

    def monitor_url(self, web_host: str) -> str | None:
        """The monitor page's URL on this machine; None when the web side is off."""
        web = self.web_url(web_host)
        return None if web is None else web + "monitor"


async def serve_all(
    config: ServerConfig, stop: trio.Event, *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run everything `serve` runs until `stop` is set. A web port of 0, or `--no-web`, turns it off."""
    http_port = config.http_port if config.web else 0
    ws_port = config.ws_port if config.web else 0
    await serve_services(config, stop, http_port=http_port or None, ws_port=ws_port or None, task_status=task_status)


async def serve_services(
    config: ServerConfig,
    stop: trio.Event,
    *,
    http_port: int | None,
    ws_port: int | None,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`serve_all` with the web ports given apart: None is off, 0 any free port (tests use it)."""
    if http_port is None and ws_port is None:
        server = ChatServer(config)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            task_status.started(Running(server, None, None, None))
            await stop.wait()
            server.stop()
        return

    web_tls = None
    if (certificate := config.web_certificate) is not None:  # HTTPS and WSS, reread on REHASH
        flag = "--web-tls-cert" if config.web_tls_cert else "--tls-cert"
        web_tls = LiveCertificate("web monitor", *certificate, flag=flag)
    origins = OriginPolicy(parse_origins(config.web_origins), scheme="https" if web_tls else "http")
    login = MonitorLogin(
        required=login_required(config),
        token=config.monitor_token,
        secure=config.monitor_cookie_secure or web_tls is not None,  # the cookie travels over HTTPS only then
    )
    feed = Feed(backlog=config.feed_backlog, max_viewers=config.max_viewers, show_hosts=config.monitor_show_hosts)
    events_in, events_out = trio.open_memory_channel[list[Event]](EVENT_QUEUE)
    server = ChatServer(config, events=events_in)
    server.origins = origins  # a page the web side serves may open the chat's WebSocket too
    hub = server.hub

    def operator_account(name: str, password: str) -> bool:
        """An account tied to an operator entry may watch (the entries as the last REHASH left them)."""
        return operator_check(hub.accounts, hub.config.opers)(name, password)

    login.verify = operator_account
    if web_tls is not None:
        server.hub.certificates.append(web_tls)
    http_stop = trio.Event()
    ws_scope = trio.CancelScope()

    async def run_feed_server(task_status: trio.TaskStatus[int]) -> None:
        assert ws_port is not None
        with ws_scope:
            await serve_feed(feed, config.web_host, ws_port, origins, login=login, tls=web_tls, task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        feed.restore(server.restored)  # the recent past from the history store, before anything new
        if server.link is not None:  # a node joining a cluster finds users online
            feed.seed_users(
                {c.nick: [ch.name for ch in c.channels.values()] for c in hub.nicks.values() if c.registered}
            )
        nursery.start_soon(feed.run, events_out)
        bound_ws = bound_http = None
        if ws_port is not None:
            with naming_listener("web monitor WebSocket", "--ws-port", config.web_host, ws_port):
                bound_ws = await nursery.start(run_feed_server)
        if http_port is not None:
            app = MonitorApp(server, feed, bound_ws, origins, login=login)
            with naming_listener("web monitor HTTP", "--http-port", config.web_host, http_port):
                urls = await nursery.start(
                    partial(serve_http, tls=web_tls),
                    app,
                    config.web_host,
                    http_port,
                    http_stop.wait,
                    config.shutdown_grace,
                )
            bound_http = origins.http_port = int(urls[0].rsplit(":", 1)[1])
        task_status.started(Running(server, feed, bound_http, bound_ws, login, web_tls is not None))

        await stop.wait()
        http_stop.set()
        server.stop()
        await server.stopped.wait()
        events_in.close()  # the broadcaster drains the rest, then ends every viewer with 1001
        with trio.move_on_after(2 * CLOSE_TIMEOUT):
            await feed.wait_no_viewers()
        ws_scope.cancel()
