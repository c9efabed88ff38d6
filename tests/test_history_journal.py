"""The store's journal: what a killed server let out is stored at the next start, once; a bad line changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multichat_trio.history.journal import Record, decode, encode
from multichat_trio.history.store import HistoryStore, NewEvent


def _message(text: str) -> NewEvent:
    return NewEvent(1.0, "message", "#lobby", {"nick": "alice", "channel": "#lobby", "text": text, "msgid": text})


def _killed(path: Path, *batches: list[NewEvent], applied: int = 0) -> list[list[int]]:
    """A server's run that journaled `batches`, had the first `applied` in SQLite, and was killed (no reset)."""
    store = HistoryStore(str(path))
    store.open()
    given = []
    for n, batch in enumerate(batches):
        record = store.record(batch, {}, {})
        if n < applied:
            store.apply([record])
        given.append([row[0] for row in record.rows])
    store.journal.close()  # the process dies: the file keeps what was written
    store.close()
    return given


def _texts(store: HistoryStore) -> list[tuple[int, str]]:
    return [(event.id, event.data["text"]) for event in store.recent(100)]


def test_what_a_killed_server_journaled_is_stored_at_the_next_start_under_the_ids_it_gave(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    ids = _killed(path, [_message("a"), _message("b")], [_message("c")], applied=1)
    store = HistoryStore(str(path))
    store.open()
    try:
        assert store.recovered == 1 and store.unreadable == 0  # the applied batch is not applied twice
        assert _texts(store) == [(ids[0][0], "a"), (ids[0][1], "b"), (ids[1][0], "c")]
        assert os.path.getsize(store.journal.path or "") == 0  # emptied: SQLite holds it all
        more = store.record([_message("d")], {}, {})  # numbering goes on after the recovered batch
        assert more.seq == 3 and [row[0] for row in more.rows] == [ids[1][0] + 1]
    finally:
        store.close()


def test_a_torn_or_foreign_line_is_left_out_and_the_records_around_it_are_applied(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    _killed(path, [_message("a")], [_message("b")])
    journal = Path(str(path) + ".pending")
    first, second = journal.read_bytes().splitlines(keepends=True)
    bad = b'[3,[[7,1.0,"message",null,"not a dict"]],{},{}]\n'
    journal.write_bytes(first + b"\xff\xfe not json\n" + bad + second + second[:20])  # torn by a power cut
    store = HistoryStore(str(path))
    store.open()
    try:
        assert (store.recovered, store.unreadable) == (2, 3)
        assert [text for _, text in _texts(store)] == ["a", "b"]
    finally:
        store.close()


def test_channel_states_and_accounts_come_back_with_their_batch(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(str(path))
    store.open()
    account = {"name": "Alice", "password_hash": "$argon2id$x", "registered": 5.0, "certfps": [], "flags": []}
    store.record([_message("a")], {"#lobby": {"name": "#lobby", "topic": "hi"}}, {"alice": account})
    store.journal.close()
    store.close()
    store.open()
    try:
        assert [state["topic"] for state in store.channels()] == ["hi"]
        assert [found["name"] for found in store.accounts()] == ["Alice"]
    finally:
        store.close()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.binary(max_size=200) | _json.map(lambda value: repr(value).encode()))
def test_decode_never_raises_on_any_line(line: bytes) -> None:
    record = decode(line)
    assert record is None or isinstance(record, Record)


@given(
    st.integers(min_value=1, max_value=2**53),
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**53),
            st.floats(min_value=0, max_value=2e9),
            st.text(min_size=1),
            st.none() | st.text(),
            st.dictionaries(st.text(), st.text() | st.none() | st.integers()),
        ),
        max_size=5,
    ),
)
def test_a_record_reads_back_as_written(seq: int, rows: list[Any]) -> None:
    record = Record(seq, rows, {"#a": None, "#b": {"topic": "t"}}, {})
    assert decode(encode(record)) == record
    assert encode(record).count(b"\n") == 1  # one line, whatever the text holds


#: The keys are the server's own names, never a user's text (and no text from a boundary holds a lone surrogate).
_keys = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=8)
_values = st.text() | st.none() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.lists(st.text(), max_size=3)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=2e9),
            st.sampled_from(["message", "pm", "join", "topic"]),
            st.none() | st.text(),
            st.dictionaries(
                st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=8),
                _values,
                max_size=5,
            ),
        ),  # the keys are the server's own names, never a user's text
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=1, max_value=3),
)
def test_sqlite_reads_the_journal_s_rows_as_the_row_by_row_insert_stores_them(rows: list[Any], split: int) -> None:
    """`apply`'s one statement over the records' JSON (NaN and all) stores what `append` would, row for row."""
    events = [NewEvent(ts, kind, channel, data) for ts, kind, channel, data in rows]
    journaled, by_row = HistoryStore(":memory:"), HistoryStore(":memory:")
    journaled.open()
    by_row.open()
    records = [journaled.record(events[i : i + split], {}, {}) for i in range(0, len(events), split)]
    journaled.apply(records)
    by_row.append(events, ids=[row[0] for record in records for row in record.rows])

    def stored(store: HistoryStore) -> list[Any]:
        query = "SELECT id, ts, type, channel, msgid, data FROM events ORDER BY id"
        return [(*row[:5], json.loads(row[5])) for row in store.db.execute(query)]

    assert repr(stored(journaled)) == repr(stored(by_row))  # repr: NaN is not equal to itself
    assert journaled.db.execute("SELECT applied FROM journal").fetchone()[0] == records[-1].seq


def test_sqlite_takes_the_rows_from_the_journal_s_json_not_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one statement does the inserting (it gives the GIL up once); `_Run` is only for what SQLite refuses."""
    from multichat_trio.history import store as history_store

    store = HistoryStore(":memory:")
    store.open()
    records = [store.record([_message("one"), _message("two")], {}, {}), store.record([_message("three")], {}, {})]
    monkeypatch.setattr(history_store, "_Run", None)  # any row-by-row insert would fail
    store.apply(records)
    assert _texts(store) == [(1, "one"), (2, "two"), (3, "three")]
    assert [event.data["msgid"] for event in store.recent(100)] == ["one", "two", "three"]
