"""The cluster's chat state on one node, plain Python: how each log entry changes the hub.

Every node handles the same entries in the same order with the same rules, so every node's hub holds
the same users, channels, modes and bans. A user served by another node is a *mirror* here: a `Client`
whose `node` names its node and whose outbox drops what it is given (its own node delivers to it).
While an entry is handled, the hub's clock reads the entry's time and its message ids come from the
entry's id, so the state (topic times, msgids, server-time) is the same on every node too.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from ..chat.accounts import Account
from ..chat.bans import ServerBan
from ..chat.channel import Channel
from ..chat.commands.channels import try_join
from ..chat.events import Event
from ..chat.hub import Client, Hub
from ..chat.ratelimit import TokenBucket
from ..protocol import Message, casefold, is_channel_name, is_valid_nick
from ..protocol import numerics as rpl
from . import ops
from .ops import BadEntry, Op

logger = logging.getLogger(__name__)

#: The QUIT reason a user of a node that left (or lost the log) is shown with, as IRC networks show a split.
SPLIT = "*.net *.split"


class DropSink:
    """A mirror's outbox: its own node writes to the user, so what is queued here is dropped."""

    size = 0

    def write(self, data: bytes) -> bool:
        return True

    def allow(self, extra: int, most: int) -> None:
        pass

    def close(self) -> None:
        pass


DROP = DropSink()


class Replica:
    def __init__(self, hub: Hub, node: str) -> None:
        self.hub = hub
        self.node = node
        #: Every registered user of the cluster by id: this node's clients and the mirrors of the others'.
        self.users: dict[str, Client] = {}
        #: This node's clients waiting for their `intro` to be read back: the follow-up to call then
        #: (their welcome; None for a user introduced again after the log was lost, who is welcome already).
        self.introducing: dict[str, tuple[Client, Callable[[], None] | None]] = {}
        #: The id of the last entry handled, and the highest sequence number of this node's own.
        self.last_id = "0-0"
        self.own_seq = 0
        #: Ids of this node's clients that left before their `intro` was read back (a `quit` follows).
        self._orphans: list[str] = []
        #: Public messages of this node's users, read back and not yet written to their channel's history.
        self.said: list[Event] = []
        #: What to tell when this node's account registrations are read back: by the entry's sequence number.
        self.registering: dict[int, Callable[[bool], None]] = {}

    def take_orphans(self) -> list[str]:
        orphans, self._orphans = self._orphans, []
        return orphans

    # --- handling entries ------------------------------------------------------------------

    def apply(self, identifier: str, op: Op, *, log: bool = True, index: int = 0) -> bool:
        """Handle the `index`th op of an entry (of the log, or else of an inbox); False if it says this node is
        gone (it must start again: `Link`). Its message ids are the entry id's (`id`, then `id-2`, ...); a
        private message's two copies carry the id they share (`m`)."""
        hub = self.hub
        when = ops.entry_time(identifier)
        wallclock = hub.wallclock
        base = op.data.get("m") or (f"{identifier}-{index}" if index else identifier)
        hub.wallclock, hub.msgids, hub.applying = (lambda: when), _msgids(base), True
        recorded = hub.events_waiting
        try:
            return _HANDLERS[op.kind](self, op)
        except BadEntry as exc:
            logger.warning("cluster: log entry %s skipped: %s", identifier, exc)
            return True
        finally:
            hub.wallclock, hub.msgids, hub.applying = wallclock, None, False
            if log:
                self.last_id = identifier
            if op.node == self.node and op.kind == "line":  # this node's user spoke: it keeps the history
                self.said += [event for event in hub.peek_events(recorded) if event.type in ("message", "forget")]
            if op.node == self.node:
                self.own_seq = max(self.own_seq, op.seq)

    def _intro(self, op: Op) -> bool:
        hub, data = self.hub, op.data
        if op.uid in self.users:
            return True
        holder = hub.nicks.get(casefold(data["nick"]))
        taken = holder is not None and (holder.registered or bool(holder.node))
        if op.node != self.node:
            if not taken:  # else refused, on every node alike
                self._add_mirror(op.uid, op.node, data)
            return True
        client, welcome = self.introducing.pop(op.uid, (None, None))
        if client is None:
            return True
        if client.closed:
            if not taken:
                self._orphans.append(op.uid)
            return True
        if taken and holder is not client:
            if welcome is None:  # back after a split and its nickname went meanwhile
                hub.disconnect(client, "Nick collision: your nickname was taken while this server was split")
            else:
                hub.reply(client, rpl.ERR_NICKNAMEINUSE, data["nick"], "Nickname is already in use")
            return True
        client.uid = op.uid
        self.users[op.uid] = client
        hub.nicks[casefold(client.nick)] = client
        if welcome is not None:
            welcome()
        return True

    def _add_mirror(self, uid: str, node: str, data: dict[str, Any]) -> Client:
        hub, config = self.hub, self.hub.config
        now = hub.clock()
        mirror = Client(
            host=data["host"],
            outbox=DROP,
            bucket=TokenBucket(config.flood_rate, config.flood_burst, now),
            connected_at=now,
            nick=data["nick"],
            user=data["user"],
            realname=data["real"],
            account=data.get("acct"),
            oper=data.get("oper"),
            away=data.get("away"),
            invisible=bool(data.get("inv")),
            relayed=data["nick"].startswith("*"),
            signon=float(data.get("signon", hub.wallclock())),
            uid=uid,
            node=node,
        )
        hub.clients[mirror] = None
        hub.nicks[casefold(mirror.nick)] = mirror  # over a local client still registering: it gets 433
        hub.mark_registered(mirror)
        self.users[uid] = mirror
        if data.get("autojoin", True):
            for name in config.autojoin_channels:  # as its own node's welcome does
                try_join(hub, mirror, name)
        return mirror

    def _line(self, op: Op) -> bool:
        client = self.users.get(op.uid)
        if client is not None:
            self.hub.apply(client, ops.message_of(op))
        return True

    def _quit(self, op: Op) -> bool:
        client = self.users.pop(op.uid, None)
        if client is not None:
            self._remove(client, op.data["why"], op.data["how"])
        return True

    def _remove(self, client: Client, reason: str, kind: str) -> None:
        if client.closed or client.node:
            client.closed = True
            self.hub.remove(client, reason, kind)
        else:
            self.hub.disconnect(client, reason, kind=kind)

    def _attrs(self, op: Op) -> bool:
        client = self.users.get(op.uid)
        if client is not None and client.node:
            client.account, client.oper = op.data.get("acct"), op.data.get("oper")
        return True

    def _rejoin(self, op: Op) -> bool:
        client = self.users.get(op.uid)
        if client is not None:
            for name in op.data["c"]:
                channel = self.hub.find_channel(name)
                if channel is None or client not in channel.members:
                    self.hub.join(client, name)
        return True

    def _account(self, op: Op) -> bool:
        accounts, name, state = self.hub.accounts, op.data["name"], op.data.get("state")
        try:
            account = Account.restore(state) if state is not None else None
        except (KeyError, TypeError, ValueError) as exc:
            raise BadEntry(f"state: {exc}") from None
        if account is not None and casefold(account.name) != casefold(name):
            raise BadEntry("state: another account's")
        created = not op.data.get("new") or accounts.find(name) is None
        if created:
            accounts.put(name, account)
        if op.node == self.node and (done := self.registering.pop(op.seq, None)) is not None:
            done(created)
        return True

    def _down(self, op: Op) -> bool:
        gone = op.data["gone"]
        if gone == self.node:
            return False
        self._split(op.data["why"], gone)
        return True

    def _split(self, reason: str, node: str | None = None) -> None:
        """The users of `node` (None: of every other node) leave, as in a netsplit."""
        for uid, client in list(self.users.items()):
            if client.node and (node is None or client.node == node):
                del self.users[uid]
                self._remove(client, reason, "split")

    # --- the state as a whole --------------------------------------------------------------

    def mirrors_of(self) -> set[str]:
        """The other nodes this one holds users of."""
        return {client.node for client in self.users.values() if client.node}

    def forget(self) -> list[tuple[Client, list[str]]]:
        """Drop the cluster's state, this node's users aside, who are taken out of it until introduced again.

        This node's users see the others leave as in a split. Returns each local user with its channels.
        """
        hub = self.hub
        hub.applying = True
        try:
            self._split(SPLIT)
        finally:
            hub.applying = False
        kept = []
        for client in list(self.users.values()):
            kept.append((client, [channel.name for channel in client.channels.values()]))
            client.channels.clear()
            hub.nicks.pop(casefold(client.nick), None)
        self.users.clear()
        self.introducing = {uid: entry for uid, entry in self.introducing.items() if not entry[0].closed}
        hub.channels.clear()
        return kept

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (the snapshot new nodes start from), as of `last_id`."""
        hub = self.hub
        users = [
            {"uid": uid, "node": client.node or self.node, **introduction(client)} for uid, client in self.users.items()
        ]
        channels = []
        for channel in hub.channels.values():
            members = [
                [m.uid, ("o" if m in channel.ops else "") + ("v" if m in channel.voiced else "")]
                for m in channel.members
                if m.uid
            ]
            channels.append(channel.snapshot() | {"members": members, "invited": list(channel.invited)})
        now = hub.wallclock()
        bans = [[b.mask, b.reason, b.set_by, b.set_at, b.expires] for b in hub.bans.active(now)]
        accounts = [account.snapshot() for account in hub.accounts]
        return {"v": 1, "id": self.last_id, "users": users, "channels": channels, "bans": bans, "accounts": accounts}

    def load(self, state: dict[str, Any]) -> None:
        """Take a snapshot's state (see `dump`): what is malformed in it is left out, with a warning."""
        hub = self.hub
        skipped = 0
        for entry in _rows(state.get("users")):
            try:
                uid, node = entry.pop("uid"), entry.pop("node")
                ops.parse_op({"k": "intro", "u": uid, "n": node, "s": 0, **entry})
            except (BadEntry, KeyError):
                skipped += 1
                continue
            if uid not in self.users and casefold(entry["nick"]) not in hub.nicks:
                self._add_mirror(uid, node, entry | {"autojoin": False})
        for data in _rows(state.get("channels")):
            try:
                channel = Channel.restore(data)
                if not is_channel_name(channel.name):
                    raise ValueError("not a channel name")
                for uid, flags in data.get("members", ()):
                    member = self.users.get(uid)
                    if member is not None:
                        channel.add(member)
                        member.channels[casefold(channel.name)] = channel
                        if "o" in flags:
                            channel.ops.add(member)
                        if "v" in flags:
                            channel.voiced.add(member)
                channel.invited = {casefold(str(nick)): None for nick in data.get("invited", ())}
            except (KeyError, TypeError, ValueError):
                skipped += 1
                continue
            hub.channels[casefold(channel.name)] = channel
        for row in state.get("bans") or ():
            if (ban := ServerBan.from_row(row)) is not None:
                hub.bans.add(ban)
            else:
                skipped += 1
        for row in _rows(state.get("accounts")):
            try:
                account = Account.restore(row)
                if not is_valid_nick(account.name):
                    raise ValueError(account.name)
            except (KeyError, TypeError, ValueError):
                skipped += 1
                continue
            hub.accounts.put(account.name, account)
        if skipped:
            logger.warning("cluster: %d malformed users, channels, bans or accounts left out of the snapshot", skipped)
        self.last_id = str(state.get("id", "0-0"))


def introduction(client: Client) -> dict[str, Any]:
    """What other nodes need to know of a user: the `intro` entry's data."""
    data: dict[str, Any] = {"nick": client.nick, "user": client.user or "~u", "host": client.host}
    data |= {"real": client.realname, "signon": client.signon, "inv": client.invisible}
    data |= {
        key: value for key, value in (("acct", client.account), ("oper", client.oper), ("away", client.away)) if value
    }
    return data


def _msgids(identifier: str) -> Iterator[str]:
    """The message ids of one entry's messages: the entry id, then `id.1`, `id.2` (a line to several targets)."""
    yield identifier
    for index in itertools.count(1):
        yield f"{identifier}.{index}"


def _rows(value: object) -> list[dict[str, Any]]:
    return [dict(row) for row in value if isinstance(row, dict)] if isinstance(value, list) else []


_HANDLERS: dict[str, Callable[[Replica, Op], bool]] = {
    "intro": Replica._intro,
    "line": Replica._line,
    "quit": Replica._quit,
    "attrs": Replica._attrs,
    "rejoin": Replica._rejoin,
    "down": Replica._down,
    "account": Replica._account,
}

__all__ = ["DROP", "SPLIT", "Message", "Replica", "introduction"]
