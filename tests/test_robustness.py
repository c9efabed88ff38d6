"""Bad input, slow and silent peers, floods, races and shutdown, over real sockets."""

from __future__ import annotations

import socket

import trio
import trio.testing

from multichat_trio.ircd.server import ChatServer

from .conftest import Connect, OpenClient, StartServer
from .ircclient import IrcClient


async def test_overlong_line_gets_417_and_the_connection_lives(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.register("bob")
    await alice.sync()  # past bob's JOIN
    await alice.send("PRIVMSG #lobby :" + "x" * 600, "PRIVMSG #lobby :still here")
    assert (await alice.recv()).command == "417"
    got = await bob.expect("PRIVMSG")
    assert got.params == ("#lobby", "still here")


async def test_client_tags_have_their_own_4096_bytes_beside_the_512(connect: Connect) -> None:
    """IRCv3 message-tags: a 3000-byte `+draft/reply` is fine on a 400-byte PRIVMSG; a 4097-byte tags part is not."""
    alice, bob = await connect(), await connect()
    await alice.register("alice", caps="message-tags")
    await bob.register("bob", caps="message-tags")
    await alice.sync()  # past bob's JOIN
    text = "y" * (400 - len("PRIVMSG #lobby :"))
    tags = "@+draft/reply=" + "r" * (3000 - 15) + " "
    await alice.send(tags + "PRIVMSG #lobby :" + text)
    got = await bob.expect("PRIVMSG")
    assert got.params == ("#lobby", text) and "msgid" in got.tags
    assert "+draft/reply" not in got.tags  # client tags on PRIVMSG are not relayed (as before)
    over = "@+draft/reply=" + "r" * (4097 - 15) + " "
    await alice.send(over + "PRIVMSG #lobby :too much", "PRIVMSG #lobby :still here")
    assert (await alice.expect("417")).command == "417"
    assert (await bob.expect("PRIVMSG")).params == ("#lobby", "still here")


async def test_invalid_utf8_is_refused_and_nothing_else_is_lost(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.register("bob")
    await alice.sync()  # past bob's JOIN
    await alice.send(b"PRIVMSG #lobby :caf\xe9 \xff", "PRIVMSG #lobby :caf\u00e9 ok")
    fail = await alice.recv()
    assert fail.command == "FAIL" and fail.params[1] == "INVALID_UTF8"
    assert (await bob.expect("PRIVMSG")).params == ("#lobby", "café ok")


async def test_half_a_line_then_disconnect_is_dropped_cleanly(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.register("bob")
    await alice.sync()  # past bob's JOIN
    await alice.stream.send_all(b"PRIVMSG #lobby :never final")
    await alice.aclose()
    quit_ = await bob.expect("QUIT")
    assert quit_.params == ("Connection closed",)
    assert not [m for m in await bob.sync() if m.command == "PRIVMSG"]


async def test_nick_race_has_exactly_one_winner(server: ChatServer, open_client: OpenClient) -> None:
    racers = [await open_client(server.port) for _ in range(8)]
    async with trio.open_nursery() as nursery:
        for racer in racers:
            nursery.start_soon(racer.send, "NICK winner", "USER u 0 * :x")
    outcomes = []
    for racer in racers:
        reply = await racer.recv()
        outcomes.append(reply.command)
    assert sorted(outcomes) == ["001"] + ["433"] * 7


async def test_flooder_is_disconnected_and_others_see_why(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(flood_burst=5, flood_rate=1.0)
    flooder, witness = await open_client(server.port), await open_client(server.port)
    await flooder.register("flooder")
    await witness.register("witness")
    await flooder.send(*[f"PRIVMSG #lobby :spam {i}" for i in range(20)])
    seen = await flooder.wait_closed()
    assert seen[-1].command == "ERROR" and seen[-1].params == ("Excess Flood",)
    quit_ = await witness.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("flooder!") and quit_.params == ("Excess Flood",)
    spam = [m for m in await witness.sync() if m.command == "PRIVMSG"]
    assert len(spam) <= 5


async def test_client_that_never_reads_is_dropped_without_delaying_others(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(flood_rate=0, sendq=64 * 1024)
    sleeper_sock = trio.socket.socket()
    sleeper_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sleeper_sock.connect(("127.0.0.1", server.port))
    sleeper = IrcClient(trio.SocketStream(sleeper_sock))
    await sleeper.register("sleeper")  # ...and from now on it never reads
    talker, listener = await open_client(server.port), await open_client(server.port)
    await talker.register("talker")
    await listener.register("listener")
    await talker.sync()
    payload = "y" * 400
    sent = 0
    dropped = False
    with trio.fail_after(30):
        while not dropped:
            await talker.send(*[f"PRIVMSG #lobby :{sent + i} {payload}" for i in range(100)])
            sent += 100
            # The listener keeps pace with every batch, so the room is never held up by the sleeper.
            received = 0
            while received < 100:
                message = await listener.recv()
                if message.command == "PRIVMSG":
                    received += 1
                elif message.command == "QUIT":
                    assert message.source is not None and message.source.startswith("sleeper!")
                    assert message.params == ("SendQ exceeded",)
                    dropped = True
    assert server.hub.find_client("sleeper") is None
    await sleeper.aclose()


async def test_idle_client_is_pinged_and_kept_when_it_answers(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=30, ping_timeout=20)
    client = await open_client(server.port)
    client.timeout = 1000  # virtual seconds: the autojump clock skips the idle time
    await client.register("alice")
    ping = await client.expect("PING")
    await client.send(f"PONG :{ping.params[0]}")
    ping_again = await client.expect("PING")
    assert ping_again.params == ping.params
    await client.send("PONG :x")
    assert server.hub.find_client("alice") is not None


async def _pinged_pair(
    start_server: StartServer, open_client: OpenClient, *nicks: str
) -> tuple[ChatServer, list[IrcClient]]:
    """A server that PINGs after 30 s (PONG within 20), and two registered clients (virtual-time timeouts)."""
    server = await start_server(ping_interval=30, ping_timeout=20)
    clients = [await open_client(server.port) for _ in nicks]
    for client, nick in zip(clients, nicks, strict=True):
        client.timeout = 1000
        await client.register(nick)
    return server, clients


async def test_silent_client_gets_ping_timeout(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock
) -> None:
    _, (silent, witness) = await _pinged_pair(start_server, open_client, "silent", "witness")
    started = trio.current_time()
    await witness.send(f"PONG :{(await witness.expect('PING')).params[0]}")  # the witness stays alive
    seen = await silent.wait_closed()
    assert [m.command for m in seen][-2:] == ["PING", "ERROR"]
    assert seen[-1].params == ("Ping timeout: 20 seconds",)
    assert 50 <= trio.current_time() - started < 60
    assert (await witness.expect("QUIT", lambda m: m.source.startswith("silent!"))).params == (
        "Ping timeout: 20 seconds",
    )  # type: ignore[union-attr]


async def test_unregistered_connection_is_closed_after_the_timeout(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(register_timeout=15)
    lurker = await open_client(server.port)
    lurker.timeout = 1000
    await lurker.send("NICK lurker")
    seen = await lurker.wait_closed()
    assert seen[-1].command == "ERROR" and seen[-1].params == ("Registration timed out",)
    assert server.hub.find_client("lurker") is None


async def test_stop_says_goodbye_to_every_client(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server()
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.sync()  # past bob's JOIN
    await bob.sync()
    server.stop()
    for client in (alice, bob):
        seen = await client.wait_closed()
        assert seen[-1].command == "ERROR" and seen[-1].params == ("Server shutting down",)
    with trio.fail_after(5):
        await server.stopped.wait()


async def test_connections_that_ended_leave_the_deadline_heap(
    start_server: StartServer, open_client: OpenClient
) -> None:
    """One task keeps every connection's deadlines (`liveness.py`): an ended one must not stay there until its
    deadline (minutes), holding its client, or a server with much coming and going would grow."""
    server = await start_server(max_clients_per_ip=0, max_connects_per_ip=0)
    stayer = await open_client(server.port)
    await stayer.register("stayer")
    for round_ in range(4):
        comers = [await open_client(server.port) for _ in range(50)]
        for n, comer in enumerate(comers):
            await comer.register(f"c{round_}x{n}")
        for comer in comers:
            await comer.send("QUIT :bye")
            await comer.wait_closed()
        await trio.testing.wait_all_tasks_blocked()  # the server's side of the closes done too
        assert len(server._connections) == 1
    assert len(server.liveness._heap) <= 64 + 2  # what compaction leaves, not the 200 that came and went
    await stayer.send("PING :still")
    assert (await stayer.expect("PONG")).params[-1] == "still"


async def test_a_fault_in_one_clients_deadline_ends_that_client_only(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock
) -> None:
    """The liveness task serves every connection: an exception there must not stop the others' PINGs."""
    server, (faulty, fine) = await _pinged_pair(start_server, open_client, "faulty", "fine")
    ping = server.hub.ping

    def broken_ping(client: object) -> None:
        if getattr(client, "nick", "") == "faulty":
            raise RuntimeError("a bug")
        ping(client)  # type: ignore[arg-type]

    server.hub.ping = broken_ping  # type: ignore[method-assign]
    await fine.send(f"PONG :{(await fine.expect('PING')).params[0]}")
    await faulty.wait_closed()
    await fine.send(f"PONG :{(await fine.expect('PING')).params[0]}")  # the next round of PINGs came too
    assert server.hub.find_client("fine") is not None and server.hub.find_client("faulty") is None
