"""Settings: frozen dataclasses with the original MultiChat's defaults, and their loading.

Every field is a flag (`--ping-interval`), an environment variable and a key in the optional TOML
file. `serve` reads `MULTICHAT_<NAME>` and the file's top-level keys (or a `[serve]` table); the
relay reads `MULTICHAT_RELAY_<NAME>` and only its `[relay]` table, so the two never share a port by
accident. `relay_secret` is `MULTICHAT_RELAY_SECRET` for both: they must agree on it.
Precedence: flags > environment > file > defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import ipaddress
import os
import socket
import tomllib
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .protocol.names import is_channel_name

ENV_PREFIX = "MULTICHAT_"
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}

#: `--help` headings of the settings groups, in this order; a group not listed comes after, as named.
GROUPS = {
    "chat": "chat (the IRC listener and what clients see)",
    "limits": "limits (flood control, queues, deadlines)",
    "tls": "TLS (encrypted connections; docs/tls.md)",
    "web": "web monitor",
    "accounts": "accounts (registration, SASL, nick protection)",
    "history": "history",
    "relay": "relay (where it listens and where it forwards)",
    "relay trust": "relay trust",
    "cluster": "cluster (several nodes sharing one chat through Redis; docs/cluster.md)",
    "logging": "logging",
}


class StartupError(Exception):
    """Something the program needs at start is unusable (a port, the database): the message says what."""


def _setting(default: Any, help: str, *, group: str = "chat") -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "group": group})


@dataclasses.dataclass(frozen=True)
class OperEntry:
    """One `[opers.NAME]` table: the argon2 hash of its password and the hosts it may log in from."""

    name: str
    password: str
    #: Addresses, CIDR ranges or `*`/`?` patterns matched on the client's host; empty: any host.
    hosts: tuple[str, ...] = ()
    #: An account whose logged-in users may OPER as this name without its password (docs/accounts.md).
    account: str | None = None


def parse_opers(raw: Any, where: str) -> tuple[OperEntry, ...]:
    """The `[opers.NAME]` tables of a config file; a plain password is refused (only argon2 hashes)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: opers must be tables ([opers.NAME] with password = an argon2 hash)")
    entries = []
    for name, table in raw.items():
        if not isinstance(table, dict) or not name or any(ch in name for ch in " ,:\r\n\0"):
            raise ValueError(f"{where}: [opers.{name}] must be a table named by one word")
        unknown = sorted(set(table) - {"password", "hosts", "account"})
        if unknown:
            raise ValueError(f"{where}: [opers.{name}]: unknown key(s) {', '.join(unknown)} (password, hosts, account)")
        password, hosts, account = table.get("password"), table.get("hosts", []), table.get("account")
        if account is not None and (not isinstance(account, str) or not account or " " in account):
            raise ValueError(f"{where}: [opers.{name}]: account must be an account name")
        if password is None and account is not None:
            password = ""  # tied to the account alone: no password opens it
        elif not isinstance(password, str) or not password.startswith("$argon2"):
            raise ValueError(
                f"{where}: [opers.{name}]: password must be an argon2 hash (print one with"
                " `multichat-trio hash-password`); a plain password never goes in the file"
            )
        if not isinstance(hosts, list) or not all(isinstance(host, str) and host for host in hosts):
            raise ValueError(f"{where}: [opers.{name}]: hosts must be a list of addresses, CIDR ranges or patterns")
        entries.append(OperEntry(name, password, tuple(hosts), account))
    return tuple(entries)


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    env_prefix: ClassVar[str] = ENV_PREFIX

    host: str = _setting("127.0.0.1", "address the IRC chat listener binds (0.0.0.0: every interface)")
    port: int = _setting(12345, "IRC chat port")
    irc_ws_port: int = _setting(
        8767, "IRC over WebSocket port (IRCv3 transport, on --host; WSS with --tls-cert; 0 turns it off)"
    )
    tls_port: int = _setting(6697, "IRC over TLS port, listening once --tls-cert is given", group="tls")
    tls_cert: str | None = _setting(None, "PEM certificate (chain) of the TLS listener; reread on REHASH", group="tls")
    tls_key: str | None = _setting(None, "PEM private key of --tls-cert (unset: in the same file)", group="tls")
    tls_client_ca: str | None = _setting(
        None, "PEM CAs (or self-signed certificates) whose client certificates give a CERTFP", group="tls"
    )
    sts_duration: int = _setting(
        2592000, "seconds clients keep to TLS once told (the sts capability; 0: not advertised)", group="tls"
    )
    web_host: str = _setting("127.0.0.1", "address the web monitor (page, API and live feed) binds", group="web")
    web_origins: str = _setting("", "comma list of extra origins whose pages may read the live feed", group="web")
    monitor_login: str = _setting(
        "auto", "ask the web monitor's viewers to log in: auto (when --web-host is not loopback) or always", group="web"
    )
    monitor_token: str | None = _setting(
        None, "token that logs in to the web monitor (unset: the token file's)", group="web"
    )
    monitor_token_file: str = _setting(
        "multichat-monitor.token",
        "file holding the monitor token, created with a random one if missing when a login is asked",
        group="web",
    )
    monitor_cookie_secure: bool = _setting(
        False, "mark the monitor's session cookie Secure (for a monitor served over HTTPS)", group="web"
    )
    monitor_show_hosts: bool = _setting(False, "show users' addresses (flood events) in the web monitor", group="web")
    http_port: int = _setting(8000, "web monitor HTTP port (0 turns it off)", group="web")
    ws_port: int = _setting(8765, "web monitor WebSocket feed port (0 turns it off)", group="web")
    web_tls_cert: str | None = _setting(
        None, "PEM certificate for HTTPS and WSS on the monitor (unset: --tls-cert's, if any)", group="web"
    )
    web_tls_key: str | None = _setting(None, "PEM private key of --web-tls-cert (unset: in the same file)", group="web")
    web: bool = _setting(True, "serve the web monitor (--no-web: neither the page nor the feed)", group="web")
    max_viewers: int = _setting(100, "web monitor viewers (WebSocket feed connections) at once", group="web")
    feed_backlog: int = _setting(200, "recent events a new viewer and /api/events can catch up on", group="web")
    server_name: str = _setting("multichat.local", "server name, the prefix of server lines")
    network: str = _setting("MultiChat", "network name advertised in 005")
    admin: str = _setting("", "who runs the server and how to reach them, for ADMIN (e.g. 'Alice <alice@example.org>')")
    motd: str | None = _setting(None, "file whose lines are the message of the day")
    autojoin: str = _setting("#lobby", "comma list of channels every client joins (empty: none)")
    password: str | None = _setting(None, "server password clients must give with PASS")
    registration: str = _setting(
        "open", "who may register accounts (REGISTER, NickServ): open, closed or operators", group="accounts"
    )
    nick_protection_grace: float = _setting(
        60.0,
        "seconds a client on a registered nickname has to log in before it is renamed GuestNNNN (0: refused at once)",
        group="accounts",
    )
    relay_secret: str | None = _setting(
        None, "WEBIRC secret of trusted relays (unset: the secret file's)", group="relay trust"
    )
    relay_secret_file: str = _setting(
        "multichat-relay.secret",
        "file holding the relay secret, created with a random one if missing",
        group="relay trust",
    )
    ping_interval: float = _setting(120.0, "seconds of client silence before the server sends PING", group="limits")
    ping_timeout: float = _setting(60.0, "seconds to answer a PING before being dropped", group="limits")
    register_timeout: float = _setting(20.0, "seconds a new connection has to register", group="limits")
    flood_rate: float = _setting(2.0, "commands per second a client may sustain (0: no limit)", group="limits")
    flood_burst: int = _setting(10, "commands a client may send at once (0: no limit)", group="limits")
    sendq: int = _setting(512 * 1024, "bytes queued to a client before it is dropped (SendQ)", group="limits")
    nagle_when_busy: bool = _setting(True, "while sending keeps the server busy, let the kernel join small writes")
    max_clients: int = _setting(
        10000, "connections accepted at once (lowered to what the open-file limit allows)", group="limits"
    )
    # Limits per address, per user and per server (docs/protocol.md, "Limits"); 0 turns one off.
    max_clients_per_ip: int = _setting(16, "connections one address may hold at once (0: no limit)", group="limits")
    max_connects_per_ip: int = _setting(
        32, "new connections one address may open per --connect-window (0: no limit)", group="limits"
    )
    connect_window: float = _setting(600.0, "seconds over which --max-connects-per-ip is counted", group="limits")
    max_channels_per_user: int = _setting(20, "channels one user may be in at once (0: no limit)", group="limits")
    max_channels: int = _setting(1000, "channels on the server at once (0: no limit)", group="limits")
    stats_interval: float = _setting(10.0, "seconds between console stats lines (0: none)", group="logging")
    shutdown_grace: float = _setting(2.0, "seconds clients get to receive the goodbye at shutdown")
    db: str = _setting(
        "multichat.sqlite3",
        "history database file; the default one goes in the current directory if writable, else in the user's data"
        " directory (':memory:' keeps it in memory; '' none)",
        group="history",
    )
    replay: int = _setting(50, "recent channel messages replayed to a joiner (0: none)", group="history")
    store_pms: bool = _setting(
        False,
        "also store the text of private messages (never shown or replayed; CHATHISTORY gives them back to the"
        " two parties' accounts only)",
        group="history",
    )
    retention_days: float = _setting(30.0, "days of history kept (0: no age limit)", group="history")
    max_events: int = _setting(100_000, "events kept in the history at most (0: no limit)", group="history")
    proxy_from: str = _setting(
        "",
        "comma list of load balancers (addresses, CIDR ranges) whose connections open with a PROXY protocol"
        " header naming the real client (HAProxy send-proxy; docs/cluster.md)",
        group="cluster",
    )
    cluster: str | None = _setting(
        None,
        "Redis URL (redis://HOST:PORT/DB) of the cluster this node joins (docs/cluster.md); unset: a single server",
        group="cluster",
    )
    cluster_ttl: float = _setting(
        5.0, "seconds a silent node counts as alive: its users leave the others' view that long after", group="cluster"
    )
    log_level: str = _setting("INFO", "logging level: DEBUG, INFO, WARNING, ERROR", group="logging")
    #: Server operators, from the config file's `[opers.NAME]` tables only (no flag, no variable).
    opers: tuple[OperEntry, ...] = dataclasses.field(default=(), metadata={"file_only": True})

    def __post_init__(self) -> None:
        """Settings that go into every IRC line must be valid there: checked here, not when sent."""
        for name in ("server_name", "network"):
            value = getattr(self, name)
            if not value or value.startswith(":") or any(ch in value for ch in " ,\r\n\0"):
                raise ValueError(f"setting {name}: {value!r} must be one word (no spaces, commas or leading ':')")
        if self.monitor_login not in ("auto", "always"):
            raise ValueError(f"setting monitor_login: {self.monitor_login!r} must be auto or always")
        if any(ch in self.admin for ch in "\r\n\0"):
            raise ValueError("setting admin: must be one line")
        if self.registration not in ("open", "closed", "operators"):
            raise ValueError(f"setting registration: {self.registration!r} must be open, closed or operators")
        if self.nick_protection_grace < 0:
            raise ValueError("setting nick_protection_grace: must be 0 or more seconds")
        try:
            self.proxy_networks  # noqa: B018  (parsed once here, so a bad one stops the start)
        except ValueError as exc:
            raise ValueError(f"setting proxy_from: {exc}") from None
        if self.cluster is not None and not self.cluster.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"setting cluster: {self.cluster!r} must be a redis://HOST:PORT/DB URL")
        if self.cluster_ttl < 1:
            raise ValueError("setting cluster_ttl: must be 1 second or more")
        for channel in self.autojoin_channels:
            if not is_channel_name(channel):
                raise ValueError(f"setting autojoin: {channel!r} is not a channel name (like #lobby)")

    @property
    def web_certificate(self) -> tuple[str, str | None] | None:
        """The monitor's certificate and key: its own, else the chat's; None serves plain HTTP."""
        if self.web_tls_cert:
            return self.web_tls_cert, self.web_tls_key
        return (self.tls_cert, self.tls_key) if self.tls_cert else None

    @property
    def autojoin_channels(self) -> list[str]:
        return [name.strip() for name in self.autojoin.split(",") if name.strip()]

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """`proxy_from` as networks (checked when the settings were built)."""
        return [ipaddress.ip_network(part.strip(), strict=False) for part in self.proxy_from.split(",") if part.strip()]


@dataclasses.dataclass(frozen=True)
class RelayConfig:
    env_prefix: ClassVar[str] = ENV_PREFIX + "RELAY_"

    host: str = _setting("127.0.0.1", "address the relay listens on", group="relay")
    port: int = _setting(9999, "relay port", group="relay")
    server_host: str = _setting("127.0.0.1", "chat server to forward to", group="relay")
    server_port: int = _setting(12345, "chat server port", group="relay")
    tls_cert: str | None = _setting(None, "PEM certificate: the relay's port speaks TLS", group="tls")
    tls_key: str | None = _setting(None, "PEM private key of --tls-cert (unset: in the same file)", group="tls")
    server_tls: bool = _setting(False, "reach the chat server over TLS (--server-port: its TLS port)", group="tls")
    server_ca: str | None = _setting(None, "PEM CA file verifying the server (unset: the system's)", group="tls")
    relay_secret: str | None = _setting(
        None, "WEBIRC secret shared with the server (unset: the secret file's)", group="relay trust"
    )
    relay_secret_file: str = _setting(
        "multichat-relay.secret", "file holding the relay secret, written by serve", group="relay trust"
    )
    stats_interval: float = _setting(10.0, "seconds between console stats lines (0: none)", group="logging")
    log_level: str = _setting("INFO", "logging level: DEBUG, INFO, WARNING, ERROR", group="logging")


ConfigT = TypeVar("ConfigT", ServerConfig, RelayConfig)


def env_name(cls: type, name: str) -> str:
    """The environment variable of setting `name`: `MULTICHAT_RELAY_PORT` for the relay's `port`.

    The class's prefix is not repeated, so `relay_secret` is `MULTICHAT_RELAY_SECRET` on both sides.
    """
    prefix: str = cls.env_prefix  # type: ignore[attr-defined]
    return prefix + name.upper().removeprefix(prefix.removeprefix(ENV_PREFIX))


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One `--flag` per field of `cls`, under its group's heading; unset flags stay None (lower layers fill them)."""
    parser.add_argument("--config", metavar="FILE", help=f"TOML file with settings (env {ENV_PREFIX}CONFIG)")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    rank = {name: i for i, name in enumerate(GROUPS)}
    fields = [f for f in fields if not f.metadata.get("file_only")]
    names = sorted(dict.fromkeys(f.metadata["group"] for f in fields), key=lambda name: rank.get(name, len(rank)))
    groups = {name: parser.add_argument_group(GROUPS.get(name, name)) for name in names}
    for f in fields:
        group = groups[f.metadata["group"]]
        flag = "--" + f.name.replace("_", "-")
        help = f"{f.metadata['help']} (default: {f.default!r}; env {env_name(cls, f.name)})"
        if hints[f.name] is bool:  # --web / --no-web
            group.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction, help=help)
        else:
            group.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help)


def load(cls: type[ConfigT], args: argparse.Namespace, environ: Mapping[str, str], section: str) -> ConfigT:
    """Build `cls` from flags, then environment, then the TOML file named by `--config`, then defaults.

    `serve` takes the file's top-level keys and its `[serve]` table; `relay` only its `[relay]` table.
    """
    config_path = getattr(args, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
    from_file = _read_file(Path(config_path), section, {f.name for f in dataclasses.fields(cls)}) if config_path else {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("file_only"):
            if f.name in from_file:
                values[f.name] = parse_opers(from_file[f.name], f"config file {config_path}")
            continue
        env = env_name(cls, f.name)
        flag = "--" + f.name.replace("_", "-")
        sources = (
            (getattr(args, f.name, None), flag),
            (environ.get(env), f"env {env}"),
            (from_file.get(f.name), config_path),
        )
        for raw, where in sources:
            if raw is not None:
                values[f.name] = _convert(raw, hints[f.name], f.name, str(where))
                break
    return cls(**values)


def _read_file(path: Path, section: str, known: set[str]) -> dict[str, Any]:
    """The settings of `section` in the TOML file at `path`; every problem names the file."""
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except OSError as exc:
        raise ValueError(f"config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path}: {exc}") from exc
    tables = {"serve", "relay"}
    for name in tables & set(document):
        if not isinstance(document[name], dict):
            raise ValueError(f"config file {path}: {name} must be a table ([{name}])")
    if section == "serve":
        stray = sorted(k for k, v in document.items() if isinstance(v, dict) and k not in tables | {"opers"})
        if stray:
            raise ValueError(f"config file {path}: unknown table(s) {', '.join(f'[{k}]' for k in stray)}")
        settings = {k: v for k, v in document.items() if k not in tables} | document.get("serve", {})
        if "opers" in document and isinstance(document.get("serve"), dict) and "opers" in document["serve"]:
            raise ValueError(f"config file {path}: opers both at the top level and under [serve]: keep one")
        where = "at the top level or under [serve]"
    else:
        settings = document.get(section, {})
        where = f"under [{section}] (top-level keys are serve's)"
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"config file {path}: unknown setting(s) {where}: {', '.join(unknown)}")
    return settings


def _convert(raw: Any, hint: Any, name: str, where: str) -> Any:
    """`raw` (a flag's or variable's text, or a TOML value) as setting `name`'s type; errors say `where` it was set."""
    target = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
    value: Any = None
    if isinstance(raw, target) and not (target is int and isinstance(raw, bool)):
        value = raw
    elif target in (int, float) and isinstance(raw, str | int | float) and not isinstance(raw, bool):
        with contextlib.suppress(ValueError):
            value = target(raw)
    elif target is str:
        value = str(raw)
    elif target is bool and isinstance(raw, str) and raw.lower() in _BOOLEANS:
        value = _BOOLEANS[raw.lower()]
    if value is None:
        raise ValueError(f"setting {name} ({where}): expected {target.__name__}, got {raw!r}")
    if target is int and name.endswith("port") and not 0 <= value <= 65535:
        raise ValueError(f"setting {name} ({where}): {value} is not a port number (0-65535)")
    return value


def parse_known(cls: type[ConfigT], argv: Sequence[str], section: str) -> ConfigT:
    """Parse `argv` for `cls` alone (used by tests and small entry points)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser, cls)
    return load(cls, parser.parse_args(list(argv)), os.environ, section)


@contextlib.contextmanager
def naming_listener(what: str, flag: str, host: str, port: int) -> Iterator[None]:
    """Turn a failure to listen into a `StartupError` naming the listener: "chat port 12345 on ... is in use"."""
    try:
        yield
    except OSError as exc:
        raise StartupError(_listen_problem(what, flag, host, port, exc)) from exc
    except BaseExceptionGroup as group:  # hypercorn binds inside a nursery of its own
        failed, rest = group.split(OSError)
        if failed is None or rest is not None:
            raise
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        assert isinstance(first, OSError)
        raise StartupError(_listen_problem(what, flag, host, port, first)) from group


def _listen_problem(what: str, flag: str, host: str, port: int, exc: OSError) -> str:
    if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)):
        return f"{what} port {port} on {host} is already in use (another server running? choose a port with {flag})"
    if exc.errno in (errno.EACCES, getattr(errno, "WSAEACCES", None)):
        return f"{what} port {port} on {host}: permission denied (a port below 1024 needs privileges; see {flag})"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"{what}: cannot listen on {host!r} port {port}: {exc.strerror or exc}"
    return f"{what}: cannot listen on {host} port {port}: {exc.strerror or exc}"
