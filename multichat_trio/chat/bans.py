"""Server bans (K-lines): `nick!user@host` masks or IP addresses and CIDR ranges, with an optional expiry.

Plain Python: the hub owns one `BanList`; KLINE/UNKLINE change it through the hub's events (which
the history store keeps in its `server_bans` table), and registration asks it about every newcomer.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from . import masks

#: `30s`, `10m`, `2h`, `1d`, `1w`, or several of them (`1h30m`): the optional duration of a ban.
_DURATION = re.compile(r"(?:\d+[smhdw])+\Z", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: A ban mask is at most this long (a mask is one word of one IRC line).
MASK_LEN = 200


@dataclass(frozen=True, slots=True)
class ServerBan:
    #: A normalized `nick!user@host` mask, or an IP network in its canonical form (`10.0.0.0/8`, `1.2.3.4`).
    mask: str
    reason: str
    set_by: str
    set_at: float
    #: Unix time it ends, or 0 for a ban that lasts until UNKLINE.
    expires: float = 0.0

    def active(self, now: float) -> bool:
        return not self.expires or now < self.expires

    @classmethod
    def from_row(cls, row: object) -> ServerBan | None:
        """A ban from its stored fields `(mask, reason, set_by, set_at, expires)` (the history store's row, a
        cluster snapshot's list), or None for one a person edited into no ban (a mask in no canonical form)."""
        if not isinstance(row, tuple | list) or len(row) != 5:
            return None
        mask, reason, set_by, set_at, expires = row
        texts = isinstance(mask, str) and isinstance(reason, str) and isinstance(set_by, str)
        if not texts or parse_mask(mask) != mask or not all(isinstance(t, int | float) for t in (set_at, expires)):
            return None
        return cls(mask, reason, set_by, set_at, expires)

    def matches(self, host: str, prefix: str) -> bool:
        """True if a client at `host` known as `prefix` (`nick!user@host`) falls under this ban."""
        network = _network(self.mask)
        if network is None:
            return masks.match(self.mask, prefix)
        address = ip_of(host)
        return address is not None and address.version == network.version and address in network


def parse_duration(text: str) -> float | None:
    """Seconds in `text` (`1h30m`), or None when it is not a duration."""
    if not _DURATION.match(text):
        return None
    return float(sum(int(n) * _UNIT[unit.lower()] for n, unit in re.findall(r"(\d+)([smhdwSMHDW])", text)))


def format_duration(seconds: float) -> str:
    """`1d2h`, `45m`, `10s`: the largest units first, for notices and listings."""
    left, out = int(seconds), []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out.append(f"{left // size}{unit}")
            left %= size
    return "".join(out) or "0s"


def parse_mask(text: str) -> str | None:
    """The canonical form of a ban target: an IP network, or a normalized `nick!user@host` mask; None if neither.

    A target that would match everyone (`*`, `*!*@*`, `0.0.0.0/0`) is refused too: that is a shutdown, not a ban.
    """
    if not text or len(text) > MASK_LEN or any(ch in text for ch in " ,\r\n\0") or text.startswith(":"):
        return None
    network = _network(text)
    if network is not None:
        if network.prefixlen == 0:
            return None
        return str(network.network_address) if network.num_addresses == 1 else str(network)
    if "/" in text and "@" not in text and "!" not in text:
        return None  # looks like a CIDR range, but is not one
    mask = masks.normalize(text)
    if mask.startswith(masks.ACCOUNT_EXTBAN):
        return None  # server bans are checked before a login: an account ban is a channel's (+b $a:name)
    return None if set(mask) <= set("*!@?") else mask


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a client's host word stands for (an IPv4-mapped IPv6 one as IPv4), or None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class BanList:
    """The server's bans by mask; expired ones are dropped whenever they are looked at."""

    def __init__(self) -> None:
        self._bans: dict[str, ServerBan] = {}

    def add(self, ban: ServerBan) -> None:
        self._bans[ban.mask] = ban

    def remove(self, mask: str) -> ServerBan | None:
        return self._bans.pop(mask, None)

    def find(self, host: str, prefix: str, now: float) -> ServerBan | None:
        """The first active ban matching a client, or None."""
        for ban in self.active(now):
            if ban.matches(host, prefix):
                return ban
        return None

    def active(self, now: float) -> list[ServerBan]:
        """The bans in force, oldest first (forgetting those that ended)."""
        for mask in [mask for mask, ban in self._bans.items() if not ban.active(now)]:
            del self._bans[mask]
        return sorted(self._bans.values(), key=lambda ban: ban.set_at)

    def __len__(self) -> int:
        return len(self._bans)
