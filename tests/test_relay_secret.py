"""The relay secret is generated, not absent: `serve` writes one, a relay on the same machine reads it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from multichat_trio import datadir
from multichat_trio.config import RelayConfig, ServerConfig
from multichat_trio.relay.secret import for_relay, for_server
from multichat_trio.secretfile import SecretError, load_or_create

from .ircclient import IrcClient
from .processes import read_chat_port


def test_serve_writes_a_random_secret_once_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "relay.secret"
    first, created = load_or_create(path)
    assert created and len(first) >= 32
    assert load_or_create(path) == (first, False)
    other, _ = load_or_create(tmp_path / "other.secret")
    assert other != first
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # its owner's only


def test_a_set_secret_wins_and_no_file_is_written(tmp_path: Path) -> None:
    path = tmp_path / "relay.secret"
    config = for_server(ServerConfig(relay_secret="given", relay_secret_file=str(path)))
    assert config.relay_secret == "given" and not path.exists()
    assert for_server(ServerConfig(relay_secret_file="")).relay_secret is None  # no file: no relay is trusted


def test_the_relay_reads_what_serve_wrote_and_says_what_to_do_without_it(tmp_path: Path) -> None:
    path = tmp_path / "relay.secret"
    with pytest.raises(SecretError, match="Start `multichat-trio serve` here first"):
        for_relay(RelayConfig(relay_secret_file=str(path)))
    written = for_server(ServerConfig(relay_secret_file=str(path))).relay_secret
    assert for_relay(RelayConfig(relay_secret_file=str(path))).relay_secret == written
    path.write_text("two words\n")
    with pytest.raises(SecretError, match="no usable secret"):
        for_relay(RelayConfig(relay_secret_file=str(path)))


async def _banner(process: trio.Process, until: bytes) -> bytes:
    assert process.stdout is not None
    seen = b""
    with trio.fail_after(20):
        while until not in seen:
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "the process exited before printing its banner"
            seen += chunk
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_a_default_install_trusts_its_own_relay_and_no_other_local_program(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "multichat_trio"]
    serve = await trio.lowlevel.open_process(
        [*command, "serve", "--port", "0", "--no-web", "--db", "", "--stats-interval", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    relay = None
    try:
        port = str(await read_chat_port(serve))
        assert (tmp_path / "multichat-relay.secret").exists()
        relay = await trio.lowlevel.open_process(
            [*command, "relay", "--port", "0", "--server-port", port, "--stats-interval", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
        )
        relay_port = int((await _banner(relay, b"\n")).split(b" running on ", 1)[1].split(b",", 1)[0].rsplit(b":")[1])
        user = await IrcClient.connect(relay_port)
        seen = await user.register("relayed")
        assert next(m for m in seen if m.command == "001").params[0] == "*relayed"
        for guess in ("*", "", "multichat"):  # a local program without the secret file's content
            poser = await IrcClient.connect(int(port))
            await poser.send(f"WEBIRC {guess or ':'} gw 10.0.0.1 10.0.0.1", "NICK *poser", "USER u 0 * :x")
            lines = await poser.wait_closed()
            assert lines[-1].command == "ERROR" and "001" not in [m.command for m in lines]
            await poser.aclose()
        await user.aclose()
    finally:
        for process in (relay, serve):
            if process is not None:
                process.send_signal(signal.SIGINT)
                with trio.fail_after(10):
                    assert await process.wait() == 0


def test_the_default_file_is_found_here_or_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    written = for_server(ServerConfig()).relay_secret
    assert (here / "multichat-relay.secret").exists()
    assert for_relay(RelayConfig()).relay_secret == written
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not here: the relay looks in the data directory, where serve puts it otherwise
    saved, _ = load_or_create(datadir.data_dir() / "multichat-relay.secret")
    assert for_relay(RelayConfig()).relay_secret == saved
    assert for_server(ServerConfig()).relay_secret == saved  # an existing file there is used, not a new one here
    assert not (elsewhere / "multichat-relay.secret").exists()
