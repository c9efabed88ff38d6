"""The command line: settings precedence, and `serve` as a real process stopped by a signal."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from multichat_trio import config as settings
from multichat_trio.config import ServerConfig

from .ircclient import IrcClient


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, ServerConfig)
    return parser.parse_args(list(argv))


def test_defaults_match_the_original_multichat() -> None:
    config = settings.load(ServerConfig, _args(), {}, "serve")
    assert (config.host, config.port, config.http_port, config.ws_port) == ("127.0.0.1", 12345, 8000, 8765)
    assert config.autojoin_channels == ["#lobby"]


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "multichat.toml"
    toml.write_text('port = 1111\nserver_name = "file.example"\n[serve]\nflood_burst = 3\nmotd = "m.txt"\n')
    env = {"MULTICHAT_PORT": "2222", "MULTICHAT_FLOOD_BURST": "4"}
    config = settings.load(ServerConfig, _args("--config", str(toml), "--port", "3333"), env, "serve")
    assert config.port == 3333
    assert config.flood_burst == 4
    assert config.server_name == "file.example"
    assert config.motd == "m.txt"
    assert config.ping_interval == ServerConfig.ping_interval


def test_bad_values_are_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="port"):
        settings.load(ServerConfig, _args(), {"MULTICHAT_PORT": "twelve"}, "serve")
    toml = tmp_path / "bad.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(ValueError, match="prot"):
        settings.load(ServerConfig, _args("--config", str(toml)), {}, "serve")


def test_help_explains_every_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "multichat_trio", "serve", "--help"], capture_output=True, text=True, check=True
    )
    for flag in ("--host", "--port", "--http-port", "--ws-port", "--flood-rate", "--sendq", "MULTICHAT_PORT"):
        assert flag in result.stdout


async def _start_serve_process(db: Path) -> tuple[trio.Process, int, trio.abc.ReceiveStream]:
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "multichat_trio",
            "serve",
            "--port",
            "0",
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=db.parent,  # where the relay secret file is written
    )
    assert process.stdout is not None and process.stderr is not None
    banner = b""
    with trio.fail_after(20):
        while b"Chat (IRC): " not in banner or not banner.endswith(b"\n"):
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "serve exited before printing its banner"
            banner += chunk
    port = int(banner.split(b"Chat (IRC): ", 1)[1].split(b"\n", 1)[0].rsplit(b":", 1)[1])
    return process, port, process.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_signal_stops_serve_cleanly(signum: signal.Signals, tmp_path: Path) -> None:
    process, port, stderr = await _start_serve_process(tmp_path / "history.sqlite3")
    try:
        client = await IrcClient.connect(port)
        await client.register("alice")
        process.send_signal(signum)
        seen = await client.wait_closed()
        assert seen[-1].command == "ERROR" and seen[-1].params == ("Server shutting down",)
        with trio.fail_after(10):
            status = await process.wait()
        errors = b""
        while chunk := await stderr.receive_some(65536):
            errors += chunk
        assert status == 0, errors.decode()
        assert b"Traceback" not in errors
        assert b"final stats: 0 clients connected" in errors
        await client.aclose()
    finally:
        process.kill()
        await process.wait()


async def test_port_in_use_is_a_one_line_error_not_a_traceback(tmp_path: Path) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "multichat_trio",
                "serve",
                "--port",
                str(port),
                "--http-port",
                "0",
                "--ws-port",
                "0",
                "--db",
                "",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert b"multichat-trio: error:" in result.stderr and b"in use" in result.stderr


def test_switches_are_flags_env_words_and_toml_booleans(tmp_path: Path) -> None:
    assert settings.load(ServerConfig, _args("--no-web"), {}, "serve").web is False
    assert settings.load(ServerConfig, _args(), {"MULTICHAT_WEB": "off"}, "serve").web is False
    assert settings.load(ServerConfig, _args("--web"), {"MULTICHAT_WEB": "off"}, "serve").web is True
    toml = tmp_path / "m.toml"
    toml.write_text("store_pms = true\n")
    assert settings.load(ServerConfig, _args("--config", str(toml)), {}, "serve").store_pms is True
    with pytest.raises(ValueError, match="web"):
        settings.load(ServerConfig, _args(), {"MULTICHAT_WEB": "maybe"}, "serve")
