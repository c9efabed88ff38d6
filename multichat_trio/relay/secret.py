"""The relay secret: what a relay proves itself with in `WEBIRC`, generated rather than absent.

`serve` with no `relay_secret` set reads the secret file, or writes a new random one there (readable
by its owner only); `relay` with none set reads the same file, so a relay on the same machine works
with no setup, and nothing else can pose as one. The default file goes where the default database
goes: the current directory if writable, else the data directory (`datadir`), where the relay looks
when it is not in its current directory. A relay on another machine is given the secret
(`--relay-secret`, `MULTICHAT_RELAY_SECRET`, or a copy of the file).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from .. import datadir
from ..config import RelayConfig, ServerConfig
from ..secretfile import SecretError, load_or_create, read_secret

log = logging.getLogger(__name__)

#: The secret file's default name: placed beside the default history database (see `datadir`).
FILE_NAME = "multichat-relay.secret"


def for_server(config: ServerConfig) -> ServerConfig:
    """`config` with its relay secret: the one set, or the secret file's (written now if missing).

    An empty `relay_secret_file` with no secret set means no relay is trusted at all.
    """
    if config.relay_secret is not None or not config.relay_secret_file:
        return config
    path = datadir.own_file(config.relay_secret_file, FILE_NAME)
    secret, created = load_or_create(path)
    if created:
        log.info("relay secret: wrote a new one to %s (a relay started here reads it from there)", path)
    return replace(config, relay_secret=secret)


def for_relay(config: RelayConfig) -> RelayConfig:
    """`config` with its relay secret: the one set, or the one `serve` wrote to the secret file."""
    if config.relay_secret is not None:
        return config
    path = datadir.find(FILE_NAME) if config.relay_secret_file == FILE_NAME else Path(config.relay_secret_file)
    try:
        secret = read_secret(path)
    except FileNotFoundError:
        raise SecretError(
            f"no relay secret: {str(path)!r} does not exist. Start `multichat-trio serve` here first (it writes"
            " that file), or give the relay the server's secret (--relay-secret or MULTICHAT_RELAY_SECRET)"
        ) from None
    return replace(config, relay_secret=secret)
