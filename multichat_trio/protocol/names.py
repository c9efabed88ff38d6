"""Nickname and channel-name rules, and RFC 1459 case mapping."""

from __future__ import annotations

import re

NICKLEN = 30
CHANNELLEN = 50
CHANTYPES = "#"
#: A nickname starting with this belongs to a user who came through a trusted relay.
RELAY_MARK = "*"

_RFC1459_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")
_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")
_CHANNEL_FORBIDDEN = re.compile(r"[\x00\x07\r\n ,:]")


def casefold(name: str) -> str:
    """Fold `name` under the `rfc1459` casemapping, so `Nick[1]` and `nick{1}` are one name.

    An ASCII name without `[]\\~` (nearly every one) takes `str.lower`, a quarter of `translate`'s time: this
    runs several times for every message. Other letters than ASCII's are never folded. A name that folds to
    itself comes back as the same string, so a key kept beside the name (the nick index's) costs nothing more.
    """
    if name.isascii():
        low = name.lower()
        if "[" in low or "]" in low or "\\" in low or "~" in low:
            low = low.translate(_RFC1459_LOWER)
    else:
        low = name.translate(_RFC1459_LOWER)
    return name if low == name else low


def is_valid_nick(nick: str, *, relayed: bool = False) -> bool:
    """True for an RFC 2812 nickname of at most NICKLEN characters.

    A relayed user's nickname is `*` followed by a valid nickname, within the same length.
    """
    if relayed:
        if not nick.startswith(RELAY_MARK):
            return False
        nick = nick[1:]
        return 0 < len(nick) < NICKLEN and bool(_NICK.match(nick))
    return 0 < len(nick) <= NICKLEN and bool(_NICK.match(nick))


def host_word(host: str) -> str:
    """`host` as it can stand alone as a parameter: an IPv6 address such as `::1` becomes `0::1`.

    A host is a middle parameter of WHO and WHOIS replies, where a leading ':' would start the
    trailing one (ngircd, InspIRCd and ergo prefix the same '0').
    """
    return "0" + host if host.startswith(":") else host


def is_channel_name(name: str) -> bool:
    """True for a `#channel` name we accept: at most CHANNELLEN characters, no space, comma or colon."""
    return 1 < len(name) <= CHANNELLEN and name[0] in CHANTYPES and not _CHANNEL_FORBIDDEN.search(name)
