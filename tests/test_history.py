"""Durable history over real sockets: replay on join, restarts, privacy, a SIGKILL mid-burst."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from multichat_trio.config import StartupError

from .conftest import OpenClient, StartServer, StartServices, test_config
from .ircclient import IrcClient
from .test_web import get_json


async def _say(client: IrcClient, *texts: str) -> None:
    await client.send(*[f"PRIVMSG #lobby :{text}" for text in texts])
    await client.sync()


async def test_joiner_gets_recent_messages_as_notices(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(db=":memory:", replay=3, flood_rate=0)
    alice = await open_client(server.port)
    await alice.register("alice")
    await _say(alice, "one", "two", "three", "four")
    bob = await open_client(server.port)
    seen = await bob.register("bob")
    replayed = [m for m in seen if m.command == "NOTICE" and m.params[0] == "#lobby"]
    assert [m.params[1].split("> ", 1)[1] for m in replayed] == ["two", "three", "four"]
    assert all(m.source == "multichat.local" and " UTC] <alice> " in m.params[1] for m in replayed)
    commands = [m.command for m in seen]
    assert commands.index("366") < commands.index("NOTICE")  # after the JOIN burst
    assert not [m for m in seen if m.command == "PRIVMSG"]


async def test_joiner_with_server_time_and_batch_gets_the_original_lines(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(db=":memory:", flood_rate=0)
    alice = await open_client(server.port)
    await alice.register("alice")
    await _say(alice, "hello history")
    bob = await open_client(server.port)
    seen = await bob.register("bob", caps="server-time batch")
    start = next(i for i, m in enumerate(seen) if m.command == "BATCH")
    opening, line, closing = seen[start : start + 3]
    ref = opening.params[0][1:]
    assert opening.params[1:] == ("chathistory", "#lobby")
    assert line.command == "PRIVMSG" and line.source == "alice" and line.params == ("#lobby", "hello history")
    assert line.tags["batch"] == ref and line.tags["time"].endswith("Z")
    assert closing.params == (f"-{ref}",)


async def test_nothing_is_replayed_without_a_store(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(flood_rate=0)
    alice = await open_client(server.port)
    await alice.register("alice")
    await _say(alice, "not kept")
    bob = await open_client(server.port)
    assert not [m for m in await bob.register("bob") if m.command in ("NOTICE", "BATCH")]


async def test_history_survives_a_restart_and_ids_keep_increasing(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    db = str(tmp_path / "history.sqlite3")

    start = partial(start_services, db=db, flood_rate=0, http_port=0)

    first, stop_first = await start()
    alice = await open_client(first.server.port)
    await alice.register("alice")
    await _say(alice, "before the restart")
    await alice.send("PRIVMSG alice :a private secret")
    await alice.sync()
    stop_first.set()
    await first.server.stopped.wait()
    with contextlib.closing(sqlite3.connect(db)) as check:
        last_before = check.execute("SELECT max(id) FROM events").fetchone()[0]

    second, stop_second = await start()
    assert second.feed is not None and second.feed.last_id == last_before  # the feed goes on from there
    events = (await get_json(second.http_port, "/api/events?after=0"))["events"]
    assert [e["text"] for e in events if e["type"] == "message"] == ["before the restart"]
    bob = await open_client(second.server.port)
    seen = await bob.register("bob")
    assert any(m.command == "NOTICE" and m.params[1].endswith("<alice> before the restart") for m in seen)
    stop_second.set()
    await second.server.stopped.wait()
    with contextlib.closing(sqlite3.connect(db)) as check:
        rows = check.execute("SELECT id, type, data FROM events WHERE id > ?", (last_before,)).fetchall()
        everything = check.execute("SELECT data FROM events").fetchall()
    assert ("join", "bob") in [(kind, json.loads(data)["nick"]) for _, kind, data in rows if kind == "join"]
    assert not any("secret" in row[0] for row in everything)  # PM text is never stored


async def test_unusable_database_path_stops_the_start(start_server: StartServer, tmp_path: Path) -> None:
    with pytest.raises(
        StartupError, match=r"directory .*no-such-dir.* does not exist \(--db '' runs without history\)"
    ):
        await start_server(db=str(tmp_path / "no-such-dir" / "h.sqlite3"))


async def test_the_default_store_is_found_and_logged_with_its_full_path(
    start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)  # writable: the store goes here (else in the data directory, see location.py)
    caplog.set_level(logging.INFO)
    server = await start_server(db="multichat.sqlite3")
    assert server.hub.durable
    assert f"history: {tmp_path / 'multichat.sqlite3'} (0 channels" in caplog.text


async def _read_lines(stream: trio.abc.ReceiveStream, into: list[bytes], *, until: bytes) -> None:
    buffer = b""
    while until not in buffer:
        chunk = await stream.receive_some(65536)
        assert chunk, "the process closed its output early"
        buffer += chunk
    into.append(buffer)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_sigkill_mid_burst_loses_nothing_anyone_received(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    args = [sys.executable, "-m", "multichat_trio", "serve", "--port", "0", "--http-port", "0", "--ws-port", "0"]
    args += ["--db", str(db), "--flood-rate", "0", "--stats-interval", "0"]
    process = await trio.lowlevel.open_process(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,  # where the relay secret file is written
    )
    try:
        assert process.stdout is not None
        banner: list[bytes] = []
        with trio.fail_after(20):
            await _read_lines(process.stdout, banner, until=b"stop with Ctrl+C")
        port = int(banner[0].split(b"Chat (IRC): ", 1)[1].split(b"\n", 1)[0].rsplit(b":", 1)[1])
        sender, receiver = await IrcClient.connect(port), await IrcClient.connect(port)
        await receiver.register("receiver")
        await sender.register("sender")
        received: list[str] = []
        burst = [f"PRIVMSG #lobby :burst {n}" for n in range(3000)]

        async def receive_until_killed() -> None:
            try:
                while True:
                    message = await receiver.recv()
                    if message.command == "PRIVMSG":
                        received.append(message.params[1])
                        if len(received) == 500:
                            process.send_signal(signal.SIGKILL)  # mid-burst, with more in flight
            except (EOFError, trio.BrokenResourceError):
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_until_killed)
            with contextlib.suppress(trio.BrokenResourceError, OSError):  # the server may die mid-send
                await sender.send(*burst)
        with trio.fail_after(10):
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        await sender.aclose()
        await receiver.aclose()
    finally:
        process.kill()
        await process.wait()
    assert len(received) >= 500
    from multichat_trio.history.store import HistoryStore

    restarted = HistoryStore(str(db))  # as the next start opens it: what the journal holds goes into SQLite
    restarted.open()
    restarted.close()
    with contextlib.closing(sqlite3.connect(db)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored: set[Any] = {
            row[0] for row in check.execute("SELECT json_extract(data, '$.text') FROM events WHERE type = 'message'")
        }
    missing = [text for text in received if text not in stored]
    assert not missing, f"{len(missing)} messages were seen but not stored, e.g. {missing[:3]}"


async def test_retention_prunes_old_events_in_the_background(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    from multichat_trio.chat.commands import COMMANDS
    from multichat_trio.chat.hub import Hub
    from multichat_trio.history.store import HistoryStore, NewEvent
    from multichat_trio.history.writer import HistoryWriter

    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()
    day = 86400.0
    now = 100 * day
    store.append([NewEvent(now - age * day, "message", "#lobby", {"text": f"{age} days old"}) for age in (9, 5, 1)])

    writer = HistoryWriter(store, Hub(test_config(), COMMANDS), wallclock=lambda: now)
    with trio.move_on_after(3600 * 1.5):  # two prunings, an hour apart, in virtual time
        await writer.prune(retention_days=3, max_events=0, every=3600)
    assert [e.data["text"] for e in store.recent(10)] == ["1 days old"]
    store.close()


async def test_store_pms_keeps_the_text_in_the_store_only(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    db = str(tmp_path / "history.sqlite3")
    start = partial(start_services, db=db, store_pms=True, http_port=0)

    first, stop_first = await start()
    alice, bob = await open_client(first.server.port), await open_client(first.server.port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.send("PRIVMSG bob :kept but never shown")
    assert (await bob.expect("PRIVMSG")).params[1] == "kept but never shown"
    stop_first.set()
    await first.server.stopped.wait()  # a clean stop stores everything
    with contextlib.closing(sqlite3.connect(db)) as check:
        texts = [row[0] for row in check.execute("SELECT json_extract(data, '$.text') FROM events WHERE type = 'pm'")]
    assert texts == ["kept but never shown"]
    second, stop_second = await start()  # the stored PM comes back to the monitor, without its text
    events = (await get_json(second.http_port, "/api/events?after=0"))["events"]
    assert [(e["from"], e["to"]) for e in events if e["type"] == "pm"] == [("alice", "bob")]
    assert "kept but never shown" not in repr(events)
    stop_second.set()


async def test_the_store_closes_only_after_a_prune_in_progress(
    start_server: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing an SQLite connection while another thread runs a statement on it is a segfault."""
    import threading
    import time as wall

    from multichat_trio.history.store import HistoryStore
    from multichat_trio.ircd import server as ircd_server

    pruning, closed_while_pruning = threading.Event(), []

    class SlowPrune(HistoryStore):
        def prune(self, *, older_than: float | None = None, keep: int | None = None) -> int:
            pruning.set()
            wall.sleep(0.3)  # in the writer's thread, as a big prune would take
            try:
                return super().prune(older_than=older_than, keep=keep)
            finally:
                pruning.clear()

        def close(self) -> None:
            closed_while_pruning.append(pruning.is_set())
            super().close()

    monkeypatch.setattr(ircd_server, "HistoryStore", SlowPrune)
    server = await start_server(db=str(tmp_path / "h.sqlite3"))
    await trio.to_thread.run_sync(pruning.wait)  # the first prune runs at start
    server.stop()
    await server.stopped.wait()
    assert closed_while_pruning == [False]


async def test_a_slow_disk_delays_no_message_and_is_logged(
    start_server: StartServer,
    open_client: OpenClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The message goes out once journaled; its SQLite commit, slow here, follows on the worker thread."""
    import threading
    import time as wall

    from multichat_trio.history import writer as history_writer
    from multichat_trio.history.journal import Record
    from multichat_trio.history.store import HistoryStore
    from multichat_trio.ircd import server

    delivered = threading.Event()

    class SlowDisk(HistoryStore):
        def apply(self, records: Sequence[Record]) -> None:
            if any(row[2] == "message" for record in records for row in record.rows):
                assert delivered.wait(10)  # the commit cannot end before bob has the line
                wall.sleep(0.3)  # a slow disk
            super().apply(records)

    monkeypatch.setattr(server, "HistoryStore", SlowDisk)
    monkeypatch.setattr(history_writer, "STALL_WARNING", 0.2)
    chat = await start_server(db=str(tmp_path / "h.sqlite3"))
    alice, bob = await open_client(chat.port), await open_client(chat.port)
    await alice.register("alice", caps="batch draft/chathistory")
    await bob.register("bob")
    await alice.send("PRIVMSG #lobby :through a slow disk")
    assert (await bob.expect("PRIVMSG")).params == ("#lobby", "through a slow disk")
    delivered.set()
    await alice.send("CHATHISTORY LATEST #lobby * 10")  # a read waits for the commit before it
    answer = [m for m in await alice.sync() if m.command == "PRIVMSG"]
    assert [m.params for m in answer] == [("#lobby", "through a slow disk")]
    assert "the disk is slow" in caplog.text
