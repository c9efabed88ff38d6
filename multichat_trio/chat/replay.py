"""Replaying a channel's recent messages to someone who joins it (sans-IO).

A client that negotiated `server-time` gets the original lines with their original time, inside an
IRCv3 `chathistory` batch when it negotiated `batch`; any other client gets them as server NOTICEs
with a time prefix (a `/me` reads `* alice waves`). Either way a replayed line is told apart from a
live one, and it is a message from the past: it never counts as a new message or triggers anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..protocol import LocalProtocolError, Message, format_message, is_valid_nick
from .events import iso_utc

ACTION = "\x01ACTION"


@dataclass(frozen=True, slots=True)
class ReplayLine:
    ts: float
    nick: str
    command: str  # PRIVMSG or NOTICE
    text: str
    msgid: str | None = None


def stored_line(ts: object, data: Mapping[str, Any]) -> ReplayLine | None:
    """The replay line of a stored `message` event, or None if it could not be replayed.

    The database is a file that a person may edit or an older version wrote: a row with a missing or
    mistyped field, a nick that is none, or a text that cannot be sent is not fit for a join.
    """
    nick, command, text = data.get("nick"), data.get("command"), data.get("text")
    if not isinstance(ts, int | float) or not isinstance(nick, str) or not isinstance(text, str) or not text:
        return None
    if command not in ("PRIVMSG", "NOTICE"):
        return None
    if not (is_valid_nick(nick) or is_valid_nick(nick, relayed=True)):
        return None
    try:
        format_message(Message(command, ("#", text), nick))
        datetime.fromtimestamp(ts, UTC)
    except (LocalProtocolError, ValueError, OverflowError, OSError):
        return None
    msgid = data.get("msgid")
    return ReplayLine(float(ts), nick, command, text, msgid if isinstance(msgid, str) and _is_msgid(msgid) else None)


def replay_messages(
    lines: Iterable[ReplayLine], channel: str, caps: Set[str], server_name: str, batch_ref: str
) -> list[Message]:
    """The messages that replay `lines` in `channel` to a client with `caps`."""
    lines = list(lines)
    if not lines:
        return []
    if "server-time" not in caps:
        return [
            Message(
                "NOTICE",
                (channel, f"[{datetime.fromtimestamp(line.ts, UTC):%Y-%m-%d %H:%M} UTC] {_said(line)}"),
                server_name,
            )
            for line in lines
        ]
    batched = "batch" in caps
    tagged = "message-tags" in caps
    out: list[Message] = []
    if batched:
        out.append(Message("BATCH", ("+" + batch_ref, "chathistory", channel), server_name))
    for line in lines:
        tags = {"time": iso_utc(line.ts)} | ({"batch": batch_ref} if batched else {})
        if tagged and line.msgid:
            tags["msgid"] = line.msgid
        out.append(Message(line.command, (channel, line.text), line.nick, tags))
    if batched:
        out.append(Message("BATCH", ("-" + batch_ref,), server_name))
    return out


def _is_msgid(text: str) -> bool:
    """A stored msgid fit for a tag value: short, printable, no space, `;` or backslash."""
    return 0 < len(text) <= 64 and text.isprintable() and not any(c in text for c in " ;\\")


def _said(line: ReplayLine) -> str:
    """`<alice> hello`, or `* alice waves` for a CTCP ACTION (`/me waves`)."""
    text = line.text
    if text.startswith(ACTION) and text[len(ACTION) : len(ACTION) + 1] in ("", " ", "\x01"):
        action = text[len(ACTION) :].removesuffix("\x01").strip(" ")
        return f"* {line.nick} {action}" if action else f"* {line.nick}"
    return f"<{line.nick}> {text}"
