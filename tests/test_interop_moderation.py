"""Interop: a third-party client library (jaraco's `irc`) moderates through our server.

It logs in as a server operator (OPER), bans a troll from #lobby (MODE +b) and kicks it with a
reason; the troll, a plain test client, sees the KICK and cannot rejoin (474). The library is
blocking, so its event loop runs in `trio.to_thread` for a bounded time.
"""

from __future__ import annotations

import time
from typing import Any

import irc.client
import trio
from argon2 import PasswordHasher

from multichat_trio.config import OperEntry

from .conftest import OpenClient, StartServer

PASSWORD = "correct-horse-battery"  # one word: the library sends OPER name password without a colon
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # verification reads these from the hash


def _moderate(port: int, seen: dict[str, Any], deadline: float) -> None:
    reactor = irc.client.Reactor()
    connection = reactor.server().connect("127.0.0.1", port, "libop", ircname="Library Operator")

    def on_youreoper(conn: Any, event: Any) -> None:
        seen["oper"] = event.arguments[0]
        conn.mode("#lobby", "+b troll!*@*")
        conn.kick("#lobby", "troll", "spamming the lobby")

    def on_mode(conn: Any, event: Any) -> None:
        if event.target == "#lobby":
            seen["mode"] = " ".join(event.arguments)

    reactor.add_global_handler("welcome", lambda conn, event: conn.oper("admin", PASSWORD))
    reactor.add_global_handler("youreoper", on_youreoper)
    reactor.add_global_handler("mode", on_mode)
    reactor.add_global_handler("kick", lambda conn, event: seen.__setitem__("kick", event.arguments))
    try:
        while time.monotonic() < deadline and not ("kick" in seen and "done" in seen):
            reactor.process_once(0.05)
        connection.quit("done")
    finally:
        connection.close()


async def test_a_library_client_opers_bans_and_kicks_and_the_troll_cannot_rejoin(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(opers=(OperEntry("admin", CHEAP.hash(PASSWORD)),))
    troll = await open_client(server.port)
    await troll.register("troll")
    seen: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, _moderate, server.port, seen, time.monotonic() + 15)
        kick = await troll.expect("KICK")
        assert kick.source is not None and kick.source.startswith("libop!")
        assert kick.params == ("#lobby", "troll", "spamming the lobby")
        await troll.send("JOIN #lobby")
        refused = await troll.expect("474")
        assert refused.params[1] == "#lobby"
        await troll.send("PRIVMSG #lobby :let me back in")
        assert (await troll.expect("404")).params[1] == "#lobby"  # not in it: cannot speak there
        seen["done"] = True
    assert seen["oper"] and seen["mode"] == "+b troll!*@*"
    assert seen["kick"] == ["troll", "spamming the lobby"]
