"""Accounts as plain Python: who is registered (name, argon2 hash, certificate fingerprints), SASL
PLAIN payloads, and the failed-login limits.

The hub owns one `Accounts`; the store keeps them (schema 4) and the history writer takes what changed
(`take_changed`) with each commit, as it does channels. Events name accounts only: a password or a hash
never reaches the feed. Hashing and verifying are deferred (`Hub.defer`): argon2 is deliberate CPU work.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import OperEntry
from ..protocol import casefold
from . import opers

log = logging.getLogger(__name__)

#: The nickname of the account service: reserved, nobody can take it.
NICKSERV = "NickServ"
SERVICE_PREFIX = "NickServ!NickServ@services."
CHANSERV = "ChanServ"
CHANSERV_PREFIX = "ChanServ!ChanServ@services."
#: Casefolded nicknames nobody may take or register.
RESERVED = frozenset({"nickserv", "chanserv"})
#: Shortest password REGISTER and SET PASSWORD accept.
MIN_PASSWORD = 8
#: A SASL message is sent in chunks of this many bytes (base64); a full one means more follows.
SASL_CHUNK = 400
#: The whole decoded-from-base64 payload may not exceed this many bytes (905 past it).
SASL_MAX = 1200
#: Failed logins one connection may make before it is disconnected.
FAILS_PER_CONNECTION = 3
#: Failed logins one address, or one account, may collect in `FAIL_WINDOW` before attempts are refused unchecked.
FAILS_PER_WINDOW = 10
FAIL_WINDOW = 600.0
#: Seconds the client waits after its first failure, doubling with each of the window, up to `MAX_DELAY`.
BASE_DELAY = 1.0
MAX_DELAY = 16.0


@dataclass(slots=True)
class Account:
    name: str
    password_hash: str
    registered: float
    certfps: list[str] = field(default_factory=list)
    #: Flags such as "oper" (the monitor may take it as a login) kept as words.
    flags: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The row the store keeps (the hash included: the store is the server's own file, not the feed)."""
        return {
            "name": self.name,
            "password_hash": self.password_hash,
            "registered": self.registered,
            "certfps": list(self.certfps),
            "flags": list(self.flags),
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Account:
        name, password_hash, registered = data["name"], data["password_hash"], data["registered"]
        if not isinstance(name, str) or not isinstance(password_hash, str) or not isinstance(registered, int | float):
            raise TypeError("account row: name, hash and time must be text, text and a number")
        certfps = [fp for fp in data.get("certfps") or [] if isinstance(fp, str)]
        flags = [flag for flag in data.get("flags") or [] if isinstance(flag, str)]
        return cls(name, password_hash, float(registered), certfps, flags)


class Accounts:
    """Every registered account by casefolded name, and which changed since the writer last looked."""

    def __init__(self) -> None:
        self._by_key: dict[str, Account] = {}
        self._changed: dict[str, Account | None] = {}
        #: Told of every change made here (cluster mode writes it to the log), not of `put` or `restore`.
        self.on_change: Callable[[str, Account | None], None] | None = None

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, name: str) -> Account | None:
        return self._by_key.get(casefold(name))

    def by_certfp(self, certfp: str) -> Account | None:
        fp = certfp.lower()
        return next((account for account in self._by_key.values() if fp in account.certfps), None)

    def add(self, account: Account) -> None:
        self.put(account.name, account)
        self._told(account.name, account)

    def changed(self, account: Account) -> None:
        self._changed[casefold(account.name)] = account
        self._told(account.name, account)

    def drop(self, name: str) -> Account | None:
        account = self._by_key.get(casefold(name))
        if account is not None:
            self.put(name, None)
            self._told(name, None)
        return account

    def put(self, name: str, account: Account | None) -> None:
        """`name` is now `account` (None: gone), as another cluster node said: stored, not told back."""
        key = casefold(name)
        if account is None:
            self._by_key.pop(key, None)
        else:
            self._by_key[key] = account
        self._changed[key] = account

    def _told(self, name: str, account: Account | None) -> None:
        if self.on_change is not None:
            self.on_change(name, account)

    def restore(self, account: Account) -> None:
        """At startup, from the store: not a change to write back."""
        self._by_key[casefold(account.name)] = account

    def take_changed(self) -> dict[str, dict[str, Any] | None]:
        changed, self._changed = self._changed, {}
        return {key: account.snapshot() if account else None for key, account in changed.items()}


def operator_check(accounts: Accounts, entries: tuple[OperEntry, ...]) -> Callable[[str, str], bool]:
    """A `verify(name, password)` for the web monitor's login: an account some `[opers.NAME] account` names.

    It runs argon2 (blocking, about 0.15 s): call it on a worker thread.
    """
    tied = {casefold(entry.account) for entry in entries if entry.account}

    def verify(name: str, password: str) -> bool:
        account = accounts.find(name)
        return account is not None and casefold(name) in tied and opers.verify(account.password_hash, password)

    return verify


def restore_accounts(accounts: Accounts, rows: list[dict[str, Any]]) -> int:
    """Stored accounts back at startup (a malformed row is left out, with a warning); how many."""
    for row in rows:
        try:
            accounts.restore(Account.restore(row))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("history: stored account left out, malformed: %s", exc)
    return len(accounts)


def decode_plain(payload: bytes) -> tuple[str, str] | None:
    """SASL PLAIN's `authzid NUL authcid NUL password` (base64 already undone): (account, password), or None.

    An authorization identity other than the authentication one (logging in as someone else) is refused.
    """
    try:
        parts = payload.decode("utf-8").split("\0")
    except UnicodeDecodeError:
        return None
    if len(parts) != 3 or not parts[1] or not parts[2]:
        return None
    authzid, authcid, password = parts
    if authzid and casefold(authzid) != casefold(authcid):
        return None
    return authcid, password


def decode_chunk(text: str) -> bytes | None:
    """One AUTHENTICATE chunk's bytes (`+` is empty), or None if it is not base64."""
    if text == "+":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(slots=True)
class SaslState:
    """A SASL exchange in progress: the mechanism and the base64 text gathered so far."""

    mechanism: str
    buffer: str = ""


class LoginLimiter:
    """Failed logins counted per address and per account over a sliding window, to pace a guesser.

    Each failure makes the client wait (doubling with the failures its address or the account has had
    lately); past `FAILS_PER_WINDOW`, attempts are refused without checking until the window moves on.
    """

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - FAIL_WINDOW:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, address: str, account: str | None, now: float) -> bool:
        keys = [f"addr:{address}"] + ([f"acct:{casefold(account)}"] if account else [])
        return any(len(self._recent(key, now)) >= FAILS_PER_WINDOW for key in keys)

    def failed(self, address: str, account: str | None, now: float) -> float:
        """Count a failure; the delay (seconds) the client waits before its next line."""
        worst = 0
        for key in [f"addr:{address}"] + ([f"acct:{casefold(account)}"] if account else []):
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            worst = max(worst, len(times))
        if len(self._failures) > 10_000:  # bounded: forget the stalest keys first
            for key in list(self._failures)[: len(self._failures) - 10_000]:
                del self._failures[key]
        return min(BASE_DELAY * 2 ** (worst - 1), MAX_DELAY)
