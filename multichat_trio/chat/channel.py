"""A channel's state: members and their status (+o, +v), flag modes, key, limit, bans, exceptions, invites.

Plain data with the small rules that read it (who may moderate, who is banned, what a member's
prefix is); changing it from a MODE line is `modes.py`'s work, and deciding who hears of it the hub's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..protocol import casefold
from . import masks

if TYPE_CHECKING:
    from .hub import Client

#: The flag modes a new channel starts with: no outside messages, topic by operators only.
DEFAULT_MODES = frozenset("nt")
#: Invitations a channel remembers at most (the oldest is forgotten first).
MAX_INVITES = 100


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One `+b` or `+e` entry: the normalized mask, who set it (a full mask) and when (unix time)."""

    mask: str
    by: str
    at: int


@dataclass(eq=False, slots=True)
class Channel:
    name: str
    topic: str = ""
    #: Who set the topic: the setter's full `nick!user@host` mask (RPL_TOPICWHOTIME).
    topic_by: str = ""
    topic_at: int = 0
    created: int = field(default_factory=lambda: int(time.time()))
    members: dict[Client, None] = field(default_factory=dict)  # insertion-ordered set
    ops: set[Client] = field(default_factory=set)
    voiced: set[Client] = field(default_factory=set)
    #: Flag modes set (letters of `imnst`).
    modes: set[str] = field(default_factory=lambda: set(DEFAULT_MODES))
    key: str | None = None
    limit: int | None = None
    bans: dict[str, ListEntry] = field(default_factory=dict)
    excepts: dict[str, ListEntry] = field(default_factory=dict)
    #: The account that registered the channel (ChanServ REGISTER): its users get +o on joining.
    founder: str | None = None
    #: Casefolded nicks invited (INVITE) and not yet joined, oldest first.
    invited: dict[str, None] = field(default_factory=dict)
    #: `members` as a list for the fan-out, kept while members only join (see `roster`).
    _roster: list[Client] | None = field(default=None, init=False, repr=False)

    def add(self, client: Client) -> None:
        self.members[client] = None
        self.invited.pop(casefold(client.nick), None)
        if self._roster is not None and not client.node:
            self._roster.append(client)  # lines queued before hold their count: they skip the newcomer

    def remove(self, client: Client) -> None:
        self.ops.discard(client)
        self.voiced.discard(client)
        if self.members.pop(client, 0) is None:
            self._roster = None  # queued lines keep the old list; later ones get a new one

    def roster(self) -> list[Client]:
        """The members served here (not another cluster node's), in join order, as one list shared by the
        lines queued for them."""
        if self._roster is None:
            self._roster = [member for member in self.members if not member.node]
        return self._roster

    # --- rules that read the state ---------------------------------------------------------

    def may_moderate(self, client: Client) -> bool:
        """A channel operator here, or a server operator (who moderates every channel)."""
        return client in self.ops or client.oper is not None

    def speak_refusal(self, client: Client) -> str | None:
        """Why `client` may not send to the channel (+n, +m, a ban), or None (voiced members and operators may)."""
        if client.oper is not None or client in self.ops or client in self.voiced:
            return None
        if client not in self.members and "n" in self.modes:
            return "Cannot send to channel (no outside messages: you are not in it)"
        if self.is_banned(client):
            return "Cannot send to channel (you are banned)"
        if "m" in self.modes:
            return "Cannot send to channel (moderated: you need voice)"
        return None

    def is_banned(self, client: Client, prefix: str | None = None) -> bool:
        """True if a `+b` mask matches the client (or `prefix`) and no `+e` mask does."""
        if not self.bans:
            return False
        who, account = prefix or client.prefix, client.account
        return any(masks.match(m, who, account) for m in self.bans) and not any(
            masks.match(m, who, account) for m in self.excepts
        )

    def ban_applies(self, client: Client) -> bool:
        """True if a ban holds `client` here: banned, and neither voiced, channel nor server operator."""
        if client.oper is not None or client in self.ops or client in self.voiced:
            return False
        return self.is_banned(client)

    def has_state(self) -> bool:
        """True if anything worth keeping over a restart differs from a new channel's."""
        return bool(
            self.topic
            or self.modes != DEFAULT_MODES
            or self.key
            or self.limit
            or self.bans
            or self.excepts
            or self.founder
        )

    def invite(self, nick: str) -> None:
        self.invited[casefold(nick)] = None
        while len(self.invited) > MAX_INVITES:
            del self.invited[next(iter(self.invited))]

    def is_invited(self, nick: str) -> bool:
        return casefold(nick) in self.invited

    def prefix_of(self, client: Client, *, multi: bool = False) -> str:
        """`@`, `+`, `@+` (multi-prefix) or nothing."""
        marks = ("@" if client in self.ops else "") + ("+" if client in self.voiced else "")
        return marks if multi else marks[:1]

    def is_secret(self) -> bool:
        return "s" in self.modes

    def mode_params(self, *, with_key: bool) -> tuple[str, ...]:
        """RPL_CHANNELMODEIS's parameters: `+ntkl` then the key (or `*` for outsiders) and limit."""
        letters = "".join(sorted(self.modes))
        args: list[str] = []
        if self.key is not None:
            letters += "k"
            args.append(self.key if with_key else "*")
        if self.limit is not None:
            letters += "l"
            args.append(str(self.limit))
        return ("+" + letters, *args)

    # --- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What survives a restart (not who is in it, nor who holds +o or +v), JSON-ready."""
        return {
            "name": self.name,
            "topic": self.topic,
            "topic_by": self.topic_by,
            "topic_at": self.topic_at,
            "created": self.created,
            "modes": "".join(sorted(self.modes)),
            "key": self.key,
            "limit": self.limit,
            "bans": [[e.mask, e.by, e.at] for e in self.bans.values()],
            "excepts": [[e.mask, e.by, e.at] for e in self.excepts.values()],
            "founder": self.founder,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Channel:
        """A channel from `snapshot()`'s dict; raises ValueError (or KeyError, TypeError) if it is malformed."""

        def word(value: Any) -> str:
            text = str(value)
            if not text or not text.isprintable() or " " in text or text.startswith(":"):
                raise ValueError(f"not one IRC parameter: {text!r}")
            return text

        def entries(rows: Any) -> dict[str, ListEntry]:
            return {word(m): ListEntry(word(m), word(by), int(at)) for m, by, at in rows}

        topic = str(data.get("topic", ""))
        if any(ch in topic for ch in "\r\n\0"):
            raise ValueError(f"topic holds CR, LF or NUL: {topic!r}")

        limit = data.get("limit")
        return cls(
            name=str(data["name"]),
            topic=topic,
            topic_by=word(data["topic_by"]) if data.get("topic_by") else "",
            topic_at=int(data.get("topic_at", 0)),
            created=int(data.get("created", 0)),
            modes=set(str(data.get("modes", "nt"))) & set("imnst"),
            key=word(data["key"]) if data.get("key") else None,
            limit=int(limit) if limit is not None and int(limit) > 0 else None,
            bans=entries(data.get("bans", ())),
            excepts=entries(data.get("excepts", ())),
            founder=word(data["founder"]) if data.get("founder") else None,
        )
