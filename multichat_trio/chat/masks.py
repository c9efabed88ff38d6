"""`nick!user@host` masks with `*` and `?` wildcards, matched under the rfc1459 casemapping.

Shared by channel bans (`+b`/`+e`) and server bans: plain string functions, no state.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..protocol.names import casefold

#: The extban prefix of an account mask (`+b $a:troll`), as InspIRCd's `account` extban and ergo spell it.
ACCOUNT_EXTBAN = "$a:"


def normalize(mask: str) -> str:
    """`mask` in full `nick!user@host` form, casefolded: `bob` → `bob!*@*`, `*@h` → `*!*@h`, `b!u` → `b!u@*`.

    Empty parts become `*`, as ngircd, InspIRCd and ergo fill them, so one ban has one spelling.
    """
    mask = casefold(mask.strip())
    if mask.startswith(ACCOUNT_EXTBAN):  # `$a:name`: whoever is logged in to a matching account
        return mask if len(mask) > len(ACCOUNT_EXTBAN) else f"{ACCOUNT_EXTBAN}*"
    if "!" in mask:
        nick, _, rest = mask.partition("!")
        user, _, host = rest.partition("@")
    elif "@" in mask:
        nick = "*"
        user, _, host = mask.partition("@")
    elif "." in mask or ":" in mask:
        nick, user, host = "*", "*", mask
    else:
        nick, user, host = mask, "*", "*"
    return f"{nick or '*'}!{user or '*'}@{host or '*'}"


@lru_cache(maxsize=1024)
def _pattern(mask: str) -> re.Pattern[str]:
    """The compiled regular expression of a normalized mask (`*` any run, `?` one character)."""
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in mask)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def match(mask: str, prefix: str, account: str | None = None) -> bool:
    """True when `prefix` (`nick!user@host`) matches `mask`, which is normalized first; a `$a:` mask
    matches the `account` a client is logged in to instead (never one logged in to none)."""
    mask = normalize(mask)
    if mask.startswith(ACCOUNT_EXTBAN):
        return account is not None and _pattern(mask[len(ACCOUNT_EXTBAN) :]).match(casefold(account)) is not None
    return _pattern(mask).match(casefold(prefix)) is not None
