"""The history store: chat events in SQLite (stdlib `sqlite3`, WAL), read back after a restart.

`HistoryStore` is synchronous and is only ever used by one thread at a time, under the history
writer's one-slot limiter: a worker thread (`trio.to_thread.run_sync`), or the trio thread for a
small commit (see `writer.py`). Each `append` is one transaction: group commit. WAL with
`synchronous=NORMAL` survives a killed process (SIGKILL) without corruption or loss of committed
rows; it may lose the last transactions on a power cut, which is the usual trade for a chat server.
The file is locked exclusively while open: one server owns it, and no `-shm` file is used (see
`open`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import datadir
from ..chat.bans import ServerBan
from ..chat.chathistory import Query, Ref
from ..chat.readmarkers import MAX_TARGETS
from ..protocol import casefold
from .journal import Journal, Record, to_text

#: Seconds a starting server waits for the file's lock (a server that is just stopping) before giving up.
LOCK_WAIT = 0.5
#: Version of the schema this code writes; older files are migrated on open.
SCHEMA_VERSION = 7

_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            type TEXT NOT NULL,
            channel TEXT,
            data TEXT NOT NULL
        );
        CREATE INDEX events_by_channel ON events (channel, id);
        CREATE INDEX events_by_time ON events (ts);
    """,
    # Channel state that survives a restart: one row per channel, its snapshot as JSON (Channel.snapshot).
    2: """
        CREATE TABLE channels (
            key TEXT PRIMARY KEY,
            data TEXT NOT NULL
        );
    """,
    3: """
        CREATE TABLE server_bans (
            mask TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at REAL NOT NULL,
            expires REAL NOT NULL
        );
    """,
    # Accounts: the argon2 hash stays in this file (the feed and the events never carry it).
    4: """
        CREATE TABLE accounts (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            registered REAL NOT NULL,
            certfps TEXT NOT NULL DEFAULT '[]',
            flags TEXT NOT NULL DEFAULT '[]'
        );
    """,
    # CHATHISTORY's msgid references: an index on the very expression `_MSGID` the look-ups use, not a scan;
    # and read markers (MARKREAD): per account (casefolded) and target (casefolded), milliseconds.
    5: """
        CREATE INDEX events_by_msgid ON events ((CASE WHEN json_valid(data) THEN json_extract(data, '$.msgid') END));
        CREATE TABLE read_markers (
            account TEXT NOT NULL,
            target TEXT NOT NULL,
            ms INTEGER NOT NULL,
            PRIMARY KEY (account, target)
        );
    """,
    # The msgid in a column of its own, written with the row: version 5's index on the JSON expression
    # made every insert parse its data twice (json_valid, json_extract), a third of a message's storing cost.
    # Only rows that have one are indexed; a row that is not JSON (edited by hand) has none.
    6: """
        ALTER TABLE events ADD COLUMN msgid TEXT;
        UPDATE events SET msgid = (CASE WHEN json_valid(data) THEN json_extract(data, '$.msgid') END)
            WHERE type IN ('message', 'pm');
        DROP INDEX events_by_msgid;
        CREATE INDEX events_by_msgid ON events (msgid) WHERE msgid IS NOT NULL;
    """,
    # The newest journal record applied (`journal.py`): a record is applied once, in the transaction that notes it.
    7: """
        CREATE TABLE journal (applied INTEGER NOT NULL);
        INSERT INTO journal (applied) VALUES (0);
    """,
}
#: A stored event's msgid (its column, migration 6), as CHATHISTORY's look-ups compare it.
_MSGID = "msgid"
#: The types of the values SQLite's `json_object` writes as Python's `json` would (none is a bool, a list...).
_TEXTS = frozenset({str, type(None)})
#: An event's time in whole milliseconds, as its `server-time` tag shows it (CHATHISTORY's timestamps).
_MS = "(CAST(round(ts * 1000000) AS INTEGER) / 1000)"
#: A private message whose text was kept (`--store-pms`).
_STORED_PM = "type = 'pm' AND json_valid(data) AND json_extract(data, '$.text') IS NOT NULL"


def _side(side: str, test: str) -> str:
    """SQL: the `side` ('from' or 'to') of a pm event was logged in to the account `test` names."""
    return f"irc_casefold(json_extract(data, '$.{side}_account')) {test}"


def _name(side: str) -> str:
    """SQL: a pm's `side` as its account if it had one, else its nick."""
    return f"coalesce(json_extract(data, '$.{side}_account'), json_extract(data, '$.{side}'))"


def _other(side: str) -> str:
    """SQL: `side` is the other party: its account (if it had one) is the target's nick or that nick's
    account now (two parameters), else its nick is the target (a third)."""
    return (
        f"(CASE WHEN json_extract(data, '$.{side}_account') IS NOT NULL THEN {_side(side, 'IN (?, ?)')}"
        f" ELSE irc_casefold(json_extract(data, '$.{side}')) = ? END)"
    )


#: SQL: a pm between the reader's account (a parameter) and the target (three, `_other`), either way.
#: Rows stored without accounts (older versions) never match: their reader cannot be told from a nick-taker.
_PM_PARTIES = f"(({_side('from', '= ?')} AND {_other('to')}) OR ({_side('to', '= ?')} AND {_other('from')}))"
#: Events that change the state kept beside the history (`_keep_state`).
STATE_EVENTS = frozenset({"kline", "unkline", "forget", "account_drop"})
#: Events that only change that state, with no row in the history: a read marker is its account's alone
#: (not chat history, never shown), and a client moving one often must not push messages out of `--max-events`.
STATE_ONLY = frozenset({"markread"})


class StoreError(Exception):
    """The store cannot be opened or written: the message says what and where."""


#: The default of `--db`: a bare file name, placed by `locate`.
DEFAULT_NAME = "multichat.sqlite3"


def locate(db: str) -> str:
    """`db` as given, except the default name: here if writable, else in the data directory (`datadir`)."""
    if db != DEFAULT_NAME:
        return db
    try:
        return str(datadir.place(DEFAULT_NAME))
    except OSError as exc:
        raise StoreError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    ts: float
    type: str
    channel: str | None
    data: dict[str, Any]


@dataclass(slots=True)  # not frozen: one is made for every stored event, and a frozen one costs four times as much
class NewEvent:
    ts: float
    type: str
    channel: str | None  # the channel's casefolded key, for replay look-ups
    data: dict[str, Any]


class HistoryStore:
    """The database, and its journal of what was let out before SQLite took it in (`journal.py`).

    `record` runs on the trio thread and touches only the journal and the counters; everything else runs
    under the writer's limiter.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self.journal = Journal(None if path == ":memory:" else path + ".pending")
        #: The next event id and journal record number `record` gives.
        self._next_id = self._next_seq = 1
        #: At `open`: the journal records applied then (a killed server's last batches), and lines not records.
        self.recovered = self.unreadable = 0

    def open(self) -> None:
        """Connect, lock the file, set WAL, migrate the schema. Raises `StoreError` with a clear message.

        Exclusive locking, set before WAL, keeps the WAL index in this process's memory instead of a
        shared `-shm` file (whose write fault would be SIGBUS, not an error), and refuses a second server.
        """
        where = f"cannot open history database {self.path!r}"
        folder = os.path.dirname(self.path)
        if self.path != ":memory:" and folder and not os.path.isdir(folder):
            raise StoreError(f"{where}: directory {folder!r} does not exist")
        db = None
        try:
            if self.path != ":memory:":
                try:
                    _create_private(self.path)
                except OSError as exc:
                    raise StoreError(f"{where}: {exc.strerror or exc}") from exc
            db = sqlite3.connect(self.path, timeout=LOCK_WAIT, check_same_thread=False, isolation_level=None)
            _prepare(db, self.path)
            self._db = db
            self._recover()
        except (sqlite3.Error, StoreError, OSError) as exc:
            self._db = None
            if db is not None:
                db.close()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, OSError):
                raise StoreError(f"{where}: journal {self.journal.path!r}: {exc.strerror or exc}") from exc
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":
                raise StoreError(f"{where}: database is locked: another server uses it?") from exc
            raise StoreError(f"{where}: {exc}") from exc

    def _recover(self) -> None:
        """Apply the journal's records that SQLite lacks (a killed server's last batches), then empty it."""
        records, self.unreadable = self.journal.read()
        applied = self.db.execute("SELECT applied FROM journal").fetchone()[0]
        missing = [record for record in records if record.seq > applied]
        if missing:
            self.apply(missing)
            applied, self.recovered = missing[-1].seq, len(missing)
        self.journal.open()
        newest = self.db.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
            " coalesce((SELECT max(id) FROM events), 0))"
        ).fetchone()[0]
        self._next_id, self._next_seq = newest + 1, applied + 1

    def record(
        self,
        events: Sequence[NewEvent],
        channels: dict[str, dict[str, Any] | None],
        accounts: dict[str, dict[str, Any] | None],
    ) -> Record:
        """Write a batch to the journal (on the trio thread); the record gives each event its id.

        The ids are the ones `apply` stores them under; a `STATE_ONLY` event gets 0. Raises `StoreError`.
        """
        ids, next_id = [], self._next_id
        for event in events:
            if event.type in STATE_ONLY:
                ids.append(0)
            else:
                ids.append(next_id)
                next_id += 1
        rows = [(i, e.ts, e.type, e.channel, e.data) for i, e in zip(ids, events, strict=True)]
        record = Record(self._next_seq, rows, channels, accounts)
        record.text = to_text(record)
        try:
            self.journal.write(record)
        except (OSError, ValueError) as exc:  # ValueError: text that is not Unicode (no input gives any)
            reason = getattr(exc, "strerror", None) or exc
            raise StoreError(f"cannot write history to {self.journal.path!r}: {reason}") from exc
        self._next_id, self._next_seq = next_id, record.seq + 1
        return record

    def apply(self, records: Sequence[Record]) -> None:
        """Store journal records in one transaction, under their ids, noting the last as applied.

        The rows go in with one statement that reads them from the records' JSON (`_INSERT_JOURNALED`): SQLite
        parses and inserts them all with the GIL released, where an `executemany` takes the GIL back for every
        row, from a trio thread that gives it up at every `send`. Events that change other state go row by row.
        """
        channels: dict[str, dict[str, Any] | None] = {}
        accounts: dict[str, dict[str, Any] | None] = {}
        for record in records:
            channels.update(record.channels)
            accounts.update(record.accounts)
        rows = [row for record in records for row in record.rows]
        texts = [record.text for record in records]
        # SQLite's JSON functions end a text at a NUL (none comes from IRC, which refuses it; the rest may)
        if any(row[2] in _KEPT_BY_ROW for row in rows) or not all(texts) or any("\\u0000" in t for t in texts):
            events, ids = _events_of(rows)
            self.append(events, channels, accounts, ids=ids, seq=records[-1].seq)
            return
        with self._transaction() as db:
            db.execute("UPDATE journal SET applied = ?", (records[-1].seq,))
            _keep_states(db, channels, accounts)
            try:
                db.execute(_INSERT_JOURNALED, (f"[{','.join(texts)}]",))
            except sqlite3.OperationalError:  # JSON that SQLite refuses (a NaN): the statement is undone, row by row
                _insert_events(db, *_events_of(rows))

    def close(self) -> None:
        self.journal.close()
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("history store is not open")
        return self._db

    def append(
        self,
        events: Sequence[NewEvent],
        channels: Mapping[str, dict[str, Any] | None] | None = None,
        accounts: Mapping[str, dict[str, Any] | None] | None = None,
        *,
        ids: Sequence[int] | None = None,
        seq: int = 0,
    ) -> list[int]:
        """Store `events`, and the channel states and accounts changed with them (None: forget it), in one
        transaction; under the `ids` that `record` gave them and noting its record `seq`, if given.

        Returns the events' ids (consecutive, increasing; 0 for a `STATE_ONLY` event, which takes no row).
        """
        with self._transaction() as db:
            if seq:
                db.execute("UPDATE journal SET applied = ?", (seq,))
            _keep_states(db, channels or {}, accounts or {})
            return _insert_events(db, events, ids)

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, so the WAL starts over (no commit does it)."""
        try:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot checkpoint history in {self.path!r}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block ends, rolled back (a `StoreError`) if SQLite fails."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot write history to {self.path!r}: {exc}") from exc

    def import_messages(self, events: Sequence[NewEvent]) -> int:
        """Store the `message` events whose msgid is not stored yet (another cluster node's history); how many.

        They take ids after every stored event: the caller brings in only what is older than anything it
        will store next and newer than anything stored (a node catching up on what it missed).
        """
        with self._transaction() as db:
            wanted = [event for event in events if isinstance(event.data.get("msgid"), str)]
            known: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = [event.data["msgid"] for event in wanted[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                known.update(row[0] for row in db.execute(f"SELECT msgid FROM events WHERE msgid IN ({marks})", chunk))
            run = _Run(db, [])
            added = 0
            for event in wanted:
                if event.data["msgid"] not in known:
                    known.add(event.data["msgid"])
                    run.add(event)
                    added += 1
            run.flush()
            newest = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            self._next_id = max(self._next_id, newest + 1)  # `record` numbers after them
        return added

    def newest_msgid(self) -> str | None:
        """The msgid of the newest stored public message (cluster mode resumes after it), if any."""
        row = self.db.execute(
            "SELECT msgid FROM events WHERE type = 'message' AND msgid IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def channels(self) -> list[dict[str, Any]]:
        """Every stored channel state (rows that are not a JSON object are left out)."""
        states = []
        for (data,) in self.db.execute("SELECT data FROM channels ORDER BY key").fetchall():
            try:
                state = json.loads(data)
            except (TypeError, ValueError):
                continue
            if isinstance(state, dict):
                states.append(state)
        return states

    def accounts(self) -> list[dict[str, Any]]:
        """Every stored account as `Account.snapshot()` gives it (the caller skips malformed rows)."""
        rows = self.db.execute("SELECT name, password_hash, registered, certfps, flags FROM accounts ORDER BY key")
        found = []
        for name, password_hash, registered, certfps, flags in rows.fetchall():
            try:
                lists = json.loads(certfps), json.loads(flags)
            except (TypeError, ValueError):
                lists = [], []
            row = {"name": name, "password_hash": password_hash, "registered": registered}
            found.append(row | {"certfps": lists[0], "flags": lists[1]})
        return found

    def read_markers(self) -> list[tuple[str, str, int]]:
        """Every stored read marker: (account, target, milliseconds), casefolded names; malformed rows left out."""
        rows = self.db.execute("SELECT account, target, ms FROM read_markers ORDER BY account, ms").fetchall()
        return [
            (account, target, ms)
            for account, target, ms in rows
            if isinstance(account, str) and isinstance(target, str) and isinstance(ms, int)
        ]

    def last_id(self) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def recent(self, limit: int, *, channel: str | None = None, types: Sequence[str] = ()) -> list[StoredEvent]:
        """The newest `limit` events (of `channel`, of `types` if given), oldest first."""
        where, params = [], []
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        if types:
            where.append(f"type IN ({', '.join('?' * len(types))})")
            params.extend(types)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.execute(
            f"SELECT id, ts, type, channel, data FROM events {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [_row(row) for row in reversed(rows)]

    def after(self, event_id: int, limit: int) -> list[StoredEvent]:
        rows = self.db.execute(
            "SELECT id, ts, type, channel, data FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit)
        ).fetchall()
        return [_row(row) for row in rows]

    def chathistory(self, query: Query) -> list[StoredEvent] | None:
        """The stored messages `query` (CHATHISTORY) asks for, oldest first; None if the store cannot be read.

        A channel's are its `message` events; a private conversation's, the `pm` events with a text
        (`--store-pms`) where the reader's account was one side and the target the other (`_PM_PARTIES`):
        never by nick alone, so whoever takes a nick later reads nothing. Forgotten messages were deleted.
        """
        if query.channel is not None:
            where, params = "type = 'message' AND channel = ?", [query.channel]
        elif query.me is None:
            return []
        else:
            where = f"{_STORED_PM} AND {_PM_PARTIES}"
            other = [query.other, query.other_account or query.other, query.other]
            params = [query.me, *other] * 2
        try:
            return self._chathistory(query, where, params)
        except (sqlite3.Error, StoreError):
            return None

    def _chathistory(self, query: Query, where: str, params: list[Any]) -> list[StoredEvent]:
        def bound(ref: Ref, op: str) -> tuple[str, list[Any]] | None:
            """`id op <the msgid's row>` or `ts op <time>`; None for an unknown msgid."""
            if ref.msgid is None:
                return f"{_MS} {op} ?", [ref.ms]
            row = self.db.execute(
                f"SELECT id FROM events WHERE {where} AND {_MSGID} = ?", (*params, ref.msgid)
            ).fetchone()
            return (f"id {op} ?", [row[0]]) if row else None

        def select(bounds: list[tuple[str, list[Any]] | None], limit: int, *, newest: bool) -> list[StoredEvent]:
            if limit <= 0 or None in bounds:
                return []
            clause, args = where, list(params)
            for sql, values in bounds:  # type: ignore[misc]
                clause += f" AND {sql}"
                args.extend(values)
            rows = self.db.execute(
                f"SELECT id, ts, type, channel, data FROM events WHERE {clause}"
                f" ORDER BY id {'DESC' if newest else 'ASC'} LIMIT ?",
                (*args, limit),
            ).fetchall()
            return [_row(row) for row in (reversed(rows) if newest else rows)]

        sub, refs, limit = query.sub, query.refs, query.limit
        if sub == "LATEST":
            return select([] if refs[0] == Ref() else [bound(refs[0], ">")], limit, newest=True)
        if sub == "BEFORE":
            return select([bound(refs[0], "<")], limit, newest=True)
        if sub == "AFTER":
            return select([bound(refs[0], ">")], limit, newest=False)
        if sub == "AROUND":
            before = select([bound(refs[0], "<")], limit // 2, newest=True)
            return before + select([bound(refs[0], ">=")], limit - len(before), newest=False)
        first, second = (self._when(ref, where, params) for ref in refs)  # BETWEEN, either way round
        if first is None or second is None:
            return []
        low, high = (refs[0], refs[1]) if first <= second else (refs[1], refs[0])
        return select([bound(low, ">"), bound(high, "<")], limit, newest=first > second)

    def _when(self, ref: Ref, where: str, params: list[Any]) -> tuple[int, int] | None:
        """Where `ref` is, to tell BETWEEN's direction: (milliseconds, row id; 0 for a timestamp)."""
        if ref.msgid is None:
            return (ref.ms or 0, 0)
        row = self.db.execute(
            f"SELECT {_MS}, id FROM events WHERE {where} AND {_MSGID} = ?", (*params, ref.msgid)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def chathistory_targets(
        self, channels: Sequence[str], me: str | None, after: int, before: int, limit: int
    ) -> list[tuple[str, float]] | None:
        """CHATHISTORY TARGETS: `channels` (keys) and, if `me`, its private correspondents, with a message
        between the two times, each with its latest message's time, oldest first; None if unreadable."""
        low, high = min(after, before), max(after, before)
        marks = ", ".join("?" * len(channels))
        sql = f"SELECT channel, max(ts) AS last FROM events WHERE type = 'message' AND channel IN ({marks})"
        sql += f" AND {_MS} > ? AND {_MS} < ? GROUP BY channel"
        args: list[Any] = [*channels, low, high]
        if me is not None:  # the other side named by its account if it had one, else by its nick
            sql += (
                f" UNION ALL SELECT CASE WHEN {_side('from', '= ?')} THEN {_name('to')} ELSE {_name('from')} END"
                f" AS other, max(ts) AS last FROM events WHERE {_STORED_PM} AND {_MS} > ? AND {_MS} < ?"
                f" AND ({_side('from', '= ?')} OR {_side('to', '= ?')}) GROUP BY irc_casefold(other)"
            )
            args += [me, low, high, me, me]
        try:
            rows = self.db.execute(f"SELECT * FROM ({sql}) ORDER BY last LIMIT ?", (*args, limit)).fetchall()
        except (sqlite3.Error, StoreError):
            return None
        return [(str(name), float(last)) for name, last in rows if isinstance(name, str)]

    def server_bans(self, now: float) -> list[ServerBan]:
        """The server bans still in force (the ones that ended are deleted), oldest first.

        A row a person edited into something that is no ban (a mask in no canonical form) is left out.
        """
        db = self.db
        try:
            db.execute("DELETE FROM server_bans WHERE expires > 0 AND expires <= ?", (now,))
            rows = db.execute("SELECT mask, reason, set_by, set_at, expires FROM server_bans ORDER BY set_at")
            found = rows.fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read server bans from {self.path!r}: {exc}") from exc
        return [ban for row in found if (ban := ServerBan.from_row(row)) is not None]

    def prune(self, *, older_than: float | None = None, keep: int | None = None) -> int:
        """Delete events older than `older_than` (unix time) and beyond the newest `keep`; returns how many."""
        db = self.db
        deleted = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            if older_than is not None:
                deleted += db.execute("DELETE FROM events WHERE ts < ?", (older_than,)).rowcount
            if keep is not None:
                deleted += db.execute(
                    "DELETE FROM events WHERE id <= (SELECT coalesce(max(id), 0) FROM events) - ?", (keep,)
                ).rowcount
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(f"cannot prune history in {self.path!r}: {exc}") from exc
        return deleted


def _prepare(db: sqlite3.Connection, path: str) -> None:
    """Lock the file, turn WAL on and bring the schema up to date."""
    db.execute("PRAGMA locking_mode=EXCLUSIVE")  # first: so WAL never uses a -shm file
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # the writer checkpoints on its worker thread (`checkpoint`)
    db.create_function("irc_casefold", 1, _irc_casefold, deterministic=True)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: schema version {version} is newer than this server ({SCHEMA_VERSION})")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN")
        _run_script(db, _MIGRATIONS[target])
        db.execute(f"PRAGMA user_version={target}")
        db.execute("COMMIT")
    db.execute("SELECT count(*) FROM events").fetchone()


class _Run:
    """Rows of `events` inserted together: one `executemany` per run of rows of the same statement.

    An event whose values are all text (a message, a PM, a join: the bulk) has its JSON written by SQLite
    (`json_object`), with the GIL released, not by Python's `json` on it (a third of a stored message's
    instructions). The ids are consecutive, as AUTOINCREMENT gives them to the one writer holding the lock.
    """

    def __init__(self, db: sqlite3.Connection, ids: list[int]) -> None:
        self.db, self.ids = db, ids
        self.sql = ""
        self.rows: list[tuple[Any, ...]] = []

    def add(self, event: NewEvent, event_id: int | None = None) -> None:
        """Add a row: under `event_id` (the journal's), or the next AUTOINCREMENT gives if None."""
        data = event.data
        msgid = data.get("msgid")
        head = (event_id, event.ts, event.type, event.channel, msgid if isinstance(msgid, str) else None)
        if set(map(type, data.values())) <= _TEXTS:
            sql, row = _insert_texts(tuple(data)), (*head, *data.values())
        else:
            sql, row = _INSERT, (*head, json.dumps(data, ensure_ascii=False))
        if sql != self.sql:
            self.flush()
            self.sql = sql
        self.rows.append(row)

    def flush(self) -> None:
        if self.rows:
            self.db.executemany(self.sql, self.rows)
            if self.rows[0][0] is not None:
                self.ids.extend(row[0] for row in self.rows)
            else:
                last = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
                self.ids.extend(range(last - len(self.rows) + 1, last + 1))
            self.rows.clear()


#: A NULL id is the next AUTOINCREMENT one (SQLite's rowid alias); a given id is kept.
_INSERT = "INSERT INTO events (id, ts, type, channel, msgid, data) VALUES (?, ?, ?, ?, ?, ?)"


@cache
def _insert_texts(keys: tuple[str, ...]) -> str:
    """The insert of an event whose data has these `keys` (the few that events have), each value text or null."""
    fields = ", ".join(f"'{key.replace(chr(39), chr(39) * 2)}', ?" for key in keys)
    return f"{_INSERT.removesuffix('?)')}json_object({fields}))"


def _create_private(path: str) -> None:
    """A new database file is the owner's alone (it holds password hashes); SQLite gives its WAL the same mode.

    An existing file keeps its mode: its owner chose it. (On Windows the mode only decides read-only.)
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600))


#: The rows of journal records (a JSON array of them, the parameter), as `_Run` would insert them.
_INSERT_JOURNALED = f"""{_INSERT.partition(" VALUES")[0]}
    SELECT json_extract(row.value, '$[0]'), json_extract(row.value, '$[1]'), json_extract(row.value, '$[2]'),
        json_extract(row.value, '$[3]'),
        CASE WHEN json_type(row.value, '$[4].msgid') = 'text' THEN json_extract(row.value, '$[4].msgid') END,
        json_extract(row.value, '$[4]')
    FROM json_each(?) AS record, json_each(record.value, '$[1]') AS row"""
#: Events whose rows `append` inserts one at a time, as they change other state (`_keep_state`).
_KEPT_BY_ROW = STATE_EVENTS | STATE_ONLY


def _events_of(
    rows: Sequence[tuple[int, float, str, str | None, dict[str, Any]]],
) -> tuple[list[NewEvent], list[int]]:
    """A journal record's rows as the events `append` takes, and their ids."""
    return [NewEvent(ts, kind, channel, data) for _, ts, kind, channel, data in rows], [row[0] for row in rows]


def _insert_events(db: sqlite3.Connection, events: Sequence[NewEvent], ids: Sequence[int] | None) -> list[int]:
    """Insert `events` row by row (under `ids`, else AUTOINCREMENT's), applying those that change other state."""
    given = iter(ids) if ids is not None else None
    taken: list[int] = []
    run = _Run(db, taken)
    for event in events:
        if event.type in STATE_ONLY:
            if given is not None:
                next(given)
            run.flush()
            taken.append(0)
            _keep_state(db, event, 0)
            continue
        run.add(event, next(given) if given is not None else None)
        if event.type in STATE_EVENTS:
            run.flush()
            _keep_state(db, event, taken[-1])
    run.flush()
    return taken


def _keep_states(
    db: sqlite3.Connection,
    channels: Mapping[str, dict[str, Any] | None],
    accounts: Mapping[str, dict[str, Any] | None],
) -> None:
    """Store the channel states and accounts changed (None: forget it)."""
    for key, state in channels.items():
        if state is None:
            db.execute("DELETE FROM channels WHERE key = ?", (key,))
        else:
            data = json.dumps(state, ensure_ascii=False)
            db.execute("INSERT OR REPLACE INTO channels (key, data) VALUES (?, ?)", (key, data))
    for key, account in accounts.items():
        if account is None:
            db.execute("DELETE FROM accounts WHERE key = ?", (key,))
        else:
            db.execute(
                "INSERT OR REPLACE INTO accounts (key, name, password_hash, registered, certfps, flags)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    account["name"],
                    account["password_hash"],
                    account["registered"],
                    json.dumps(account["certfps"]),
                    json.dumps(account["flags"]),
                ),
            )


def _keep_state(db: sqlite3.Connection, event: NewEvent, event_id: int) -> None:
    """Apply a state-changing event in its own transaction: a server ban set or lifted, messages forgotten,
    a read marker moved, an account's read markers dropped with it."""
    data = event.data
    if event.type == "kline":
        db.execute(
            "INSERT OR REPLACE INTO server_bans (mask, reason, set_by, set_at, expires) VALUES (?, ?, ?, ?, ?)",
            (data["mask"], data["reason"], data["nick"], data["set_at"], data["expires"]),
        )
    elif event.type == "unkline":
        db.execute("DELETE FROM server_bans WHERE mask = ?", (data["mask"],))
    elif event.type == "markread":  # forward only; the account keeps its newest MAX_TARGETS (as the hub)
        account = casefold(data["account"])
        db.execute(
            "INSERT INTO read_markers (account, target, ms) VALUES (?, ?, ?)"
            " ON CONFLICT (account, target) DO UPDATE SET ms = max(ms, excluded.ms)",
            (account, data["target"], data["ms"]),
        )
        db.execute(
            "DELETE FROM read_markers WHERE account = ? AND target NOT IN (SELECT target FROM read_markers"
            " WHERE account = ? ORDER BY ms DESC, target DESC LIMIT ?)",
            (account, account, MAX_TARGETS),
        )
    elif event.type == "account_drop":
        db.execute("DELETE FROM read_markers WHERE account = ?", (casefold(data["account"]),))
    else:  # forget: the target's messages (and stored PMs) from before this event
        db.execute(
            "DELETE FROM events WHERE id < ? AND type IN ('message', 'pm') AND ts >= ?"
            " AND irc_casefold(coalesce(json_extract(data, '$.nick'), json_extract(data, '$.from'))) = ?",
            (event_id, data["since"], casefold(data["target"])),
        )


def _irc_casefold(text: object) -> str | None:
    return casefold(text) if isinstance(text, str) else None


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run `script` statement by statement inside the caller's transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _row(row: tuple[Any, ...]) -> StoredEvent:
    """One stored event; data that is not a JSON object (a hand-edited row) reads as `{}`."""
    try:
        data = json.loads(row[4])
    except (TypeError, ValueError):
        data = {}
    return StoredEvent(row[0], row[1], row[2], row[3], data if isinstance(data, dict) else {})
