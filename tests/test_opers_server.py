"""Server operators over real sockets: OPER (argon2 on a worker thread), KILL, KLINE, REHASH, hash-password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from argon2 import PasswordHasher

from multichat_trio import config as settings
from multichat_trio.chat import opers
from multichat_trio.config import OperEntry, ServerConfig

from .conftest import OpenClient, StartServer, test_config
from .ircclient import IrcClient
from .processes import read_chat_port

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ADMIN = OperEntry("admin", CHEAP.hash("hunter2"))


async def test_oper_then_kill_and_the_lines_after_oper_keep_their_order(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(opers=(ADMIN,))
    alice, troll = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await troll.register("troll")
    # The check runs on a worker thread; what follows it in the same packet waits for it.
    await alice.send("OPER admin wrong", "OPER admin hunter2", "KILL troll :bye")
    assert (await alice.expect("464")).params[-1] == "Password incorrect"
    assert (await alice.expect("MODE")).params == ("alice", "+o")
    await alice.expect("381")
    quit_line = await alice.expect("QUIT")
    assert quit_line.source.startswith("troll!") and quit_line.params == ("Killed (alice (bye))",)
    assert (await troll.wait_closed())[-1].params[0].endswith("(Killed (alice (bye)))")


async def test_kline_refuses_at_registration_with_465(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(opers=(ADMIN,))
    alice, troll = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await troll.register("troll")
    await alice.send("OPER admin hunter2")
    await alice.expect("381")
    await alice.send("KLINE 10m troll!*@* :spam")
    gone = await troll.wait_closed()
    assert [m.command for m in gone[-2:]] == ["465", "ERROR"] and "spam" in gone[-1].params[0]
    again = await open_client(server.port)
    await again.send("NICK troll", "USER u 0 * :x")
    refused = await again.wait_closed()
    assert [m.command for m in refused] == ["465", "ERROR"]


async def test_rehash_reads_the_file_again(start_server: StartServer, open_client: OpenClient, tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    secret = ADMIN.password
    path.write_text(f'[opers.admin]\npassword = "{secret}"\n', encoding="utf-8")
    server = await start_server(opers=(ADMIN,))

    def reload() -> ServerConfig:
        from_file = settings.parse_known(ServerConfig, ["--config", str(path)], "serve")
        return test_config(opers=from_file.opers, max_channels=from_file.max_channels)

    server.hub.reload = reload
    alice = await open_client(server.port)
    await alice.register("alice")
    await alice.send("OPER admin hunter2")
    await alice.expect("381")
    path.write_text(f'max_channels = 3\n[opers.admin]\npassword = "{secret}"\n', encoding="utf-8")
    await alice.send("REHASH")
    await alice.expect("382")
    assert (await alice.expect("NOTICE")).params[-1] == "Rehashed: max_channels changed"
    assert server.hub.config.max_channels == 3
    path.write_text("max_channels = [\n", encoding="utf-8")
    await alice.send("REHASH")
    assert (await alice.expect("NOTICE")).params[-1].startswith("Rehash refused, nothing changed: config file")
    assert server.hub.config.max_channels == 3


def test_hash_password_prints_a_hash_that_verifies() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "multichat_trio", "hash-password"],
        input="correct horse\n",
        capture_output=True,
        text=True,
        check=True,
    )
    printed = result.stdout.strip()
    assert printed.startswith("$argon2id$") and opers.verify(printed, "correct horse")
    assert "correct horse" not in result.stdout + result.stderr
    empty = subprocess.run(
        [sys.executable, "-m", "multichat_trio", "hash-password"], input="", capture_output=True, text=True
    )
    assert empty.returncode == 1 and "empty" in empty.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGHUP on Windows (REHASH works there)")
async def test_sighup_rereads_the_config_file_and_keeps_the_clients(tmp_path: Path) -> None:
    toml = tmp_path / "multichat.toml"
    toml.write_text(f'max_channels = 5\n[opers.admin]\npassword = "{ADMIN.password}"\n', encoding="utf-8")
    argv = ["serve", "--config", str(toml), "--port", "0", "--no-web", "--db", "", "--stats-interval", "0"]
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "multichat_trio", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        port = await read_chat_port(process)
        client = await IrcClient.connect(port)
        await client.register("alice")
        await client.send("OPER admin hunter2")  # the file's operator, hash and all
        await client.expect("381")
        toml.write_text(f'max_channels = 9\n[opers.admin]\npassword = "{ADMIN.password}"\n', encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        errors = b""
        with trio.fail_after(20):
            while b"Rehashed:" not in errors:
                chunk = await process.stderr.receive_some(4096)
                assert chunk, "serve exited"
                errors += chunk
        assert b"Rehashed: max_channels changed" in errors
        await client.send("REHASH")  # the command reads the same file
        assert (await client.expect("NOTICE")).params[-1] == "Rehashed: nothing changed"
        await client.aclose()
    finally:
        process.kill()
        await process.wait()
