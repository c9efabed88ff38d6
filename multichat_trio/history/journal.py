"""The store's journal: what the chat let out and SQLite has not taken in yet, one line a batch.

A public message goes out once its batch is in this file: one `os.write` appended on the trio
thread, about 40 µs on our VM where a one-row SQLite commit took 270 µs, cold after an idle moment. The
SQLite transaction follows on the worker thread. A killed process (SIGKILL) leaves the written lines
in the kernel's page cache, so the next start applies whatever SQLite lacks (`HistoryStore.open`), and
nothing anyone saw is lost: the guarantee of SQLite's WAL under `synchronous=NORMAL`, which a power
cut may also break. Once SQLite holds every batch, the file is emptied (`reset`).

Each line is a JSON array `[seq, rows, channels, accounts]`, rows as `[id, ts, type, channel, data]`.
Read back, a line is checked before it is used; one that is not a record (a line torn by a power cut,
an edit by hand) is left out and counted.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Open flags: appending, and no newline translation on Windows.
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


@dataclass(slots=True)
class Record:
    """One batch: its sequence number, its rows (id 0: a `STATE_ONLY` event), the states changed with it."""

    seq: int
    rows: list[tuple[int, float, str, str | None, dict[str, Any]]]
    channels: dict[str, dict[str, Any] | None]
    accounts: dict[str, dict[str, Any] | None]
    #: Its line's JSON (`to_text`), which SQLite reads the rows from (`HistoryStore.apply`); "" if not made yet.
    text: str = field(default="", compare=False, repr=False)


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def to_text(record: Record) -> str:
    """The record as one line of JSON (no newline: JSON escapes every control character in its strings)."""
    return _to_json([record.seq, record.rows, record.channels, record.accounts])


def encode(record: Record) -> bytes:
    return (record.text or to_text(record)).encode() + b"\n"


def decode(line: bytes) -> Record | None:
    """The record a line holds, or None if it is not one (every field is checked)."""
    try:
        text = line.decode().strip()
        value = json.loads(text)
    except ValueError:  # UnicodeDecodeError included
        return None
    if not (isinstance(value, list) and len(value) == 4):
        return None
    seq, rows, channels, accounts = value
    if not (_is_int(seq) and isinstance(rows, list) and _states(channels) and _states(accounts)):
        return None
    if not all(_is_row(row) for row in rows):
        return None
    if not all(state is None or _is_account(state) for state in accounts.values()):
        return None
    return Record(seq, [tuple(row) for row in rows], channels, accounts, text)  # type: ignore[misc]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 63  # SQLite's INTEGER


def _states(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and (state is None or isinstance(state, dict)) for key, state in value.items()
    )


def _is_row(row: object) -> bool:
    if not (isinstance(row, list) and len(row) == 5):
        return False
    event_id, ts, kind, channel, data = row
    return (
        _is_int(event_id)
        and isinstance(ts, int | float)
        and not isinstance(ts, bool)
        and isinstance(kind, str)
        and (channel is None or isinstance(channel, str))
        and isinstance(data, dict)
    )


def _is_account(state: Mapping[str, Any]) -> bool:
    return (
        isinstance(state.get("name"), str)
        and isinstance(state.get("password_hash"), str)
        and isinstance(state.get("registered"), int | float)
        and isinstance(state.get("certfps"), list)
        and isinstance(state.get("flags"), list)
    )


class Journal:
    """The file beside the database (None: a store in memory, which nothing outlives, keeps none)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.size = 0  # bytes written since the file was last emptied
        self._fd: int | None = None

    def read(self) -> tuple[list[Record], int]:
        """The records the file holds, in order, and how many lines were not records (left out)."""
        if self.path is None:
            return [], 0
        try:
            with open(self.path, "rb") as file:
                lines = file.read().splitlines()
        except FileNotFoundError:
            return [], 0
        records = [decode(line) for line in lines if line.strip()]
        return [r for r in records if r is not None], sum(r is None for r in records)

    def open(self) -> None:
        """Open for appending, emptied (call once what `read` gave is in the store)."""
        if self.path is not None:
            self._fd = os.open(self.path, _FLAGS, 0o600)
            self.reset()

    def write(self, record: Record) -> None:
        """Append one record with one `os.write` (raises `OSError`: the disk is full, the file gone)."""
        data = encode(record)  # the record's `text`, made by `HistoryStore.record` (a lone surrogate: ValueError)
        if self._fd is None:
            return
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # a regular file takes it all at once, except on a full disk
                written += os.write(self._fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)  # no torn line for the next record to follow
            raise
        self.size += len(data)

    def reset(self) -> None:
        """Empty the file: everything in it is in the store."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            self.size = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
