"""Token bucket for flood control: `burst` commands at once, then `rate` per second."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def allow(self, now: float) -> bool:
        """Spend one token; False when the bucket is empty (the caller is flooding)."""
        if not self.enabled:
            return True
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
