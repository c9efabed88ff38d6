"""When to try again after a dropped connection: pure, so the schedule is tested without waiting.

1 s, then doubling up to 60 s, each delay shortened by a random part (jitter, so many clients of a
restarted server do not come back in one wave); a session that stayed up 30 s resets it.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

FIRST = 1.0
LIMIT = 60.0
STEADY = 30.0  # seconds a session must stay up for the next drop to start again at FIRST
JITTER = 0.25  # up to this share of a delay is taken off at random


class Backoff:
    def __init__(
        self,
        *,
        first: float = FIRST,
        limit: float = LIMIT,
        steady: float = STEADY,
        jitter: float = JITTER,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.first, self.limit, self.steady, self.jitter = first, limit, steady, jitter
        self._random = random
        self._attempts = 0

    def next_delay(self, uptime: float) -> float:
        """Seconds to wait before the next attempt, after a session that stayed up `uptime` seconds
        (0 for an attempt that never got through)."""
        if uptime >= self.steady:
            self._attempts = 0
        base = min(self.limit, self.first * 2 ** min(self._attempts, 32))
        self._attempts += 1
        return base * (1 - self.jitter * self._random())

    def reset(self) -> None:
        self._attempts = 0
