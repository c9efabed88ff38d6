"""The Hub: the one owner of chat state (clients, nicknames, channels) and of delivery.

Plain Python, no I/O. The server hands it each line a client sent; the hub answers by queueing
encoded lines for the clients concerned in its `Fanout` (which the flusher writes out once per
round), and records feed events that the server collects with `take_events()` right after the
call. What each command does lives in `commands.py`, whose table the hub is given (the hub does not
import it); this module keeps the state and the rules every command shares.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..config import ServerConfig
from ..protocol import (
    MAX_LINE,
    ForbiddenCharacter,
    LineTooLong,
    Message,
    RemoteProtocolError,
    casefold,
    encode,
    host_word,
    is_channel_name,
    parse,
)
from ..protocol import numerics as rpl
from . import events
from .accounts import NICKSERV, Account, Accounts, LoginLimiter, SaslState
from .bans import BanList
from .channel import Channel
from .events import Event
from .fanout import Fanout, Line, Recipient
from .limits import AddressBook
from .ratelimit import TokenBucket
from .readmarkers import ReadMarkers, markread_line
from .replay import ReplayLine, replay_messages
from .sink import Sink
from .whowas import Was, Whowas

if TYPE_CHECKING:
    from ..tls import LiveCertificate

log = logging.getLogger(__name__)

#: What a command handler is: the hub, the client and its message in; answers go through the hub.
Handler = Callable[["Hub", "Client", Message], None]

#: Commands a client may send before it is registered.
PRE_REGISTRATION = {
    *("CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT", "WEBIRC"),
    *("AUTHENTICATE", "REGISTER", "VERIFY"),  # accounts: SASL and registration come before the welcome
}
#: Commands that do not count against the flood bucket (answers to our own PINGs).
FLOOD_EXEMPT = {"PONG"}
#: The flood bucket's size until registration, at least: registering takes a few lines at once.
REGISTRATION_BURST = 10


@dataclass(eq=False, slots=True)
class Client:
    host: str
    outbox: Sink
    bucket: TokenBucket
    connected_at: float
    nick: str = "*"
    user: str = ""
    realname: str = ""
    registered: bool = False
    cap_negotiating: bool = False
    password_ok: bool = False
    relayed: bool = False
    #: Capabilities enabled (CAP REQ): one frozenset shared by every client with the same ones (`shared_caps`).
    caps: frozenset[str] = frozenset()
    server_time: int = 0  # tag bits from caps, read once per delivery: 1 "server-time", 2 "account-tag"
    channels: dict[str, Channel] = field(default_factory=dict)
    away: str | None = None
    last_message_at: float = 0.0
    #: Unix time the client connected (WHOIS 317's signon).
    signon: float = 0.0
    #: The operator name it logged in with (OPER), or None: an operator moderates every channel.
    oper: str | None = None
    #: User mode +i: hidden from WHO and NAMES of channels it does not share with the asker.
    invisible: bool = False
    #: The account it is logged in to (SASL, PASS account:password, NickServ IDENTIFY), or None.
    account: str | None = None
    #: SHA-256 fingerprint (hex) of the TLS client certificate it connected with, or None (SASL EXTERNAL).
    certfp: str | None = None
    #: A SASL exchange under way (AUTHENTICATE), `PASS account:password` waiting for registration.
    sasl: SaslState | None = None
    pass_login: tuple[str, str] | None = None
    #: Failed logins on this connection; the clock time before which its next line waits (a failure's delay).
    failed_logins: int = 0
    hold_until: float = 0.0
    #: When it is renamed for holding a registered nickname it has not identified for (nick protection).
    rename_at: float | None = None
    #: Connected over TLS (the `sts` capability then gives a duration, not a port).
    tls: bool = False
    #: Connected over the IRCv3 WebSocket transport (no `sts`: its ports and policy are IRC over TCP's).
    websocket: bool = False
    closed: bool = False
    #: In cluster mode: the user's id across the cluster, and the node serving it ("" here: a local client;
    #: any other is a mirror, whose outbox drops what it is given: its own node delivers to it).
    uid: str = ""
    node: str = ""

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.user or '~u'}@{self.host}"


#: Each distinct set of capabilities once (a few dozen in practice), bounded against a client cycling through them.
_CAP_SETS: dict[frozenset[str], frozenset[str]] = {}
MAX_CAP_SETS = 1024


def shared_caps(caps: frozenset[str]) -> frozenset[str]:
    """The one instance of `caps` the clients share: a set per client would cost ~200 bytes each."""
    if len(_CAP_SETS) < MAX_CAP_SETS:
        return _CAP_SETS.setdefault(caps, caps)
    return _CAP_SETS.get(caps, caps)


@dataclass(frozen=True, slots=True)
class Deferred:
    """Blocking work a command needs (an argon2 check, reading the config file).

    The client's connection runs `work()` on a worker thread before it reads the client's next
    line, then calls `then(result)` back on the trio thread; the hub itself never blocks.
    """

    work: Callable[[], Any]
    then: Callable[[Any], None]
    #: The worker-thread slot it runs in (a `trio.CapacityLimiter`), or None for the server's one for checks.
    limiter: Any = None
    #: True: `work` is an async function, awaited on the trio thread (cluster mode's wait for the log).
    awaited: bool = False


class Cluster(Protocol):
    """What the hub asks of cluster mode (`cluster/link.py`): the lines and leavings other nodes must see.

    The hub handles a line there when the cluster's log hands it back (`Hub.applying` then), on every node in
    the same order; so every node keeps the same chat state.
    """

    def takes(self, client: Client, message: Message) -> bool:
        """True if `message` from local `client` goes through the cluster log (it is handled when read back)."""
        ...

    def introduce(self, client: Client, welcome: Callable[[], None]) -> None:
        """`client` may register: once the log says its nickname is its own, `welcome()` (else 433)."""
        ...

    def leave(self, client: Client, reason: str, kind: str) -> None:
        """Local `client` was closed: the log removes it everywhere (`Hub.remove`)."""
        ...

    def changed(self, client: Client) -> None:
        """Local `client`'s account or operator name changed (a login, OPER): the other nodes' copies follow."""
        ...

    def behind(self, client: Client) -> Callable[[], Awaitable[None]] | None:
        """None if every line `client` sent is handled; else what to await first (a query then sees them)."""
        ...

    def create_account(self, client: Client, account: Account, done: Callable[[bool], None]) -> None:
        """Register `account` for `client` if its name is still free when the log says: `done(created)`."""
        ...


@dataclass(frozen=True, slots=True)
class Goodbye:
    """A closed client's ERROR line, held behind lines that wait for their commit."""

    client: Client
    data: bytes


class Hub:
    def __init__(
        self,
        config: ServerConfig,
        commands: Mapping[str, Handler],
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.wallclock = wallclock
        self._commands = commands
        #: Every connected client: a dict as an insertion-ordered set (about a third of a set's bytes per entry).
        self.clients: dict[Client, None] = {}
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, Channel] = {}
        #: Channels whose lasting state (topic, modes, lists) changed since the history writer took
        #: them (`take_changed`); None: the channel is gone, its stored state with it.
        self._changed: dict[str, Channel | None] = {}
        self.created = datetime.fromtimestamp(wallclock(), UTC)
        self.messages_total = 0
        #: Registered users (`nicks` also holds nicknames reserved by clients still registering).
        self.user_count = 0
        self.max_users = 0
        self._events: list[Event] = []
        self.fanout = Fanout()
        self.fanout.on_overflow = self._drop_slow
        self.motd = _read_motd(config.motd)
        #: Set when a history store records events: public messages then wait for their commit.
        self.durable = False
        #: Events recorded so far; `release(n)` lets out what waited for the first n to be stored.
        self.recorded = 0
        #: Deliveries waiting, in order: (events that must be stored first, line or (client, bytes)).
        self._held: deque[tuple[int, Line | Goodbye | tuple[Client, bytes]]] = deque()
        #: Each channel's recent public messages, replayed to joiners (filled only with a store).
        self.recent: dict[str, deque[ReplayLine]] = {}
        self._batches = 0
        #: Who recently held each nickname (WHOWAS), bounded.
        self.whowas = Whowas()
        #: Server bans (KLINE), restored from the store at start.
        self.bans = BanList()
        #: Registered accounts (restored from the store at start) and the failed-login counts.
        self.accounts = Accounts()
        self.login_limits = LoginLimiter()
        #: Each account's read markers (MARKREAD), restored from the store at start.
        self.read_markers = ReadMarkers()
        #: The store CHATHISTORY reads (its `chathistory`, `chathistory_targets`) and the thread slot it
        #: uses (the history writer's): set by the server when it keeps history.
        self.history: Any = None
        self.history_limiter: Any = None
        #: Cluster mode (None: a single server), and True while a line read back from its log is handled.
        self.cluster: Cluster | None = None
        self.applying = False
        #: Where `new_msgid` takes ids from while a log entry is handled (ids from the entry's, alike everywhere).
        self.msgids: Iterator[str] | None = None
        #: This run's msgids: a random prefix (so no counter to persist: none repeats an earlier run's) and a count.
        self._own_msgids = map(f"{secrets.token_urlsafe(12)}{{:x}}".format, itertools.count(1))
        #: Work waiting to run off the trio thread, one per client at most (see `Deferred`).
        self._deferred: dict[Client, Deferred] = {}
        #: Reads the settings again (REHASH, SIGHUP): set by whoever knows where they came from.
        self.reload: Callable[[], ServerConfig] | None = None
        #: The TLS listener's port, once there is one: the `sts` capability points plain clients to it.
        self.tls_port: int | None = None
        #: Certificates a rehash reads again (the chat's TLS listener, the monitor's HTTPS).
        self.certificates: list[LiveCertificate] = []
        #: Connections per address (and their connect rate): the server asks it before `connect`.
        self.addresses = AddressBook(
            config.max_clients_per_ip, config.max_connects_per_ip, config.connect_window, clock()
        )
        self.make_autojoin_channels()

    def make_autojoin_channels(self) -> None:
        """The autojoin channels exist from startup (and after a cluster snapshot), so no first joiner gets +o."""
        for name in self.config.autojoin_channels:
            self.channels.setdefault(casefold(name), Channel(name, created=int(self.wallclock())))

    # --- lifecycle -------------------------------------------------------------------------

    def connect(self, host: str, outbox: Sink) -> Client:
        now = self.clock()
        burst = self.config.flood_burst and max(self.config.flood_burst, REGISTRATION_BURST)
        bucket = TokenBucket(self.config.flood_rate, burst, now)
        host = sys.intern(host_word(host))  # one string for every client from the same address
        client = Client(host=host, outbox=outbox, bucket=bucket, connected_at=now, last_message_at=now)
        client.signon = self.wallclock()
        client.password_ok = self.config.password is None
        self.clients[client] = None
        self.addresses.add(client.host, now)
        return client

    def move_address(self, client: Client, host: str) -> str | None:
        """A trusted relay says who `client` really is: it counts by `host` now; why that is refused, or None."""
        now = self.clock()
        self.addresses.remove(client.host)
        self.addresses.refund(client.host, now)  # the relay's address does not pay for its users
        refusal = self.addresses.check(host, now)
        client.host = host
        self.addresses.add(host, now)
        return refusal

    def receive(self, client: Client, line: bytes | LineTooLong) -> None:
        """Handle one framed line from `client`: decode, parse, rate-limit, dispatch."""
        if client.closed:
            return
        if isinstance(line, LineTooLong):
            self.reply(client, rpl.ERR_INPUTTOOLONG, "Input line was too long")
            return
        try:
            text = line.decode("utf-8")
            message = parse(text)
        except UnicodeDecodeError:
            self.send(client, Message("FAIL", ("*", "INVALID_UTF8", "Line discarded: not valid UTF-8"), self.name))
            return
        except ForbiddenCharacter:
            why = "Line discarded: it contains NUL, CR or LF"
            self.send(client, Message("FAIL", ("*", "INVALID_CHARACTERS", why), self.name))
            return
        except RemoteProtocolError:
            return  # a line of spaces or a bare prefix: nothing to answer
        self.dispatch(client, message)

    def dispatch(self, client: Client, message: Message) -> None:
        command = message.command
        if command not in FLOOD_EXEMPT and not client.bucket.allow(self.clock()):
            self.record(events.flood(client.nick, client.host))
            self.disconnect(client, "Excess Flood", kind="flood")
            return
        handler = self._commands.get(command)
        if handler is None:
            if client.registered:
                self.reply(client, rpl.ERR_UNKNOWNCOMMAND, command, "Unknown command")
            else:
                self.reply(client, rpl.ERR_NOTREGISTERED, "You have not registered")
            return
        if not client.registered and command not in PRE_REGISTRATION:
            self.reply(client, rpl.ERR_NOTREGISTERED, "You have not registered")
            return
        if self.cluster is not None and client.registered and not self.applying:
            if self.cluster.takes(client, message):
                return  # handled when the cluster log hands it back
            if (caught_up := self.cluster.behind(client)) is not None:  # it sees its own lines first
                self.defer(
                    client, caught_up, lambda _: self.watching(client, handler, self, client, message), awaited=True
                )
            else:
                self.watching(client, handler, self, client, message)
            return
        handler(self, client, message)

    def finish(self, client: Client, deferred: Deferred, result: Any) -> None:
        """A deferred command's blocking work is done: its follow-up (see `Deferred`)."""
        if self.cluster is not None and client.registered and not self.applying:
            self.watching(client, deferred.then, result)
        else:
            deferred.then(result)

    def watching(self, client: Client, call: Callable[..., None], *args: Any) -> None:
        """`call(*args)`, and the other cluster nodes told if it changed `client`'s account or operator name."""
        before = (client.account, client.oper)
        call(*args)
        if (
            (client.account, client.oper) != before
            and client.registered
            and not client.closed
            and self.cluster is not None
        ):
            self.cluster.changed(client)

    def apply(self, client: Client, message: Message) -> None:
        """A line the cluster log hands back: handled as if just read (its sender's node checked the flood limit)."""
        handler = self._commands.get(message.command)
        if handler is not None:  # even if its client closed meanwhile: every node handles it alike
            handler(self, client, message)

    def disconnect(self, client: Client, reason: str, *, kind: str = "quit", error: str | None = None) -> None:
        """Remove `client`: peers see it QUIT with `reason`, the client gets an ERROR and is closed.

        The state changes at once (in cluster mode, when the log hands the leaving back: `remove`); the ERROR,
        and the `outbox.close()` that stops the client's reader, come after whatever was queued for the
        client before them (held lines included).
        """
        if client.closed:
            return
        client.closed = True
        self._deferred.pop(client, None)
        if not client.node:
            self.addresses.remove(client.host)
        if self.cluster is not None and client.registered and not client.node and not self.applying:
            if kind != "shutdown":  # at shutdown the node's leaving tells the others at once
                self.cluster.leave(client, reason, kind)
        else:
            self.remove(client, reason, kind)
        if client.node:
            return  # a mirror: its own node says goodbye
        goodbye = encode(Message("ERROR", (error or reason,)))
        if self._held:  # it waits its turn behind lines held for a commit, and so does the close
            self._held.append((0, Goodbye(client, goodbye)))
        else:
            self._say_goodbye(client, goodbye)

    def remove(self, client: Client, reason: str, kind: str) -> None:
        """`client` is gone from the chat: out of its channels and the nicknames, its peers told (QUIT)."""
        if self.clients.pop(client, 0) is not None:
            return
        if client.registered:
            self.user_count -= 1
            # At shutdown everyone leaves: n² QUIT lines would tell no one anything.
            peers = set() if kind == "shutdown" else self.peers_of(client) - {client}
            for channel in list(client.channels.values()):
                self._remove_member(channel, client, forget=kind != "shutdown")
            self.nicks.pop(casefold(client.nick), None)  # before anything that could raise: no ghosts
            self.gave_up_nick(client)
            self.record(events.leave(client.nick, None, reason, kind))
            if peers:
                self.broadcast(peers, Message("QUIT", (reason,), client.prefix))
        elif self.nicks.get(casefold(client.nick)) is client:
            del self.nicks[casefold(client.nick)]

    def shutdown(self, reason: str = "Server shutting down") -> None:
        """Everyone gets `ERROR :reason` and is closed (and no one the others' QUIT lines)."""
        for client in list(self.clients):
            if not client.node:
                self.disconnect(client, reason, kind="shutdown")

    def ping(self, client: Client) -> None:
        """The server's liveness probe of an idle client."""
        self.send(client, Message("PING", (self.name,)))

    def defer(
        self,
        client: Client,
        work: Callable[[], Any],
        then: Callable[[Any], None],
        limiter: Any = None,
        *,
        awaited: bool = False,
    ) -> None:
        """Have `work()` run off the trio thread (or be awaited) before `client`'s next line, then `then(result)`."""
        self._deferred[client] = Deferred(work, then, limiter, awaited)

    def take_deferred(self, client: Client) -> Deferred | None:
        return self._deferred.pop(client, None)

    @property
    def events_waiting(self) -> int:
        """Events recorded and not taken yet."""
        return len(self._events)

    def peek_events(self, start: int) -> list[Event]:
        """The waiting events from the `start`th on (cluster mode looks at what one entry recorded)."""
        return self._events[start:]

    def take_events(self) -> list[Event]:
        taken, self._events = self._events, []
        return taken

    def record(self, event: Event) -> None:
        self._events.append(event)
        self.recorded += 1

    def release(self, stored: int) -> None:
        """The history writer has stored the first `stored` events: deliver what waited for them."""
        held = self._held
        while held and held[0][0] <= stored:
            _, item = held.popleft()
            if isinstance(item, Line):
                self.fanout.broadcast(item)
            elif isinstance(item, Goodbye):
                self._say_goodbye(item.client, item.data)
            else:
                self.fanout.send(*item)

    def _say_goodbye(self, client: Client, data: bytes) -> None:
        """The ERROR line goes out after everything queued before it; then the client's reader stops."""
        self.fanout.send(client, data)
        client.outbox.close()

    # --- delivery --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.server_name

    def send(self, client: Client, message: Message) -> None:
        self.send_bytes(client, encode(message))

    def send_bytes(self, client: Client, data: bytes) -> None:
        if not client.closed:
            self._queue(client, data)

    def _queue(self, client: Client, data: bytes) -> None:
        if self._held:  # keep the order: nothing overtakes a line still waiting for its commit
            self._held.append((0, (client, data)))
        else:
            self.fanout.send(client, data)

    def allow_reply(self, client: Client, lines: int) -> None:
        """A query's answer of `lines` lines is on its way: it may pass the SendQ, within a bound.

        An honest LIST or WHO on a full server can be bigger than the SendQ; its size is bounded
        by the caps (channels for LIST, clients for WHO), so the client may have that much more
        queued, from the answer's write until the drain task takes it (`Outbox.allow`).
        """
        config = self.config
        bound = MAX_LINE * (max(config.max_channels or 1000, config.max_clients) + 2)
        client.outbox.allow(min(lines * MAX_LINE, bound), bound)

    def reply(self, client: Client, numeric: str, *params: str) -> None:
        """A numeric to `client`; a middle parameter that cannot be one (an echoed `a b`, `:x` or `""`) is `*`."""
        middles = [word if _is_word(word) else "*" for word in params[:-1]]
        self.send(client, Message(numeric, (client.nick, *middles, *params[-1:]), self.name))

    def fail(self, client: Client, command: str, code: str, *context_and_text: str) -> None:
        """An IRCv3 standard reply; an echoed context that cannot be a middle parameter (`a b`, `:x`) is `*`."""
        *context, text = context_and_text
        middles = [word if _is_word(word) else "*" for word in context]
        self.send(client, Message("FAIL", (command, code, *middles, text), self.name))

    def broadcast(
        self,
        recipients: Channel | Iterable[Client],
        message: Message | bytes,
        *,
        durable: bool = False,
        skip: Client | None = None,
        account: str | None = None,
        msgid: str | None = None,
        when: float | None = None,
    ) -> None:
        """Deliver `message` (a `Message` without tags, or a `text_line`) to a channel's members or to each
        recipient, encoded once.

        A `durable` one (a public message) waits, with a history store, until the event just
        recorded for it is committed, and so does everything sent after it, so that no one sees
        it before it is safe and nothing overtakes it. `when` is its `server-time` (now if not given:
        a message gives the time stored with it, so its history shows the same).
        """
        roster = recipients.roster() if isinstance(recipients, Channel) else list(recipients)
        line = Line(roster, message, self.wallclock() if when is None else when, skip, account, msgid)  # type: ignore[arg-type]
        if self.durable and (durable or self._held):
            self._held.append((self.recorded if durable else 0, line))
        else:
            self.fanout.broadcast(line)

    def new_msgid(self) -> str:
        """A fresh IRCv3 `msgid`, unique across restarts, stored in the message's event, so stable across them.

        No random bytes per message: that is a system call on the path of every message."""
        return next(self.msgids if self.msgids is not None else self._own_msgids)

    def batch_ref(self) -> str:
        """A new IRCv3 batch reference, unique on this server."""
        self._batches += 1
        return f"h{self._batches}"

    def remember(
        self, channel: Channel, nick: str, command: str, text: str, msgid: str | None = None, when: float | None = None
    ) -> None:
        """Keep a public message for replay to later joiners (only when a store keeps history), with
        the time its live line showed (`when`), so a client can tell the replay of a line it saw."""
        if self.durable and self.config.replay > 0:
            key = casefold(channel.name)
            recent = self.recent.get(key)
            if recent is None:
                recent = self.recent[key] = deque(maxlen=self.config.replay)
            recent.append(ReplayLine(self.wallclock() if when is None else when, nick, command, text, msgid))

    def _drop_slow(self, recipient: Recipient) -> None:
        client: Client = recipient  # type: ignore[assignment]
        if not client.closed:
            log.info("dropping %s: SendQ exceeded (%d bytes queued)", client.nick, client.outbox.size)
            self.disconnect(client, "SendQ exceeded", kind="sendq")

    # --- shared rules ----------------------------------------------------------------------

    def find_client(self, nick: str) -> Client | None:
        return self.nicks.get(casefold(nick))

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(casefold(name))

    def join(self, client: Client, name: str) -> None:
        key = casefold(name)
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(name, created=int(self.wallclock()))
            channel.ops.add(client)  # whoever creates a channel operates it
        if client in channel.members:
            return
        channel.add(client)
        client.channels[sys.intern(key)] = channel  # one key string for every member, not one each
        joined = Message("JOIN", (channel.name,), client.prefix)
        extended = [member for member in channel.members if "extended-join" in member.caps]
        if extended:  # IRCv3 extended-join: `JOIN #chan account :realname` for those who asked
            plain = [member for member in channel.members if "extended-join" not in member.caps]
            self.broadcast(plain, joined, account=client.account)
            full = Message("JOIN", (channel.name, client.account or "*", client.realname), client.prefix)
            self.broadcast(extended, full, account=client.account)
        else:
            self.broadcast(channel, joined, account=client.account)
        if client.away is not None:  # IRCv3 away-notify: right after the JOIN, as the spec asks
            self.notify_away(client, channel.members)
        if channel.founder and client.account and casefold(channel.founder) == casefold(client.account):
            channel.ops.add(client)  # a registered channel's founder operates it, whoever joined first
            self.broadcast(channel, Message("MODE", (channel.name, "+o", client.nick), self.name))
        if channel.topic:  # no topic, no 331: that answers TOPIC only (as ngircd, InspIRCd and ergo)
            self.reply(client, rpl.RPL_TOPIC, channel.name, channel.topic)
            self.reply(client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))
        if "draft/read-marker" in client.caps:  # before the names end, as the spec says
            marker = self.read_markers.get(client.account, key) if client.account else None
            self.send(client, markread_line(self.name, channel.name, marker))
        self.send_names(client, channel)
        recent = self.recent.get(key)
        if recent and "draft/chathistory" not in client.caps:  # such a client fetches what it lacks itself
            for message in replay_messages(recent, channel.name, client.caps, self.name, self.batch_ref()):
                self.send(client, message)
        self.record(events.join(client.nick, channel.name))

    def part(self, client: Client, channel: Channel, reason: str) -> None:
        self.broadcast(channel, Message("PART", (channel.name, reason) if reason else (channel.name,), client.prefix))
        self._remove_member(channel, client)
        self.record(events.leave(client.nick, channel.name, reason, "part"))

    def _remove_member(self, channel: Channel, client: Client, *, forget: bool = True) -> None:
        """`client` leaves; a channel left empty goes (its stored state too, unless the server is stopping)."""
        channel.remove(client)
        key = casefold(channel.name)
        client.channels.pop(key, None)
        if not channel.members and channel.name not in self.config.autojoin_channels and not channel.founder:
            self.channels.pop(key, None)
            self.recent.pop(key, None)  # its replay goes with it (the store still has the history)
            if forget and self.durable:
                self._changed[key] = None

    def kick(self, client: Client, channel: Channel, target: Client, reason: str) -> None:
        """`client` removes `target` from `channel`: everyone there (the target too) sees the KICK."""
        self.broadcast(channel, Message("KICK", (channel.name, target.nick, reason), client.prefix))
        self._remove_member(channel, target)
        self.record(events.kick(client.nick, channel.name, target.nick, reason))

    # --- lasting channel state -------------------------------------------------------------

    def state_changed(self, channel: Channel) -> None:
        """`channel`'s topic, modes or lists changed: the history writer stores it with its next commit."""
        if self.durable:  # without a store nothing takes them
            self._changed[casefold(channel.name)] = channel

    def take_changed(self) -> dict[str, dict[str, Any] | None]:
        """Snapshots of the channels changed since the last call, for the store (None: forget it, as one
        with nothing set: a restart need not bring back a channel no one configured)."""
        changed, self._changed = self._changed, {}
        return {
            key: channel.snapshot() if channel is not None and channel.has_state() else None
            for key, channel in changed.items()
        }

    def restore_channels(self, snapshots: Iterable[dict[str, Any]]) -> int:
        """Bring back stored channels (empty, with no operators) at startup; returns how many.

        A malformed row is skipped with a warning, and so is any past the channel cap.
        """
        restored = 0
        for data in snapshots:
            try:
                channel = Channel.restore(data)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("history: stored channel state left out, malformed: %s", exc)
                continue
            key = casefold(channel.name)
            if not is_channel_name(channel.name) or (
                self.config.max_channels and len(self.channels) >= self.config.max_channels and key not in self.channels
            ):
                continue
            self.channels[key] = channel
            restored += 1
        return restored

    def send_names(self, client: Client, channel: Channel) -> None:
        """353 lines (each within the line limit, sent one by one) and 366.

        An outsider sees nothing of a secret (+s) channel, and no invisible (+i) member it shares no
        channel with. Prefixes: the highest (`@`, `+`), all with `multi-prefix`, full masks with
        `userhost-in-names`.
        """
        member_view = client in channel.members
        if member_view or not channel.is_secret():
            multi = "multi-prefix" in client.caps
            full = "userhost-in-names" in client.caps
            shown = channel.members if member_view else [m for m in channel.members if self.visible_to(m, client)]
            words = [channel.prefix_of(m, multi=multi) + (m.prefix if full else m.nick) for m in shown]
            kind = "@" if channel.is_secret() else "="
            head = f":{self.name} {rpl.RPL_NAMREPLY} {client.nick} {kind} {channel.name} :"
            room = 510 - len(head.encode())
            batch: list[str] = []
            used = 0
            for word in words:
                cost = len(word.encode()) + 1
                if batch and used + cost > room:
                    self.reply(client, rpl.RPL_NAMREPLY, kind, channel.name, " ".join(batch))
                    batch, used = [], 0
                batch.append(word)
                used += cost
            if batch:
                self.reply(client, rpl.RPL_NAMREPLY, kind, channel.name, " ".join(batch))
        self.reply(client, rpl.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")

    def may_see(self, client: Client, channel: Channel) -> bool:
        """False for a secret (+s) channel `client` is not in (server operators see all)."""
        return not channel.is_secret() or client in channel.members or client.oper is not None

    def visible_to(self, member: Client, asker: Client) -> bool:
        """False for an invisible (+i) user who shares no channel with `asker` (operators see everyone)."""
        if not member.invisible or member is asker or asker.oper is not None:
            return True
        return any(asker in channel.members for channel in member.channels.values())

    def notify_away(self, client: Client, among: Iterable[Client]) -> None:
        """IRCv3 away-notify: those of `among` (but `client`) with the cap see `client`'s away state now."""
        notified = [peer for peer in among if peer is not client and "away-notify" in peer.caps]
        if notified:
            away = Message("AWAY", (client.away,) if client.away is not None else (), client.prefix)
            self.broadcast(notified, away, account=client.account)

    def peers_of(self, client: Client) -> set[Client]:
        """Everyone who shares a channel with `client`, `client` included."""
        peers = {client}
        for channel in client.channels.values():
            peers.update(channel.members)
        return peers

    def gave_up_nick(self, client: Client) -> None:
        """`client` leaves, or changes, its nickname: WHOWAS remembers who held it."""
        self.whowas.add(Was(client.nick, client.user, client.host, client.realname, self.wallclock()))

    def rename(self, client: Client, new: str) -> None:
        """`client` (registered) is now known as `new`, which is free: its peers see the NICK."""
        old = client.nick
        if self.nicks.get(casefold(old)) is client:
            del self.nicks[casefold(old)]
        self.nicks[casefold(new)] = client
        self.broadcast(self.peers_of(client), Message("NICK", (new,), client.prefix))
        self.gave_up_nick(client)
        client.nick = new
        self.record(events.nick_change(old, new))

    def nick_grace_over(self, client: Client) -> None:
        """Its grace has run out: a client still on a nickname registered to another account becomes GuestNNNN."""
        client.rename_at = None
        owner = self.accounts.find(client.nick)
        if client.closed or owner is None or (client.account and casefold(client.account) == casefold(owner.name)):
            return
        number = int(self.clock() * 1000) % 9000 + 1000
        while f"guest{number}" in self.nicks:
            number = number % 9999 + 1
        guest = f"Guest{number}"
        text = f"You did not identify for {client.nick} in time: you are now {guest}"
        self.send(client, Message("NOTICE", (client.nick, text), f"{NICKSERV}!{NICKSERV}@services."))
        log.info("%s renamed %s: nickname registered to %s", client.prefix, guest, owner.name)
        if self.cluster is not None and not self.applying:
            self.cluster.takes(client, Message("NICK", (guest,)))  # renamed on every node, in the log's order
        else:
            self.rename(client, guest)

    def mark_registered(self, client: Client) -> None:
        client.registered = True
        # The lines it took to register do not eat into what the user may send afterwards.
        client.bucket = TokenBucket(self.config.flood_rate, self.config.flood_burst, self.clock())
        self.user_count += 1
        self.max_users = max(self.max_users, self.user_count)


def _is_word(param: str) -> bool:
    """True if `param` can be a middle parameter: not empty, no space, no leading ':'."""
    return bool(param) and " " not in param and param[0] != ":"


def _read_motd(path: str | None) -> list[str] | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:  # text mode: a bare CR ends a line too
        return [line.rstrip("\r\n").replace("\0", "") for line in fh]
