"""Interop: a third-party IRC client library (jaraco's `irc`, from PyPI) against our server.

The library is blocking, so its event loop runs in `trio.to_thread` for a bounded time.
"""

from __future__ import annotations

import time
from typing import Any

import irc.client
import trio

from .conftest import Connect
from .ircclient import IrcClient


def _run_library_client(port: int, seen: dict[str, Any], deadline: float) -> None:
    reactor = irc.client.Reactor()
    connection = reactor.server().connect("127.0.0.1", port, "libbot", ircname="Library Bot")

    def on_join(conn: Any, event: Any) -> None:
        if irc.client.NickMask(event.source).nick == "libbot":
            seen["joined"] = event.target
            conn.privmsg("#lobby", "hello from the irc library")
            conn.privmsg("alice", "a private hello")

    def on_pubmsg(conn: Any, event: Any) -> None:
        seen["pubmsg"] = (irc.client.NickMask(event.source).nick, event.target, event.arguments[0])

    def on_privmsg(conn: Any, event: Any) -> None:
        seen["privmsg"] = (irc.client.NickMask(event.source).nick, event.arguments[0])

    reactor.add_global_handler("welcome", lambda c, e: seen.__setitem__("welcome", e.arguments[0]))
    reactor.add_global_handler("join", on_join)
    reactor.add_global_handler("pubmsg", on_pubmsg)
    reactor.add_global_handler("privmsg", on_privmsg)
    try:
        while time.monotonic() < deadline and not ("pubmsg" in seen and "privmsg" in seen):
            reactor.process_once(0.05)
        connection.quit("done")
    finally:
        connection.close()


async def test_third_party_client_registers_joins_chats_and_sends_pms(connect: Connect, server: Any) -> None:
    alice: IrcClient = await connect()
    await alice.register("alice")
    seen: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, _run_library_client, server.port, seen, time.monotonic() + 15)
        public = await alice.expect("PRIVMSG", lambda m: m.params[0] == "#lobby")
        private = await alice.expect("PRIVMSG", lambda m: m.params[0] == "alice")
        await alice.send("PRIVMSG #lobby :hi libbot", "PRIVMSG libbot :hi in private")
    assert public.source is not None and public.source.startswith("libbot!")
    assert public.params[1] == "hello from the irc library"
    assert private.params[1] == "a private hello"
    assert "Welcome" in seen["welcome"] and seen["joined"] == "#lobby"
    assert seen["pubmsg"] == ("alice", "#lobby", "hi libbot")
    assert seen["privmsg"] == ("alice", "hi in private")
