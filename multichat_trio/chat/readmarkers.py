"""IRCv3 `draft/read-marker`, sans-IO: per account, the time of the last message read in each target.

A marker only moves forward, never past the present, and is the account's own: no other account
is ever told it. Each account keeps at most `MAX_TARGETS` markers; beyond, the oldest one (the
earliest read time) is dropped, the same rule the store applies (`HistoryStore`), so a client
cannot grow the state without limit. Times are whole milliseconds, as a `server-time` tag shows them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from ..protocol import Message, casefold

#: Markers one account keeps at most (targets: channels and nicks).
MAX_TARGETS = 1000
#: `timestamp=YYYY-MM-DDThh:mm:ss.sssZ`, exactly as the spec (and `server-time`) writes it.
_TIMESTAMP = re.compile(r"timestamp=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", re.ASCII)


def parse_timestamp(word: str) -> int | None:
    """Milliseconds since the epoch of a `timestamp=` parameter; None unless it is exactly that form and a real time."""
    found = _TIMESTAMP.fullmatch(word)
    if found is None:
        return None
    year, month, day, hour, minute, second, ms = (int(part) for part in found.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp()) * 1000 + ms


def format_timestamp(ms: int | None) -> str:
    """The parameter MARKREAD carries: `timestamp=...`, or `*` when there is no marker."""
    if ms is None:
        return "*"
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"timestamp={moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def markread_line(server_name: str, target: str, ms: int | None) -> Message:
    return Message("MARKREAD", (target, format_timestamp(ms)), server_name)


class ReadMarkers:
    """account key -> target key -> milliseconds (keys casefolded), each account bounded by `limit`."""

    def __init__(self, limit: int = MAX_TARGETS) -> None:
        self.limit = limit
        self._accounts: dict[str, dict[str, int]] = {}

    def get(self, account: str, target: str) -> int | None:
        return self._accounts.get(casefold(account), {}).get(casefold(target))

    def advance(self, account: str, target: str, ms: int) -> bool:
        """Move the marker to `ms` if that is later; True if it moved (and so must be stored and told)."""
        markers = self._accounts.setdefault(casefold(account), {})
        key = casefold(target)
        old = markers.get(key)
        if old is not None and ms <= old:
            return False
        markers[key] = ms
        if len(markers) > self.limit:
            del markers[min(markers, key=lambda name: (markers[name], name))]
        return True

    def forget(self, account: str) -> None:
        """An account dropped: its markers go with it."""
        self._accounts.pop(casefold(account), None)

    def restore(self, rows: Iterable[tuple[str, str, int]]) -> int:
        """Load stored (account, target, ms) rows at start; returns how many were kept."""
        kept = 0
        for account, target, ms in rows:
            kept += self.advance(account, target, ms)
        return kept
