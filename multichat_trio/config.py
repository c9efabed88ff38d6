"""Settings: frozen dataclasses with the original MultiChat's defaults, and their loading.

Every field is a flag (`--ping-interval`), an environment variable (`MULTICHAT_PING_INTERVAL`) and a
key in the optional TOML file (`ping_interval = 120`, top level or under a `[serve]`/`[relay]` table).
Precedence: flags > environment > file > defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

ENV_PREFIX = "MULTICHAT_"
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _setting(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    host: str = _setting("127.0.0.1", "address the IRC chat listener binds (0.0.0.0: every interface)")
    port: int = _setting(12345, "IRC chat port")
    web_host: str = _setting("127.0.0.1", "address the web monitor (page, API and live feed) binds")
    web_origins: str = _setting("", "comma list of extra origins whose pages may read the live feed")
    monitor_show_hosts: bool = _setting(False, "show users' addresses (flood events) in the web monitor")
    http_port: int = _setting(8000, "web monitor HTTP port (0 turns it off)")
    ws_port: int = _setting(8765, "web monitor WebSocket feed port (0 turns it off)")
    web: bool = _setting(True, "serve the web monitor (--no-web: neither the page nor the feed)")
    max_viewers: int = _setting(100, "web monitor viewers (WebSocket feed connections) at once")
    feed_backlog: int = _setting(200, "recent events a new viewer and /api/events can catch up on")
    server_name: str = _setting("multichat.local", "server name, the prefix of server lines")
    network: str = _setting("MultiChat", "network name advertised in 005")
    motd: str | None = _setting(None, "file whose lines are the message of the day")
    autojoin: str = _setting("#lobby", "comma list of channels every client joins (empty: none)")
    password: str | None = _setting(None, "server password clients must give with PASS")
    relay_secret: str | None = _setting(None, "WEBIRC secret of trusted relays (unset: the secret file's)")
    relay_secret_file: str = _setting(
        "multichat-relay.secret", "file holding the relay secret, created with a random one if missing"
    )
    ping_interval: float = _setting(120.0, "seconds of client silence before the server sends PING")
    ping_timeout: float = _setting(60.0, "seconds to answer a PING before being dropped")
    register_timeout: float = _setting(20.0, "seconds a new connection has to register")
    flood_rate: float = _setting(2.0, "commands per second a client may sustain (0: no limit)")
    flood_burst: int = _setting(10, "commands a client may send at once (0: no limit)")
    sendq: int = _setting(512 * 1024, "bytes queued to a client before it is dropped (SendQ)")
    nagle_when_busy: bool = _setting(True, "while sending keeps the server busy, let the kernel join small writes")
    max_clients: int = _setting(10000, "connections accepted at once (lowered to what the open-file limit allows)")
    # Limits per address, per user and per server (docs/protocol.md, "Limits"); 0 turns one off.
    max_clients_per_ip: int = _setting(16, "connections one address may hold at once (0: no limit)")
    max_connects_per_ip: int = _setting(32, "new connections one address may open per --connect-window (0: no limit)")
    connect_window: float = _setting(600.0, "seconds over which --max-connects-per-ip is counted")
    max_channels_per_user: int = _setting(20, "channels one user may be in at once (0: no limit)")
    max_channels: int = _setting(1000, "channels on the server at once (0: no limit)")
    stats_interval: float = _setting(10.0, "seconds between console stats lines (0: none)")
    shutdown_grace: float = _setting(2.0, "seconds clients get to receive the goodbye at shutdown")
    db: str = _setting("multichat.sqlite3", "history database file (':memory:' keeps it in memory; '' none)")
    replay: int = _setting(50, "recent channel messages replayed to a joiner (0: none)")
    store_pms: bool = _setting(False, "also store the text of private messages (never shown or replayed)")
    retention_days: float = _setting(30.0, "days of history kept (0: no age limit)")
    max_events: int = _setting(100_000, "events kept in the history at most (0: no limit)")
    log_level: str = _setting("INFO", "logging level: DEBUG, INFO, WARNING, ERROR")

    @property
    def autojoin_channels(self) -> list[str]:
        return [name.strip() for name in self.autojoin.split(",") if name.strip()]


@dataclasses.dataclass(frozen=True)
class RelayConfig:
    host: str = _setting("127.0.0.1", "address the relay listens on")
    port: int = _setting(9999, "relay port")
    server_host: str = _setting("127.0.0.1", "chat server to forward to")
    server_port: int = _setting(12345, "chat server port")
    relay_secret: str | None = _setting(None, "WEBIRC secret shared with the server (unset: the secret file's)")
    relay_secret_file: str = _setting("multichat-relay.secret", "file holding the relay secret, written by serve")
    stats_interval: float = _setting(10.0, "seconds between console stats lines (0: none)")
    log_level: str = _setting("INFO", "logging level: DEBUG, INFO, WARNING, ERROR")


ConfigT = TypeVar("ConfigT", ServerConfig, RelayConfig)


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one `--flag` per field of `cls`; unset flags stay None so lower layers can fill them."""
    parser.add_argument("--config", metavar="FILE", help="TOML file with settings")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        env = ENV_PREFIX + f.name.upper()
        help = f"{f.metadata['help']} (default: {f.default!r}; env {env})"
        if hints[f.name] is bool:  # --web / --no-web
            parser.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction, help=help)
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help)


def load(cls: type[ConfigT], args: argparse.Namespace, environ: Mapping[str, str], section: str) -> ConfigT:
    """Build `cls` from flags, then environment, then the TOML file named by `--config`, then defaults."""
    from_file: dict[str, Any] = {}
    config_path = getattr(args, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        with Path(config_path).open("rb") as fh:
            document = tomllib.load(fh)
        table = document.get(section, {})
        from_file = {k: v for k, v in document.items() if not isinstance(v, dict)} | table
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        raw = getattr(args, f.name, None)
        if raw is None:
            raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is None:
            raw = from_file.get(f.name)
        if raw is not None:
            values[f.name] = _convert(raw, hints[f.name], f.name)
    unknown = set(from_file) - {f.name for f in dataclasses.fields(cls)} - {"serve", "relay"}
    if unknown:
        raise ValueError(f"unknown setting(s) in {config_path}: {', '.join(sorted(unknown))}")
    return cls(**values)


def _convert(raw: Any, hint: Any, name: str) -> Any:
    target = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
    if isinstance(raw, target) and not (target is int and isinstance(raw, bool)):
        return raw
    if target in (int, float) and isinstance(raw, str | int | float) and not isinstance(raw, bool):
        try:
            return target(raw)
        except ValueError:
            pass
    elif target is str:
        return str(raw)
    elif target is bool and isinstance(raw, str) and raw.lower() in _BOOLEANS:
        return _BOOLEANS[raw.lower()]
    raise ValueError(f"setting {name}: expected {target.__name__}, got {raw!r}")


def parse_known(cls: type[ConfigT], argv: Sequence[str], section: str) -> ConfigT:
    """Parse `argv` for `cls` alone (used by tests and small entry points)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser, cls)
    return load(cls, parser.parse_args(list(argv)), os.environ, section)
