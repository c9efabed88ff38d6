"""The monitor trusts no web page but its own, and no viewer's socket outlives the viewer.

Feed clients here are raw TCP streams driven by wsproto (sans-IO), so a test sees exactly what the
server sent, including its HTTP refusal and its TCP close (EOF).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from multichat_trio.app import Running
from multichat_trio.web.origins import OriginPolicy, own_hosts, parse_origin, parse_origins
from multichat_trio.web.websocket import CLOSE_TIMEOUT, HANDSHAKE_TIMEOUT

from .conftest import StartMonitor
from .ircclient import IrcClient
from .test_web import TIMEOUT


@dataclass
class RawViewer:
    """A feed client on a plain TCP stream: what it received, as wsproto events, and whether EOF came."""

    stream: trio.SocketStream
    ws: WSConnection = field(default_factory=lambda: WSConnection(ConnectionType.CLIENT))
    events: list[Event] = field(default_factory=list)
    eof: bool = False

    async def receive(self) -> Event:
        """The next wsproto event (a whole message, the handshake answer, a close)."""
        while not self.events:
            data = await self.stream.receive_some(65536)
            if not data:
                self.eof = True
                raise EOFError
            self.ws.receive_data(data)
            self.events.extend(self.ws.events())
        return self.events.pop(0)

    async def until_eof(self) -> list[Event]:
        """Everything up to the server's TCP close; a reset counts as a close too."""
        seen: list[Event] = []
        try:
            while True:
                seen.append(await self.receive())
        except (EOFError, trio.BrokenResourceError):
            return seen


async def upgrade(port: int | None, origin: str | None) -> tuple[RawViewer, Event]:
    """Connect and ask for the feed with this `Origin` (None: no header); returns the answer."""
    assert port is not None
    viewer = RawViewer(await trio.open_tcp_stream("127.0.0.1", port))
    headers = [(b"Origin", origin.encode())] if origin is not None else []
    await viewer.stream.send_all(viewer.ws.send(Request(host=f"127.0.0.1:{port}", target="/", extra_headers=headers)))
    return viewer, await viewer.receive()


def body(events: list[Event]) -> bytes:
    """The refusal's body, from the events after a RejectConnection."""
    return b"".join(bytes(event.data) for event in events if isinstance(event, RejectData))


async def snapshot_of(viewer: RawViewer) -> dict[str, Any]:
    event = await viewer.receive()
    assert isinstance(event, TextMessage)
    return json.loads(event.data)


# --- Origin -----------------------------------------------------------------------------------


async def test_only_the_monitor_pages_own_origin_or_no_browser_may_read_the_feed(start_monitor: StartMonitor) -> None:
    running = await start_monitor(web_origins="https://chat.example")
    own = f"http://127.0.0.1:{running.http_port}"
    with trio.fail_after(TIMEOUT):
        for origin in (own, f"http://localhost:{running.http_port}", "https://chat.example", None):
            viewer, answer = await upgrade(running.ws_port, origin)
            assert isinstance(answer, AcceptConnection), origin
            assert (await snapshot_of(viewer))["type"] == "snapshot"
            await viewer.stream.aclose()
        for origin in (
            "http://evil.example",
            f"http://127.0.0.1:{running.ws_port}",
            "null",
            own.replace("http", "https"),
        ):
            viewer, answer = await upgrade(running.ws_port, origin)
            assert isinstance(answer, RejectConnection) and answer.status_code == 403, origin
            rest = await viewer.until_eof()
            assert all(isinstance(event, RejectData) for event in rest) and viewer.eof
            assert b"--web-origins" in body(rest)
            await viewer.stream.aclose()


async def test_a_refused_page_gets_no_events_and_takes_no_viewer_slot(start_monitor: StartMonitor) -> None:
    running = await start_monitor(max_viewers=1)
    assert running.feed is not None
    alice = await IrcClient.connect(running.server.port)
    await alice.register("alice")
    with trio.fail_after(TIMEOUT):
        evil, answer = await upgrade(running.ws_port, "http://evil.example")
        await alice.send("PRIVMSG #lobby :for the room only")
        await alice.sync()
        assert isinstance(answer, RejectConnection)
        assert b"for the room only" not in body(await evil.until_eof())
        assert running.feed.viewer_count == 0
        polite, answer = await upgrade(running.ws_port, f"http://127.0.0.1:{running.http_port}")
        assert isinstance(answer, AcceptConnection) and (await snapshot_of(polite))["users"]
    await alice.aclose()
    await evil.stream.aclose()
    await polite.stream.aclose()


async def http_status(port: int | None, host: str) -> int:
    """The status of `GET /api/events` asked for under the name `host`."""
    assert port is not None
    with trio.fail_after(TIMEOUT):
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return int((await stream.receive_some(65536)).split(b" ", 2)[1])


async def test_the_http_api_answers_only_under_the_monitors_own_names(start_monitor: StartMonitor) -> None:
    """A site whose name was pointed at this machine (DNS rebinding) is same-origin with what it
    fetches: only the `Host` it sends tells it apart."""
    running = await start_monitor(web_origins="https://chat.example")
    port = running.http_port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "chat.example"):
        assert await http_status(port, host) == 200, host
    for host in (f"evil.example:{port}", "evil.example", "127.0.0.1.evil.example"):
        assert await http_status(port, host) == 403, host


def test_origins_are_compared_by_scheme_host_and_port() -> None:
    assert parse_origin("http://Chat.Example") == ("http", "chat.example", 80)
    assert parse_origin("https://[::1]:8443/") == ("https", "::1", 8443)
    for bad in ("null", "", "file://", "ws://x:1", "http://x:99999", "http://u@x", "http://x/path", "x:1"):
        assert parse_origin(bad) is None, bad
    assert parse_origins(" http://a:1, ,https://b ") == {("http", "a", 1), ("https", "b", 443)}
    with pytest.raises(ValueError, match=r"web_origins: 'chat\.example' is not an origin"):
        parse_origins("chat.example")


def test_the_pages_own_origin_is_the_address_the_viewer_reached() -> None:
    policy = OriginPolicy(http_port=8000)
    assert own_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert own_hosts("::ffff:192.168.1.5") == {"192.168.1.5"}
    assert policy.allows("http://192.168.1.5:8000", "192.168.1.5")
    assert not policy.allows("http://localhost:8000", "192.168.1.5")  # a name pointed at us is not us
    assert not policy.allows("http://192.168.1.5:8000", "127.0.0.1")
    assert not OriginPolicy().allows("http://127.0.0.1:8000", "127.0.0.1")  # no page: no own origin
    assert OriginPolicy().allows(None, "127.0.0.1")
    assert policy.allows_host("192.168.1.5:8000", "192.168.1.5") and policy.allows_host(None, "192.168.1.5")
    assert not policy.allows_host("rebound.example:8000", "192.168.1.5")
    assert not policy.allows_host("[bad", "127.0.0.1")


def test_the_banner_shows_a_url_that_works_for_a_wildcard_bind() -> None:
    running = Running(server=None, feed=None, http_port=8000, ws_port=8765)  # type: ignore[arg-type]
    assert running.web_url("0.0.0.0") == "http://127.0.0.1:8000/"
    assert running.monitor_url("0.0.0.0") == "http://127.0.0.1:8000/monitor"
    assert running.monitor_url("::") == "http://[::1]:8000/monitor"
    assert running.web_url("192.168.1.5") == "http://192.168.1.5:8000/"


# --- every closed viewer's socket is closed ---------------------------------------------------


@pytest.mark.parametrize(("garbage", "code"), [("x" * 5000, 1009), ("hello", 1003)], ids=["oversized", "text"])
async def test_a_closed_viewers_socket_is_closed_in_bounded_time_and_frees_its_slot(
    start_monitor: StartMonitor, autojump_clock: trio.testing.MockClock, garbage: str, code: int
) -> None:
    running = await start_monitor(max_viewers=1)
    assert running.feed is not None
    rude, _ = await upgrade(running.ws_port, None)
    await snapshot_of(rude)
    await rude.stream.send_all(rude.ws.send(TextMessage(garbage)))
    started = trio.current_time()
    with trio.fail_after(CLOSE_TIMEOUT * 3):  # virtual seconds: a socket left open fails at once
        seen = await rude.until_eof()  # this client never answers the close frame
    assert trio.current_time() - started <= CLOSE_TIMEOUT + 0.01
    assert [event.code for event in seen if isinstance(event, CloseConnection)] == [code]
    await trio.testing.wait_all_tasks_blocked()  # the server's side of the close is done
    assert running.feed.viewer_count == 0
    await rude.stream.aclose()
    with trio.fail_after(TIMEOUT):
        again, answer = await upgrade(running.ws_port, None)  # the only slot is free again
        assert isinstance(answer, AcceptConnection) and (await snapshot_of(again))["type"] == "snapshot"
    await again.stream.aclose()


async def test_a_viewer_that_stops_reading_then_sends_too_much_is_closed_and_reset(
    start_monitor: StartMonitor, autojump_clock: trio.testing.MockClock
) -> None:
    """trio-websocket's 1009 close waits behind the stuck sender: without a bound, the task (and the
    socket) stayed forever after the viewer was dropped, counted by nobody."""
    running = await start_monitor(flood_rate=0, max_viewers=1)
    feed = running.feed
    assert feed is not None and running.ws_port is not None
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", running.ws_port))
    stuck = RawViewer(trio.SocketStream(sock))
    await stuck.stream.send_all(stuck.ws.send(Request(host="127.0.0.1", target="/")))
    assert isinstance(await stuck.receive(), AcceptConnection)
    alice = await IrcClient.connect(running.server.port)
    alice.timeout = 1000  # virtual seconds
    await alice.register("alice")
    line = "PRIVMSG #lobby :" + "x" * 400

    async def flood_until(done: Callable[[], bool]) -> None:
        while not done():
            await alice.send(*[line] * 10)
            await alice.sync()
            await trio.testing.wait_all_tasks_blocked()

    # A batch waits in the viewer's channel while everyone else is idle: its sender is blocked in a send.
    await flood_until(lambda: any(viewer.batches.statistics().current_buffer_used for viewer in feed._viewers))
    await stuck.stream.send_all(stuck.ws.send(TextMessage("x" * 5000)))  # 1009, behind the blocked send
    await flood_until(lambda: feed.dropped == 1)  # the viewer falls behind and is dropped (1008)
    await trio.sleep(3 * CLOSE_TIMEOUT)  # virtual: the bound on every close
    with pytest.raises(trio.BrokenResourceError):  # reset, not left open
        await stuck.stream.send_all(b"still there?")
    assert feed.viewer_count == 0
    await stuck.stream.aclose()
    await alice.aclose()


async def test_a_connection_that_never_finishes_its_handshake_is_closed(
    start_monitor: StartMonitor, autojump_clock: trio.testing.MockClock
) -> None:
    running = await start_monitor()
    assert running.ws_port is not None
    stream = await trio.open_tcp_stream("127.0.0.1", running.ws_port)
    await stream.send_all(b"GET / HTTP/1.1\r\n")  # and nothing more
    with trio.fail_after(HANDSHAKE_TIMEOUT + CLOSE_TIMEOUT + 1):
        while await stream.receive_some(65536):
            pass
    await stream.aclose()
