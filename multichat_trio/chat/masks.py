"""`nick!user@host` masks with `*` and `?` wildcards, matched under the rfc1459 casemapping.

Shared by channel bans (`+b`/`+e`) and server bans: plain string functions, no state.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..protocol.names import casefold


def normalize(mask: str) -> str:
    """`mask` in full `nick!user@host` form, casefolded: `bob` → `bob!*@*`, `*@h` → `*!*@h`, `b!u` → `b!u@*`.

    Empty parts become `*`, as ngircd, InspIRCd and ergo fill them, so one ban has one spelling.
    """
    mask = casefold(mask.strip())
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


def match(mask: str, prefix: str) -> bool:
    """True when `prefix` (`nick!user@host`) matches `mask`, which is normalized first."""
    return _pattern(normalize(mask)).match(casefold(prefix)) is not None
