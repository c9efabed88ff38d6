"""The command line: settings precedence, and `serve` as a real process stopped by a signal."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import signal
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import trio

from multichat_trio import config as settings
from multichat_trio.__main__ import main
from multichat_trio.config import RelayConfig, ServerConfig

from .conftest import StartServer
from .ircclient import IrcClient
from .processes import read_chat_port


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


def _relay(*argv: str, environ: dict[str, str] | None = None) -> RelayConfig:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, RelayConfig)
    return settings.load(RelayConfig, parser.parse_args(list(argv)), environ or {}, "relay")


def test_the_relay_reads_its_own_settings_not_serves(tmp_path: Path) -> None:
    toml = tmp_path / "multichat.toml"
    toml.write_text('port = 6667\nlog_level = "DEBUG"\nrelay_secret = "s3"\n[relay]\nserver_port = 6667\n')
    env = {"MULTICHAT_PORT": "6668", "MULTICHAT_SERVER_PORT": "1", "MULTICHAT_STATS_INTERVAL": "0"}
    relay = _relay("--config", str(toml), environ=env)
    assert (relay.port, relay.server_port, relay.log_level, relay.stats_interval) == (9999, 6667, "INFO", 10.0)
    assert relay.relay_secret is None  # a top-level key is serve's
    serve = settings.load(ServerConfig, _args("--config", str(toml)), env, "serve")
    assert (serve.port, serve.log_level, serve.relay_secret) == (6668, "DEBUG", "s3")
    env = {"MULTICHAT_RELAY_PORT": "7000", "MULTICHAT_RELAY_SERVER_PORT": "7001", "MULTICHAT_RELAY_SECRET": "shared"}
    relay = _relay(environ=env)
    assert (relay.port, relay.server_port, relay.relay_secret) == (7000, 7001, "shared")
    assert settings.load(ServerConfig, _args(), env, "serve").relay_secret == "shared"  # both sides need it


def test_the_readmes_config_example_gives_server_and_relay_their_own_ports(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    toml = tmp_path / "multichat.toml"
    toml.write_text(readme.split("```toml\n", 1)[1].split("```", 1)[0])
    serve = settings.load(ServerConfig, _args("--config", str(toml)), {}, "serve")
    relay = _relay("--config", str(toml))
    assert serve.port == relay.server_port != relay.port


def test_config_file_tables_are_checked_where_they_are_read(tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text("[relay]\nprot = 1\n")
    settings.load(ServerConfig, _args("--config", str(toml)), {}, "serve")  # serve does not read [relay]
    with pytest.raises(ValueError, match=r"m\.toml: unknown setting\(s\) under \[relay\].*: prot"):
        _relay("--config", str(toml))
    toml.write_text("[srve]\nport = 1\n")
    with pytest.raises(ValueError, match=r"m\.toml: unknown table\(s\) \[srve\]"):
        settings.load(ServerConfig, _args("--config", str(toml)), {}, "serve")


def test_help_groups_settings_by_their_metadata() -> None:
    sections = _help_sections(ServerConfig)
    groups = ("chat", "limits", "tls", "web", "accounts", "history", "relay trust", "cluster", "logging")
    assert list(sections) == ["options", *(settings.GROUPS[g] for g in groups)]
    for flag, group in [("--port", "chat"), ("--sendq", "limits"), ("--ws-port", "web"), ("--db", "history")]:
        assert flag in sections[settings.GROUPS[group]], flag
    assert "MULTICHAT_RELAY_PORT" in sections["options"] + "".join(_help_sections(RelayConfig).values())

    @dataclasses.dataclass(frozen=True)
    class Later:  # settings added without a group land in "chat"; a new group gets its own heading
        env_prefix: ClassVar[str] = settings.ENV_PREFIX
        new_thing: int = settings._setting(1, "added later")
        odd: int = settings._setting(2, "in a group of its own", group="brand new")

    sections = _help_sections(Later)
    assert list(sections) == ["options", settings.GROUPS["chat"], "brand new"]
    assert "--new-thing" in sections[settings.GROUPS["chat"]] and "--odd" in sections["brand new"]


def _help_sections(cls: type) -> dict[str, str]:
    """`--help` of a parser with `cls`'s flags, by heading."""
    parser = argparse.ArgumentParser(prog="x")
    settings.add_arguments(parser, cls)
    blocks = parser.format_help().split("\n\n")[1:]  # after the usage
    return {block.split(":\n", 1)[0]: block.split(":\n", 1)[1] for block in blocks}


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
    assert process.stderr is not None
    return process, await read_chat_port(process), process.stderr


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


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.fixture
def fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Fails:
    """`fails(*argv)`: run the CLI in-process in `tmp_path` (where files such as the relay secret land).

    `argv` must fail: gives its exit status and what it printed to stderr.
    """
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit:
            main(list(argv))
        assert isinstance(exit.value.code, int)
        return exit.value.code, capsys.readouterr().err

    return run


Fails = Callable[..., tuple[int, str]]


@pytest.mark.parametrize("command", ["serve", "relay"])
def test_an_unknown_flag_prints_the_subcommands_usage(command: str, fails: Fails) -> None:
    status, errors = fails(command, "--prot", "1")
    assert status == 2
    assert errors.splitlines() == [
        f"usage: multichat-trio {command} [options]",
        f"multichat-trio {command}: error: unrecognized arguments: --prot 1 (see multichat-trio {command} --help)",
    ]


QUIET = ("--stats-interval", "0", "--db", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "setting port (--port): 70000 is not a port number (0-65535)"),
        (["--log-level", "loud", *QUIET], "setting log_level: unknown level 'loud'"),
        (["--port", "{port}", "--no-web", *QUIET], "chat port {port} on 127.0.0.1 is already in use"),
        (
            ["--port", "0", "--http-port", "{port}", "--ws-port", "0", *QUIET],
            "web monitor HTTP port {port} on 127.0.0.1 is already in use (another server running? "
            "choose a port with --http-port)",
        ),
        (
            ["--port", "0", "--http-port", "0", "--ws-port", "{port}", *QUIET],
            "web monitor WebSocket port {port} on 127.0.0.1 is already in use",
        ),
        (
            ["relay", "--port", "{port}", "--stats-interval", "0", "--relay-secret", "s"],
            "relay port {port} on 127.0.0.1 is already in use",
        ),
        (
            ["--port", "0", "--no-web", "--db", "{tmp}/no-such-dir/h.sqlite3"],
            "cannot open history database '{tmp}/no-such-dir/h.sqlite3': directory '{tmp}/no-such-dir' does not "
            "exist (--db '' runs without history)",
        ),
        (["--config", "{tmp}/missing.toml"], "config file {tmp}/missing.toml: No such file or directory"),
    ],
)
def test_a_setup_error_is_one_line_naming_what_and_where(
    argv: list[str], message: str, taken_port: int, tmp_path: Path, fails: Fails
) -> None:
    argv = [arg.format(port=taken_port, tmp=tmp_path) for arg in argv]
    if argv[0] != "relay":
        argv.insert(0, "serve")
    status, errors = fails(*argv)
    with warnings.catch_warnings():  # hypercorn leaves a socket it failed to bind to the garbage collector
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert status == 1
    assert errors.startswith(f"multichat-trio {argv[0]}: error: {message.format(port=taken_port, tmp=tmp_path)}")
    assert errors.count("\n") == 1


def test_a_bad_config_file_is_named_with_the_line(tmp_path: Path, fails: Fails) -> None:
    toml = tmp_path / "multichat.toml"
    toml.write_text('port = 6667\nmotd = "unfinished\n')
    status, errors = fails("serve", "--config", str(toml))
    assert status == 1
    assert errors.startswith(f"multichat-trio serve: error: config file {toml}: ") and "line 2" in errors


async def test_a_real_process_exits_2_for_usage_and_1_when_the_store_is_taken(
    tmp_path: Path, start_server: StartServer
) -> None:
    db = tmp_path / "owned.sqlite3"
    await start_server(db=str(db))  # holds the store's lock, as a running server does
    results = {}

    async def run(name: str, *argv: str) -> None:
        with trio.fail_after(20):
            results[name] = await trio.run_process(
                [sys.executable, "-m", "multichat_trio", *argv],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                cwd=tmp_path,  # where the relay secret file is written
            )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "usage", "serve", "--bogus")
        nursery.start_soon(run, "locked", "serve", "--port", "0", "--no-web", "--stats-interval", "0", "--db", str(db))
    assert results["usage"].returncode == 2
    assert results["usage"].stderr.startswith(b"usage: multichat-trio serve [options]\n")
    assert results["locked"].returncode == 1
    assert results["locked"].stderr.decode().splitlines()[-1] == (
        f"multichat-trio serve: error: cannot open history database {str(db)!r}: database is locked: "
        "another server uses it? (--db '' runs without history)"
    )


def test_switches_are_flags_env_words_and_toml_booleans(tmp_path: Path) -> None:
    assert settings.load(ServerConfig, _args("--no-web"), {}, "serve").web is False
    assert settings.load(ServerConfig, _args(), {"MULTICHAT_WEB": "off"}, "serve").web is False
    assert settings.load(ServerConfig, _args("--web"), {"MULTICHAT_WEB": "off"}, "serve").web is True
    toml = tmp_path / "m.toml"
    toml.write_text("store_pms = true\n")
    assert settings.load(ServerConfig, _args("--config", str(toml)), {}, "serve").store_pms is True
    with pytest.raises(ValueError, match="web"):
        settings.load(ServerConfig, _args(), {"MULTICHAT_WEB": "maybe"}, "serve")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("server_name", "my server"), ("server_name", ":x"), ("network", ""), ("network", "a,b"), ("autojoin", "lobby")],
)
def test_settings_that_go_into_irc_lines_must_fit_there(setting: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"setting {setting}"):
        settings.load(ServerConfig, _args(), {f"MULTICHAT_{setting.upper()}": value}, "serve")
