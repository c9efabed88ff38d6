"""The live feed: numbers and timestamps the hub's events (unless the store did), remembers recent ones, fans them out.

The hub publishes each batch of events once into a bounded memory channel; `Feed.run` (the
broadcaster) stamps every event with the next id and an ISO-8601 UTC time, encodes it to JSON once,
and copies the batch into one bounded channel per viewer with `send_nowait`. A viewer whose channel
or byte budget is full is dropped (it reconnects and catches up from a snapshot): the broadcaster
never waits for a viewer, so a slow viewer never slows the chat or the other viewers.

A new viewer gets a snapshot (users online, recent events, stats and the message-rate history)
built in the same synchronous step that registers its channel, so snapshot then live has neither a
gap nor a duplicate: the first live event's id is the snapshot's id plus one.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from ..chat import modes
from ..chat.events import Event, iso_utc
from ..protocol import casefold

#: Batches a viewer may have queued before it counts as fallen behind.
VIEWER_BATCHES = 256
#: Bytes of encoded events a viewer may have queued before it counts as fallen behind.
VIEWER_BYTES = 1 << 20
#: Seconds of per-second message counts kept for the rate chart.
RATE_WINDOW = 300
#: Seconds the "messages per second" figure averages over.
RATE_AVERAGE = 10

#: Close codes (RFC 6455): the viewer fell behind / the server is going away / no room.
CLOSE_TOO_SLOW = 1008
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_LATER = 1013

#: The only fields a `pm` event may carry: the text of a private message never leaves the server.
PM_FIELDS = ("from", "to")
#: Events a viewer never sees: an account's read markers are its own (IRCv3 read-marker says never tell others).
UNSHOWN = frozenset({"markread"})
#: Fields holding a user's address (a `flood` event's, a server ban's mask): left out unless `--monitor-show-hosts`.
HOST_FIELDS = frozenset({"host", "mask"})


def _hide_mask_hosts(modestring: str, args: list[Any]) -> list[Any]:
    """A mode event's parameters with the host of each +b/+e mask shown as `*`: addresses stay private."""
    letters = modes.param_letters(modestring)
    return [
        arg.partition("@")[0] + "@*" if letter in modes.LIST_MODES and isinstance(arg, str) and "@" in arg else arg
        for letter, arg in zip(letters + [""] * len(args), args, strict=False)
    ]


def encode(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class FeedUnavailable(Exception):
    """A viewer cannot subscribe: the feed is full or shut down. Carries the close code to use."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(eq=False)
class Viewer:
    """One subscriber: its bounded channel of encoded batches and, once dropped, why."""

    batches: trio.MemoryReceiveChannel[tuple[str, ...]]
    _send: trio.MemorySendChannel[tuple[str, ...]]
    queued_bytes: int = 0
    close_code: int | None = None
    close_reason: str = ""
    ended: trio.Event = field(default_factory=trio.Event)

    def sent(self, batch: tuple[str, ...]) -> None:
        """The viewer's sender calls this once a batch is on the wire, to free its byte budget."""
        self.queued_bytes -= sum(len(text) for text in batch)

    def end(self, code: int, reason: str) -> None:
        """Stop this viewer: its channel closes, and its WebSocket is to be closed with `code`."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._send.close()
            self.ended.set()


class Feed:
    """The broadcaster and its state: last id, recent events, users online, message-rate history."""

    def __init__(
        self,
        *,
        backlog: int = 200,
        max_viewers: int = 100,
        viewer_batches: int = VIEWER_BATCHES,
        viewer_bytes: int = VIEWER_BYTES,
        show_hosts: bool = False,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.max_viewers = max_viewers
        self.show_hosts = show_hosts
        self.viewer_batches = viewer_batches
        self.viewer_bytes = viewer_bytes
        self.wallclock = wallclock
        self.last_id = 0
        self.messages = 0  # message + pm events seen: the hub's messages_total, as the feed knows it
        self.dropped = 0  # viewers disconnected for falling behind
        self.forgotten_id = 0  # the newest id that fell out of the recent-events ring
        self.stats: dict[str, Any] = {}
        self._recent: deque[dict[str, Any]] = deque(maxlen=max(backlog, 0))
        self._users: dict[str, dict[str, None]] = {}  # nick -> its channels, in join order
        self._rates: deque[list[int]] = deque()  # [epoch second, messages in it], oldest first
        self._viewers: set[Viewer] = set()
        self._closed: tuple[int, str] | None = None
        self._no_viewers = trio.Event()
        self._no_viewers.set()

    # --- the broadcaster ----------------------------------------------------------------------

    async def run(self, events: trio.MemoryReceiveChannel[list[Event]]) -> None:
        """Publish every batch from the hub until its channel closes, then close every viewer."""
        try:
            async with events:
                async for batch in events:
                    self.publish(batch)
        finally:
            self.close(CLOSE_GOING_AWAY, "server shutting down")

    def publish(self, batch: list[Event]) -> None:
        """Stamp, remember and fan out one hub call's events; never blocks."""
        now = self.wallclock()
        encoded: list[str] = []
        for event in batch:
            if event.type in UNSHOWN:  # the store gives them no id, so the others' ids still go up by one
                continue
            self.last_id = event.id or self.last_id + 1  # the history store numbers them, if there is one
            record = self._record(event, self.last_id, iso_utc(event.ts or now))
            self._apply(record, now)
            encoded.append(encode(record))
        if encoded:
            self._fan_out(tuple(encoded))

    def restore(self, stored: list[Event]) -> None:
        """Start from the recent past kept by the history store: recent events and the last id.

        Nobody is online after a restart, so the users list is not rebuilt from them.
        """
        for event in stored:
            if event.type != "stats":
                self._recent.append(self._record(event, event.id, iso_utc(event.ts)))
            self.last_id = max(self.last_id, event.id)
        if self._recent:
            self.forgotten_id = self._recent[0]["id"] - 1

    def seed_users(self, users: dict[str, list[str]]) -> None:
        """Who is online already when this server starts: in cluster mode, the other nodes' users."""
        for nick, channels in users.items():
            self._users.setdefault(nick, {}).update(dict.fromkeys(channels))

    def _record(self, event: Event, event_id: int, stamp: str) -> dict[str, Any]:
        data = event.data
        if event.type == "pm":
            data = {key: data[key] for key in PM_FIELDS if key in data}
        record: dict[str, Any] = {"type": event.type, "id": event_id, "ts": stamp}
        hidden = record.keys() if self.show_hosts else record.keys() | HOST_FIELDS
        record.update((key, value) for key, value in data.items() if key not in hidden)
        if event.type == "mode" and not self.show_hosts and isinstance(data.get("args"), list):
            record["args"] = _hide_mask_hosts(str(data.get("modes", "")), data["args"])
        return record

    def _apply(self, record: dict[str, Any], now: float) -> None:
        """Keep the users list, counters and recent events in step with one event."""
        kind = record["type"]
        if kind == "stats":
            self.stats = {key: value for key, value in record.items() if key not in ("type", "id", "ts")}
            return  # stats are summarised by `snapshot.stats`, not kept as recent events
        if len(self._recent) == self._recent.maxlen:
            self.forgotten_id = self._recent[0]["id"] if self._recent else record["id"]
        self._recent.append(record)
        if kind in ("message", "pm"):
            self.messages += 1
            self._count_message(int(now))
        elif kind == "join":
            self._users.setdefault(record["nick"], {})[record["channel"]] = None
        elif kind == "leave":
            if record.get("channel") is None:
                self._users.pop(record["nick"], None)
            else:
                self._users.get(record["nick"], {}).pop(record["channel"], None)
        elif kind == "kick":
            self._users.get(record["target"], {}).pop(record["channel"], None)
        elif kind == "nick":
            channels = self._users.pop(record["old"], None)
            if channels is not None:
                self._users[record["new"]] = channels
        elif kind == "forget":
            self._drop_messages(record)

    def _drop_messages(self, forget: dict[str, Any]) -> None:
        """HISTSERV FORGET: the target's messages leave the recent events, so new viewers do not see them."""
        target, since = casefold(str(forget.get("target", ""))), forget.get("since") or 0
        after = iso_utc(since) if isinstance(since, int | float) and since > 0 else ""  # ISO times sort as text
        kept = [
            record
            for record in self._recent
            if record["type"] != "message" or casefold(str(record.get("nick", ""))) != target or record["ts"] < after
        ]
        self._recent.clear()
        self._recent.extend(kept)

    def _count_message(self, second: int) -> None:
        rates = self._rates
        if rates and rates[-1][0] == second:
            rates[-1][1] += 1
        else:
            rates.append([second, 1])
        while rates and rates[0][0] <= second - RATE_WINDOW:
            rates.popleft()

    def _fan_out(self, batch: tuple[str, ...]) -> None:
        size = sum(len(text) for text in batch)
        for viewer in list(self._viewers):
            if viewer.queued_bytes + size > self.viewer_bytes:
                self._drop(viewer, f"too slow: over {self.viewer_bytes} bytes of events waiting")
                continue
            try:
                viewer._send.send_nowait(batch)
            except trio.WouldBlock:
                self._drop(viewer, f"too slow: over {self.viewer_batches} batches of events waiting")
            except trio.ClosedResourceError:
                self._forget(viewer)  # ended by its own side (it sent something, or went away)
            else:
                viewer.queued_bytes += size

    def _drop(self, viewer: Viewer, reason: str) -> None:
        self.dropped += 1
        self._forget(viewer)
        viewer.end(CLOSE_TOO_SLOW, reason + "; reconnect to catch up")

    # --- viewers ------------------------------------------------------------------------------

    def subscribe(self) -> tuple[Viewer, str]:
        """Register a viewer; returns it and its encoded snapshot. Pair with `unsubscribe`."""
        if self._closed is not None:
            raise FeedUnavailable(*self._closed)
        if len(self._viewers) >= self.max_viewers:
            raise FeedUnavailable(CLOSE_TRY_LATER, f"too many viewers ({self.max_viewers}); try again later")
        send, receive = trio.open_memory_channel[tuple[str, ...]](self.viewer_batches)
        viewer = Viewer(receive, send)
        # No await between the snapshot and the registration: nothing can slip in between.
        snapshot = encode(self.snapshot())
        self._viewers.add(viewer)
        if self._no_viewers.is_set():
            self._no_viewers = trio.Event()
        return viewer, snapshot

    def unsubscribe(self, viewer: Viewer) -> None:
        self._forget(viewer)
        viewer.end(CLOSE_GOING_AWAY, "viewer gone")
        viewer.batches.close()

    def _forget(self, viewer: Viewer) -> None:
        self._viewers.discard(viewer)
        if not self._viewers:
            self._no_viewers.set()

    def close(self, code: int, reason: str) -> None:
        """End every viewer (each closes its WebSocket with `code`) and refuse new ones."""
        if self._closed is None:
            self._closed = (code, reason)
        for viewer in list(self._viewers):
            viewer.end(code, reason)

    async def wait_no_viewers(self) -> None:
        await self._no_viewers.wait()

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    # --- reads (snapshot, HTTP API) -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "id": self.last_id,
            "ts": iso_utc(self.wallclock()),
            "users": self.users(),
            "events": list(self._recent),
            "forgotten_id": self.forgotten_id,
            "stats": self.live_stats(),
            "rates": [list(pair) for pair in self._rates],
            "rate_window": RATE_WINDOW,
        }

    def users(self) -> list[dict[str, Any]]:
        """Who is online, as the feed has seen it (joins, leaves, nick changes), sorted by nick."""
        return [
            {"nick": nick, "channels": list(channels)}
            for nick, channels in sorted(self._users.items(), key=lambda item: item[0].casefold())
        ]

    def events_after(self, after: int, limit: int | None = None) -> list[dict[str, Any]]:
        """Recent events (stats excluded) with an id greater than `after`, oldest first."""
        found = [record for record in self._recent if record["id"] > after]
        return found[:limit] if limit is not None else found

    def rate(self) -> float:
        """Messages per second over the last RATE_AVERAGE seconds."""
        since = int(self.wallclock()) - RATE_AVERAGE
        return round(sum(count for second, count in self._rates if second > since) / RATE_AVERAGE, 2)

    def live_stats(self) -> dict[str, Any]:
        """The last server `stats` event, brought up to date with what the feed counted since."""
        return self.stats | {
            "clients": len(self._users),
            "messages": self.messages,
            "rate": self.rate(),
            "viewers": len(self._viewers),
        }
