"""Accounts over real sockets: kept across a restart (schema 4) with SASL logins, nick protection's grace
on trio's clock, and the failed-login delay and disconnect."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

import irc.client
import pytest
import trio

from multichat_trio.chat import opers
from multichat_trio.chat.hub import Deferred
from multichat_trio.ircd.connection import Connection

from .conftest import OpenClient, StartServer, StartServices
from .ircclient import IrcClient
from .test_opers import CHEAP

PASSWORD = "correct-horse"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)


@pytest.fixture
def inline_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 checks run inline: a real worker thread would let the autojump clock leap to the next deadline."""

    async def run_inline(self: Connection, deferred: Deferred) -> None:
        await self.publish(self.hub.take_events())
        deferred.then(deferred.work())

    monkeypatch.setattr(Connection, "_run_deferred", run_inline)


def plain(name: str, password: str) -> str:
    return base64.b64encode(f"\0{name}\0{password}".encode()).decode()


async def sasl_register(client: IrcClient, nick: str, password: str) -> list[str]:
    """Register with SASL PLAIN; the numerics seen up to the welcome."""
    await client.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :Real", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE")
    await client.send(f"AUTHENTICATE {plain(nick, password)}")
    seen = [m.command for m in await client.collect_until("903" if password == PASSWORD else "904")]
    await client.send("CAP END")
    seen += [m.command for m in await client.collect_until("001")]
    await client.sync()
    return seen


async def test_an_account_survives_a_restart_and_logs_in_with_sasl(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    db = str(tmp_path / "history.sqlite3")

    start = partial(start_services, db=db, flood_rate=0)

    first, stop_first = await start()
    alice = await open_client(first.server.port)
    await alice.register("alice")
    await alice.send(f"REGISTER * * {PASSWORD}")
    assert (await alice.expect("REGISTER")).params[:2] == ("SUCCESS", "alice")
    await alice.expect("900")
    await alice.send("JOIN #mine", "PRIVMSG ChanServ :REGISTER #mine")
    assert "registered to alice" in (await alice.expect("NOTICE", lambda m: "#mine" in m.params[-1])).params[-1]
    await alice.sync()
    stop_first.set()
    await first.server.stopped.wait()

    second, stop_second = await start()
    assert second.server.hub.accounts.find("alice") is not None
    bob = await open_client(second.server.port)
    await bob.register("bob")
    await bob.send("JOIN #mine")
    await bob.expect("366")
    again = await open_client(second.server.port)
    assert "900" in await sasl_register(again, "alice", PASSWORD)
    await again.send("JOIN #mine")
    assert (await bob.expect("MODE")).params == ("#mine", "+o", "alice")  # the founder, after a restart
    assert second.server.hub.find_client("alice").account == "alice"  # type: ignore[union-attr]
    wrong = await open_client(second.server.port)
    assert "904" in await sasl_register(wrong, "alice_", "wrong-password")
    stop_second.set()
    await second.server.stopped.wait()
    with contextlib.closing(sqlite3.connect(db)) as check:
        rows = check.execute("SELECT data FROM events").fetchall()
        assert rows and not any("$argon2" in data or PASSWORD in data for (data,) in rows)
        assert check.execute("SELECT password_hash FROM accounts").fetchone()[0].startswith("$argon2")


async def test_a_squatter_on_a_registered_nick_is_renamed_after_the_grace(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock, inline_checks: None
) -> None:
    server = await start_server(nick_protection_grace=30)
    owner = await open_client(server.port)
    await owner.register("alice")
    await owner.send(f"REGISTER * * {PASSWORD}", "NICK owner")
    await owner.expect("900")
    await owner.sync()
    squatter = await open_client(server.port)
    squatter.timeout = 1000
    started = trio.current_time()
    welcome = await squatter.register("alice")
    warning = next(m for m in welcome if m.command == "NOTICE" and "registered nickname" in m.params[-1])
    assert warning.source is not None and warning.source.startswith("NickServ!")
    renamed = await squatter.expect("NICK")
    assert renamed.params[0].startswith("Guest") and trio.current_time() - started >= 30
    assert (await owner.expect("NICK")).params == renamed.params  # a peer in #lobby sees it too
    assert server.hub.find_client("alice") is None


async def test_failed_logins_delay_the_next_line_then_disconnect(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock, inline_checks: None
) -> None:
    server = await start_server(flood_rate=0)
    owner = await open_client(server.port)
    await owner.register("alice")
    await owner.send(f"REGISTER * * {PASSWORD}")
    await owner.expect("900")
    guesser = await open_client(server.port)
    guesser.timeout = 1000
    await guesser.send("CAP LS 302", "NICK guess", "USER u 0 * :R", "CAP REQ :sasl")
    times = []
    for attempt in range(3):
        await guesser.send("AUTHENTICATE PLAIN")
        await guesser.expect("AUTHENTICATE")
        await guesser.send(f"AUTHENTICATE {plain('alice', f'guess{attempt}')}", "PING :after")
        await guesser.expect("904")
        if attempt < 2:
            before = trio.current_time()
            await guesser.expect("PONG")
            times.append(trio.current_time() - before)
    assert times[0] >= 1.0 and times[1] >= 2.0  # the delay doubles
    assert any(m.command == "ERROR" and "failed logins" in m.params[-1] for m in await guesser.wait_closed())


async def test_a_peer_sees_the_account_on_join_and_messages(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server()
    owner = await open_client(server.port)
    await owner.register("alice")
    await owner.send(f"REGISTER * * {PASSWORD}", "QUIT")
    await owner.wait_closed()
    peer = await open_client(server.port)
    await peer.register("peer", caps="account-tag extended-join")
    alice = await open_client(server.port)
    assert "900" in await sasl_register(alice, "alice", PASSWORD)
    join = await peer.expect("JOIN")
    assert join.params == ("#lobby", "alice", "Real") and join.tags["account"] == "alice"
    await alice.send("PRIVMSG #lobby :hello")
    assert (await peer.expect("PRIVMSG")).tags["account"] == "alice"


def _library_logs_in(port: int, seen: dict[str, Any], deadline: float) -> None:
    """jaraco's `irc` library: it knows no SASL, but sends a server password, `PASS alice:<password>`."""
    reactor = irc.client.Reactor()
    connection = reactor.server().connect("127.0.0.1", port, "alice", password=f"alice:{PASSWORD}")
    reactor.add_global_handler("loggedin", lambda c, e: seen.__setitem__("logged_in", e.arguments))
    reactor.add_global_handler("welcome", lambda c, e: seen.__setitem__("welcome", True))
    try:
        while time.monotonic() < deadline and not ("welcome" in seen and "logged_in" in seen):
            reactor.process_once(0.05)
        connection.quit("done")
    finally:
        connection.close()


async def test_a_client_library_logs_in_with_pass_account_password(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server()
    owner = await open_client(server.port)
    await owner.register("alice")
    await owner.send(f"REGISTER * * {PASSWORD}", "QUIT")
    await owner.wait_closed()
    seen: dict[str, Any] = {}
    await trio.to_thread.run_sync(_library_logs_in, server.port, seen, time.monotonic() + 10)
    assert seen.get("welcome") and seen["logged_in"][1] == "alice"
