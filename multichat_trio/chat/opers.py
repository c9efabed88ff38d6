"""Server operators: who may log in from where, and their argon2 password hashes.

Verifying an argon2 hash is deliberate CPU work (about 150 ms with the default parameters here), so
the OPER handler defers it (`Hub.defer`): the connection runs it on a worker thread, one check at a
time for the whole server, and the hub never waits on it.
"""

from __future__ import annotations

import ipaddress
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..config import OperEntry
from ..protocol import casefold
from .bans import ip_of

_HASHER = PasswordHasher()


def hash_password(password: str, hasher: PasswordHasher = _HASHER) -> str:
    """The argon2id hash (with its salt and parameters) that goes in `[opers.NAME] password`."""
    return hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True if `password` is the one hashed; a malformed hash is a failed check, never an exception."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find(entries: tuple[OperEntry, ...], name: str) -> OperEntry | None:
    return next((entry for entry in entries if entry.name == name), None)


def host_allowed(entry: OperEntry, host: str) -> bool:
    """True if `host` (the client's address or host word) may log in as `entry`; no `hosts` means any."""
    return not entry.hosts or any(_host_matches(pattern, host) for pattern in entry.hosts)


def _host_matches(pattern: str, host: str) -> bool:
    try:
        network = ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        glob = "".join("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in casefold(pattern))
        return re.fullmatch(glob, casefold(host), re.DOTALL) is not None
    address = ip_of(host)
    return address is not None and address.version == network.version and address in network
