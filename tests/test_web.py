"""The web monitor over real sockets: the WebSocket feed, its viewers' limits, the HTTP API, shutdown.

Rules (after trio-websocket's own tests): localhost and port 0 only, an absolute `fail_after`
around every wait, no sleeps as synchronisation; one side always starts each close.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from multichat_trio.app import Running, serve_services

from .conftest import OpenClient, StartMonitor, test_config
from .ircclient import IrcClient

TIMEOUT = 10


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
async def monitor(start_monitor: StartMonitor) -> Running:
    """A monitored server without flood limits: these tests send fast on purpose."""
    return await start_monitor(flood_rate=0)


@pytest.fixture
async def irc(monitor: Running, open_client: OpenClient) -> Callable[[str], Awaitable[IrcClient]]:
    """Open and register an IRC client by nick; all are closed at the end (by `open_client`)."""

    async def open_registered(nick: str) -> IrcClient:
        client = await open_client(monitor.server.port)
        await client.register(nick)
        return client

    return open_registered


@asynccontextmanager
async def open_viewer(port: int | None, *, receive_buffer: int | None = None) -> AsyncIterator[WebSocketConnection]:
    """A feed client on a TCP stream we own: trio-websocket leaves a client's socket open when the
    server starts the close, so the stream is closed here, whatever happened."""
    assert port is not None
    sock = trio.socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    stream = trio.SocketStream(sock)
    try:
        with trio.fail_after(TIMEOUT):
            await sock.connect(("127.0.0.1", port))
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/")
            try:
                yield ws
            finally:
                with trio.move_on_after(TIMEOUT):
                    await ws.aclose()
                await trio.aclose_forcefully(stream)
    finally:
        await trio.aclose_forcefully(stream)


async def next_event(ws: WebSocketConnection) -> dict[str, Any]:
    with trio.fail_after(TIMEOUT):
        return json.loads(await ws.get_message())


async def events_until(ws: WebSocketConnection, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Live events up to and including the first one for which `done` is true (stats skipped)."""
    seen: list[dict[str, Any]] = []
    while True:
        event = await next_event(ws)
        seen.append(event)
        if done(event):
            return seen


async def close_code(ws: WebSocketConnection) -> tuple[int, str | None]:
    """Read until the server closes; returns its close code and reason."""
    with trio.fail_after(TIMEOUT):
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as closed:
            assert closed.reason is not None
            return closed.reason.code, closed.reason.reason


async def http_get(port: int, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A minimal HTTP/1.1 request over a real socket: status, headers (lower-case), body."""
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            await stream.send_all(request.encode())
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


async def get_json(port: int, target: str) -> Any:
    status, headers, body = await http_get(port, target)
    assert status == 200, (target, status, body)
    assert headers["content-type"] == "application/json"
    return json.loads(body)


# --- the feed ---------------------------------------------------------------------------------


async def test_viewer_sees_join_message_pm_nick_leave_in_order_with_consecutive_ids(
    monitor: Running, irc: Callable[[str], Awaitable[IrcClient]]
) -> None:
    async with open_viewer(monitor.ws_port) as ws:
        snapshot = await next_event(ws)
        assert snapshot["type"] == "snapshot" and snapshot["users"] == [] and snapshot["events"] == []
        alice = await irc("alice")
        bob = await irc("bob")
        await alice.send("PRIVMSG #lobby :hello <b>all</b>", "PRIVMSG bob :the secret is 42", "NICK alice2")
        await alice.sync()
        await bob.send("QUIT :see you")
        await bob.wait_closed()
        events = await events_until(ws, lambda e: e["type"] == "leave")

    assert [(e["type"], e.get("nick") or e.get("from") or e.get("old")) for e in events] == [
        ("join", "alice"),
        ("join", "bob"),
        ("message", "alice"),
        ("pm", "alice"),
        ("nick", "alice"),
        ("leave", "bob"),
    ]
    assert [e["id"] for e in events] == list(range(snapshot["id"] + 1, snapshot["id"] + 7))
    message, pm, nick, leave = events[2:]
    assert message["channel"] == "#lobby" and message["text"] == "hello <b>all</b>"
    assert pm == {"type": "pm", "id": pm["id"], "ts": pm["ts"], "from": "alice", "to": "bob"}
    assert nick["new"] == "alice2"
    assert leave["channel"] is None and leave["reason"] == "Quit: see you" and leave["kind"] == "quit"
    assert all(e["ts"].endswith("Z") and "T" in e["ts"] for e in events)
    raws = [json.dumps(e) for e in events]
    assert not any("secret" in raw for raw in raws)


async def test_snapshot_then_live_has_no_gap_or_duplicate_while_messages_flow(
    monitor: Running, irc: Callable[[str], Awaitable[IrcClient]]
) -> None:
    alice = await irc("alice")
    results: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    late = {100: trio.Event(), 250: trio.Event()}  # late viewers arrive after the first saw this many
    caught_up = {count: trio.Event() for count in late}  # ... and have seen 50 live events
    is_end: Callable[[dict[str, Any]], bool] = lambda e: e.get("text") == "END"  # noqa: E731

    async def send_until_every_viewer_is_in() -> None:
        sent = 0
        while not all(event.is_set() for event in caught_up.values()):
            await alice.send(*(f"PRIVMSG #lobby :m{n}" for n in range(sent, sent + 10)))
            sent += 10
            await alice.sync()  # paced by the server; messages keep flowing while viewers arrive
        await alice.send("PRIVMSG #lobby :END")

    async def first_viewer() -> None:
        async with open_viewer(monitor.ws_port) as ws:
            snapshot = await next_event(ws)
            live: list[dict[str, Any]] = []
            while not live or not is_end(live[-1]):
                live.append(await next_event(ws))
                if len(live) in late:
                    late[len(live)].set()
            results["first"] = snapshot, live

    async def late_viewer(count: int) -> None:
        await late[count].wait()
        async with open_viewer(monitor.ws_port) as ws:
            snapshot = await next_event(ws)
            live = [await next_event(ws)]
            while len(live) < 50:
                live.append(await next_event(ws))
            caught_up[count].set()
            live += await events_until(ws, is_end)
            results[f"after {count}"] = snapshot, live

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_viewer)
            for count in late:
                nursery.start_soon(late_viewer, count)
            await trio.testing.wait_all_tasks_blocked()  # the first viewer has its snapshot
            nursery.start_soon(send_until_every_viewer_is_in)

    last_id = results["first"][1][-1]["id"]
    for name, (snapshot, live) in results.items():
        assert [e["id"] for e in live] == list(range(snapshot["id"] + 1, last_id + 1)), name
        recent_ids = [e["id"] for e in snapshot["events"]]
        if recent_ids:  # no stats events here, so the recent ones are consecutive too
            assert recent_ids == list(range(recent_ids[0], snapshot["id"] + 1)), name
    for count in late:
        snapshot, _live = results[f"after {count}"]
        assert snapshot["events"][-1]["type"] == "message", "a late viewer did not arrive mid-stream"
        assert snapshot["id"] > results["first"][0]["id"] + count - 1


async def test_viewer_that_never_reads_is_dropped_without_slowing_the_chat(
    monitor: Running, irc: Callable[[str], Awaitable[IrcClient]]
) -> None:
    # A viewer with a tiny receive buffer that never reads: the server's queue for it must fill.
    async with open_viewer(monitor.ws_port, receive_buffer=4096) as stuck:
        await drop_a_stuck_viewer(monitor, irc, stuck)
    # The dropped viewer may come back and catch up from a fresh snapshot.
    async with open_viewer(monitor.ws_port) as ws:
        snapshot = await next_event(ws)
        assert monitor.feed is not None
        assert snapshot["type"] == "snapshot" and snapshot["id"] == monitor.feed.last_id


async def drop_a_stuck_viewer(
    monitor: Running, irc: Callable[[str], Awaitable[IrcClient]], stuck: WebSocketConnection
) -> None:
    alice, bob, carol = await irc("alice"), await irc("bob"), await irc("carol")
    await alice.send("JOIN #firehose")
    await alice.sync()
    assert monitor.feed is not None
    line = "PRIVMSG #firehose :" + "x" * 400
    slowest = 0.0
    with trio.fail_after(TIMEOUT):
        while monitor.feed.dropped == 0:
            await alice.send(*[line] * 50)
            started = trio.current_time()
            await bob.send("PRIVMSG #lobby :still there?")
            await carol.expect("PRIVMSG", lambda m: m.params[-1] == "still there?")
            slowest = max(slowest, trio.current_time() - started)
    assert slowest < 1.0, f"a public message took {slowest:.2f}s to arrive while a viewer was stuck"
    assert monitor.feed.viewer_count == 0
    code, reason = await close_code(stuck)
    assert code == 1008 and reason is not None and "too slow" in reason


@pytest.mark.parametrize(
    ("garbage", "expected_code"),
    [("hello server", 1003), (b"\x00\xff binary junk", 1003), ("x" * 5000, 1009)],
    ids=["text", "binary", "oversized"],
)
async def test_garbage_from_a_viewer_closes_only_that_viewer(
    monitor: Running, irc: Callable[[str], Awaitable[IrcClient]], garbage: str | bytes, expected_code: int
) -> None:
    alice = await irc("alice")
    async with (
        open_viewer(monitor.ws_port) as rude,
        open_viewer(monitor.ws_port) as polite,
    ):
        await next_event(rude)
        await next_event(polite)
        await rude.send_message(garbage)
        code, _reason = await close_code(rude)
        assert code == expected_code
        await alice.send("PRIVMSG #lobby :after the garbage")
        event = await next_event(polite)
        assert event["type"] == "message" and event["text"] == "after the garbage"
    assert monitor.feed is not None and monitor.feed.viewer_count == 0


async def test_viewers_beyond_the_cap_are_told_to_come_back_later(start_monitor: StartMonitor) -> None:
    running = await start_monitor(max_viewers=1)
    async with open_viewer(running.ws_port) as first:
        assert (await next_event(first))["type"] == "snapshot"
        async with open_viewer(running.ws_port) as second:
            code, reason = await close_code(second)
    assert code == 1013 and reason is not None and "too many viewers" in reason


async def test_flood_kick_is_published_and_marked(start_monitor: StartMonitor) -> None:
    running = await start_monitor(flood_burst=3, flood_rate=0.5)
    async with open_viewer(running.ws_port) as ws:
        await next_event(ws)
        flooder = await IrcClient.connect(running.server.port)
        await flooder.register("flooder")
        await flooder.send(*[f"PRIVMSG #lobby :spam {i}" for i in range(20)])
        await flooder.wait_closed()
        events = await events_until(ws, lambda e: e["type"] == "leave")
        await flooder.aclose()
    flood, leave = events[-2:]
    assert flood["type"] == "flood" and flood["nick"] == "flooder" and "host" not in flood
    assert "127.0.0.1" not in json.dumps(await get_json(running.http_port, "/api/events"))
    assert leave["kind"] == "flood" and leave["reason"] == "Excess Flood"


async def test_shutdown_closes_viewers_with_1001_and_returns(nursery: trio.Nursery) -> None:
    stop = trio.Event()
    finished = trio.Event()

    async def run(task_status: trio.TaskStatus[Running]) -> None:
        await serve_services(test_config(), stop, http_port=0, ws_port=0, task_status=task_status)
        finished.set()

    running = await nursery.start(run)
    alice = await IrcClient.connect(running.server.port)
    await alice.register("alice")
    async with open_viewer(running.ws_port) as ws:
        await next_event(ws)
        stop.set()
        goodbye = await events_until(ws, lambda e: e["type"] == "leave")
        code, reason = await close_code(ws)
    await alice.aclose()
    assert goodbye[-1]["kind"] == "shutdown"
    assert code == 1001 and reason == "server shutting down"
    with trio.fail_after(TIMEOUT):
        await finished.wait()


# --- the HTTP API -----------------------------------------------------------------------------


async def test_http_endpoints_return_what_they_say(
    monitor: Running, irc: Callable[[str], Awaitable[IrcClient]]
) -> None:
    port = monitor.http_port
    assert port is not None
    alice, bob = await irc("alice"), await irc("bob")
    hub_alice = monitor.server.hub.find_client("alice")
    assert hub_alice is not None
    hub_alice.oper = "admin"  # as OPER makes it: only server operators set #lobby's topic (+t, no channel ops)
    await alice.send("PRIVMSG #lobby :one", "PRIVMSG bob :private words", "TOPIC #lobby :<i>welcome</i>")
    await alice.sync()
    await bob.sync()
    assert monitor.feed is not None
    with trio.fail_after(TIMEOUT):
        while monitor.feed.last_id < 5:  # the broadcaster runs beside us: let it catch up
            await trio.testing.wait_all_tasks_blocked()

    stats = await get_json(port, "/api/stats")
    assert stats["clients"] == 2 and stats["messages"] == 2 and stats["viewers"] == 0
    assert stats["last_event_id"] == 5 and stats["rate"] > 0

    users = await get_json(port, "/api/users")
    assert users == {
        "count": 2,
        "users": [{"nick": "alice", "channels": ["#lobby"]}, {"nick": "bob", "channels": ["#lobby"]}],
    }

    everything = await get_json(port, "/api/events?after=0")
    assert [e["type"] for e in everything["events"]] == ["join", "join", "message", "pm", "topic"]
    assert everything["last_id"] == 5 and everything["truncated"] is False
    assert b"private words" not in json.dumps(everything).encode()
    later = await get_json(port, "/api/events?after=3&limit=1")
    assert [e["id"] for e in later["events"]] == [4]
    for bad in ("/api/events?after=x", "/api/events?after=-1", "/api/events?limit=0"):
        status, _, body = await http_get(port, bad)
        assert status == 400 and b"after must be" in body

    assert await get_json(port, "/healthz") == {"status": "ok", "uptime": pytest.approx(0, abs=TIMEOUT)}
    config = await get_json(port, "/api/config")
    assert config["ws_port"] == monitor.ws_port and config["chat_port"] == monitor.server.port
    assert config["irc_ws_port"] is None  # the IRC WebSocket is off in test_config

    status, headers, body = await http_get(port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    metrics = body.decode()
    assert "multichat_clients 2.0" in metrics and "multichat_messages_total 2.0" in metrics
    assert "multichat_feed_viewers 0.0" in metrics

    for target in ("/monitor", "/monitor/"):
        status, headers, body = await http_get(port, target)
        assert status == 200 and headers["content-type"].startswith("text/html") and b"/monitor/monitor.js" in body
        assert "script-src 'self'" in headers["content-security-policy"] and b'href="/">Open the chat' in body
    for target in ("/", "/index.html"):  # the web chat is the front page
        status, headers, body = await http_get(port, target)
        assert status == 200 and b"/chat/main.js" in body and "script-src 'self'" in headers["content-security-policy"]
    for target in ("/chat", "/chat/"):  # where it was: old links keep working
        status, headers, _ = await http_get(port, target)
        assert status == 308 and headers["location"] == "/"
    assets = [("/monitor/monitor.js", "text/javascript"), ("/monitor/monitor.css", "text/css")]
    assets += [
        ("/chat/main.js", "text/javascript"),
        ("/chat/irc.js", "text/javascript"),
        ("/chat/chat.css", "text/css"),
        ("/favicon.svg", "image/svg"),
    ]
    for asset, kind in assets:
        status, headers, _ = await http_get(port, asset)
        assert status == 200 and headers["content-type"].startswith(kind), asset
    status, headers, body = await http_get(port, "/monitor", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    assert (await http_get(port, "/../pyproject.toml"))[0] == 404
    assert (await http_get(port, "/nope"))[0] == 404
    assert (await http_get(port, "/chat/../pyproject.toml"))[0] == 404
    status, headers, _ = await http_get(port, "/api/stats", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
