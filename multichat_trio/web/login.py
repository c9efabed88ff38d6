"""Who may watch: the monitor's login rules (sessions, the token, failed-login limits), without I/O.

When the web side listens beyond loopback (or `--monitor-login always`), everything that carries the
chat (`/api/*`, `/metrics` and the feed's upgrade) needs a session: a cookie that `POST /api/login`
gives for the `--monitor-token` (or, through the `verify` hook, an account's name and password).
The page's own files carry no chat and stay public, so the page can show its login form.
Sessions live in memory (a restart logs everyone out), bounded in number and in age.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace

import trio

from .. import datadir
from ..config import ServerConfig
from ..secretfile import load_or_create

log = logging.getLogger(__name__)

#: The session cookie's name; the browser sends it to the page's port and the feed's alike (cookies ignore ports).
SESSION_COOKIE = "multichat_session"
#: Seconds a session lasts from its login.
SESSION_SECONDS = 12 * 3600.0
#: Sessions kept at once; a login beyond it ends the oldest.
MAX_SESSIONS = 1000
#: Failed logins one address may make per FAILURE_WINDOW seconds; then it waits for the window's end.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
#: Addresses whose failures are remembered at once (the oldest are forgotten first).
MAX_TRACKED = 4096
#: The token file's default name: placed beside the relay secret (see `datadir`).
TOKEN_FILE = "multichat-monitor.token"
#: `--monitor-login` values: `auto` asks for a login only when the web side listens beyond loopback.
MODES = ("auto", "always")

#: The hook for accounts: `verify(name, password)` is True for an account allowed to watch (blocking: run
#: in a worker thread, since an argon2 check takes about 0.15 s of CPU).
Verify = Callable[[str, str], bool]


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only ("" and wildcards reach every interface)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def login_required(config: ServerConfig) -> bool:
    return config.monitor_login == "always" or not is_loopback(config.web_host)


def token_for_server(config: ServerConfig) -> ServerConfig:
    """`config` with its monitor token when a login will be asked: the one set, or the token file's
    (written now with a random one if missing: a secret generated rather than absent)."""
    if config.monitor_token is not None or not login_required(config) or not config.web:
        return config
    if not config.monitor_token_file:
        log.warning("monitor login: no --monitor-token and no token file: only accounts can log in")
        return config
    path = datadir.own_file(config.monitor_token_file, TOKEN_FILE)
    token, created = load_or_create(path, what="monitor token")
    log.info("monitor login: the token is in %s%s", path, " (new)" if created else "")
    return replace(config, monitor_token=token)


def cookie_value(cookie_header: str | None, name: str = SESSION_COOKIE) -> str | None:
    """The value of cookie `name` in a `Cookie` header, if there is one."""
    for part in (cookie_header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


class MonitorLogin:
    """The sessions and failed-login counts of one monitor. `clock` is trio's by default (tests mock it)."""

    def __init__(
        self,
        *,
        required: bool,
        token: str | None,
        verify: Verify | None = None,
        secure: bool = False,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.required = required
        self.token = token
        self.verify = verify
        self.secure = secure
        self.clock = clock
        self._sessions: dict[str, float] = {}  # session id -> expiry, oldest first
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (count, window start), oldest first

    def allows(self, cookie_header: str | None) -> bool:
        """Whether a request with this `Cookie` header may see the chat."""
        if not self.required:
            return True
        session = cookie_value(cookie_header)
        expiry = self._sessions.get(session) if session else None
        if expiry is None:
            return False
        if expiry <= self.clock():
            del self._sessions[session]  # type: ignore[arg-type]
            return False
        return True

    def retry_after(self, address: str) -> float | None:
        """Seconds `address` must wait before it may try again, or None when it may try now."""
        entry = self._failures.get(address)
        if entry is None:
            return None
        count, start = entry
        left = start + FAILURE_WINDOW - self.clock()
        if left <= 0:
            del self._failures[address]
            return None
        return left if count >= MAX_FAILURES else None

    def check_token(self, password: str) -> bool:
        return self.token is not None and hmac.compare_digest(password.encode(), self.token.encode())

    def failed(self, address: str, name: str) -> None:
        """Count a failed login (the log says who tried, never the password)."""
        count, start = self._failures.pop(address, (0, self.clock()))
        self._failures[address] = (count + 1, start)
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]
        log.warning("monitor login failed from %s (%s)", address, f"account {name!r}" if name else "token")

    def open_session(self, address: str, name: str) -> str:
        """A new session; returns its `Set-Cookie` value."""
        self._failures.pop(address, None)
        now = self.clock()
        for session, expiry in list(self._sessions.items()):
            if expiry <= now:
                del self._sessions[session]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = secrets.token_urlsafe(32)
        self._sessions[session] = now + SESSION_SECONDS
        log.info("monitor login from %s (%s)", address, f"account {name!r}" if name else "token")
        return self._cookie(session, int(SESSION_SECONDS))

    def close_session(self, cookie_header: str | None) -> str:
        """End the session of this `Cookie` header, if any; returns the `Set-Cookie` value that clears it."""
        session = cookie_value(cookie_header)
        if session:
            self._sessions.pop(session, None)
        return self._cookie("", 0)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def _cookie(self, value: str, max_age: int) -> str:
        flags = "; Secure" if self.secure else ""
        return f"{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{flags}"
