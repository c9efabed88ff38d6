"""Replaying a channel's recent messages to someone who joins it (sans-IO).

A client that negotiated `server-time` gets the original lines with their original time, inside an
IRCv3 `chathistory` batch when it negotiated `batch`; any other client gets them as server NOTICEs
with a time prefix. Either way a replayed line is told apart from a live one, and it is a message
from the past: it never counts as a new message or triggers anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..protocol import Message
from .events import iso_utc


@dataclass(frozen=True, slots=True)
class ReplayLine:
    ts: float
    nick: str
    command: str  # PRIVMSG or NOTICE
    text: str


def replay_messages(
    lines: Iterable[ReplayLine], channel: str, caps: set[str], server_name: str, batch_ref: str
) -> list[Message]:
    """The messages that replay `lines` in `channel` to a client with `caps`."""
    lines = list(lines)
    if not lines:
        return []
    if "server-time" not in caps:
        return [
            Message(
                "NOTICE",
                (channel, f"[{datetime.fromtimestamp(line.ts, UTC):%Y-%m-%d %H:%M} UTC] <{line.nick}> {line.text}"),
                server_name,
            )
            for line in lines
        ]
    batched = "batch" in caps
    out: list[Message] = []
    if batched:
        out.append(Message("BATCH", ("+" + batch_ref, "chathistory", channel), server_name))
    for line in lines:
        tags = {"time": iso_utc(line.ts)} | ({"batch": batch_ref} if batched else {})
        out.append(Message(line.command, (channel, line.text), line.nick, tags))
    if batched:
        out.append(Message("BATCH", ("-" + batch_ref,), server_name))
    return out
