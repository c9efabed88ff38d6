"""Input validated where it arrives, over real sockets: a line with NUL, CR or LF inside changes nothing.

Each test is one consequence seen when such lines were only caught while building output: lost
messages and poisoned replays, a topic that disconnected every newcomer, WHO/WHOIS victims, ghosts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sqlite3
from functools import partial
from pathlib import Path

import pytest
import trio

from multichat_trio.app import serve_services
from multichat_trio.history.store import HistoryStore
from multichat_trio.relay.rules import webirc_line

from .conftest import RELAY_SECRET, OpenClient, StartServer, test_config
from .ircclient import IrcClient
from .test_web import get_json


def _refused(message: object) -> bool:
    return getattr(message, "command", None) == "FAIL" and message.params[:2] == ("*", "INVALID_CHARACTERS")  # type: ignore[attr-defined]


async def _pair(
    start_server: StartServer, open_client: OpenClient, **config: object
) -> tuple[int, IrcClient, IrcClient]:
    """A server's port, and alice and bob registered on it, in #lobby."""
    server = await start_server(flood_rate=0, **config)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.sync()  # past bob's JOIN
    return server.port, alice, bob


@pytest.mark.parametrize("bad", [b"\0", b"\r"])
async def test_a_message_with_nul_or_cr_is_refused_and_is_neither_delivered_nor_kept(
    start_server: StartServer, open_client: OpenClient, bad: bytes
) -> None:
    port, alice, bob = await _pair(start_server, open_client, db=":memory:")
    await alice.send(b"PRIVMSG #lobby :a" + bad + b"b", "PRIVMSG #lobby :after")
    assert _refused(await alice.recv())
    assert (await bob.expect("PRIVMSG")).params == ("#lobby", "after")
    carol = await open_client(port)
    replayed = [m.params[1] for m in await carol.register("carol") if m.command == "NOTICE" and m.params[0] == "#lobby"]
    assert len(replayed) == 1 and replayed[0].endswith("<alice> after")
    await alice.sync()  # still connected


async def test_a_topic_with_nul_is_refused_and_newcomers_still_get_in(
    start_server: StartServer, open_client: OpenClient
) -> None:
    port, alice, bob = await _pair(start_server, open_client)
    await alice.send(b"TOPIC #lobby :a\0b")
    assert _refused(await alice.recv())
    await bob.send("TOPIC #lobby")
    assert (await bob.expect("331")).params[1] == "#lobby"
    carol = await open_client(port)
    burst = [m.command for m in await carol.register("carol")]
    assert "366" in burst and "332" not in burst  # joined, and no topic was set


async def test_a_realname_or_away_text_with_nul_is_refused_and_who_and_whois_work(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await bob.register("bob")
    await alice.send(b"NICK alice", b"USER u 0 * :a\0b")
    assert _refused(await alice.recv())
    await alice.send("USER u 0 * :Alice Liddell")
    await alice.expect("001")
    await alice.sync()  # past the welcome burst
    await alice.send(b"AWAY :gone\0x", b"AWAY :gone")
    assert _refused(await alice.recv())
    await alice.expect("306")
    await bob.send("WHO alice", "WHOIS alice", "PRIVMSG alice :hi")
    assert (await bob.expect("352")).params[-1] == "0 Alice Liddell"
    assert (await bob.expect("311")).params[-1] == "Alice Liddell"
    assert (await bob.expect("301")).params[-1] == "gone"  # WHOIS
    assert (await bob.expect("301")).params[-1] == "gone"  # the PM
    assert (await alice.expect("PRIVMSG")).params == ("alice", "hi")


@pytest.mark.parametrize(("address", "host"), [("::1", "0::1"), ("::ffff:10.0.0.1", "0::ffff:10.0.0.1")])
async def test_a_relayed_ipv6_host_is_one_word_so_who_whois_and_pms_work(
    start_server: StartServer, open_client: OpenClient, address: str, host: str
) -> None:
    server = await start_server(flood_rate=0)
    relayed, bob = await open_client(server.port), await open_client(server.port)
    await relayed.send(webirc_line(RELAY_SECRET, address).rstrip(b"\r\n"))
    await relayed.register("*r")
    await bob.register("bob")
    await bob.send("WHO *r", "WHOIS *r", "USERHOST *r", "PRIVMSG *r :hi")
    assert (await bob.expect("352")).params[3] == host
    assert (await bob.expect("311")).params[3] == host
    assert (await bob.expect("302")).params[-1] == f"*r=+u@{host}"
    assert (await relayed.expect("PRIVMSG")).params == ("*r", "hi")
    await bob.sync()  # still connected


async def test_a_quit_with_nul_is_refused_and_leaving_afterwards_leaves_no_ghost(
    start_server: StartServer, open_client: OpenClient
) -> None:
    port, alice, bob = await _pair(start_server, open_client)
    await alice.send(b"QUIT :bye\0")
    assert _refused(await alice.recv())
    await alice.aclose()
    assert (await bob.expect("QUIT")).params == ("Connection closed",)
    await bob.send("ISON alice")
    assert (await bob.expect("303")).params[-1] == ""
    again = await open_client(port)
    assert "433" not in [m.command for m in await again.register("alice")]


async def test_malformed_rows_in_the_database_are_left_out_once_and_everyone_can_join(
    tmp_path: Path, open_client: OpenClient, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows written by hand or by an older version: none of them may stop a join, the feed or the API."""
    db = str(tmp_path / "history.sqlite3")
    store = HistoryStore(db)
    store.open()
    store.close()
    good = {"nick": "alice", "channel": "#lobby", "text": "still fine", "command": "PRIVMSG"}
    poisoned = [
        ("message", good | {"text": "a\0b"}),
        ("message", good | {"text": "a\rb"}),
        ("message", {"nick": "alice", "channel": "#lobby"}),
        ("message", good | {"nick": 5}),
        ("message", good | {"nick": "not a nick"}),
        ("message", good | {"command": "KICK"}),
        ("join", {"channel": "#lobby"}),
        ("leave", {"nick": "x", "channel": 3, "reason": "", "kind": "quit"}),
    ]
    with contextlib.closing(sqlite3.connect(db)) as raw, raw:  # commits, then closes: the server locks the file
        insert = "INSERT INTO events (ts, type, channel, data) VALUES (?, ?, ?, ?)"
        raw.execute(insert, (1_800_000_000.0, "message", "#lobby", json.dumps(good)))
        for kind, data in poisoned:
            raw.execute(insert, (1_800_000_001.0, kind, "#lobby", json.dumps(data)))
        raw.execute(insert, (1_800_000_002.0, "message", "#lobby", "not json"))
        raw.execute(insert, (1_800_000_003.0, "message", "#lobby", "[1, 2]"))
        raw.execute(insert, ("yesterday", "message", "#lobby", json.dumps(good)))
        raw.execute(insert, (1e300, "message", "#lobby", json.dumps(good)))
    caplog.set_level(logging.WARNING, logger="multichat_trio.ircd.server")
    stop = trio.Event()
    running = await nursery.start(
        partial(serve_services, test_config(db=db, flood_rate=0), stop, http_port=0, ws_port=None)
    )
    for nick in ("bob", "carol"):
        client = await open_client(running.server.port)
        seen = await client.register(nick)
        replayed = [m.params[1] for m in seen if m.command == "NOTICE" and m.params[0] == "#lobby"]
        assert len(replayed) == 1 and replayed[0].endswith("<alice> still fine")
    events = (await get_json(running.http_port, "/api/events?after=0"))["events"]
    assert [(e["id"], e.get("text")) for e in events][:1] == [(1, "still fine")]
    shown = {e["id"] for e in events if e["id"] <= 13}
    assert shown == {1, 2, 3, 6, 7}  # the feed shows what has its fields, even text it could not replay
    warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("history: 12 stored events left out")
    stop.set()
    await running.server.stopped.wait()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
async def test_a_direct_ipv6_client_can_be_looked_up(start_server: StartServer) -> None:
    server = await start_server(host="::1", flood_rate=0)
    alice, bob = await IrcClient.connect(server.port, "::1"), await IrcClient.connect(server.port, "::1")
    try:
        await alice.register("alice")
        await bob.register("bob")
        await bob.send("WHO alice", "WHOIS alice")
        assert (await bob.expect("352")).params[3] == "0::1"
        assert (await bob.expect("311")).params[3] == "0::1"
    finally:
        await alice.aclose()
        await bob.aclose()
