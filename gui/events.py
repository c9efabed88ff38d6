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

    kinds: "refused" (could not connect), "tls" (the TLS handshake failed), "login" (SASL refused
    the password), "nick_in_use", "bad_nick", "flood", "sendq", "ping", "shutdown", "closed" (other
    ERROR or end of stream), "quit" (we left).
    """

    kind: str
    text: str

    @property
    def can_reconnect(self) -> bool:
        return self.kind not in ("quit", "nick_in_use", "bad_nick", "login", "tls")


@dataclass(frozen=True, slots=True)
class Member:
    """A channel member: `prefixes` are their status marks, highest first (`@+` with multi-prefix)."""

    nick: str
    prefixes: str = ""

    @property
    def label(self) -> str:
        """What a member list shows: the highest mark and the nick (`@alice`)."""
        return self.prefixes[:1] + self.nick


@dataclass(frozen=True, slots=True)
class UsersChanged:
    """The member list of `channel` changed; `users` is the whole list of nicks, sorted by name;
    `members` the same people with their prefixes, operators first, then voiced, then the rest."""

    channel: str
    users: tuple[str, ...]
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class Membership:
    """Someone joined, parted, was kicked, quit or changed nickname (a line for the history view).

    `action` is "join", "part", "kick", "quit" or "nick"; for "nick", `new_nick` is set; for
    "kick", `nick` is who was kicked and `by` who did it. `channel` is empty for quit and nick
    (they concern every conversation with that person). `own` with join, part or kick: our own
    membership of `channel` began or ended, so the view opens or closes its conversation.
    """

    action: str
    nick: str
    channel: str = ""
    reason: str = ""
    new_nick: str = ""
    time: datetime | None = None
    own: bool = False
    by: str = ""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A PRIVMSG or NOTICE in a channel (`private` False) or between us and `peer` (`private` True).

    `sender` wrote it; `own` is true when that is us. `history` marks lines from before we joined:
    a CHATHISTORY answer, or a replay (their server time precedes our JOIN); not the lines a
    reconnect's catch-up brings, which were missed and are news. `msgid` is the
    server's id for the line (IRCv3 message-tags), "" when it gave none.
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
    msgid: str = ""

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
    """Something the server (or the app: /help) said, as a notice: MOTD, errors, replies.

    `target` is the conversation it concerns (a channel named in a numeric, the window a command
    was typed in), "" for the server's own conversation.
    """

    text: str
    error: bool = False
    target: str = ""


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """The topic of `channel` (332 on join, or a TOPIC change by `setter`); "" when cleared."""

    channel: str
    topic: str
    setter: str = ""
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelRow:
    name: str
    users: int
    topic: str


@dataclass(frozen=True, slots=True)
class ChannelList:
    """A LIST answer, whole (322 rows up to 323), for the channel browser."""

    rows: tuple[ChannelRow, ...]


@dataclass(frozen=True, slots=True)
class WhoisReply:
    """A WHOIS answer (311 ... 318) as the lines to show, in plain words; `where` is the
    conversation the /whois was typed in ("" when unknown)."""

    nick: str
    lines: tuple[str, ...]
    where: str = ""


@dataclass(frozen=True, slots=True)
class AwayChanged:
    """`nick` went away (`message` set) or came back (""); `own` for us (305/306)."""

    nick: str
    message: str
    own: bool = False


@dataclass(frozen=True, slots=True)
class OperChanged:
    """We are a server operator now (381)."""

    text: str


@dataclass(frozen=True, slots=True)
class ConversationOpened:
    """`/query nick`: the view opens (or raises) the private conversation with `name`."""

    name: str


SessionEvent = (
    Registered
    | Disconnected
    | UsersChanged
    | Membership
    | ChatMessage
    | NotDelivered
    | ServerNotice
    | TopicChanged
    | ChannelList
    | WhoisReply
    | AwayChanged
    | OperChanged
    | ConversationOpened
)


class SessionListener(Protocol):
    """The view side of a session: called on trio's thread (the Tk thread in guest mode)."""

    def session_event(self, event: SessionEvent) -> None: ...
