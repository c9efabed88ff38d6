"""The limits over real sockets: per address, connect rate, floods before registration, big queries,
replay at restart, history pruning, and running out of file descriptors (in a subprocess)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from multichat_trio.chat.events import Event
from multichat_trio.ircd.accept import accept_forever
from multichat_trio.protocol import Message

from .conftest import OpenClient, StartServer, test_config
from .ircclient import IrcClient
from .test_web import get_json


async def test_an_address_past_its_limit_gets_an_error_and_a_freed_slot_is_reused(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(max_clients_per_ip=2)
    first, second = await open_client(server.port), await open_client(server.port)
    await first.register("first")
    await second.register("second")
    third = await open_client(server.port)
    assert await third.wait_closed() == [Message("ERROR", ("Too many connections from your host",))]
    await first.send("QUIT")
    await first.wait_closed()
    again = await open_client(server.port)
    await again.register("again")


async def test_connecting_too_often_is_refused_until_the_bucket_refills(
    start_server: StartServer, open_client: OpenClient, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(max_connects_per_ip=3, connect_window=30)
    for _ in range(3):
        client = await open_client(server.port)
        await client.sync()
        await client.aclose()
    refused = await open_client(server.port)
    (error,) = await refused.wait_closed()
    assert error.command == "ERROR" and error.params[0].startswith("Too many new connections from your host")
    await trio.sleep(11)
    await (await open_client(server.port)).register("patient")


async def test_a_flood_before_registering_is_cut_off(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server()
    flooder = await open_client(server.port)
    with trio.fail_after(10):
        with contextlib.suppress(trio.BrokenResourceError):  # closed while we still send: the point
            await flooder.send(*["PING :x"] * 2000)
    seen = await flooder.wait_closed()
    assert seen[-1].command == "ERROR" and seen[-1].params == ("Excess Flood",)
    assert sum(m.command == "PONG" for m in seen) <= 10


async def test_an_honest_list_on_a_full_server_is_not_dropped(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(flood_rate=0, max_channels_per_user=0, sendq=8192)
    maker = await open_client(server.port)
    await maker.register("maker")
    for n in range(0, 200, 20):
        await maker.send(*[f"JOIN #room{k}" for k in range(n, n + 20)])
        await maker.send(*[f"TOPIC #room{k} :{'t' * 380}" for k in range(n, n + 20)])
    await maker.sync()
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", server.port))
    asker = IrcClient(trio.SocketStream(sock))
    try:
        await asker.register("asker")
        await asker.send("LIST")
        outbox = server.hub.nicks["asker"].outbox
        with trio.fail_after(5):  # it reads nothing until the kernel has refused part of the ~90 KB answer
            while not outbox.draining:
                await trio.sleep(0.01)
        listed = await asker.collect_until("323")
        assert sum(m.command == "322" for m in listed) == 201
        await asker.sync()
    finally:
        await asker.aclose()


async def test_restart_loads_replay_only_for_the_autojoin_channels(tmp_path: Path, nursery: trio.Nursery) -> None:
    from multichat_trio.history.store import HistoryStore, NewEvent
    from multichat_trio.ircd.server import ChatServer

    db = str(tmp_path / "h.sqlite3")
    store = HistoryStore(db)
    store.open()
    data = {"nick": "a", "command": "PRIVMSG", "text": "hi"}
    store.append([NewEvent(1.0, "message", f"#gone{n}", {**data, "channel": f"#gone{n}"}) for n in range(50)])
    store.append([NewEvent(2.0, "message", "#lobby", {**data, "channel": "#lobby"})])
    store.close()
    server = await nursery.start(ChatServer(test_config(db=db)).serve)
    assert list(server.hub.recent) == ["#lobby"]
    server.stop()


async def test_a_burst_of_events_is_pruned_before_the_hour(tmp_path: Path) -> None:
    from multichat_trio.chat.commands import COMMANDS
    from multichat_trio.chat.hub import Hub
    from multichat_trio.history.store import HistoryStore
    from multichat_trio.history.writer import HistoryWriter

    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()

    writer = HistoryWriter(store, Hub(test_config(), COMMANDS))
    data = {"nick": "a", "channel": "#lobby", "text": "x", "command": "PRIVMSG"}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run)
        nursery.start_soon(lambda: writer.prune(retention_days=0, max_events=100, every=3600))
        for _ in range(30):
            writer.record([Event("message", data) for _ in range(10)])
            await writer.caught_up()
        with trio.fail_after(5):  # the pruning comes long before its hour
            while len(await trio.to_thread.run_sync(store.recent, 1000, limiter=writer.limiter)) > 110:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    store.close()


class _ExhaustedListener(trio.abc.Listener[trio.SocketStream]):
    """`accept` fails with EMFILE, as when the process has no descriptor left."""

    def __init__(self) -> None:
        self.calls = 0

    async def accept(self) -> trio.SocketStream:
        self.calls += 1
        await trio.lowlevel.checkpoint()
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    async def aclose(self) -> None:
        pass


async def test_out_of_descriptors_backs_off_and_logs_once_per_interval(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    listener = _ExhaustedListener()

    def never(stream: trio.SocketStream, nursery: trio.Nursery, name: str) -> None:
        raise AssertionError("nothing is accepted")

    caplog.set_level(logging.ERROR, "multichat_trio.ircd.accept")
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(30):
            await accept_forever(listener, never, nursery)  # type: ignore[arg-type]
    lines = [r for r in caplog.records if r.name == "multichat_trio.ircd.accept"]
    assert 2 <= len(lines) <= 3 and not any(r.exc_info for r in lines)  # one per 10 s, no traceback
    assert listener.calls < 30  # backed off to 2 s, not 10 tries a second


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
async def test_a_low_open_file_limit_refuses_cleanly_and_the_monitor_answers(tmp_path: Path) -> None:
    limit = 160
    port, http_port = _free_port(), _free_port()
    # The child lowers its own limit (soft and hard, so the server cannot lift it), then serves.
    start = (
        f"import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
        "from multichat_trio.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = [sys.executable, "-c", start, "serve", "--port", str(port), "--http-port", str(http_port)]
    argv += ["--ws-port", "0", "--max-viewers", "10", "--db", "", "--stats-interval", "0", "--autojoin", ""]
    argv += ["--max-clients-per-ip", "0", "--max-connects-per-ip", "0", "--log-level", "WARNING"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)  # the secret goes there
    try:
        assert proc.stdout is not None
        await trio.to_thread.run_sync(proc.stdout.readline)  # "MultiChat is running..."
        clients = [await IrcClient.connect(port) for _ in range(limit)]
        refused = 0

        async def listen(client: IrcClient) -> None:
            nonlocal refused
            with trio.move_on_after(1):
                message = await client.recv()
                assert message.params == ("Server is full",)
                refused += 1

        async with trio.open_nursery() as nursery:
            for client in clients:
                nursery.start_soon(listen, client)
        cap = limit - 64  # the reserve (no WebSocket feed here)
        assert refused == limit - cap  # every one past the cap is told, none hangs in silence
        assert await get_json(http_port, "/api/stats")  # the monitor still answers
        for client in clients:
            await client.aclose()
    finally:
        proc.terminate()
        _, err = await trio.to_thread.run_sync(proc.communicate)
    text = err.decode()
    assert "Traceback" not in text and "EMFILE" not in text
    assert 1 <= text.count("refused") <= 2, text  # one line, with the count (and maybe one for the tail)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
