"""What happened in the chat, as JSON-ready events for the live feed and the history.

The hub creates them; the feed gives them ids and timestamps. PM events carry the two nicks only:
the text of a private message never leaves the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventType = Literal["join", "leave", "message", "pm", "nick", "topic", "flood", "stats"]


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)


def join(nick: str, channel: str) -> Event:
    return Event("join", {"nick": nick, "channel": channel})


def leave(nick: str, channel: str | None, reason: str, kind: str) -> Event:
    """`kind` is part, quit, flood, sendq, ping, shutdown or error; `channel` None means all."""
    return Event("leave", {"nick": nick, "channel": channel, "reason": reason, "kind": kind})


def message(nick: str, channel: str, text: str, command: str) -> Event:
    return Event("message", {"nick": nick, "channel": channel, "text": text, "command": command})


def private_message(sender: str, recipient: str) -> Event:
    return Event("pm", {"from": sender, "to": recipient})


def nick_change(old: str, new: str) -> Event:
    return Event("nick", {"old": old, "new": new})


def topic(nick: str, channel: str, text: str) -> Event:
    return Event("topic", {"nick": nick, "channel": channel, "topic": text})


def flood(nick: str, host: str) -> Event:
    return Event("flood", {"nick": nick, "host": host})
