"""Server counters turned into the console stats line and the feed's `stats` event."""

from __future__ import annotations

from collections.abc import Callable

from .hub import Hub


class StatsMeter:
    def __init__(self, hub: Hub, clock: Callable[[], float]) -> None:
        self.hub = hub
        self.clock = clock
        self.started = clock()
        self._last_time = self.started
        self._last_total = 0
        self.rate = 0.0

    def sample(self) -> dict[str, float | int]:
        """Counters now, and the message rate since the previous sample (which this call resets)."""
        now = self.clock()
        total = self.hub.messages_total
        elapsed = now - self._last_time
        if elapsed > 0:
            self.rate = (total - self._last_total) / elapsed
        self._last_time, self._last_total = now, total
        return self.read()

    def read(self) -> dict[str, float | int]:
        """Counters now and the rate of the last sample, without starting a new rate window.

        For readers other than the stats printer (the HTTP API, /metrics): they must not reset the
        window the console line and the feed's `stats` events are measured over.
        """
        return {
            "clients": self.hub.user_count,
            "connections": len(self.hub.clients),
            "messages": self.hub.messages_total,
            "rate": round(self.rate, 2),
            "uptime": round(self.clock() - self.started, 1),
        }


def format_line(sample: dict[str, float | int], *, final: bool = False) -> str:
    label = "final stats" if final else "stats"
    return (
        f"{label}: {sample['clients']} clients connected, {sample['messages']} messages processed, "
        f"{sample['rate']:.1f} msg/s, uptime {_duration(float(sample['uptime']))}"
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
