"""Every disconnect delivers its ERROR, and everything queued before it, with and without a history store.

With a store, a public message's lines wait for its commit, and so does every line after them (to keep
the order): the goodbye of a client leaving right after a public message waits too, and must still
reach it within the grace period.
"""

from __future__ import annotations

import pytest
import trio

from .conftest import OpenClient, StartServer

STORES = ["", ":memory:", "file"]


def _db(store: str, tmp_path: object) -> str:
    return str(tmp_path / "history.sqlite3") if store == "file" else store  # type: ignore[operator]


@pytest.mark.parametrize("store", STORES)
async def test_a_kicked_flooder_receives_excess_flood(
    store: str, start_server: StartServer, open_client: OpenClient, tmp_path: object
) -> None:
    chat = await start_server(db=_db(store, tmp_path), flood_rate=1, flood_burst=5)
    flooder, bob = await open_client(chat.port), await open_client(chat.port)
    await flooder.register("flooder")
    await bob.register("bob")
    await flooder.send(*(f"PRIVMSG #lobby :spam {n}" for n in range(20)))
    seen = await flooder.wait_closed()
    assert seen[-1].command == "ERROR" and seen[-1].params == ("Excess Flood",)
    quit_ = await bob.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("flooder!")


@pytest.mark.parametrize("store", STORES)
async def test_privmsg_then_quit_gets_the_replies_before_it_and_its_error(
    store: str, start_server: StartServer, open_client: OpenClient, tmp_path: object
) -> None:
    chat = await start_server(db=_db(store, tmp_path))
    alice, bob = await open_client(chat.port), await open_client(chat.port)
    await alice.register("alice", caps="echo-message")
    await bob.register("bob")
    await alice.send("PRIVMSG #lobby :last words", "PING :before-quit", "QUIT :bye")
    seen = await alice.wait_closed()
    commands = [m.command for m in seen]
    assert commands[-3:] == ["PRIVMSG", "PONG", "ERROR"], commands  # the echo, the PONG, then the goodbye
    assert seen[-1].params == ("Closing link: Client Quit",)
    assert (await bob.expect("PRIVMSG")).params == ("#lobby", "last words")
    assert (await bob.expect("QUIT")).params == ("Quit: bye",)


@pytest.mark.parametrize("store", STORES)
async def test_shutdown_right_after_a_public_message_still_says_goodbye(
    store: str, start_server: StartServer, open_client: OpenClient, tmp_path: object
) -> None:
    chat = await start_server(db=_db(store, tmp_path))
    alice, bob = await open_client(chat.port), await open_client(chat.port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.send("PRIVMSG #lobby :one more")
    await bob.expect("PRIVMSG")
    await alice.send("PRIVMSG #lobby :and another")
    chat.stop()
    for client in (alice, bob):
        seen = await client.wait_closed()
        assert seen and seen[-1].command == "ERROR" and seen[-1].params == ("Server shutting down",)
    with trio.fail_after(5):
        await chat.stopped.wait()
