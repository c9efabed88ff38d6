"""REHASH and SIGHUP: read the settings again and apply what can change while everyone stays connected.

Plain Python apart from `read`, which runs on a worker thread (it reads files). A file that does
not load is refused as a whole; a setting that only a restart can change (a port, the database,
the server's name) is reported and left as it is; everything else takes effect at once, or for
the next connections where a connection took its value when it started (deadlines, the SendQ).
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..config import ServerConfig, StartupError
from ..protocol import Message
from . import opers
from .hub import Hub, _read_motd

if TYPE_CHECKING:
    from ..tls import LiveCertificate

log = logging.getLogger(__name__)

#: The settings a rehash applies; any other that differs needs a restart.
LIVE = (
    "motd",
    "password",
    "opers",
    "flood_rate",
    "flood_burst",
    "sendq",
    "max_clients_per_ip",
    "max_connects_per_ip",
    "connect_window",
    "max_channels_per_user",
    "max_channels",
    "ping_interval",
    "ping_timeout",
    "register_timeout",
    "store_pms",
    "log_level",
    "registration",
    "nick_protection_grace",
)


@dataclasses.dataclass(frozen=True)
class Loaded:
    config: ServerConfig
    motd: list[str] | None
    #: Each of the hub's certificates read again: a new context, or why the old one stays.
    certificates: tuple[ssl.SSLContext | str, ...] = ()


def read(reload: Callable[[], ServerConfig], certificates: Sequence[LiveCertificate] = ()) -> Loaded | str:
    """The settings as they are now, the MOTD file's lines and the TLS certificates; or why they cannot
    be used (worker thread)."""
    try:
        config = reload()
        if not isinstance(logging.getLevelName(config.log_level.upper()), int):
            raise ValueError(f"setting log_level: unknown level {config.log_level!r}")
        motd = _read_motd(config.motd)
    except (ValueError, OSError) as exc:
        return str(exc)
    return Loaded(config, motd, tuple(_load(certificate) for certificate in certificates))


def _load(certificate: LiveCertificate) -> ssl.SSLContext | str:
    try:
        return certificate.load()
    except StartupError as exc:
        return str(exc)


def apply(hub: Hub, loaded: Loaded | str) -> str:
    """Apply what `read` found to the hub; the one-line report says what changed, or why nothing did."""
    if isinstance(loaded, str):
        log.warning("rehash refused: %s", loaded)
        return f"Rehash refused, nothing changed: {loaded}"
    old, new = hub.config, loaded.config
    changed = [name for name in LIVE if getattr(new, name) != getattr(old, name)]
    restart = [
        f.name
        for f in dataclasses.fields(ServerConfig)
        if f.name not in LIVE
        and getattr(new, f.name) != getattr(old, f.name)
        and not (f.name in ("relay_secret", "monitor_token") and getattr(new, f.name) is None)  # files' at start
    ]
    if loaded.motd != hub.motd and "motd" not in changed:
        changed.append("motd")
    hub.config = dataclasses.replace(old, **{name: getattr(new, name) for name in changed if name != "motd"})
    if "motd" in changed:
        hub.config = dataclasses.replace(hub.config, motd=new.motd)
        hub.motd = loaded.motd
    book = hub.addresses
    book.max_clients, book.max_connects = new.max_clients_per_ip, new.max_connects_per_ip
    connects, window = new.max_connects_per_ip, new.connect_window
    book.rate = connects / window if connects > 0 and window > 0 else 0.0
    logging.getLogger("multichat_trio").setLevel(hub.config.log_level.upper())
    if "opers" in changed:
        _drop_removed_opers(hub)
    report = "Rehashed: " + (", ".join(changed) + " changed" if changed else "nothing changed")
    if restart:
        report += f"; {', '.join(restart)} need a restart (left as they are)"
    for certificate, result in zip(hub.certificates, loaded.certificates, strict=False):
        report += "; " + certificate.reloaded(result)
    log.info("%s", report)
    return report


def _drop_removed_opers(hub: Hub) -> None:
    """An operator whose entry is gone from the file is an operator no more."""
    for client in hub.clients:
        if client.oper is not None and opers.find(hub.config.opers, client.oper) is None:
            client.oper = None
            hub.send(client, Message("MODE", (client.nick, "-o"), client.prefix))
