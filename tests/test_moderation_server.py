"""Channel moderation over real sockets: an operator locks, bans and kicks; the troll cannot come back."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import trio

from multichat_trio.app import serve_services
from multichat_trio.ircd.server import ChatServer

from .conftest import OpenClient, StartServer, test_config


async def test_operator_bans_and_kicks_a_troll_who_cannot_rejoin(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(flood_rate=0)
    alice, troll, carol = [await open_client(server.port) for _ in range(3)]
    await alice.register("alice", caps="multi-prefix invite-notify")
    await troll.register("troll")
    await carol.register("carol", caps="userhost-in-names")
    await alice.send("JOIN #room", "MODE #room +b troll!*@*", "MODE #room +i", "PING :x")
    await alice.collect_until("PONG")
    await troll.send("JOIN #room")
    assert (await troll.expect("474")).params[1] == "#room"
    await alice.send("INVITE carol #room")
    assert (await alice.expect("341")).params[1:] == ("carol", "#room")
    assert (await carol.expect("INVITE")).params == ("carol", "#room")
    await carol.send("JOIN #room")
    names = await carol.expect("353")
    assert names.params[-1].split() == ["@alice!u@127.0.0.1", "carol!u@127.0.0.1"]
    await alice.send("MODE #room -b troll!*@*", "INVITE troll #room")
    await troll.expect("INVITE")
    await troll.send("JOIN #room", "PRIVMSG #room :spam")
    assert (await carol.expect("PRIVMSG")).params == ("#room", "spam")
    await alice.send("MODE #room +b *!*@127.0.0.1", "MODE #room +e carol", "KICK #room troll :no spam")
    kick = await troll.expect("KICK")
    assert kick.params == ("#room", "troll", "no spam") and kick.source and kick.source.startswith("alice!")
    await troll.send("JOIN #room", "NICK troll2")  # banned and no longer invited; a nick change is no way out
    assert (await troll.expect("474")).params[1] == "#room"
    await carol.send("MODE #room", "PRIVMSG #room :still here")
    assert (await carol.expect("324")).params[1:] == ("#room", "+int")
    await alice.expect("PRIVMSG", lambda m: m.params == ("#room", "still here"))


async def test_channel_state_survives_a_restart(tmp_path: Path, open_client: OpenClient, nursery: trio.Nursery) -> None:
    db = str(tmp_path / "history.sqlite3")

    async def start() -> tuple[ChatServer, trio.Event]:
        stop = trio.Event()
        running = await nursery.start(
            partial(serve_services, test_config(db=db, flood_rate=0), stop, http_port=0, ws_port=None)
        )
        return running.server, stop

    first, stop_first = await start()
    alice = await open_client(first.port)
    await alice.register("alice")
    await alice.send(
        "JOIN #room",
        "TOPIC #room :Be kind",
        "MODE #room +iklmst-n sesame 5",
        "MODE #room +b troll",
        "MODE #room +e *!*@trusted.example",
        "JOIN #plain",  # nothing set: not kept
        "JOIN #gone",
        "TOPIC #gone :brief",
        "PART #gone",  # emptied while running: its state goes with it
    )
    await alice.sync()
    stop_first.set()
    await first.stopped.wait()

    second, stop_second = await start()
    assert {key for key in second.hub.channels} == {"#lobby", "#room"}
    bob = await open_client(second.port)
    await bob.register("bob")
    await bob.send("JOIN #room")
    assert (await bob.expect("473")).params[1] == "#room"  # still invite-only
    hub_bob = second.hub.find_client("bob")
    assert hub_bob is not None
    hub_bob.oper = "admin"  # as OPER makes it: a restored channel's operators are the server's
    await bob.send("JOIN #room sesame", "MODE #room", "MODE #room b", "MODE #room e")
    topic = await bob.expect("333")
    assert topic.params[1:3] == ("#room", "alice!u@127.0.0.1")
    modes = await bob.expect("324")
    assert modes.params[2:] == ("+imstkl", "sesame", "5")
    assert (await bob.expect("367")).params[1:3] == ("#room", "troll!*@*")
    assert (await bob.expect("348")).params[1:3] == ("#room", "*!*@trusted.example")
    stop_second.set()
    await second.stopped.wait()
