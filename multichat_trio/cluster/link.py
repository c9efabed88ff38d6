"""The trio side of cluster mode: the tasks that write this node's entries to the Redis log and read everyone's.

One Redis Stream, `multichat:log`, is the cluster's log: each registered user's state-changing lines
(JOIN, PRIVMSG, MODE, KICK, NICK, ...) and each registration and leaving is an entry (`ops.py`); every
node, this one included, handles every entry in the stream's order (`replica.py`). So a line is seen
only once Redis has it, every node shows a channel's lines in the same order, and a nickname is taken
by whichever `intro` comes first. A client's next line waits until its last one is read back, so it
sees its own changes as a single server would show them. What a node needs to start is the snapshot
(`multichat:snapshot`, written every few seconds by each node, the newest kept) and the log after it.

Liveness: each node refreshes `multichat:node:<id>` (a key with a TTL); a node that finds the key of a
node it holds users of gone writes a `down` entry, and every node removes those users.

When Redis cannot be reached, the node goes on alone: its users chat among themselves (their lines
are handled at once) and are told that other nodes are out of reach; when Redis is back, the node
starts again as a new node id (its old users leave, as in a netsplit, and come back) from the snapshot.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import coredis
import trio
from coredis.exceptions import RedisError

from ..chat.accounts import Account
from ..chat.commands import accounts
from ..chat.commands.nickserv import is_service
from ..chat.events import Event, well_formed
from ..chat.hub import Client, Hub
from ..chat.replay import stored_line
from ..config import StartupError
from ..protocol import Message, casefold
from ..protocol.names import CHANTYPES
from . import ops
from .ops import BadEntry, Op
from .replica import SPLIT, Replica, introduction

log = logging.getLogger(__name__)

PREFIX = "multichat:"
LOG, SNAPSHOT = PREFIX + "log", PREFIX + "snapshot"
#: The lines that change what other nodes' users see; every other command is answered where it arrives.
REPLICATED = frozenset(
    {*("JOIN", "PART", "TOPIC", "MODE", "KICK", "INVITE", "NICK", "PRIVMSG", "NOTICE", "AWAY")}
    | {"KILL", "KLINE", "DLINE", "UNKLINE", "UNDLINE", "HISTSERV", "CHANSERV", "CS", "MARKREAD"}
)
#: Entries written in one pipeline, and read in one XREAD, at most.
BATCH = 1000
#: Entries an inbox keeps (about): more than a node can fall behind by, bounded for one that died.
INBOX_KEEP = 10_000
#: Public messages each channel's history stream keeps (about): what a node that starts later brings into its store.
HISTORY_KEEP = 1000
#: Entries waiting to be written past which every sending client waits for its own to be read back.
QUEUE_BOUND = 10_000
#: How long a client's line waits to be read back before its next line is read anyway (Redis stalling).
WAIT_BOUND = 5.0
#: How long one XREAD blocks (milliseconds), and the deadline of every other Redis call (seconds).
BLOCK_MS = 1000
CALL_TIMEOUT = 5.0
#: What Redis out of reach looks like (a refused or dropped connection, an error reply, a call past its deadline).
UNREACHABLE = (RedisError, OSError, trio.TooSlowError)
#: Seconds between retries while Redis is unreachable (doubling up to the second).
RETRY = (0.2, 5.0)

_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'id')
if cur then
  local a, b = string.match(cur, '(%d+)-(%d+)')
  local c, d = string.match(ARGV[1], '(%d+)-(%d+)')
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if a > c or (a == c and b >= d) then return 0 end
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', ARGV[2])
return 1
"""

#: Every entry of one write in one call (a pipeline costs this client several times a call): KEYS the streams,
#: ARGV for each how many entries it keeps (0: all), the field and the value.
_ADD = """
local ids = {}
for i, key in ipairs(KEYS) do
  local keep, field, value = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if keep == '0' then
    ids[i] = redis.call('XADD', key, '*', field, value)
  else
    ids[i] = redis.call('XADD', key, 'MAXLEN', '~', keep, '*', field, value)
  end
end
return ids
"""

Publish = Callable[[list[Event]], Awaitable[None]]


class Resync(Exception):
    """The log says this node is gone (its heartbeat lapsed): it starts again under a new id."""


class Link:
    """The hub's `Cluster`: a node of the cluster at `url`."""

    def __init__(self, hub: Hub, url: str, publish: Publish, *, ttl: float = 5.0, snapshot_every: float = 5.0) -> None:
        self.hub = hub
        self.url = url
        self.publish = publish
        self.ttl = ttl
        self.snapshot_every = snapshot_every
        self.replica = Replica(hub, _new_id())
        #: "up" (the log works), "down" (Redis out of reach: on our own), "sync" (catching up).
        self.state = "sync"
        #: Entries waiting to be written, each with the stream it goes to (the log, or nodes' inboxes).
        self._out: list[tuple[str, Op]] = []
        #: This node's users' public messages, for their channel's history stream (`history_stream`).
        self._history: list[tuple[str, dict[str, str]]] = []
        self._forgets: list[Event] = []
        #: Stores messages another node's history has and this one's store lacks (a start); None: no store.
        self.backfill: Callable[[list[Event]], Awaitable[None]] | None = None
        #: The newest message id this node's store had at start: the log's replay does not store those again.
        self.stored_upto: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._resuming = False
        self._snapshot_id = ""
        self._writing = False
        self._written = trio.Event()
        self._writer_client: coredis.Redis[str] = _client(url)
        #: This node's clients with entries not read back yet: the sequence number of the last one.
        self._sent: dict[Client, int] = {}
        #: The last entry read from this node's inbox (private messages to its users).
        self._inbox_id = "0-0"
        self._seq = 0
        self._wake = trio.Event()
        self._progress = trio.Event()
        self._reported: set[str] = set()
        self._island = 0
        self._stopping = trio.Event()
        #: The other nodes' last heartbeats (their figures, for the stats API), by node id.
        self.nodes: dict[str, dict[str, Any]] = {}
        hub.accounts.on_change = self._account_changed

    @property
    def node(self) -> str:
        return self.replica.node

    # --- the hub's Cluster -----------------------------------------------------------------

    def takes(self, client: Client, message: Message) -> bool:
        command = message.command
        if command not in REPLICATED:
            return False
        if command in ("PRIVMSG", "NOTICE") and any(is_service(target) for target in message.param(0).split(",")):
            return False  # NickServ: passwords, checked on this node (its logins reach the others as `attrs`)
        if command in ("TOPIC", "MODE", "MARKREAD") and len(message.params) < 2:
            return False  # a query
        if command == "NICK" and message.params and accounts.protection_refuses(self.hub, client, message.params[0]):
            return True  # nick protection is this node's (its accounts): checked before the log
        data = ops.line(message)
        streams = self._inboxes(message) if command in ("PRIVMSG", "NOTICE") else None
        if streams is not None:  # a private message: only the nodes of its two ends see it, with one msgid
            data["m"] = secrets.token_urlsafe(12)
        self._submit(Op("line", client.uid, data=data), client, streams)
        return True

    def _inboxes(self, message: Message) -> list[str] | None:
        """The inboxes of the nodes a private message concerns (this one's first), or None for the log."""
        nodes = [self.node]
        for target in message.param(0).split(","):
            if target[:1] in CHANTYPES:
                return None
            holder = self.hub.find_client(target)
            if holder is not None and holder.node and holder.node not in nodes:
                nodes.append(holder.node)
        return [inbox(node) for node in nodes]

    def introduce(self, client: Client, welcome: Callable[[], None]) -> None:
        uid = _new_id()
        self.replica.introducing[uid] = (client, welcome)
        self._submit(Op("intro", uid, data=introduction(client)), client, wait=True)

    def leave(self, client: Client, reason: str, kind: str) -> None:
        self._sent.pop(client, None)
        self._submit(Op("quit", client.uid, data={"why": reason[: ops.MAX_TEXT], "how": kind}))

    def changed(self, client: Client) -> None:
        data = {key: value for key, value in (("acct", client.account), ("oper", client.oper)) if value}
        self._submit(Op("attrs", client.uid, data=data), client)

    def create_account(self, client: Client, account: Account, done: Callable[[bool], None]) -> None:
        # On the log's word, not at once (see `Hub.applying`); a login it brings reaches the others too.
        self.replica.registering[self._seq + 1] = lambda created: self.hub.watching(client, done, created)
        self._submit(_account_op(account.name, account, new=True), client, wait=True)

    def _account_changed(self, name: str, account: Account | None) -> None:
        """An account changed here (a password, a certificate, a drop): every node's copy follows."""
        if not self.hub.applying:
            self._submit(_account_op(name, account))

    def behind(self, client: Client) -> Callable[[], Awaitable[None]] | None:
        seq = self._sent.get(client)
        if seq is None:
            return None
        if seq <= self.replica.own_seq or self.state == "down":
            del self._sent[client]
            return None
        return lambda: self._wait_for(seq)

    def _submit(
        self, op: Op, client: Client | None = None, streams: list[str] | None = None, *, wait: bool = False
    ) -> None:
        """Queue `op` for the log. `client`'s later queries wait until it is read back (`behind`); with `wait`
        (a registration) its next line does too, and so does every line while the queue is over its bound."""
        self._seq += 1
        op = Op(op.kind, op.uid, self.node, self._seq, op.data)
        if self.state == "down":
            self._alone(op)
            return
        self._out += [(stream, op) for stream in streams or (LOG,)]
        self._wake.set()
        if client is not None:
            self._sent[client] = op.seq
            if wait or len(self._out) > QUEUE_BOUND:
                self.hub.defer(client, lambda: self._wait_for(op.seq), _ignore, awaited=True)

    async def _wait_for(self, seq: int) -> None:
        with trio.move_on_after(WAIT_BOUND):
            while self.replica.own_seq < seq and self.state != "down":
                await self._progress.wait()

    def _alone(self, op: Op) -> None:
        """Redis is out of reach: the entry is handled here at once, as a single server would."""
        self._island += 1
        if not self.replica.apply(f"{math.floor(time.time() * 1000)}-{self._island}", op, log=False):
            log.warning("cluster: a down entry for this node while on its own: ignored")

    # --- the tasks -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the cluster (a clear error if Redis cannot be reached), then serve until `stop()`."""
        writer, reader = self._writer_client, _client(self.url)
        async with writer, reader:
            try:
                with trio.fail_after(CALL_TIMEOUT):
                    await writer.ping()
                await self._sync(writer, reader, first=True)
            except UNREACHABLE as exc:
                raise StartupError(f"cluster: cannot reach Redis at {_shown(self.url)}: {exc or 'timed out'}") from None
            task_status.started()
            log.info(
                "cluster: node %s joined %s (%d users on other nodes)", self.node, _shown(self.url), self._remote()
            )
            while not self._stopping.is_set():
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._writer, writer)
                        nursery.start_soon(self._reader, reader)
                        nursery.start_soon(self._heartbeat, writer)
                        nursery.start_soon(self._snapshots, writer)
                        await self._stopping.wait()
                        nursery.cancel_scope.cancel()
                    await self._leave(writer)
                    return
                except* Resync:
                    log.warning("cluster: this node was taken for gone (heartbeat lapsed): joining again")
                except* UNREACHABLE as group:
                    self._lost(group.exceptions[0])
                await self._come_back(writer, reader)

    async def _come_back(self, writer: coredis.Redis[str], reader: coredis.Redis[str]) -> None:
        """Join again, retrying with back-off while Redis cannot be reached (serving this node's users alone)."""
        delay = RETRY[0]
        while not self._stopping.is_set():
            try:
                await self._rejoin(writer, reader)
                return
            except UNREACHABLE as exc:
                if self.state != "down":
                    self._lost(exc)
            with trio.move_on_after(delay):
                await self._stopping.wait()
            delay = min(delay * 2, RETRY[1])

    def stop(self) -> None:
        self._stopping.set()

    async def _sync(self, writer: coredis.Redis[str], reader: coredis.Redis[str], *, first: bool) -> None:
        """Start from the snapshot (this node's state becomes the first one if there is none), then the log."""
        self.state = "sync"
        seed = self.replica.dump() | {"id": "0-0", "users": []}
        with trio.fail_after(CALL_TIMEOUT):
            await self._beat(writer)  # alive before any entry of ours names this node
            await writer.eval(_NEWER, keys=[SNAPSHOT], args=["0-0", json.dumps(seed)])
            stored = await writer.hgetall(SNAPSHOT)
        known = {casefold(account.name) for account in self.hub.accounts} if first else set()
        if first:
            self.hub.channels.clear()
        try:
            state = json.loads(stored.get("state", "{}"))
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            log.error("cluster: the snapshot is unreadable (%s): starting from the log", exc)
            state = {}
        self.replica.load(state)
        self.hub.make_autojoin_channels()
        if first and self.backfill is not None:
            await self._bring_history(reader, self.replica.last_id)
        self._resuming = first
        while await self._read(reader, block=None):
            pass
        self._resuming = False
        self.state = "up"
        if first:  # accounts this node's store has and the cluster not: registered cluster-wide if still free
            shared = {casefold(row.get("name", "")) for row in state.get("accounts", ()) if isinstance(row, dict)}
            for account in self.hub.accounts:
                if casefold(account.name) in known - shared:
                    self._submit(_account_op(account.name, account, new=True))

    async def _bring_history(self, reader: coredis.Redis[str], upto: str) -> None:
        """The channels' history streams up to the snapshot (the log's replay brings the rest), into the store."""
        keys = list(self.hub.channels)
        found: list[Event] = []
        with trio.fail_after(CALL_TIMEOUT):
            async with reader.pipeline(transaction=False) as pipe:
                requests = [pipe.xrevrange(history_stream(key), "+", "-", count=HISTORY_KEEP) for key in keys]
            replies = [await request for request in requests]
        last = (*order(upto)[:2], 1 << 31, 1 << 31)  # every op of the snapshot's entry, and their second targets
        for key, entries in zip(keys, replies, strict=True):
            for entry in reversed(entries):  # by the message's id: the log's replay brings those after the snapshot
                event = _history_event(entry.field_values.get("e"), key)
                if event is not None and self.stored_upto < order(event.data["msgid"]) <= last:
                    found.append(event)
        if found and self.backfill is not None:
            await self.backfill(found)
            log.info("cluster: %d messages of %d channels brought into this node's history", len(found), len(keys))

    async def _rejoin(self, writer: coredis.Redis[str], reader: coredis.Redis[str]) -> None:
        """Back after the log was lost (or this node taken for gone): a new id, the snapshot, our users again."""
        with trio.fail_after(CALL_TIMEOUT):
            await writer.ping()
        old = self.node
        kept = self.replica.forget()
        self.replica.node = _new_id()
        self._out.clear()
        self._sent.clear()
        self._snapshot_id = ""
        self._reported.clear()
        self._inbox_id = "0-0"
        self.state = "sync"  # what is submitted now is written once the log is read up to its end
        self._submit(Op("down", data={"gone": old, "why": SPLIT}))
        for client, channels in kept:
            if client.closed:
                continue
            self.replica.introducing[client.uid] = (client, None)
            self._submit(Op("intro", client.uid, data=introduction(client) | {"autojoin": False}))
            if channels:
                self._submit(Op("rejoin", client.uid, data={"c": channels}))
        await self._sync(writer, reader, first=False)
        self._tell_locals("The cluster is reachable again: you see the users of the other nodes again")
        await self.publish(self.hub.take_events())
        log.warning("cluster: back in the cluster as node %s (%d users on other nodes)", self.node, self._remote())

    def _lost(self, exc: BaseException) -> None:
        """Redis went away: handle what waits here at once, and say so."""
        log.error(
            "cluster: Redis at %s unreachable (%s): serving this node's users on their own", _shown(self.url), exc
        )
        self.state = "down"
        pending, self._out = self._out, []
        for stream, op in pending:
            if stream in (LOG, inbox(self.node)):  # a private message's copy for another node is dropped
                self._alone(op)
        self._progress.set()
        self._progress = trio.Event()
        self._tell_locals("The cluster link is down: messages cannot reach users on other nodes until it is back")

    def _tell_locals(self, text: str) -> None:
        hub = self.hub
        for client in list(hub.clients):
            if client.registered and not client.node and not client.closed:
                hub.send(client, Message("NOTICE", (client.nick, text), hub.name))

    async def _leave(self, writer: coredis.Redis[str]) -> None:
        """Stopping: the other nodes remove this node's users at once (not when its key expires)."""
        with trio.move_on_after(1), trio.CancelScope(shield=True):
            try:
                op = Op("down", node=self.node, data={"gone": self.node, "why": "Server shutting down"})
                await writer.xadd(LOG, op.encode())
                await writer.delete([PREFIX + "node:" + self.node, inbox(self.node)])
            except (RedisError, OSError) as exc:
                log.warning("cluster: could not say this node is leaving: %s", exc)

    async def _writer(self, writer: coredis.Redis[str]) -> None:
        """This node's entries, in order: one call for everything queued meanwhile."""
        add = writer.register_script(_ADD)
        while True:
            if self._forgets:
                self._writing = True
                await self._forget(writer, self._forgets.pop(0))
                self._wrote()
                continue
            if not self._out and not self._history:
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            batch, history = self._out[:BATCH], self._history[:BATCH]
            self._writing = bool(history)
            keys: list[str] = []
            args: list[str] = []
            # An inbox nobody reads any more (its node died) keeps its last entries only; the log is trimmed
            # by the snapshots; a channel's history keeps its last messages.
            for stream, entry in [*_entries(batch), *history]:
                keep = 0 if stream == LOG else INBOX_KEEP if stream.startswith(INBOX) else HISTORY_KEEP
                ((field, value),) = entry.items()
                keys.append(stream)
                args += [str(keep), field, value]
            with trio.fail_after(CALL_TIMEOUT):
                await add(keys=keys, args=args)
            del self._out[: len(batch)]
            del self._history[: len(history)]
            self._wrote()

    def _wrote(self) -> None:
        self._writing = False
        self._written.set()
        self._written = trio.Event()

    async def _forget(self, writer: coredis.Redis[str], event: Event) -> None:
        """A HISTSERV FORGET: the nick's messages (since its time) leave every channel's history stream."""
        target, since = casefold(event.data["target"]), float(event.data.get("since") or 0)
        for key in list(self.hub.channels):
            with trio.fail_after(CALL_TIMEOUT):
                entries = await writer.xrange(history_stream(key), count=HISTORY_KEEP * 2)
                doomed = [
                    entry.identifier
                    for entry in entries
                    if (said := _history_event(entry.field_values.get("e"), key)) is not None
                    and casefold(said.data["nick"]) == target
                    and said.ts >= since
                ]
                if doomed:
                    await writer.xdel(history_stream(key), doomed)

    async def _reader(self, reader: coredis.Redis[str]) -> None:
        while True:
            await self._read(reader, block=BLOCK_MS)

    async def _read(self, reader: coredis.Redis[str], *, block: int | None) -> bool:
        """Handle the entries after the last ones handled (the log's and this node's inbox's, merged in the
        order Redis added them); False if there were none."""
        mine = inbox(self.node)
        with trio.fail_after(CALL_TIMEOUT + (block or 0) / 1000):
            reply = await reader.xread({LOG: self.replica.last_id, mine: self._inbox_id}, count=BATCH, block=block)
        reply = reply or {}
        merged = [(entry, stream) for stream in (LOG, mine) for entry in reply.get(stream, ())]
        # A stream that filled its COUNT may have more before another's next entry: stop at the first such end.
        ends = [entries[-1].identifier for entries in reply.values() if len(entries) == BATCH]
        cutoff = min(ends, key=order) if ends else None
        merged.sort(key=lambda pair: order(pair[0].identifier))
        for entry, stream in merged:
            if cutoff is not None and order(entry.identifier) > order(cutoff):
                break
            if stream != LOG:
                self._inbox_id = entry.identifier
            else:
                self.replica.last_id = entry.identifier  # (also for an entry none of whose ops stands)
            for index, op in enumerate(ops.decode_entry(dict(entry.field_values))):
                if isinstance(op, BadEntry):
                    log.warning("cluster: op %d of entry %s of %s skipped: %s", index, entry.identifier, stream, op)
                elif self._resuming and self._stored_already(entry.identifier, index, op):
                    continue
                elif not self._apply(entry.identifier, op, stream == LOG, index):
                    raise Resync
        if self.replica.said:
            for event in self.replica.said:
                if event.type == "message":
                    self._history.append((history_stream(casefold(event.data["channel"])), _history_entry(event)))
                else:  # HISTSERV FORGET by one of this node's operators: out of the history streams too
                    self._forgets.append(event)
            self.replica.said.clear()
            self._wake.set()
        for uid in self.replica.take_orphans():  # left while its intro was on the way: the others added it
            self._submit(Op("quit", uid, data={"why": "Connection closed", "how": "quit"}))
        if merged:
            # Written now, not by the flusher's next round: that waits for this task's next XREAD to be sent,
            # half a millisecond of this client's work, and a batch read is a round of its own already.
            self.hub.fanout.flush()
            await self.publish(self.hub.take_events())
            self._progress.set()
            self._progress = trio.Event()
        return bool(merged)

    def _apply(self, identifier: str, op: Op, log_entry: bool, index: int) -> bool:
        """The replica handles the op; a fault of ours in doing so skips that op (logged), never the node."""
        try:
            return self.replica.apply(identifier, op, log=log_entry, index=index)
        except Exception:
            log.exception("cluster: handling op %d of entry %s failed; skipped", index, identifier)
            return True

    def _stored_already(self, identifier: str, index: int, op: Op) -> bool:
        """At start, a message this node's store has (it handled it before it stopped): not again. Messages
        change no state, and no one is connected yet to be shown them."""
        if op.kind != "line" or op.data.get("c") not in ("PRIVMSG", "NOTICE"):
            return False
        return order(f"{identifier}-{index}" if index else identifier) <= self.stored_upto

    async def _heartbeat(self, writer: coredis.Redis[str]) -> None:
        """Refresh this node's key; a node whose key is gone has its users removed (a `down` entry)."""
        missing: set[str] = set()
        while True:
            with trio.fail_after(CALL_TIMEOUT):
                await self._beat(writer)
                others = sorted(self.replica.mirrors_of())
                values = await writer.mget([PREFIX + "node:" + node for node in others]) if others else []
            self.nodes = {}
            seen_missing, missing = missing, {node for node, value in zip(others, values, strict=True) if value is None}
            for node, value in zip(others, values, strict=True):
                if value is None:
                    if node in seen_missing and node not in self._reported:  # twice in a row: not a race
                        self._reported.add(node)
                        log.warning("cluster: node %s stopped answering: its users leave", node)
                        self._submit(Op("down", data={"gone": node, "why": SPLIT}))
                else:
                    self.nodes[node] = _figures(value)
            await trio.sleep(self.ttl / 3)

    async def _beat(self, writer: coredis.Redis[str]) -> None:
        figures = self.stats()["nodes"][self.node] | {"at": time.time()}
        await writer.set(PREFIX + "node:" + self.node, json.dumps(figures), px=int(self.ttl * 1000))

    async def _snapshots(self, writer: coredis.Redis[str]) -> None:
        """Every few seconds, the state as of the last entry handled (`write_snapshot`)."""
        while True:
            await trio.sleep(self.snapshot_every)
            if self.replica.last_id != self._snapshot_id:
                await self.write_snapshot(writer)

    async def write_snapshot(self, writer: coredis.Redis[str] | None = None) -> None:
        """The state as of the last entry handled, for nodes that start later; the log before this node's
        previous snapshot is trimmed (a node starting from that one, or a newer, needs none of it)."""
        writer = writer or self._writer_client
        while self._history or self._forgets or self._writing:  # the history up to the snapshot is in Redis first
            await self._written.wait()
        state = self.replica.dump()
        with trio.fail_after(CALL_TIMEOUT):
            await writer.eval(_NEWER, keys=[SNAPSHOT], args=[state["id"], json.dumps(state)])
            if self._snapshot_id:
                await writer.xtrim(LOG, coredis.PureToken.MINID, self._snapshot_id)  # type: ignore[arg-type]
        self._snapshot_id = state["id"]

    def _remote(self) -> int:
        return sum(1 for client in self.replica.users.values() if client.node)

    def stats(self) -> dict[str, Any]:
        """This node's id and state, and the other nodes' last figures (for `/api/stats`)."""
        local = sum(1 for client in self.hub.clients if client.registered and not client.node)
        return {"node": self.node, "state": self.state, "nodes": {self.node: {"users": local}} | self.nodes}


INBOX = PREFIX + "inbox:"


def inbox(node: str) -> str:
    """The stream of the private messages to `node`'s users."""
    return INBOX + node


def history_stream(key: str) -> str:
    """The stream of the public messages of the channel whose casefolded name is `key`."""
    return f"{PREFIX}chan:{key}"


def _history_entry(event: Event) -> dict[str, str]:
    return {"e": json.dumps({"ts": event.ts, "data": event.data}, separators=(",", ":"), ensure_ascii=False)}


def _history_event(raw: object, key: str) -> Event | None:
    """A history stream's entry as the message event it holds, or None if it is not a well-formed one of `key`."""
    try:
        body = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(body, dict) or not well_formed("message", body.get("data"), body.get("ts")):
        return None
    data = body["data"]
    if (
        casefold(data["channel"]) != key
        or not isinstance(data.get("msgid"), str)
        or order(data["msgid"]) == (0, 0, 0, 0)
    ):
        return None
    if stored_line(body["ts"], data) is None:  # what a join's replay could not show is not history to keep
        return None
    return Event("message", data, ts=float(body["ts"]))


def _entries(batch: list[tuple[str, Op]]) -> list[tuple[str, dict[str, str]]]:
    """The log entries for `batch`: each run of ops to the same stream as one entry (of `MAX_OPS` at most)."""
    entries: list[tuple[str, dict[str, str]]] = []
    run: list[Op] = []
    for index, (stream, op) in enumerate(batch):
        run.append(op)
        if index + 1 == len(batch) or batch[index + 1][0] != stream or len(run) == ops.MAX_OPS:
            entries.append((stream, ops.encode_entry(run)))
            run = []
    return entries


def order(identifier: str) -> tuple[int, int, int, int]:
    """A stream id, or a msgid made of one (`ms-seq`, then `-op` for an op of a batch, `.n` for a second
    target), as a tuple that sorts as they were written; zeros if it is none of these (a random msgid)."""
    head, _, target = identifier.partition(".")
    parts = head.split("-")
    if not 1 <= len(parts) <= 3 or not all(part.isdigit() for part in parts) or (target and not target.isdigit()):
        return (0, 0, 0, 0)
    ms, seq, index = (*map(int, parts), 0, 0)[:3]
    return ms, seq, index, int(target or 0)


def _account_op(name: str, account: Account | None, *, new: bool = False) -> Op:
    """`name` is now `account` (None: dropped); `new`: created only if the name is still free then."""
    data: dict[str, Any] = {"name": name, "state": account.snapshot() if account else None}
    return Op("account", data=data | ({"new": True} if new else {}))


def _client(url: str) -> coredis.Redis[str]:
    return coredis.Redis.from_url(url, decode_responses=True, retry_policy=coredis.retry.NoRetryPolicy())


def _new_id() -> str:
    return secrets.token_hex(6)


def _ignore(result: object) -> None:
    pass


def _shown(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def _figures(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int | float)} if isinstance(data, dict) else {}
