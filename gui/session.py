"""`ChatSession`: the trio side of the GUI. It owns the stream to the server (TCP, or TLS over it)
and turns IRC lines (parsed by `multichat_trio.protocol`, no second parser) into `events` for a
`SessionListener`, recording them in a `ChatModel` that outlives the session.

The windows call it only through non-blocking methods (`perform`, `say`, `close`). What the user
sends waits in a bounded backlog (`MAX_PASTE` lines: a bigger paste is refused whole, never cut);
a feeder task paces it under the server's flood limit into the bounded channel of a writer task.
On joining a channel it asks `CHATHISTORY` for what the model lacks: the latest lines, or after a
reconnect the ones after the newest it holds. `run()` connects, registers, and returns when the
connection is over, after reporting a `Disconnected` that says why in plain words; when cancelled,
it still says QUIT on the way out.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import trio

from multichat_trio.protocol import LineFramer, LineTooLong, Message, casefold, encode, is_valid_nick, parse

from . import wording
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
    SessionListener,
    TopicChanged,
    UsersChanged,
    WhoisReply,
)
from .model import ChatModel
from .outgoing import NotSent, messages_for
from .userinput import (
    HELP_LINES,
    Act,
    Away,
    ConnectTarget,
    InputError,
    ListChannels,
    MessageTo,
    Query,
    QuitChat,
    Say,
    ShowHelp,
    UserCommand,
    Whois,
    split_text,
)

CONNECT_TIMEOUT = 10.0  # seconds to open the TCP connection (and the TLS handshake)
REGISTER_TIMEOUT = 30.0  # seconds from connecting to the welcome (001)
IDLE_TIMEOUT = 150.0  # seconds of server silence before we PING it
PONG_TIMEOUT = 60.0  # seconds it then has to answer before we call the connection dead
SEND_TIMEOUT = 30.0  # seconds a write may stay blocked on a server that does not read
QUIT_GRACE = 2.0  # seconds to say QUIT and see the server close, on the way out
OUTGOING_LINES = 64  # bound of the writer's channel (paced lines and protocol replies)
#: Lines that may wait to be sent: a paste of more is refused whole, with a message; nothing is cut.
MAX_PASTE = 500
#: Client-side pacing, below the server's default token bucket (burst 10, 2 lines/s).
PACE_BURST = 8
PACE_RATE = 1.5
#: Room on a relayed line for the `!user@host` part of our prefix, which we cannot see.
PREFIX_RESERVE = 80
ACTION = "\x01ACTION "
CAPS_WANTED = "draft/chathistory batch message-tags server-time echo-message multi-prefix away-notify"
#: Lines asked for on a first join, and per catch-up request after a reconnect (the server's maximum).
HISTORY_LATEST = 50
HISTORY_AFTER = 100
#: Bounds on what a server's answers may make us hold: LIST rows, open batches, pending WHOIS.
MAX_LIST_ROWS = 10_000
MAX_OPEN = 16
_QUIET_NUMERICS = {"002", "003", "004", "005", "251", "252", "253", "254", "255", "265", "266", "333"}
_QUIET_NUMERICS |= {"353", "366", "375", "376", "422", "321", "903", "908"}
_WHOIS_NUMERICS = {"301", "307", "311", "312", "313", "317", "319", "320", "330", "338", "378", "379", "671", "276"}


class ChatSession:
    """One connection attempt as `target.nick`. Create a new session (with the same model) to reconnect."""

    def __init__(
        self,
        target: ConnectTarget,
        listener: SessionListener,
        *,
        model: ChatModel | None = None,
        pace_burst: int = PACE_BURST,
        pace_rate: float = PACE_RATE,
        caps: str = CAPS_WANTED,
    ) -> None:
        self.target = target
        self.listener = listener
        self.model = model if model is not None else ChatModel()
        self.nick = target.nick
        self.registered = False
        self.caps: set[str] = set()
        self.quit_reason = "Leaving"
        #: Seconds between the welcome and the end of the connection (0 when it never registered).
        self.uptime = 0.0
        self._caps_wanted = caps.split()
        self._offered: set[str] = set()
        self._pace = (pace_burst, pace_rate)
        self._prefixes = {"o": "@", "v": "+"}  # mode letter -> prefix, from ISUPPORT PREFIX
        self._arg_modes = ("be", "k", "l")  # CHANMODES types A, B, C: the ones taking an argument
        self._members: dict[str, dict[str, Member]] = {}  # casefold(channel) -> casefold(nick) -> member
        self._channel_names: dict[str, str] = {}
        self._names_pending: dict[str, dict[str, Member]] = {}
        self._joined_at: dict[str, datetime] = {}
        self._registered_at = datetime.now(UTC)
        self._up_since: float | None = None
        self._server_name: str | None = None
        self._batches: dict[str, _Batch] = {}  # the open chathistory batches by reference
        self._catching_up: set[str] = set()  # casefold(channel) whose CHATHISTORY AFTER is on its way
        self._whois: dict[str, list[str]] = {}
        self._whois_where: dict[str, str] = {}  # casefold(nick) -> the conversation that asked
        self._list_rows: list[ChannelRow] = []
        self._away_message = ""
        self._backlog: deque[bytes] = deque()  # what the user sent, waiting for the pacer; ≤ MAX_PASTE
        self._backlog_changed = trio.Event()
        self._send_line, self._outgoing = trio.open_memory_channel[bytes](OUTGOING_LINES)
        self._scope = trio.CancelScope()
        self._outcome: Disconnected | None = None
        self._server_closed = False

    # --- what the windows call (never blocks) ------------------------------------------------

    def users(self, channel: str) -> tuple[str, ...]:
        """The members of `channel` as last reported, sorted case-insensitively."""
        return tuple(sorted((m.nick for m in self._members.get(casefold(channel), {}).values()), key=casefold))

    def members(self, channel: str) -> tuple[Member, ...]:
        """The members of `channel` with their prefixes: operators, then voiced, then the rest."""
        order = "".join(self._prefixes.values())
        found = self._members.get(casefold(channel), {}).values()
        return tuple(sorted(found, key=lambda m: (order.find(m.prefixes[:1]) if m.prefixes else 99, casefold(m.nick))))

    @property
    def channels(self) -> list[str]:
        return list(self._channel_names.values())

    @property
    def outcome(self) -> Disconnected | None:
        """Why the connection ended, once it has."""
        return self._outcome

    def perform(self, target: str, command: UserCommand) -> str | None:
        """Carry out what the user typed in the window talking to `target`; an error text or None."""
        match command:
            case InputError(text):
                return text
            case ShowHelp():
                for line in HELP_LINES:
                    self._emit(ServerNotice(line, target=target))
                return None
            case QuitChat(reason):
                self.close(reason)
                return None
        if not self.registered or self._outcome is not None:
            return "Not connected."
        match command:
            case Say(text):
                return self.say(target, text)
            case Act(text):
                return self.say(target, text, action=True)
            case MessageTo(nick, text):
                return self.say(nick, text)
            case Query(nick, text):
                if not is_valid_nick(nick) and not is_valid_nick(nick, relayed=True):
                    return f"'{nick}' is not a nickname."
                known = self.model.get(nick) is not None
                self._emit(ConversationOpened(nick))
                if not known:
                    self._fetch_history(nick)
                return self.say(nick, text) if text else None
            case Away(message):
                self._away_message = message
            case Whois(nick):
                if len(self._whois) >= MAX_OPEN:
                    return "Wait for the answers to the earlier /whois first."
                self._whois[casefold(nick)] = []
                self._whois_where[casefold(nick)] = target
            case ListChannels():
                self._list_rows = []
        try:
            return self._send_user(messages_for(command, target, self.nick))
        except NotSent as exc:
            return str(exc)

    def say(self, target: str, text: str, *, action: bool = False) -> str | None:
        """Send `text` to a channel or a nick, split into lines that fit the protocol's limit.

        Every line of a paste goes, paced; a paste too big to wait is refused whole."""
        if not self.registered or self._outcome is not None:
            return "Not connected."
        if not target:
            return "Type that in a channel or a private conversation, or use /msg nick text."
        head = f":{self.nick}!@ PRIVMSG {target} :".encode()
        budget = 510 - len(head) - PREFIX_RESERVE - (len(ACTION) + 1 if action else 0)
        bodies = [f"{ACTION}{piece}\x01" if action else piece for piece in split_text(text, budget)]
        error = self._send_user([Message("PRIVMSG", (target, body)) for body in bodies])
        if error is None and "echo-message" not in self.caps:
            for body in bodies:
                self._emit_message(self.nick, target, body, datetime.now(UTC), own=True)
        return error

    def close(self, reason: str = "Leaving") -> None:
        """Leave: say QUIT with `reason` and end `run()`."""
        self.quit_reason = reason or "Leaving"
        self._finish(Disconnected("quit", "You left the chat."))

    # --- the connection ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, register and chat until the connection ends; then report why to the listener."""
        try:
            stream = await self._connect()
        except _ConnectFailed as failed:
            self._emit(failed.outcome)
            return
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, stream)
                    nursery.start_soon(self._pace_backlog)
                    self._queue(Message("CAP", ("LS", "302")))
                    self._queue(Message("NICK", (self.nick,)))
                    self._queue(Message("USER", (self.nick, "0", "*", "MultiChat GUI")))
                    await self._read(stream)
        finally:
            with trio.CancelScope(shield=True):
                await self._goodbye(stream)
            if self._up_since is not None:
                self.uptime = trio.current_time() - self._up_since
        self._emit(self._outcome or Disconnected("closed", "The connection ended."))

    async def _connect(self) -> trio.abc.Stream:
        """The TCP stream, wrapped in TLS when the target asks for it; raises _ConnectFailed."""
        host, port = self.target.host, self.target.port
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                tcp = await trio.open_tcp_stream(host, port)
        except (OSError, trio.TooSlowError) as exc:
            raise _ConnectFailed(wording.connect_failure(host, port, exc)) from None
        if not self.target.tls:
            return tcp
        stream = trio.SSLStream(tcp, client_context(self.target.tls_verify), server_hostname=host)
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                await stream.do_handshake()
        except (trio.BrokenResourceError, trio.TooSlowError, OSError) as exc:
            await trio.aclose_forcefully(stream)
            raise _ConnectFailed(wording.tls_failure(host, port, exc)) from None
        except BaseException:  # cancelled mid-handshake: the app is closing
            await trio.aclose_forcefully(stream)
            raise
        return stream

    async def _goodbye(self, stream: trio.abc.Stream) -> None:
        """Say QUIT unless the server already hung up, and wait briefly for it to close its side."""
        with trio.move_on_after(QUIT_GRACE), contextlib.suppress(trio.BrokenResourceError, OSError):
            if not self._server_closed:
                await stream.send_all(encode(Message("QUIT", (self.quit_reason,))))
                while await stream.receive_some(4096):
                    pass  # the server's ERROR goodbye; the EOF after it means our QUIT was read
        await trio.aclose_forcefully(stream)

    def _finish(self, outcome: Disconnected) -> None:
        if self._outcome is None:
            self._outcome = outcome
        self._scope.cancel()

    def _queue(self, message: Message) -> str | None:
        """A protocol line (registration, PONG): straight to the writer, unpaced."""
        try:
            self._send_line.send_nowait(encode(message))
        except trio.WouldBlock:
            return "The server is not taking what this app sends; wait a moment and try again."
        return None

    def _send_user(self, messages: list[Message]) -> str | None:
        """Lines on the user's behalf: all of them wait their turn in the backlog, or none does."""
        if len(self._backlog) + len(messages) > MAX_PASTE:
            waiting = f" ({len(self._backlog)} earlier lines are still waiting)" if self._backlog else ""
            return (
                f"That is {len(messages)} lines: at most {MAX_PASTE} can wait to be sent{waiting}. "
                "Nothing of it was sent; send it in smaller parts."
            )
        self._backlog.extend(encode(message) for message in messages)
        self._backlog_changed.set()
        return None

    async def _pace_backlog(self) -> None:
        """Move the backlog to the writer, paced by a token bucket so the server never sees a flood."""
        burst, rate = self._pace
        tokens, last = float(burst), trio.current_time()
        while True:
            while not self._backlog:
                self._backlog_changed = trio.Event()
                await self._backlog_changed.wait()
            now = trio.current_time()
            tokens = min(float(burst), tokens + (now - last) * rate)
            last = now
            if tokens < 1:
                await trio.sleep((1 - tokens) / rate)  # pacing, not synchronisation
                tokens, last = 1.0, trio.current_time()
            tokens -= 1
            await self._send_line.send(self._backlog.popleft())

    async def _write(self, stream: trio.abc.Stream) -> None:
        """Send queued lines in order."""
        async for data in self._outgoing:
            try:
                with trio.fail_after(SEND_TIMEOUT):
                    await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, trio.TooSlowError):
                self._server_closed = True
                self._finish(Disconnected("closed", "The connection to the server was lost."))
                return

    async def _read(self, stream: trio.abc.Stream) -> None:
        framer = LineFramer(max_line=8192)  # server lines are ≤ 512 bytes plus IRCv3 tags
        connected_at = last_heard = trio.current_time()
        pinged = False
        while True:
            if not self.registered:
                deadline = connected_at + REGISTER_TIMEOUT
            else:
                deadline = last_heard + (PONG_TIMEOUT if pinged else IDLE_TIMEOUT)
            with trio.move_on_at(deadline) as waited:
                try:
                    data = await stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
            if waited.cancelled_caught:
                if not self.registered or pinged:
                    self._finish(Disconnected("ping", "The server stopped answering."))
                    return
                self._queue(Message("PING", ("multichat-gui",)))
                pinged, last_heard = True, trio.current_time()
                continue
            if not data:
                self._server_closed = True
                self._finish(Disconnected("closed", "The server closed the connection."))
                return
            last_heard, pinged = trio.current_time(), False
            for line in framer.feed(data):
                if isinstance(line, LineTooLong):
                    continue
                with contextlib.suppress(ValueError):  # RemoteProtocolError: no command, or NUL, CR or LF inside
                    self._handle(parse(line.decode("utf-8", "replace")))
                if self._outcome is not None:
                    return

    # --- IRC lines to events -------------------------------------------------------------------

    def _handle(self, msg: Message) -> None:
        nick = (msg.source or "").partition("!")[0]
        when = _server_time(msg)
        command = msg.command
        if command == "PING":
            self._queue(Message("PONG", msg.params))
        elif command == "CAP":
            self._cap(msg)
        elif command == "AUTHENTICATE" and msg.param(0) == "+":
            self._authenticate()
        elif command in ("903", "907"):
            self._queue(Message("CAP", ("END",)))
        elif command in ("902", "904", "905", "906"):
            self._finish(Disconnected("login", wording.login_refused(self.target.nick, msg.param(1))))
        elif command == "001":
            self._welcome(msg, when)
        elif command == "005":
            self._isupport(msg.params[1:-1])
        elif command in ("433", "432"):
            self._nick_refused(msg)
        elif command == "JOIN":
            self._joined(nick, msg.param(0), when)
        elif command == "PART":
            self._left("part", nick, msg.param(0), msg.param(1), when)
        elif command == "KICK":
            self._left("kick", msg.param(1), msg.param(0), msg.param(2), when, by=nick)
        elif command == "QUIT":
            self._emit(Membership("quit", nick, reason=msg.param(0), time=when))
            for channel in self._members.values():
                channel.pop(casefold(nick), None)
            self._emit_users()
        elif command == "NICK":
            self._renamed(nick, msg.param(0), when)
        elif command == "MODE":
            self._mode(nick, msg)
        elif command == "353":
            pending = self._names_pending.setdefault(casefold(msg.param(2)), {})
            for word in msg.param(3).split():
                member = self._member(word)
                pending[casefold(member.nick)] = member
        elif command == "366":
            key = casefold(msg.param(1))
            if key in self._members:
                self._members[key] = self._names_pending.pop(key, {})
                self._emit_users(key)
        elif command in ("PRIVMSG", "NOTICE"):
            self._said(msg, nick, when)
        elif command == "BATCH":
            self._batch(msg)
        elif command == "FAIL" and msg.param(0) == "CHATHISTORY":
            self._history_failed(msg)
        elif command == "401":
            self._whois.pop(casefold(msg.param(1)), None)
            self._whois_where.pop(casefold(msg.param(1)), None)
            self._emit(NotDelivered(msg.param(1), f"{msg.param(1)} is not online ({msg.param(2)})."))
        elif command in ("332", "331"):
            self._emit(TopicChanged(msg.param(1), msg.param(2) if command == "332" else ""))
        elif command == "TOPIC":
            self._emit(TopicChanged(msg.param(0), msg.param(1), nick, when))
        elif command == "AWAY":
            self._emit(AwayChanged(nick, msg.param(0), own=casefold(nick) == casefold(self.nick)))
        elif command in ("305", "306"):
            self._emit(AwayChanged(self.nick, self._away_message if command == "306" else "", own=True))
        elif command == "381":
            self._emit(OperChanged(msg.param(1)))
        elif command == "322":
            count = int(msg.param(2)) if msg.param(2).isdigit() else 0
            if len(self._list_rows) < MAX_LIST_ROWS:
                self._list_rows.append(ChannelRow(msg.param(1), count, msg.param(3)))
        elif command == "323":
            self._emit(ChannelList(tuple(self._list_rows)))
            self._list_rows = []
        elif command in _WHOIS_NUMERICS and casefold(msg.param(1)) in self._whois:
            self._whois[casefold(msg.param(1))].append(wording.whois_line(msg))
        elif command == "318":
            lines = self._whois.pop(casefold(msg.param(1)), None)
            where = self._whois_where.pop(casefold(msg.param(1)), "")
            if lines is not None:
                self._emit(WhoisReply(msg.param(1), tuple(lines), where))
        elif command == "301":
            self._emit(ServerNotice(f"{msg.param(1)} is away: {msg.param(2)}", target=msg.param(1)))
        elif command == "ERROR":
            self._server_closed = True
            self._finish(wording.server_error(msg.param(0)))
        elif command.isdigit() and command not in _QUIET_NUMERICS:
            text = " ".join(msg.params[1:])
            where = msg.param(1) if msg.param(1).startswith("#") else ""
            self._emit(ServerNotice(text, error=command[0] in "45", target=where))

    # --- registration: CAP, SASL, ISUPPORT -------------------------------------------------------

    def _cap(self, msg: Message) -> None:
        sub = msg.param(1)
        if sub == "LS":
            listed = msg.params[-1]
            self._offered.update(word.partition("=")[0] for word in listed.split())
            if msg.param(2) == "*" and len(msg.params) > 3:
                return  # more CAP LS lines follow
            wanted = [cap for cap in self._caps_wanted if cap in self._offered]
            if self.target.password and "sasl" in self._offered:
                wanted.append("sasl")
            if wanted:
                self._queue(Message("CAP", ("REQ", " ".join(wanted))))
            else:
                self._queue(Message("CAP", ("END",)))
        elif sub == "ACK":
            self.caps.update(cap for cap in msg.param(2).split() if not cap.startswith("-"))
            if "sasl" in self.caps and self.target.password:
                self._queue(Message("AUTHENTICATE", ("PLAIN",)))
            else:
                self._queue(Message("CAP", ("END",)))
        elif sub == "NAK":
            self._queue(Message("CAP", ("END",)))

    def _authenticate(self) -> None:
        """SASL PLAIN: the account is the nick; base64 in 400-byte pieces, `+` after an exact fit."""
        secret = f"{self.target.nick}\0{self.target.nick}\0{self.target.password}".encode()
        payload = base64.b64encode(secret).decode()
        pieces = [payload[i : i + 400] for i in range(0, len(payload), 400)]
        if len(pieces[-1]) == 400:
            pieces.append("+")
        for piece in pieces:
            self._queue(Message("AUTHENTICATE", (piece,)))

    def _welcome(self, msg: Message, when: datetime) -> None:
        self.registered, self.nick, self._registered_at = True, msg.param(0, self.nick), when
        self._up_since = trio.current_time()
        self._server_name = msg.source
        self._emit(Registered(self.nick))
        if self.target.password and "sasl" not in self.caps:
            self._emit(ServerNotice("This server offers no SASL login: you are not logged in.", error=True))
        rejoin = self.model.channels_to_rejoin()
        if rejoin:
            self._send_user([Message("JOIN", (",".join(rejoin),))])
        for conversation in list(self.model.conversations.values()):
            if conversation.kind == "private" and conversation.newest_msgid():
                self._fetch_history(conversation.name)  # what reached a connection already dead

    def _isupport(self, tokens: tuple[str, ...]) -> None:
        for token in tokens:
            name, _, value = token.partition("=")
            if name == "PREFIX" and value.startswith("(") and ")" in value:
                modes, _, symbols = value[1:].partition(")")
                if len(modes) == len(symbols):
                    self._prefixes = dict(zip(modes, symbols, strict=True))
            elif name == "CHANMODES" and value.count(",") >= 2:
                self._arg_modes = tuple(value.split(",")[:3])

    def _nick_refused(self, msg: Message) -> None:
        wanted, in_use = msg.param(1), msg.command == "433"
        if in_use:
            text = f"The nickname {wanted} is already taken. Pick another one."
        else:
            text = f"The server refused the nickname {wanted}: {msg.param(2)}"
        if self.registered:
            self._emit(ServerNotice(f"{text} You are still {self.nick}.", error=True))
        else:
            self._finish(Disconnected("nick_in_use" if in_use else "bad_nick", text))

    def _from_server(self, source: str | None) -> bool:
        """A line from the server rather than a user: no source, the server's own name, or a host
        name (a dot, no `!`). A bare nick (as in replayed history) is a user."""
        if source is None or source == self._server_name:
            return True
        return "!" not in source and "." in source

    # --- channels and members ----------------------------------------------------------------

    def _member(self, word: str) -> Member:
        """A NAMES entry: `@+alice` (multi-prefix), `@alice`, or `alice!u@host`."""
        symbols = "".join(self._prefixes.values())
        nick = word.lstrip(symbols)
        return Member(nick.partition("!")[0], word[: len(word) - len(nick)])

    def _joined(self, nick: str, channel: str, when: datetime) -> None:
        key = casefold(channel)
        own = casefold(nick) == casefold(self.nick)
        if own:
            self._members[key], self._channel_names[key], self._joined_at[key] = {}, channel, when
        self._members.setdefault(key, {})[casefold(nick)] = Member(nick)
        self._emit(Membership("join", nick, channel, time=when, own=own))
        if own:
            self._fetch_history(channel)
        else:
            self._emit_users(key)

    def _left(self, action: str, nick: str, channel: str, reason: str, when: datetime, by: str = "") -> None:
        key = casefold(channel)
        own = casefold(nick) == casefold(self.nick)
        self._members.get(key, {}).pop(casefold(nick), None)
        self._emit(Membership(action, nick, channel, reason=reason, time=when, own=own, by=by))
        if own:
            self._members.pop(key, None)
            self._channel_names.pop(key, None)
        self._emit(UsersChanged(channel, self.users(key), self.members(key)))

    def _renamed(self, old: str, new: str, when: datetime) -> None:
        own = casefold(old) == casefold(self.nick)
        if own:
            self.nick = new
        self._emit(Membership("nick", old, new_nick=new, time=when, own=own))
        for members in self._members.values():
            if (member := members.pop(casefold(old), None)) is not None:
                members[casefold(new)] = Member(new, member.prefixes)
        self._emit_users()

    def _mode(self, setter: str, msg: Message) -> None:
        """A channel's MODE change: a line for the channel, and member prefixes kept up to date."""
        channel = msg.param(0)
        key = casefold(channel)
        if key not in self._members:
            return  # a user mode, ours
        args, sign, changed = list(msg.params[2:]), "+", False
        for letter in msg.param(1):
            if letter in "+-":
                sign = letter
            elif letter in self._prefixes and args:
                changed |= self._set_prefix(key, args.pop(0), self._prefixes[letter], sign == "+")
            elif args and (letter in "".join(self._arg_modes[:2]) or (letter in self._arg_modes[2] and sign == "+")):
                args.pop(0)
        self._emit(ServerNotice(f"{setter} set mode {' '.join(msg.params[1:])}", target=channel))
        if changed:
            self._emit_users(key)

    def _set_prefix(self, key: str, nick: str, symbol: str, on: bool) -> bool:
        member = self._members[key].get(casefold(nick))
        if member is None:
            return False
        marks = set(member.prefixes) | {symbol} if on else set(member.prefixes) - {symbol}
        ordered = "".join(s for s in self._prefixes.values() if s in marks)
        self._members[key][casefold(nick)] = Member(member.nick, ordered)
        return True

    # --- history: CHATHISTORY and batches --------------------------------------------------------

    def _fetch_history(self, channel: str) -> None:
        """Ask for what the model lacks of `channel` (or of a private conversation): the latest
        lines, or those after its newest."""
        if "draft/chathistory" not in self.caps:
            return  # the server replays on join, or has no history; the model drops what it holds
        newest = self.model.newest_msgid(channel)
        if newest:
            self._catching_up.add(casefold(channel))
            request = ("AFTER", channel, f"msgid={newest}", str(HISTORY_AFTER))
        else:
            request = ("LATEST", channel, "*", str(HISTORY_LATEST))
        self._send_user([Message("CHATHISTORY", request)])

    def _batch(self, msg: Message) -> None:
        ref = msg.param(0)
        if ref.startswith("+") and msg.param(1) == "chathistory" and len(self._batches) < MAX_OPEN:
            self._batches[ref[1:]] = _Batch(msg.param(2), casefold(msg.param(2)) in self._catching_up)
        elif ref.startswith("-") and (batch := self._batches.pop(ref[1:], None)) is not None:
            caught_up = casefold(batch.target) in self._catching_up
            self._catching_up.discard(casefold(batch.target))
            if caught_up and batch.count >= HISTORY_AFTER:
                self._fetch_history(batch.target)  # a full page: more may follow the newest we now hold

    def _history_failed(self, msg: Message) -> None:
        """A catch-up the server cannot answer (its reference is gone): ask for the latest instead.
        A target it refuses (private history not kept) is left alone: nothing to show."""
        target = next((p for p in msg.params[2:] if casefold(p) in self._catching_up), "")
        self._catching_up.discard(casefold(target))
        if target and msg.param(1) != "INVALID_TARGET":
            self._send_user([Message("CHATHISTORY", ("LATEST", target, "*", str(HISTORY_LATEST)))])

    def _said(self, msg: Message, nick: str, when: datetime) -> None:
        """A PRIVMSG or NOTICE: from the server, or a user's line (live, or in a history batch)."""
        if self._from_server(msg.source):
            self._emit(ServerNotice(msg.param(1)))
            return
        batch = self._batches.get(msg.tags.get("batch", ""))
        if batch is not None:
            batch.count += 1
        msgid, notice = msg.tags.get("msgid", ""), msg.command == "NOTICE"
        history = None if batch is None else not batch.catch_up  # missed lines are news, not history
        self._emit_message(nick, msg.param(0), msg.param(1), when, notice=notice, msgid=msgid, history=history)

    # --- events --------------------------------------------------------------------------------

    def _emit_message(
        self,
        sender: str,
        target: str,
        text: str,
        when: datetime,
        *,
        own: bool = False,
        notice: bool = False,
        msgid: str = "",
        history: bool | None = None,
    ) -> None:
        action = text.startswith(ACTION)
        if action:
            text = text[len(ACTION) :].rstrip("\x01")
        elif text.startswith("\x01"):
            return  # other CTCP queries (VERSION, PING...) are not for the user
        own = own or casefold(sender) == casefold(self.nick)
        private = not target.startswith("#")
        since = self._registered_at if private else self._joined_at.get(casefold(target), self._registered_at)
        old = (when < since and not own) if history is None else history
        self._emit(ChatMessage(target, sender, text, when, private, own, action, notice, old, msgid))

    def _emit_users(self, key: str | None = None) -> None:
        for each in [key] if key is not None else list(self._channel_names):
            name = self._channel_names.get(each, each)
            self._emit(UsersChanged(name, self.users(each), self.members(each)))

    def _emit(self, event: SessionEvent) -> None:
        """Record `event` in the model, then tell the view; a message the model already has is dropped."""
        if self.model.apply(event) or not isinstance(event, ChatMessage):
            self.listener.session_event(event)


@dataclass
class _Batch:
    """An open `chathistory` batch: for which target, whether it answers a catch-up after a
    reconnect (its lines were missed, not old), and how many lines it held so far."""

    target: str
    catch_up: bool
    count: int = 0


class _ConnectFailed(Exception):
    def __init__(self, outcome: Disconnected) -> None:
        super().__init__(outcome.text)
        self.outcome = outcome


def client_context(verify: bool) -> ssl.SSLContext:
    """The system's trusted CAs and host-name check; with `verify` False, any certificate (encrypted,
    not authenticated: for a server on a trusted LAN with a self-signed certificate)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _server_time(msg: Message) -> datetime:
    """The `server-time` tag of `msg`, or now when it has none (or an unreadable one)."""
    stamp = msg.tags.get("time")
    if stamp:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp)
    return datetime.now(UTC)
