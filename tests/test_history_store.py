"""The SQLite history store on its own: schema, group commit, reads, pruning, bad files."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from multichat_trio import datadir
from multichat_trio.chat.chathistory import Query, Ref
from multichat_trio.history import store as history_store
from multichat_trio.history.store import DEFAULT_NAME, SCHEMA_VERSION, HistoryStore, NewEvent, StoreError, locate


def _message(ts: float, text: str, channel: str = "#lobby") -> NewEvent:
    return NewEvent(ts, "message", channel, {"nick": "alice", "channel": channel, "text": text})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()
    yield store
    store.close()


def test_append_is_one_batch_with_consecutive_ids(store: HistoryStore) -> None:
    ids = store.append([_message(1.0, "a"), _message(2.0, "b"), NewEvent(3.0, "join", "#side", {"nick": "x"})])
    assert ids == [1, 2, 3]
    assert store.append([_message(4.0, "c")]) == [4]
    assert store.last_id() == 4


def test_every_event_reads_back_as_stored_whoever_writes_its_json(store: HistoryStore) -> None:
    """Text-only events have their JSON written by SQLite (`json_object`), the others by Python: both read back
    equal, in the batch's order with consecutive ids around a state event, and the msgid is indexed in its column."""
    text = 'q"uote \\ back\x01ACTION\x01 tab\t é 日本 🎉 \u2028'
    batch = [
        NewEvent(1.5, "message", "#lobby", {"nick": "alice", "channel": "#lobby", "text": text, "msgid": "m1"}),
        NewEvent(2.0, "pm", None, {"from": "a", "to": "b", "from_account": None, "to_account": "b", "msgid": "p1"}),
        NewEvent(2.5, "stats", None, {"users": 3, "ratio": 0.5, "ok": True, "channels": {"#lobby": [1, 2]}}),
        NewEvent(3.0, "kline", None, {"mask": "*!*@h", "reason": "r", "nick": "op", "set_at": 3.0, "expires": 0}),
        NewEvent(3.5, "markread", None, {"account": "alice", "target": "#lobby", "ms": 5}),
        NewEvent(4.0, "join", "#lobby", {"nick": "bob", "channel": "#lobby"}),
        NewEvent(4.5, "message", "#lobby", {"nick": "bob", "channel": "#lobby", "text": "", "msgid": "m2"}),
    ]
    assert store.append(batch) == [1, 2, 3, 4, 0, 5, 6]
    stored = store.after(0, 10)
    kept = [event for event in batch if event.type != "markread"]
    assert [(e.ts, e.type, e.channel, e.data) for e in stored] == [(e.ts, e.type, e.channel, e.data) for e in kept]
    msgids = store.db.execute("SELECT id, msgid FROM events WHERE msgid IS NOT NULL ORDER BY id").fetchall()
    assert msgids == [(1, "m1"), (2, "p1"), (6, "m2")]


def test_ids_keep_increasing_after_reopen_and_pruning(tmp_path: Path) -> None:
    path = str(tmp_path / "h.sqlite3")
    first = HistoryStore(path)
    first.open()
    first.append([_message(float(i), str(i)) for i in range(5)])
    first.prune(keep=0)
    first.close()
    again = HistoryStore(path)
    again.open()
    assert again.append([_message(9.0, "after")]) == [6]
    again.close()


def test_recent_reads_newest_first_limited_then_returns_oldest_first(store: HistoryStore) -> None:
    store.append([_message(float(i), f"m{i}") for i in range(10)] + [_message(20.0, "other", "#side")])
    recent = store.recent(3, channel="#lobby", types=("message",))
    assert [e.data["text"] for e in recent] == ["m7", "m8", "m9"]
    assert [e.id for e in store.after(9, 10)] == [10, 11]


def test_prune_by_age_and_by_count(store: HistoryStore) -> None:
    store.append([_message(float(i), f"m{i}") for i in range(10)])
    assert store.prune(older_than=3.0) == 3
    assert store.prune(keep=4) == 3
    assert [e.data["text"] for e in store.recent(100)] == ["m6", "m7", "m8", "m9"]


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open history database"):
        HistoryStore(str(tmp_path / "missing-dir" / "h.sqlite3")).open()


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"corrupt\.sqlite3"):
        HistoryStore(str(path)).open()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        HistoryStore(str(path)).open()


def test_memory_store_works_for_tests_and_no_persistence() -> None:
    store = HistoryStore(":memory:")
    store.open()
    assert store.append([_message(1.0, "x")]) == [1]
    store.close()


def test_no_shared_memory_file_and_a_second_owner_is_refused(
    tmp_path: Path, store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append([_message(1.0, "a")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.sqlite3", "h.sqlite3-wal", "h.sqlite3.pending"]  # no -shm
    monkeypatch.setattr(history_store, "LOCK_WAIT", 0.0)
    with pytest.raises(StoreError, match=r"database is locked: another server uses it\?"):
        HistoryStore(store.path).open()
    store.close()
    again = HistoryStore(store.path)  # the lock goes with the owner
    again.open()
    assert [e.data["text"] for e in again.recent(10)] == ["a"]
    again.close()


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"directory '.*missing-dir' does not exist"):
        HistoryStore(str(tmp_path / "missing-dir" / "h.sqlite3")).open()


def test_the_default_store_goes_here_if_writable_else_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert locate("elsewhere.db") == "elsewhere.db"
    assert locate(DEFAULT_NAME) == str(tmp_path / "multichat.sqlite3")
    fallback = datadir.place(DEFAULT_NAME, cwd=tmp_path / "gone")  # nothing can be created there
    assert fallback == datadir.data_dir() / "multichat.sqlite3"
    assert str(fallback).startswith(str(tmp_path)) and datadir.data_dir().is_dir()
    assert datadir.find("x.secret", cwd=tmp_path) == datadir.data_dir() / "x.secret"  # not here: there
    (tmp_path / "x.secret").write_text("s")
    assert datadir.find("x.secret", cwd=tmp_path) == tmp_path / "x.secret"


def test_the_data_directory_of_each_platform(tmp_path: Path) -> None:
    home = tmp_path
    assert datadir.data_dir({}, "linux", home) == home / ".local" / "share" / "multichat"
    assert datadir.data_dir({"XDG_DATA_HOME": "/x"}, "linux", home) == Path("/x/multichat")
    assert datadir.data_dir({"XDG_DATA_HOME": "rel"}, "linux", home) == home / ".local" / "share" / "multichat"
    assert datadir.data_dir({}, "darwin", home) == home / "Library" / "Application Support" / "MultiChat"
    assert datadir.data_dir({"LOCALAPPDATA": "C:/L"}, "win32", home) == Path("C:/L/MultiChat")
    assert datadir.data_dir({}, "win32", home) == home / "AppData" / "Local" / "MultiChat"


def _msgid_plans(store: HistoryStore, query: Query) -> list[str]:
    """The query plan of every msgid look-up `store.chathistory(query)` ran (traced as it ran, values bound)."""
    ran: list[str] = []
    store.db.set_trace_callback(ran.append)
    try:
        assert store.chathistory(query) is not None
    finally:
        store.db.set_trace_callback(None)
    lookups = [sql for sql in ran if " msgid = " in sql]
    assert lookups, ran
    return [" ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in lookups]


@pytest.mark.parametrize("version", [4, 5])
def test_an_older_file_is_migrated_and_msgid_lookups_use_the_index(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        for step in range(1, version + 1):
            db.executescript(history_store._MIGRATIONS[step])
        db.execute(f"PRAGMA user_version={version}")
        rows = [
            (
                float(i),
                "message",
                "#lobby",
                f'{{"nick": "a", "channel": "#lobby", "text": "t{i}", "command": "PRIVMSG", "msgid": "m{i}"}}',
            )
            for i in range(50)
        ]
        pm = '{"from": "a", "to": "b", "text": "hi", "msgid": "p1", "from_account": "a", "to_account": "b"}'
        db.executemany(
            "INSERT INTO events (ts, type, channel, data) VALUES (?, ?, ?, ?)",
            [*rows, (60.0, "pm", None, pm), (61.0, "join", None, "not json")],  # edited by hand
        )
        db.commit()
    store = HistoryStore(str(path))
    store.open()
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
        between = Query("BETWEEN", "#lobby", None, None, (Ref(msgid="m40"), Ref(msgid="m10")), 5)
        assert [e.data["text"] for e in store.chathistory(between) or []] == [f"t{i}" for i in range(35, 40)]
        private = Query("AFTER", None, "a", "b", (Ref(msgid="p1"),), 5)
        for query in (between, Query("AROUND", "#lobby", None, None, (Ref(msgid="m3"),), 4), private):
            for plan in _msgid_plans(store, query):
                assert "USING INDEX events_by_msgid" in plan and "SCAN" not in plan, plan
    finally:
        store.close()


@pytest.mark.skipif(os.name == "nt", reason="Windows has no owner-only file mode")
def test_a_new_database_its_wal_and_its_journal_are_the_owner_s_alone(tmp_path: Path) -> None:
    """They hold password hashes and private messages; a file the owner made keeps the mode they gave it."""
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()
    store.append([NewEvent(1.0, "message", "#lobby", {"nick": "alice", "text": "hi"})])
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    store.close()
    assert modes == {"h.sqlite3": 0o600, "h.sqlite3-wal": 0o600, "h.sqlite3.pending": 0o600}
    shared = tmp_path / "shared.sqlite3"
    shared.touch(mode=0o640)
    shared.chmod(0o640)
    other = HistoryStore(str(shared))
    other.open()
    other.close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
