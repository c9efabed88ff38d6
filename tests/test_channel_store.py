"""Channel state in the history store (schema migration 2) and its round trip through Channel snapshots."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from multichat_trio.chat.channel import Channel, ListEntry
from multichat_trio.history.store import SCHEMA_VERSION, HistoryStore

from .test_hub import make_hub


def test_a_version_1_file_gains_the_channels_table(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite3")
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, type TEXT NOT NULL,"
            " channel TEXT, data TEXT NOT NULL); PRAGMA user_version=1;"
        )
        db.execute("INSERT INTO events (ts, type, channel, data) VALUES (1.0, 'join', '#a', '{}')")
        db.commit()
    store = HistoryStore(path)
    store.open()
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        assert store.channels() == [] and store.last_id() == 1
        state = Channel("#A", topic="t", bans={"x!*@*": ListEntry("x!*@*", "op!u@h", 5)}).snapshot()
        store.append([], {"#a": state, "#b": Channel("#b").snapshot()})
        store.append([], {"#b": None})
        store.db.execute("INSERT INTO channels (key, data) VALUES ('#bad', 'not json')")
        assert store.channels() == [state]
    finally:
        store.close()


def test_snapshot_round_trip_and_malformed_states_are_skipped() -> None:
    channel = Channel("#Room", topic="hi", topic_by="a!u@h", topic_at=7, created=3, key="k", limit=4)
    channel.modes = {"i", "s"}
    channel.excepts["*!*@h"] = ListEntry("*!*@h", "a!u@h", 9)
    copy = Channel.restore(channel.snapshot())
    assert copy.snapshot() == channel.snapshot() and not copy.ops and not copy.members
    hub, _ = make_hub()
    bad = [{"name": "#x", "bans": [["only-a-mask"]]}, {"topic": "no name"}, {"name": "nochan"}]
    assert hub.restore_channels([*bad, channel.snapshot()]) == 1
    assert set(hub.channels) == {"#lobby", "#room"}


def test_only_channels_with_something_set_are_kept() -> None:
    from .test_modes import channel_of_three, say

    hub, _ = make_hub()
    hub.durable = True
    alice, bob, _ = channel_of_three(hub)
    say(hub, alice, "MODE #c -t")
    assert list(hub.take_changed()) == ["#c"]
    say(hub, alice, "MODE #c +t")
    assert hub.take_changed() == {"#c": None}  # back to a new channel's modes: nothing to keep
    say(hub, alice, "TOPIC #c :kept", "PART #c")
    say(hub, bob, "PART #c")
    assert hub.take_changed() == {"#c": None}  # it emptied
