"""The history writer's schedule: a line waits for its journal write only; SQLite follows, reads after it."""

from __future__ import annotations

import errno
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.events import Event
from multichat_trio.chat.hub import Hub
from multichat_trio.history import writer as history_writer
from multichat_trio.history.journal import Record, decode
from multichat_trio.history.store import HistoryStore
from multichat_trio.history.writer import HistoryWriter

from .conftest import test_config


class SizedStore(HistoryStore):
    """A store that notes how many events each commit held."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.sizes: list[int] = []

    def apply(self, records: Sequence[Record]) -> None:
        self.sizes.append(sum(len(record.rows) for record in records))
        super().apply(records)


class GatedStore(SizedStore):
    """A store whose commits each wait for the test's go-ahead, on the worker thread (`on_threads`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.go = threading.Semaphore(0)

    def apply(self, records: Sequence[Record]) -> None:
        assert self.go.acquire(timeout=10)
        super().apply(records)


@pytest.fixture
def on_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit on the worker thread, where a test can hold it (a small one would run on the trio thread)."""
    monkeypatch.setattr(history_writer, "INLINE_MOST", 0)


def _event(text: str) -> Event:
    return Event("message", {"nick": "alice", "channel": "#lobby", "text": text, "command": "PRIVMSG"})


def _writer(store: HistoryStore) -> tuple[HistoryWriter, list[int]]:
    store.open()
    hub = Hub(test_config(), COMMANDS)
    released: list[int] = []
    hub.release = released.append  # type: ignore[method-assign]
    return HistoryWriter(store, hub), released


async def test_lines_go_out_once_journaled_and_what_queued_meanwhile_is_one_commit(
    tmp_path: Path, on_threads: None
) -> None:
    store = GatedStore(tmp_path / "h.sqlite3")
    writer, released = _writer(store)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        first = _event("first")
        writer.record([first])
        assert released == [1]  # at once, in the publishing task: no scheduler pass, no thread
        assert first.id == 1
        (line,) = Path(store.journal.path or "").read_bytes().splitlines()
        assert (record := decode(line)) is not None and record.rows[0][4]["text"] == "first"
        nursery.start_soon(writer.caught_up)  # a reader waits: the writer commits without its window
        await trio.testing.wait_all_tasks_blocked()  # the writer is in its first commit, held by the gate
        writer.record([_event("second")])
        writer.record([_event("third"), _event("fourth")])
        assert released == [1, 2, 4] and writer.backlog == 4
        store.go.release(2)
        await writer.caught_up()
        writer.stop()
    assert store.sizes == [1, 3]  # the second transaction took everything that queued during the first
    assert [(e.id, e.data["text"]) for e in store.recent(10)] == [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
    ]
    assert writer.backlog == 0
    store.close()


async def test_a_read_waits_for_what_was_recorded_before_it(tmp_path: Path, on_threads: None) -> None:
    store = GatedStore(tmp_path / "h.sqlite3")
    writer, _ = _writer(store)
    read: list[list[str]] = []

    async def chathistory() -> None:
        events = await trio.to_thread.run_sync(store.recent, 10, limiter=writer.limiter)
        read.append([event.data["text"] for event in events])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        writer.record([_event("said")])
        nursery.start_soon(chathistory)
        await trio.testing.wait_all_tasks_blocked()
        assert read == []  # the commit has not run: the read waits for it
        store.go.release()
        await writer.caught_up()
        writer.stop()
    assert read == [["said"]]
    store.close()


async def test_senders_wait_while_sqlite_is_far_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_threads: None, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(history_writer, "MAX_BACKLOG", 2)
    store = GatedStore(tmp_path / "h.sqlite3")
    writer, _ = _writer(store)
    waited = trio.Event()

    async def sender() -> None:
        await writer.room()
        waited.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        writer.record([_event(str(n)) for n in range(3)])
        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        assert not waited.is_set()
        assert "SQLite is 3 events behind its journal" in caplog.text
        store.go.release()
        await waited.wait()
        writer.stop()
    store.close()


async def test_what_comes_within_the_window_is_one_commit_on_the_trio_thread(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = SizedStore(tmp_path / "h.sqlite3")
    writer, _ = _writer(store)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        writer.record([_event("one")])
        await trio.sleep(history_writer.APPLY_WINDOW / 2)
        writer.record([_event("two")])
        assert store.sizes == []  # nobody waits for SQLite: the window is still open
        await trio.sleep(history_writer.APPLY_WINDOW)
        assert store.sizes == [2] and writer.backlog == 0
        writer.stop()
    store.close()


async def test_sqlite_waits_while_a_burst_lasts_but_no_longer_than_max_defer(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_writer, "INLINE_MOST", 1 << 20)  # on the trio thread: in step with its clock
    monkeypatch.setattr(history_writer, "SLOW_COMMIT", float("inf"))
    store = SizedStore(tmp_path / "h.sqlite3")
    writer, _ = _writer(store)
    window, burst = history_writer.APPLY_WINDOW, history_writer.BURST

    async def for_a_while(seconds: float) -> None:
        until = trio.current_time() + seconds
        while trio.current_time() < until:
            writer.record([_event("x") for _ in range(burst)])  # a burst's window in half a window
            await trio.sleep(window / 2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        await for_a_while(history_writer.MAX_DEFER - window)
        assert store.sizes == []  # the burst's time goes to its lines
        await for_a_while(3 * window)
        assert store.sizes  # past MAX_DEFER, SQLite takes what is pending while the burst goes on
        await trio.sleep(3 * window)  # the burst is over: the rest goes in at the next window
        assert writer.backlog == 0 and sum(store.sizes) == store.db.execute("SELECT count(*) FROM events").fetchone()[0]
        writer.stop()
    store.close()


async def test_a_journal_that_cannot_be_written_is_logged_once_and_the_chat_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    writer, released = _writer(store)
    real_write = store.journal.write

    def full_disk(record: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.journal, "write", full_disk)
    lost, again = _event("lost"), _event("lost too")
    writer.record([lost])
    writer.record([again])
    assert released == [1, 2] and lost.id == 0 and writer.backlog == 0
    assert caplog.text.count("No space left on device") == 1
    monkeypatch.setattr(store.journal, "write", real_write)
    kept = _event("kept")
    writer.record([kept])
    assert kept.id == 1 and "history store writable again" in caplog.text
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        await writer.caught_up()
        writer.stop()
    assert [e.data["text"] for e in store.recent(10)] == ["kept"]
    store.close()


async def test_a_failing_release_is_logged_and_the_writer_goes_on(tmp_path: Path, caplog: Any) -> None:
    """The held lines are let out in the task that published, which serves a client: it must not end."""
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    writer, calls = _writer(store)

    def broken_release(stored: int) -> None:
        calls.append(stored)
        if len(calls) == 1:
            raise RuntimeError("a bug in delivery")

    writer.hub.release = broken_release  # type: ignore[method-assign]
    writer.record([_event("first")])
    writer.record([_event("second")])
    assert calls == [1, 2]
    assert "letting the held lines out failed" in caplog.text
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        writer.stop()
    assert [e.data["text"] for e in store.recent(10)] == ["first", "second"]
    store.close()
