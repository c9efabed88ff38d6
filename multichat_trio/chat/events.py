"""What happened in the chat, as JSON-ready events for the live feed and the history.

The hub creates them; where they are recorded (the history writer, or the feed when there is no
store) they get their id and time. PM events carry the two nicks only: the text of a private
message never leaves the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

EventType = Literal[
    "join",
    "leave",
    "message",
    "pm",
    "nick",
    "topic",
    "flood",
    "stats",
    "mode",
    "kick",
    "oper",
    "kill",
    "kline",
    "unkline",
    "forget",
    "account_register",
    "account_drop",
    "account_update",
    "login",
    "logout",
    "channel_register",
    "markread",
]


@dataclass(slots=True)
class Event:
    """Not frozen: where it is recorded, its `id` and `ts` are set in place (a copy of every stored message
    cost a microsecond of the trio thread's time). Nothing else changes one."""

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    id: int = 0  # 0 until recorded
    ts: float = 0.0  # unix time, 0.0 until recorded


#: The text fields each kind of event carries (a `leave` may also have a `channel`, None for all).
FIELDS: dict[str, tuple[str, ...]] = {
    "join": ("nick", "channel"),
    "leave": ("nick", "reason", "kind"),
    "message": ("nick", "channel", "text", "command"),
    "pm": ("from", "to"),
    "nick": ("old", "new"),
    "topic": ("nick", "channel", "topic"),
    "flood": ("nick", "host"),
    "oper": ("nick", "oper"),
    "kill": ("nick", "target", "reason"),
    "kline": ("nick", "mask", "reason"),
    "unkline": ("nick", "mask"),
    "forget": ("nick", "target"),
    "account_register": ("nick", "account"),
    "account_drop": ("nick", "account"),
    "account_update": ("nick", "account", "what"),
    "login": ("nick", "account", "how"),
    "logout": ("nick", "account"),
    "channel_register": ("nick", "channel"),
    "mode": ("nick", "channel", "modes"),
    "kick": ("nick", "channel", "target", "reason"),
    "markread": ("account", "target"),
}


def well_formed(kind: object, data: object, ts: object) -> bool:
    """True if a stored row makes an event the feed can show: a known shape, a usable time.

    The history database is a file a person may edit, or an older version wrote; a kind of event
    this version does not know passes if it has a type and data.
    """
    if not isinstance(kind, str) or not isinstance(data, dict) or not isinstance(ts, int | float):
        return False
    try:
        iso_utc(ts)
    except (ValueError, OverflowError, OSError):
        return False
    if kind == "leave" and not isinstance(data.get("channel"), str | None):
        return False
    return all(isinstance(data.get(key), str) for key in FIELDS.get(kind, ()))


def iso_utc(moment: float) -> str:
    """`2026-01-01T12:00:00.123Z`: ISO-8601, UTC, millisecond precision (also IRCv3 `server-time`)."""
    stamp = datetime.fromtimestamp(moment, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def join(nick: str, channel: str) -> Event:
    return Event("join", {"nick": nick, "channel": channel})


def leave(nick: str, channel: str | None, reason: str, kind: str) -> Event:
    """`kind` is part, quit, flood, sendq, ping, shutdown or error; `channel` None means all."""
    return Event("leave", {"nick": nick, "channel": channel, "reason": reason, "kind": kind})


def message(nick: str, channel: str, text: str, command: str, msgid: str | None = None, ts: float = 0.0) -> Event:
    """`msgid` (IRCv3 message-ids) is stored with the message, so it stays the same after a restart."""
    data = {"nick": nick, "channel": channel, "text": text, "command": command}
    if msgid:
        data["msgid"] = msgid
    return Event("message", data, ts=ts)


def private_message(
    sender: str,
    recipient: str,
    text: str | None = None,
    msgid: str | None = None,
    accounts: tuple[str | None, str | None] = (None, None),
    ts: float = 0.0,
) -> Event:
    """The text is included only for the store (`--store-pms`); the feed always drops it, and the two
    parties' accounts (None: not logged in), which decide who may read the PM back (CHATHISTORY)."""
    data = {"from": sender, "to": recipient, "from_account": accounts[0], "to_account": accounts[1]}
    data |= {"text": text} if text is not None else {}
    return Event("pm", data | ({"msgid": msgid} if msgid else {}), ts=ts)


def nick_change(old: str, new: str) -> Event:
    return Event("nick", {"old": old, "new": new})


def topic(nick: str, channel: str, text: str) -> Event:
    return Event("topic", {"nick": nick, "channel": channel, "topic": text})


def flood(nick: str, host: str) -> Event:
    return Event("flood", {"nick": nick, "host": host})


def mode(nick: str, channel: str, modes: str, args: list[str]) -> Event:
    """Channel modes changed: `modes` as `+o-b`, `args` their parameters in order (a key shows as `*`)."""
    return Event("mode", {"nick": nick, "channel": channel, "modes": modes, "args": args})


def kick(nick: str, channel: str, target: str, reason: str) -> Event:
    return Event("kick", {"nick": nick, "channel": channel, "target": target, "reason": reason})


def oper(nick: str, name: str) -> Event:
    """`nick` logged in as server operator `name` (OPER)."""
    return Event("oper", {"nick": nick, "oper": name})


def kill(nick: str, target: str, reason: str) -> Event:
    return Event("kill", {"nick": nick, "target": target, "reason": reason})


def kline(nick: str, mask: str, reason: str, set_at: float, expires: float) -> Event:
    """A server ban set by operator `nick`; `expires` 0 is until UNKLINE. The store keeps it as state too."""
    return Event("kline", {"nick": nick, "mask": mask, "reason": reason, "set_at": set_at, "expires": expires})


def unkline(nick: str, mask: str) -> Event:
    return Event("unkline", {"nick": nick, "mask": mask})


def forget(nick: str, target: str, since: float, removed: int) -> Event:
    """Operator `nick` removed `target`'s messages since `since` (unix time; 0: all) from the history and replay."""
    return Event("forget", {"nick": nick, "target": target, "since": since, "removed": removed})


def markread(account: str, target: str, ms: int) -> Event:
    """`account` read `target` (casefolded) up to `ms` (IRCv3 read-marker): kept by the store, never shown."""
    return Event("markread", {"account": account, "target": target, "ms": ms})


def account(kind: EventType, nick: str, name: str, **extra: str) -> Event:
    """An account event (register, drop, update, login, logout): names only, never a password or hash."""
    return Event(kind, {"nick": nick, "account": name, **extra})
