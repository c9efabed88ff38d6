"""The monitor's HTTP side: a small raw ASGI app served by hypercorn's trio worker.

Routes (GET or HEAD): the web chat client at `/` (files in `static/chat/`; the old `/chat` redirects
there), the monitor page at `/monitor` (files in `static/monitor/`), `/api/config` (where the pages find
the feed and the IRC WebSocket), `/api/stats`, `/api/users`, `/api/events?after=ID&limit=N`, `/healthz` and
`/metrics` (Prometheus text, via prometheus-client); POST `/api/login` and `/api/logout`. When a login
is required (`login.py`), `/api/*` but `/api/config` (ports and names only: the chat page needs it) and
`/metrics` answer 401 without a session. Everything is read from
memory at call time: no request waits on the chat, and the static files are read once when the app is built.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import hypercorn
import hypercorn.trio
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..ircd.server import ChatServer
from ..tls import LiveCertificate
from .feed import Feed
from .login import MonitorLogin
from .origins import OriginPolicy

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: The page's files, shipped inside the package (so a plain `pip install` serves them too).
STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: Defence in depth behind the page's text-only rendering: no inline script, nothing from elsewhere.
PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
#: Paths that name a page's index file.
PAGES = {
    "/": "chat/index.html",
    "/index.html": "chat/index.html",
    "/monitor": "monitor/index.html",
    "/monitor/": "monitor/index.html",
}
#: Old addresses of a page, answered with a permanent redirect (308) to where it is now.
MOVED = {"/chat": "/", "/chat/": "/"}
#: What a viewer may read without logging in, when a login is required.
PUBLIC_API = {"/api/config"}
MAX_EVENTS = 1000
#: Largest login form body read; a bigger one is refused (413).
MAX_FORM = 4096


class MonitorApp:
    """ASGI app over a running ChatServer and its Feed; `ws_port` None means the feed is off."""

    def __init__(
        self,
        server: ChatServer,
        feed: Feed,
        ws_port: int | None,
        origins: OriginPolicy | None = None,
        static_dir: Path = STATIC_DIR,
        login: MonitorLogin | None = None,
    ) -> None:
        self.server = server
        self.feed = feed
        self.ws_port = ws_port
        self.origins = origins or OriginPolicy()
        self.login = login or MonitorLogin(required=False, token=None)
        self._verifying = trio.CapacityLimiter(1)  # one account check (argon2) at a time
        self.files = _load_static(static_dir)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MetricsCollector(server, feed))
        self._routes: dict[str, Callable[[dict[str, list[str]]], tuple[int, Any]]] = {
            "/api/config": self.config,
            "/api/stats": self.stats,
            "/api/users": self.users,
            "/api/events": self.events,
            "/healthz": self.health,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":  # the feed has its own port
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        allowed = "POST" if path in ("/api/login", "/api/logout") else "GET, HEAD"
        if method not in allowed.split(", "):
            await _respond(send, 405, *_json({"error": "method not allowed"}), [(b"allow", allowed.encode())])
            return
        head = method == "HEAD"
        host = _header(scope, b"host")
        local_address = (scope.get("server") or ("",))[0]
        if not self.origins.allows_host(host, local_address):
            refusal = {"error": f"this monitor is not served as {host!r}: see --web-origins"}
            await _respond(send, 403, *_json(refusal), head=head)
        elif method == "POST":
            await self._login_or_logout(scope, receive, send, local_address)
        elif path in MOVED:
            await _respond(send, 308, *_json({"moved": MOVED[path]}), [(b"location", MOVED[path].encode())], head=head)
        elif (path == "/metrics" or (path.startswith("/api/") and path not in PUBLIC_API)) and not self.login.allows(
            _header(scope, b"cookie")
        ):
            await _respond(send, 401, *_json({"error": "log in first", "login": True}), _NO_STORE, head=head)
        elif path == "/metrics":
            await _respond(send, 200, generate_latest(self.registry), CONTENT_TYPE_LATEST, head=head)
        elif path in self._routes:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            status, document = self._routes[path](query)
            await _respond(send, status, *_json(document), _NO_STORE, head=head)
        elif (file := self.files.get(PAGES.get(path, path.lstrip("/")))) is not None:
            body, content_type = file
            await _respond(send, 200, body, content_type, [*PAGE_HEADERS, (b"cache-control", b"no-cache")], head=head)
        else:
            await _respond(send, 404, *_json({"error": f"not found: {path}"}), head=head)

    async def _login_or_logout(self, scope: Scope, receive: Receive, send: Send, local_address: str) -> None:
        """POST /api/login (form fields `name`, empty for the token, and `password`) or /api/logout.

        Against cross-site requests: the cookie is SameSite=Strict, and a browser's POST carries an
        `Origin` that must be the page's own (as for the feed).
        """
        if not self.origins.allows(_header(scope, b"origin"), local_address):
            await _respond(send, 403, *_json({"error": "this page's origin may not log in (see --web-origins)"}))
            return
        cookie = _header(scope, b"cookie")
        if scope["path"] == "/api/logout":
            cleared = self.login.close_session(cookie)
            await _respond(send, 200, *_json({"ok": True}), [*_NO_STORE, (b"set-cookie", cleared.encode())])
            return
        address = (scope.get("client") or ("?",))[0]
        wait = self.login.retry_after(address)
        if wait is not None:
            refusal = {"error": f"too many failed logins: try again in {int(wait) + 1} s"}
            await _respond(send, 429, *_json(refusal), [(b"retry-after", str(int(wait) + 1).encode())])
            return
        form = await _read_form(receive)
        if form is None:
            await _respond(send, 413, *_json({"error": f"the login form is limited to {MAX_FORM} bytes"}))
            return
        name, password = form.get("name", [""])[-1].strip(), form.get("password", [""])[-1]
        if not name:
            ok = self.login.check_token(password)
        elif (verify := self.login.verify) is not None:
            try:
                ok = await trio.to_thread.run_sync(verify, name, password, limiter=self._verifying)
            except Exception:  # a broken hook refuses this login; it never takes the monitor down
                log.exception("monitor login: the account check failed")
                ok = False
        else:
            ok = False
        if not ok:
            self.login.failed(address, name)
            await _respond(send, 401, *_json({"error": "wrong token, name or password", "login": True}), _NO_STORE)
            return
        cookie_line = self.login.open_session(address, name)
        await _respond(send, 200, *_json({"ok": True}), [*_NO_STORE, (b"set-cookie", cookie_line.encode())])

    # --- JSON endpoints: (status, document) ----------------------------------------------------

    def config(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """What the pages need to connect: the feed's and the IRC WebSocket's ports (None: off) and names to show."""
        config = self.server.config
        return 200, {
            "ws_port": self.ws_port,
            "chat_port": self.server.port,
            "irc_ws_port": self.server.irc_ws_port,
            "server_name": config.server_name,
            "network": config.network,
            "login_required": self.login.required,
        }

    def stats(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Counters now; `rate` is messages per second over the last 10 seconds."""
        stats = self.server.stats.read() | {
            "rate": self.feed.rate(),
            "viewers": self.feed.viewer_count,
            "viewers_dropped": self.feed.dropped,
            "last_event_id": self.feed.last_id,
        }
        if self.server.link is not None:  # `clients` is the cluster's; `cluster` says who serves how many
            stats["cluster"] = self.server.link.stats()
        return 200, stats

    def users(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Registered users now (straight from the hub), sorted by nick; hosts are not shown."""
        online = sorted((c for c in self.server.hub.nicks.values() if c.registered), key=lambda c: c.nick.casefold())
        users = [{"nick": c.nick, "channels": [ch.name for ch in c.channels.values()]} for c in online]
        return 200, {"count": len(users), "users": users}

    def events(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Recent events after an id; `truncated` says some were already forgotten."""
        try:
            after = int(query.get("after", ["0"])[-1])
            limit = int(query.get("limit", [str(MAX_EVENTS)])[-1])
            if after < 0 or not 0 < limit <= MAX_EVENTS:
                raise ValueError
        except ValueError:
            return 400, {"error": f"after must be an integer >= 0 and limit one in 1..{MAX_EVENTS}"}
        return 200, {
            "last_id": self.feed.last_id,
            "truncated": self.feed.forgotten_id > after,
            "events": self.feed.events_after(after, limit),
        }

    def health(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        return 200, {"status": "ok", "uptime": self.server.stats.read()["uptime"]}


class MetricsCollector(Collector):
    """Reads the live counters at scrape time: nothing to keep in step with the chat."""

    def __init__(self, server: ChatServer, feed: Feed) -> None:
        self.server = server
        self.feed = feed

    def collect(self) -> Iterator[Metric]:
        stats = self.server.stats.read()
        yield GaugeMetricFamily("multichat_clients", "Registered users online", value=stats["clients"])
        yield GaugeMetricFamily("multichat_connections", "Open chat connections", value=stats["connections"])
        yield GaugeMetricFamily("multichat_channels", "Channels that exist", value=len(self.server.hub.channels))
        yield CounterMetricFamily("multichat_messages", "Chat messages handled", value=stats["messages"])
        yield GaugeMetricFamily("multichat_uptime_seconds", "Seconds since the server started", value=stats["uptime"])
        yield GaugeMetricFamily("multichat_feed_viewers", "Web monitor viewers connected", value=self.feed.viewer_count)
        yield CounterMetricFamily(
            "multichat_feed_viewers_dropped", "Viewers disconnected for falling behind", value=self.feed.dropped
        )
        yield CounterMetricFamily("multichat_feed_events", "Events published on the feed", value=self.feed.last_id)
        if self.server.link is not None:
            cluster = self.server.link.stats()
            per_node = GaugeMetricFamily(
                "multichat_cluster_node_clients", "Users each cluster node serves", labels=["node"]
            )
            for node, figures in cluster["nodes"].items():
                per_node.add_metric([node], figures.get("users", 0))
            yield per_node
            yield GaugeMetricFamily(
                "multichat_cluster_up", "1 while this node reaches Redis", value=cluster["state"] == "up"
            )


async def serve_http(
    app: MonitorApp,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[object]],
    grace: float,
    *,
    tls: LiveCertificate | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run hypercorn's trio worker until `shutdown_trigger` returns (HTTPS with `tls`); started, it gives the
    bound URLs."""
    config = hypercorn.Config() if tls is None else _HttpsConfig(tls)
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    errors = logging.getLogger("hypercorn.error")
    errors.setLevel(logging.WARNING)  # its errors go to our log; its "Running on" banner does not
    config.errorlog = errors
    config.accesslog = None
    config.graceful_timeout = grace
    await hypercorn.trio.serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)  # type: ignore[arg-type]


class _HttpsConfig(hypercorn.Config):
    """hypercorn's settings serving HTTPS with our certificate, the current one at each handshake (REHASH)."""

    def __init__(self, tls: LiveCertificate) -> None:
        super().__init__()
        self._tls = tls
        self.certfile = self.keyfile = "set"  # hypercorn serves HTTPS when both are set; the context is ours

    def create_ssl_context(self) -> ssl.SSLContext:
        return self._tls.front(alpn=["http/1.1"])


async def _lifespan(receive: Receive, send: Send) -> None:
    """hypercorn 0.18 requires the lifespan protocol: nothing to set up, so acknowledge both steps."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


_NO_STORE = [(b"cache-control", b"no-store")]


def _header(scope: Scope, wanted: bytes) -> str | None:
    """A request header's value (several, as HTTP/2 sends cookies, joined by "; "); None if absent."""
    values = [value.decode("latin-1") for name, value in scope["headers"] if name == wanted]
    return "; ".join(values) if values else None


async def _read_form(receive: Receive) -> dict[str, list[str]] | None:
    """A urlencoded request body's fields; None when it is longer than MAX_FORM."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_FORM:
            return None
        if not message.get("more_body", False):
            return parse_qs(body.decode("utf-8", "replace"))


def _json(document: Any) -> tuple[bytes, str]:
    return json.dumps(document, ensure_ascii=False).encode(), "application/json"


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _load_static(directory: Path) -> dict[str, tuple[bytes, str]]:
    """The pages' files by name, `sub/name` one folder deep (read once: no request path reaches the file system)."""
    files: dict[str, tuple[bytes, str]] = {}
    if not directory.is_dir():
        log.warning("web monitor files not found in %s: the page will be missing", directory)
        return files
    for path in sorted([*directory.iterdir(), *directory.glob("*/*")]):
        if path.is_file() and path.suffix in CONTENT_TYPES:
            files[path.relative_to(directory).as_posix()] = (path.read_bytes(), CONTENT_TYPES[path.suffix])
    return files
