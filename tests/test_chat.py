"""Integration tests over real sockets: registration, channels, messages, private messages."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import trio
import trio.testing

from multichat_trio.ircd.server import ChatServer

from .conftest import Connect, OpenClient, StartServer
from .ircclient import IrcClient


async def test_registration_sends_welcome_burst_and_autojoins_lobby(connect: Connect) -> None:
    alice = await connect()
    seen = await alice.register("alice")
    commands = [m.command for m in seen]
    for numeric in ("001", "002", "003", "004", "005", "251", "252", "253", "254", "255", "265", "266", "422"):
        assert numeric in commands, numeric
    join = next(m for m in seen if m.command == "JOIN")
    assert join.params == ("#lobby",) and join.source and join.source.startswith("alice!")
    assert "331" not in commands and "332" not in commands  # no topic: nothing said (331 answers TOPIC only)
    names = next(m for m in seen if m.command == "353")
    assert names.params[-1].split() == ["alice"]
    assert commands.index("JOIN") < commands.index("353") < commands.index("366")
    isupport = " ".join(" ".join(m.params) for m in seen if m.command == "005")
    for token in (
        "CASEMAPPING=rfc1459",
        "CHANTYPES=#",
        "NICKLEN=30",
        "CHANNELLEN=50",
        "NETWORK=MultiChat",
        "LINELEN=512",
    ):
        assert token in isupport


async def test_two_clients_chat_in_lobby(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.register("bob")
    joined = await alice.expect("JOIN")
    assert joined.source is not None and joined.source.startswith("bob!")
    await bob.send("PRIVMSG #lobby :hello, alice")
    got = await alice.expect("PRIVMSG")
    assert got.params == ("#lobby", "hello, alice") and got.source is not None and got.source.startswith("bob!")
    assert [m for m in await bob.sync() if m.command == "PRIVMSG"] == []  # no echo without echo-message


async def test_private_message_reaches_only_its_recipient(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    for client, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        await client.register(nick)
    await alice.send("PRIVMSG Bob :just for you")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("bob", "just for you")
    assert not [m for m in await carol.sync() if m.command == "PRIVMSG"]


async def test_echo_message_returns_own_lines(connect: Connect) -> None:
    alice = await connect()
    await alice.register("alice", caps="echo-message")
    await alice.send("PRIVMSG #lobby :echoed")
    got = await alice.expect("PRIVMSG")
    assert got.params == ("#lobby", "echoed")


async def test_nick_change_quit_and_part_are_seen_by_channel_peers(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.register("bob")
    await bob.send("NICK robert")
    change = await alice.expect("NICK")
    assert change.source is not None and change.source.startswith("bob!") and change.params == ("robert",)
    await bob.send("JOIN #side", "PART #lobby :moving on")
    part = await alice.expect("PART")
    assert part.params == ("#lobby", "moving on")
    await bob.send("JOIN #lobby", "QUIT :good night")
    quit_ = await alice.expect("QUIT")
    assert quit_.params == ("Quit: good night",)
    assert (await bob.wait_closed())[-1].command == "ERROR"


async def test_error_numerics(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(flood_rate=0)  # this test sends more commands than a human would

    async def connect() -> IrcClient:
        return await open_client(server.port)

    early = await connect()
    await early.send("PRIVMSG #lobby :too soon", "NICK")
    assert (await early.recv()).command == "451"
    assert (await early.recv()).command == "431"
    await early.send("NICK 1bad", "NICK *relayed", "USER u")
    assert (await early.recv()).command == "432"
    starred = await early.recv()
    assert starred.command == "432" and "relay" in starred.params[-1]
    assert (await early.recv()).command == "461"

    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.send("NICK ALICE")
    assert (await bob.recv()).command == "433"
    cases = {
        "PRIVMSG nobody :hi": "401",
        "PRIVMSG #nowhere :hi": "403",
        "PRIVMSG": "411",
        "PRIVMSG #lobby": "412",
        "FROBNICATE": "421",
        "PART #side": "403",
        "USER again 0 * :x": "462",
        "JOIN": "461",
        "JOIN lobby": "403",
    }
    for line, numeric in cases.items():
        await alice.send(line)
        reply = await alice.recv()
        assert reply.command == numeric, line
        assert reply.params[-1], "every error carries a human-readable text"
    await bob.register("bob")
    await bob.send("JOIN #side")
    await bob.sync()
    await alice.sync()  # past bob's JOIN to #lobby
    await alice.send("PRIVMSG #side :hi", "PART #side", "TOPIC #side :x")
    assert [(await alice.recv()).command for _ in range(3)] == ["404", "442", "442"]


async def test_queries(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await bob.register("bob", user="bobby")
    await bob.send("AWAY :lunch")
    assert (await bob.recv()).command == "306"
    await alice.sync()  # past bob's JOIN
    await alice.send("WHOIS bob")
    whois = await alice.collect_until("318")
    assert [m.command for m in whois] == ["311", "319", "312", "301", "317", "318"]
    assert whois[0].params[1:4] == ("bob", "bobby", "127.0.0.1")
    await alice.send("PRIVMSG bob :are you there")
    assert (await alice.recv()).params[1:] == ("bob", "lunch")
    await alice.send("WHO #lobby")
    who = await alice.collect_until("315")
    assert sorted(m.params[5] for m in who[:-1]) == ["alice", "bob"]
    await alice.send("ISON bob nobody alice")
    assert (await alice.recv()).params[-1] == "bob alice"
    await alice.send("USERHOST bob")
    assert (await alice.recv()).params[-1] == "bob=-bobby@127.0.0.1"
    hub_alice = server.hub.find_client("alice")
    assert hub_alice is not None
    hub_alice.oper = "admin"  # as OPER makes it: only server operators set #lobby's topic (+t, no channel ops)
    await alice.send("TOPIC #lobby :Be nice", "LIST")
    assert (await alice.expect("TOPIC")).params == ("#lobby", "Be nice")
    listing = await alice.collect_until("323")
    assert [m.params[1:] for m in listing if m.command == "322"] == [("#lobby", "2", "Be nice")]
    await alice.send("NAMES #lobby")
    names = await alice.collect_until("366")
    assert sorted(names[0].params[-1].split()) == ["alice", "bob"]
    await alice.send("LUSERS")
    lusers = await alice.collect_until("266")
    assert "There are 2 users" in lusers[0].params[-1]
    await alice.send("MODE #lobby", "MODE alice +i", "PING :x")
    assert [(await alice.recv()).command for _ in range(4)] == ["324", "329", "MODE", "PONG"]


async def test_motd_from_file(start_server: StartServer, open_client: OpenClient, tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("Welcome to our server\nBe excellent\n", encoding="utf-8")
    server = await start_server(motd=str(motd))
    client = await open_client(server.port)
    seen = await client.register("alice")
    lines = [m.params[-1] for m in seen if m.command == "372"]
    assert lines == ["- Welcome to our server", "- Be excellent"]
    assert "376" in [m.command for m in seen]


async def test_server_password(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(password="sesame")
    good, bad = await open_client(server.port), await open_client(server.port)
    await good.send("PASS sesame")
    await good.register("good")
    await bad.send("PASS wrong", "NICK bad", "USER u 0 * :x")
    seen = await bad.wait_closed()
    assert [m.command for m in seen] == ["464", "ERROR"]


async def test_autojoin_list_and_empty_autojoin(start_server: StartServer, open_client: OpenClient) -> None:
    several = await start_server(autojoin="#lobby,#help")
    client = await open_client(several.port)
    joined = [m.params[0] for m in await client.register("alice") if m.command == "JOIN"]
    assert joined == ["#lobby", "#help"]
    none = await start_server(autojoin="")
    loner = await open_client(none.port)
    assert not [m for m in await loner.register("alice") if m.command == "JOIN"]


async def test_console_stats_line_every_interval(
    start_server: StartServer,
    open_client: OpenClient,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="multichat_trio.ircd.server")
    server = await start_server(stats_interval=10, flood_rate=0)
    client = await open_client(server.port)
    await client.register("alice")
    await client.send("PRIVMSG #lobby :one", "PRIVMSG #lobby :two")
    await client.sync()
    await trio.sleep(10.5)  # virtual time: the autojump clock runs the stats task at t=10
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stats:")]
    assert lines and lines[-1].startswith("stats: 1 clients connected, 2 messages processed, ")
    assert "msg/s, uptime 0m1" in lines[-1]


async def test_sockets_let_the_kernel_join_writes_only_while_sending_is_busy(
    start_server: StartServer, open_client: OpenClient
) -> None:
    """The flusher's load report (`ChatServer._on_load`) turns Nagle on and off on every socket."""
    server = await start_server()
    fixed = await start_server(nagle_when_busy=False)

    def nodelay(of: ChatServer) -> set[bool]:
        return {bool(c.stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) for c in of._connections}

    for port, nick in ((server.port, "alice"), (server.port, "bob"), (fixed.port, "carol")):
        await (await open_client(port)).register(nick)
    assert nodelay(server) == nodelay(fixed) == {True}  # idle: every line goes out at once
    server._on_load(True)
    fixed._on_load(True)
    assert nodelay(server) == {False} and nodelay(fixed) == {True}
    await (await open_client(server.port)).register("newcomer")
    assert nodelay(server) == {False}  # one who arrives while busy coalesces too
    server._on_load(False)
    assert nodelay(server) == {True}
