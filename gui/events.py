"""What a `ChatSession` tells its view: small frozen values, one per thing the user should see.

The session never touches Tk; it hands these to a `SessionListener`. The Tk app renders them and
the tests collect them, so the session is testable without a display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Registered:
    """The server accepted us (001): we are `nick` now."""

    nick: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection is over. `kind` names the cause, `text` says it in plain words.

    kinds: "refused" (could not connect), "nick_in_use", "bad_nick", "flood", "sendq", "ping",
    "shutdown", "closed" (other ERROR or end of stream), "quit" (we left).
    """

    kind: str
    text: str

    @property
    def can_reconnect(self) -> bool:
        return self.kind not in ("quit", "nick_in_use", "bad_nick")


@dataclass(frozen=True, slots=True)
class UsersChanged:
    """The member list of `channel` changed; `users` is the whole list, in a stable display order."""

    channel: str
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Membership:
    """Someone joined, parted, quit or changed nickname (a line for the history view).

    `action` is "join", "part", "quit" or "nick"; for "nick", `new_nick` is set. `channel` is
    empty for quit and nick (they concern every conversation with that person).
    """

    action: str
    nick: str
    channel: str = ""
    reason: str = ""
    new_nick: str = ""
    time: datetime | None = None
    own: bool = False


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A PRIVMSG or NOTICE in a channel (`private` False) or between us and `peer` (`private` True).

    `sender` wrote it; `own` is true when that is us. `history` marks lines the server replayed
    from before we joined (their server time precedes our JOIN).
    """

    target: str
    sender: str
    text: str
    time: datetime
    private: bool = False
    own: bool = False
    action: bool = False
    notice: bool = False
    history: bool = False

    @property
    def peer(self) -> str:
        """Whom a private conversation is with (the other side, whoever wrote the line)."""
        return self.target if self.own else self.sender


@dataclass(frozen=True, slots=True)
class NotDelivered:
    """The server refused a message to `target` (401: no such nick), with its words."""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class ServerNotice:
    """Something the server said that belongs in the room as a notice (MOTD, errors, topic...)."""

    text: str
    error: bool = False


SessionEvent = Registered | Disconnected | UsersChanged | Membership | ChatMessage | NotDelivered | ServerNotice


class SessionListener(Protocol):
    """The view side of a session: called on trio's thread (the Tk thread in guest mode)."""

    def session_event(self, event: SessionEvent) -> None: ...
