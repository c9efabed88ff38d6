"""Server bans and HISTSERV FORGET in the history store: kept across a restart, spam gone for good."""

from __future__ import annotations

import contextlib
import sqlite3
from functools import partial
from pathlib import Path

import trio

from multichat_trio.chat import events
from multichat_trio.history.store import SCHEMA_VERSION, HistoryStore, NewEvent

from .conftest import OpenClient, StartServices
from .ircclient import IrcClient
from .test_opers_server import ADMIN


def _new(event: events.Event, ts: float = 100.0) -> NewEvent:
    channel = event.data.get("channel")
    return NewEvent(ts, event.type, channel.lower() if isinstance(channel, str) else None, event.data)


def test_bans_are_kept_and_lifted_in_the_store(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()
    store.append(
        [
            _new(events.kline("op", "troll!*@*", "spam", 50.0, 0.0)),
            _new(events.kline("op", "10.0.0.0/8", "botnet", 60.0, 160.0)),
            _new(events.kline("op", "gone!*@*", "x", 70.0, 0.0)),
            _new(events.unkline("op", "gone!*@*")),
        ]
    )
    assert [(b.mask, b.reason, b.set_by, b.expires) for b in store.server_bans(now=100.0)] == [
        ("troll!*@*", "spam", "op", 0.0),
        ("10.0.0.0/8", "botnet", "op", 160.0),
    ]
    store.db.execute("INSERT INTO server_bans VALUES ('Not A Mask', 'r', 'op', 1, 0)")  # a hand edit
    assert [b.mask for b in store.server_bans(now=200.0)] == ["troll!*@*"]  # the range has run out
    assert store.db.execute("SELECT count(*) FROM server_bans WHERE mask = '10.0.0.0/8'").fetchone()[0] == 0
    store.close()


def test_forget_deletes_the_targets_earlier_messages_only(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()
    store.append(
        [
            _new(events.message("Troll[1]", "#a", "old spam", "PRIVMSG"), ts=10.0),
            _new(events.message("troll{1}", "#b", "spam", "PRIVMSG")),  # rfc1459: [ and { are one letter
            _new(events.private_message("troll[1]", "bob", "pm spam")),
            _new(events.message("bob", "#a", "hello", "PRIVMSG")),
            _new(events.forget("op", "TROLL[1]", 50.0, 0)),
            _new(events.message("troll[1]", "#a", "after", "PRIVMSG")),
        ]
    )
    left = [(e.type, e.data.get("text")) for e in store.recent(10)]
    assert left == [
        ("message", "old spam"),  # before the window of one FORGET with a duration
        ("message", "hello"),
        ("forget", None),
        ("message", "after"),
    ]
    store.close()


def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, type TEXT, channel TEXT, data TEXT)"
        )
        db.execute("PRAGMA user_version=1")
        db.commit()
    store = HistoryStore(str(path))
    store.open()
    assert store.server_bans(0.0) == []
    assert store.accounts() == []
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


async def test_bans_and_forgotten_spam_survive_a_restart(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    db = str(tmp_path / "history.sqlite3")

    start = partial(start_services, db=db, flood_rate=0, opers=(ADMIN,))

    first, stop_first = await start()
    alice, troll = await open_client(first.server.port), await open_client(first.server.port)
    await alice.register("alice")
    await troll.register("troll")
    await troll.send("PRIVMSG #lobby :buy now", "PRIVMSG #lobby :buy more")
    await troll.sync()
    await alice.send("PRIVMSG #lobby :hello all", "OPER admin hunter2")
    await alice.expect("381")
    await alice.send("KLINE troll :spam", "KLINE 1h 192.0.2.0/24 :botnet", "KLINE spare", "UNKLINE spare")
    await troll.wait_closed()
    await alice.send("HISTSERV FORGET troll")
    assert "2 left the replay" in (await alice.expect("NOTICE", lambda m: "HISTSERV" in m.params[-1])).params[-1]
    await alice.sync()
    stop_first.set()
    await first.server.stopped.wait()

    second, stop_second = await start()
    assert [ban.mask for ban in second.server.hub.bans.active(0)] == ["troll!*@*", "192.0.2.0/24"]
    assert [ban.mask for ban in second.server.hub.bans.active(1e12)] == ["troll!*@*"]  # the range's hour is over
    again = IrcClient(await trio.open_tcp_stream("127.0.0.1", second.server.port))
    await again.send("NICK troll", "USER u 0 * :x")
    assert [m.command for m in await again.wait_closed()] == ["465", "ERROR"]
    await again.aclose()
    bob = await open_client(second.server.port)
    seen = await bob.register("bob")
    replayed = [m.params[1] for m in seen if m.command == "NOTICE" and m.params[0] == "#lobby"]
    assert len(replayed) == 1 and replayed[0].endswith("<alice> hello all")
    stop_second.set()
    await second.server.stopped.wait()
