"""The conversations a user sees, as plain Python: no Tk, no trio.

`ChatModel.apply` takes each session event and updates the conversations it concerns (the
channels, the private ones, the server's), keyed by casefolded name. Each conversation keeps its
lines (bounded, in time order), its unread count, whether a mention or a private message is among
them, where the "new messages" marker goes, its topic and its members. A line already there (the
same msgid; without one, the same time, sender and text) is dropped: a reconnect's catch-up or a
server's replay never shows a line twice. The model outlives sessions, so a reconnect can ask the
server for what came after the newest line it holds.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from multichat_trio.protocol import casefold

from .events import (
    AwayChanged,
    ChannelList,
    ChannelRow,
    ChatMessage,
    ConversationOpened,
    Disconnected,
    Member,
    Membership,
    NotDelivered,
    OperChanged,
    Registered,
    ServerNotice,
    SessionEvent,
    TopicChanged,
    UsersChanged,
    WhoisReply,
)

#: Lines kept per conversation; the oldest go first.
MAX_LINES = 2000
#: The key of the server's own conversation (notices, replies, connection news).
SERVER = ""
_NICK_CHAR = r"A-Za-z0-9\[\]\\`_^{|}\-"
_SAID = ("message", "action", "notice")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a conversation. `kind` is "message", "action", "notice" (said by `sender`),
    "event" (joins, leaves, renames), "info" (replies, topic) or "error"."""

    time: datetime
    sender: str | None
    text: str
    kind: str = "message"
    msgid: str = ""
    own: bool = False
    history: bool = False
    mention: bool = False


class Conversation:
    """A channel, a private conversation with one person, or the server's (`kind`)."""

    def __init__(self, name: str, kind: str, max_lines: int = MAX_LINES) -> None:
        self.name = name
        self.kind = kind  # "channel", "private" or "server"
        self.lines: list[Line] = []
        self.unread = 0
        #: A mention of us, or (in a private conversation) any message, is among the unread lines.
        self.alert = False
        self.topic = ""
        self.joined = False
        #: We were in this channel when the connection dropped: the next session joins it again.
        self.rejoin = False
        self.members: dict[str, Member] = {}
        self._max = max_lines
        self._first_unread: Line | None = None
        self._ids: set[str] = set()
        self._keys: set[tuple[datetime, str, str]] = set()

    @property
    def marker(self) -> int | None:
        """Index of the first unread line (where "new messages" goes), None when all is read."""
        if self._first_unread is None:
            return None
        for index, line in enumerate(self.lines):
            if line is self._first_unread:
                return index
        return 0  # it was trimmed: everything left is newer

    def member_list(self) -> list[Member]:
        """Operators first, then voiced members, then the rest; by name within each."""
        return sorted(self.members.values(), key=lambda m: (_rank(m.prefixes), casefold(m.nick)))

    def newest_msgid(self) -> str:
        """The msgid of the newest line that has one ("" when none does)."""
        return next((line.msgid for line in reversed(self.lines) if line.msgid), "")

    def add(self, line: Line, *, seen: bool) -> bool:
        """Insert `line` in time order; False (and nothing changes) when it is already here.
        `seen`: the user is looking at this conversation, so the line is not unread."""
        key = (line.time, line.sender or "", line.text)
        if line.msgid and line.msgid in self._ids:
            return False
        if not line.msgid and line.sender is not None and key in self._keys:
            return False
        bisect.insort_right(self.lines, line, key=lambda item: item.time)
        if line.msgid:
            self._ids.add(line.msgid)
        if line.sender is not None:
            self._keys.add(key)
        if not seen and line.kind in _SAID and not line.own and not line.history:
            self.unread += 1
            if self._first_unread is None or line.time < self._first_unread.time:
                self._first_unread = line
            self.alert = self.alert or line.mention or self.kind == "private"
        while len(self.lines) > self._max:
            gone = self.lines.pop(0)
            self._ids.discard(gone.msgid)
            self._keys.discard((gone.time, gone.sender or "", gone.text))
        return True

    def mark_read(self) -> None:
        self.unread, self.alert, self._first_unread = 0, False, None


class ChatModel:
    """Every conversation, keyed by casefolded name; `focused` is the one the user looks at."""

    def __init__(self, *, max_lines: int = MAX_LINES, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.nick = ""
        self.away = ""  # our away message, "" when here
        self.oper = False
        self.away_nicks: dict[str, str] = {}  # casefold(nick) -> their away message (away-notify)
        self.channel_list: tuple[ChannelRow, ...] = ()
        self.focused: str | None = None
        self.conversations: dict[str, Conversation] = {}
        self._max = max_lines
        self._clock = clock
        self.open(SERVER, "server")

    # --- what the view asks ------------------------------------------------------------------

    def get(self, name: str) -> Conversation | None:
        return self.conversations.get(casefold(name))

    def open(self, name: str, kind: str | None = None) -> Conversation:
        """The conversation `name`, created if need be (a channel for a `#name`, else private)."""
        found = self.conversations.get(casefold(name))
        if found is None:
            kind = kind or ("channel" if name.startswith("#") else "private")
            found = self.conversations[casefold(name)] = Conversation(name, kind, self._max)
        return found

    def close(self, name: str) -> None:
        if casefold(name) != SERVER:
            self.conversations.pop(casefold(name), None)
        if self.focused == casefold(name):
            self.focused = None

    def focus(self, name: str | None) -> None:
        """The user looks at `name` now (None: at no conversation, the app is in the background)."""
        self.focused = None if name is None else casefold(name)
        conversation = None if name is None else self.get(name)
        if conversation is not None:
            conversation.mark_read()

    def channels_to_rejoin(self) -> list[str]:
        """The channels we were in when the last connection dropped."""
        return [c.name for c in self.conversations.values() if c.kind == "channel" and c.rejoin]

    def newest_msgid(self, name: str) -> str:
        conversation = self.get(name)
        return conversation.newest_msgid() if conversation else ""

    def is_mention(self, text: str) -> bool:
        """Our nick as a word of `text`, compared under rfc1459 casemapping (`[gui]` is `{GUI}`)."""
        if not self.nick:
            return False
        pattern = rf"(?<![{_NICK_CHAR}]){re.escape(casefold(self.nick.lower()))}(?![{_NICK_CHAR}])"
        return re.search(pattern, casefold(text.lower())) is not None

    # --- session events ----------------------------------------------------------------------

    def apply(self, event: SessionEvent) -> bool:
        """Record `event`; False only for a message already shown (a duplicate to drop)."""
        match event:
            case ChatMessage():
                return self._message(event)
            case Registered(nick):
                self.nick = nick
                self.note(SERVER, f"Connected as {nick}.")
            case Disconnected(_, text):
                for conversation in self.conversations.values():
                    conversation.rejoin, conversation.joined = conversation.joined, False
                    conversation.members.clear()
                self.note(SERVER, text, "error")
            case UsersChanged(channel, users, members):
                if (conversation := self.get(channel)) is not None:
                    listed = members or tuple(Member(nick) for nick in users)
                    conversation.members = {casefold(m.nick): m for m in listed}
            case Membership():
                self._membership(event)
            case NotDelivered(target, text):
                self.note(target if self.get(target) else SERVER, text, "error")
            case ServerNotice(text, error, target):
                self.note(target if self.get(target) else SERVER, text, "error" if error else "info")
            case TopicChanged(channel, topic, setter, when):
                conversation = self.open(channel)
                conversation.topic = topic
                if setter:
                    text = f"{setter} set the topic: {topic}" if topic else f"{setter} cleared the topic"
                else:
                    text = f"Topic: {topic}" if topic else "No topic is set."
                self.note(channel, text, "info", when)
            case ChannelList(rows):
                self.channel_list = rows
            case WhoisReply(nick, lines, asked):
                where = asked if asked and self.get(asked) else nick if self.get(nick) else (self.focused or SERVER)
                for text in lines:
                    self.note(where, text, "info")
            case AwayChanged(nick, message, own):
                if own:
                    self.away = message
                    self.note(SERVER, f"You are away: {message}" if message else "You are back.")
                elif message:
                    self.away_nicks[casefold(nick)] = message
                else:
                    self.away_nicks.pop(casefold(nick), None)
            case OperChanged(text):
                self.oper = True
                self.note(SERVER, text)
            case ConversationOpened(name):
                self.open(name, "private")
        return True

    def note(self, name: str, text: str, kind: str = "info", when: datetime | None = None) -> None:
        """A line of our own (not said by anyone) in conversation `name`; without a server time it
        goes last (the local clock may lag the server's)."""
        conversation = self.open(name)
        if when is None:
            when = max([self._clock(), *(line.time for line in conversation.lines[-1:])])
        conversation.add(Line(when, None, text, kind), seen=True)

    def _message(self, event: ChatMessage) -> bool:
        conversation = self.open(event.peer if event.private else event.target)
        kind = "action" if event.action else "notice" if event.notice else "message"
        mention = not event.own and self.is_mention(event.text)
        line = Line(event.time, event.sender, event.text, kind, event.msgid, event.own, event.history, mention)
        return conversation.add(line, seen=self.focused == casefold(conversation.name))

    def _membership(self, event: Membership) -> None:
        who, when = "You" if event.own else event.nick, event.time
        why = f" ({event.reason})" if event.reason else ""
        if event.action == "join":
            conversation = self.open(event.channel, "channel")
            conversation.joined = conversation.joined or event.own
            conversation.rejoin = False
            self.note(event.channel, f"{who} joined {event.channel}", "event", when)
        elif event.action == "part" and event.own:
            self.close(event.channel)
        elif event.action == "part":
            self.note(event.channel, f"{who} left {event.channel}{why}", "event", when)
        elif event.action == "kick":
            if event.own and (conversation := self.get(event.channel)) is not None:
                conversation.joined = False
            self.note(event.channel, f"{who} {'were' if event.own else 'was'} kicked by {event.by}{why}", "event", when)
        elif event.action in ("quit", "nick"):
            text = f"{who} left the chat{why}" if event.action == "quit" else f"{who} is now known as {event.new_nick}"
            for conversation in list(self.conversations.values()):
                known = casefold(event.nick) in conversation.members or casefold(conversation.name) == casefold(
                    event.nick
                )
                if known or (event.own and conversation.kind != "server"):
                    self.note(conversation.name, text, "event", when)
            if event.action == "nick":
                self._renamed(event.nick, event.new_nick, own=event.own)

    def _renamed(self, old: str, new: str, *, own: bool) -> None:
        if own:
            self.nick = new
        private = self.conversations.get(casefold(old))
        if private is not None and private.kind == "private" and casefold(new) not in self.conversations:
            del self.conversations[casefold(old)]
            private.name = new
            self.conversations[casefold(new)] = private
            if self.focused == casefold(old):
                self.focused = casefold(new)


def _rank(prefixes: str) -> int:
    return {"@": 0, "+": 1}.get(prefixes[:1], 2 if not prefixes else 1)
