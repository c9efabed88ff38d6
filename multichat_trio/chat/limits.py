"""Per-address connection rules, plain Python: how many at once and how many new ones per window.

`AddressBook` counts each address's connections and keeps a token bucket of new connections per
address (`max_connects` per `window` seconds, as ergo's `ip-limits` throttle). The clock is the
caller's; an address with no connection whose bucket has refilled is forgotten, so memory follows
the addresses seen recently, not every address ever seen. As ergo does, an IPv6 address counts by
its /64 (what one customer is usually given), so a host cannot dodge the limits by using many.
`LogEvery` keeps a repeated log line (a refusal) to one per interval, with the count it stands for.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: What a refused client is told (ERROR) when its address holds too many connections.
TOO_MANY = "Too many connections from your host"


@dataclass(slots=True)
class _Address:
    count: int
    tokens: float
    stamp: float


class AddressBook:
    def __init__(self, max_clients: int, max_connects: int, window: float, now: float) -> None:
        self.max_clients = max_clients  # 0: no limit
        self.max_connects = max_connects  # 0: no limit
        self.rate = max_connects / window if max_connects > 0 and window > 0 else 0.0
        self._addresses: dict[str, _Address] = {}
        self._next_sweep = now + self._sweep_every

    @property
    def _sweep_every(self) -> float:
        """As often as one connect token comes back: an address that connected once is soon forgotten."""
        return max(1.0, 1 / self.rate) if self.rate else 60.0

    def __len__(self) -> int:
        """Addresses remembered (connected now, or connected recently enough to be throttled)."""
        return len(self._addresses)

    def count(self, host: str) -> int:
        entry = self._addresses.get(_key(host))
        return entry.count if entry is not None else 0

    def check(self, host: str, now: float) -> str | None:
        """Why a new connection from `host` is refused, or None (and it spends one connect token)."""
        if now >= self._next_sweep:
            self._sweep(now)
        entry = self._entry(host, now)
        if self.max_clients and entry.count >= self.max_clients:
            return TOO_MANY
        if self.rate:
            if entry.tokens < 1:
                wait = max(1, round((1 - entry.tokens) / self.rate))
                return f"Too many new connections from your host: try again in {wait} seconds"
            entry.tokens -= 1
        return None

    def add(self, host: str, now: float) -> None:
        """A connection from `host` is open (whether or not `check` was asked)."""
        self._entry(host, now).count += 1

    def remove(self, host: str) -> None:
        entry = self._addresses.get(_key(host))
        if entry is not None and entry.count > 0:
            entry.count -= 1

    def refund(self, host: str, now: float) -> None:
        """Give back the connect token `check` spent (a relay's connection, counted by its user's address)."""
        entry = self._addresses.get(_key(host))
        if entry is not None and self.rate:
            self._refill(entry, now)
            entry.tokens = min(self.max_connects, entry.tokens + 1)

    def _entry(self, host: str, now: float) -> _Address:
        key = _key(host)
        entry = self._addresses.get(key)
        if entry is None:
            entry = self._addresses[key] = _Address(0, float(self.max_connects), now)
        else:
            self._refill(entry, now)
        return entry

    def _refill(self, entry: _Address, now: float) -> None:
        entry.tokens = min(self.max_connects, entry.tokens + (now - entry.stamp) * self.rate)
        entry.stamp = now

    def _sweep(self, now: float) -> None:
        """Forget addresses with no connection whose bucket is full again: they are as good as new."""
        for host, entry in list(self._addresses.items()):
            if entry.count == 0:
                self._refill(entry, now)
                if not self.rate or entry.tokens >= self.max_connects:
                    del self._addresses[host]
        self._next_sweep = now + self._sweep_every


def _key(host: str) -> str:
    """What an address counts as: itself, or for IPv6 its /64 (an IPv4-mapped one is IPv4)."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class LogEvery:
    """At most one log line per `interval` seconds for something that repeats (e.g. a refusal)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: float | None = None
        self._count = 0

    def note(self, now: float) -> int | None:
        """Count one occurrence; returns how many to report now (this one included), or None."""
        self._count += 1
        return self.due(now)

    def due(self, now: float) -> int | None:
        """How many occurrences to report now, if any wait and the interval has passed; else None."""
        if not self._count or (self._last is not None and now - self._last < self.interval):
            return None
        self._last, count, self._count = now, self._count, 0
        return count
