"""Shared fixtures: a real ChatServer (or all of `serve`) on port 0 in the test's nursery, and IRC test clients."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from multichat_trio.app import Running, serve_services
from multichat_trio.config import ServerConfig
from multichat_trio.ircd.server import ChatServer

from .gui_main import use_this_checkout
from .ircclient import IrcClient

use_this_checkout()  # `multichat_gui` is this checkout's gui/, also under another checkout's editable install

#: The relay secret the test servers and relays share (the CLI would read or write the secret file).
RELAY_SECRET = "test-relay-secret"
#: Under CI, tests that need a display or a browser must run, not skip.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Subprocesses (`python -m multichat_trio`, often run in a tmp dir) import this checkout, not whatever
# copy the venv has installed (an editable install may point at another worktree).
ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
# A `serve` subprocess that does not ask for the IRC WebSocket keeps it off, so no test takes the default
# port 8767 from a server the developer runs (or from another test run). Tests of it pass a port.
os.environ.setdefault("MULTICHAT_IRC_WS_PORT", "0")
# The GUI's saved profiles go to a config directory of the test run's own, never the user's.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="multichat-test-config-")

StartServer = Callable[..., Awaitable[ChatServer]]
StartMonitor = Callable[..., Awaitable[Running]]


def test_config(**overrides: Any) -> ServerConfig:
    """Settings for tests: every port 0, no stats spam, quick shutdown."""
    values: dict[str, Any] = {
        "port": 0,
        "http_port": 0,
        "ws_port": 0,
        "irc_ws_port": 0,  # off; tests of the IRC WebSocket ask ChatServer for a free port
        "stats_interval": 0,
        "shutdown_grace": 1.0,
        "db": "",  # no history store unless a test asks for one
        "relay_secret": RELAY_SECRET,
    }
    values.update(overrides)
    return ServerConfig(**values)


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture
async def start_server(nursery: trio.Nursery) -> StartServer:
    async def start(**overrides: Any) -> ChatServer:
        server = ChatServer(test_config(**overrides))
        return await nursery.start(server.serve)

    return start


@pytest.fixture
async def server(start_server: StartServer) -> ChatServer:
    return await start_server()


OpenClient = Callable[[int], Awaitable[IrcClient]]
Connect = Callable[[], Awaitable[IrcClient]]


@pytest.fixture
async def open_client() -> AsyncIterator[OpenClient]:
    """`await open_client(port)`: an IrcClient that is closed when the test ends."""
    clients: list[IrcClient] = []

    async def open_one(port: int) -> IrcClient:
        client = await IrcClient.connect(port)
        clients.append(client)
        return client

    yield open_one
    for client in clients:
        await client.aclose()


@pytest.fixture
async def connect(server: ChatServer, open_client: OpenClient) -> Connect:
    """`await connect()`: a client of the default test server."""

    async def open_default() -> IrcClient:
        return await open_client(server.port)

    return open_default


@pytest.fixture
async def start_monitor(nursery: trio.Nursery) -> AsyncIterator[StartMonitor]:
    """Start chat + feed + HTTP + WebSocket on port 0 in the test's nursery; stopped at the end."""
    stops: list[trio.Event] = []

    async def start(**overrides: Any) -> Running:
        stop = trio.Event()
        stops.append(stop)
        config = test_config(**overrides)
        return await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=0))

    yield start
    for stop in stops:
        stop.set()


StartServices = Callable[..., Awaitable[tuple[Running, trio.Event]]]


@pytest.fixture
async def start_services(nursery: trio.Nursery) -> StartServices:
    """`await start_services(**settings)`: `serve_services` in the test's nursery, and the event that stops it.

    The web side is off unless `http_port` / `ws_port` are given (0: any free port). Restart tests call
    it twice on the same `db`.
    """

    async def start(*, http_port: int | None = None, ws_port: int | None = None, **overrides: Any) -> Any:
        stop = trio.Event()
        config = test_config(**overrides)
        running = await nursery.start(partial(serve_services, config, stop, http_port=http_port, ws_port=ws_port))
        return running, stop

    return start
