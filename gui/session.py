"""`ChatSession`: the trio side of the GUI. It owns the TCP stream to the server and turns IRC lines
(parsed by `multichat_trio.protocol`, no second parser) into `events` for a `SessionListener`.

The windows call it only through non-blocking methods (`perform`, `say`, `close`): outgoing lines
go through a bounded memory channel to a writer task that paces them under the server's flood
limit. `run()` connects, registers, and returns when the connection is over, after reporting a
`Disconnected` that says why in plain words; when cancelled, it still says QUIT on the way out.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import trio

from multichat_trio.protocol import LineFramer, LineTooLong, Message, casefold, encode, is_valid_nick, parse

from . import wording
from .events import (
    ChatMessage,
    Disconnected,
    Membership,
    NotDelivered,
    Registered,
    ServerNotice,
    SessionEvent,
    SessionListener,
    UsersChanged,
)
from .userinput import Act, ChangeNick, ConnectTarget, InputError, MessageTo, Say, UserCommand, split_text

CONNECT_TIMEOUT = 10.0  # seconds to open the TCP connection
REGISTER_TIMEOUT = 30.0  # seconds from connecting to the welcome (001)
IDLE_TIMEOUT = 150.0  # seconds of server silence before we PING it
PONG_TIMEOUT = 60.0  # seconds it then has to answer before we call the connection dead
SEND_TIMEOUT = 30.0  # seconds a write may stay blocked on a server that does not read
QUIT_GRACE = 2.0  # seconds to say QUIT and see the server close, on the way out
OUTGOING_LINES = 64  # bound of the outgoing queue; past it the user is told to slow down
#: Client-side pacing, below the server's default token bucket (burst 10, 2 lines/s).
PACE_BURST = 8
PACE_RATE = 1.5
#: Room on a relayed line for the `!user@host` part of our prefix, which we cannot see.
PREFIX_RESERVE = 80
ACTION = "\x01ACTION "
CAPS_WANTED = "echo-message server-time"
_QUIET_NUMERICS = {"002", "003", "004", "005", "251", "252", "253", "254", "255", "265", "266", "331", "333"}
_QUIET_NUMERICS |= {"353", "366", "375", "376", "422"}


class ChatSession:
    """One connection attempt as `target.nick`. Create a new session to reconnect."""

    def __init__(
        self,
        target: ConnectTarget,
        listener: SessionListener,
        *,
        pace_burst: int = PACE_BURST,
        pace_rate: float = PACE_RATE,
    ) -> None:
        self.target = target
        self.listener = listener
        self.nick = target.nick
        self.registered = False
        self.caps: set[str] = set()
        self.quit_reason = "Leaving"
        self._pace = (pace_burst, pace_rate)
        self._members: dict[str, dict[str, str]] = {}  # casefold(channel) -> casefold(nick) -> nick
        self._channel_names: dict[str, str] = {}
        self._names_pending: dict[str, dict[str, str]] = {}
        self._joined_at: dict[str, datetime] = {}
        self._registered_at = datetime.now(UTC)
        self._server_name: str | None = None
        self._send_line, self._outgoing = trio.open_memory_channel[tuple[bytes, bool]](OUTGOING_LINES)
        self._scope = trio.CancelScope()
        self._outcome: Disconnected | None = None
        self._server_closed = False

    # --- what the windows call (never blocks) ------------------------------------------------

    def users(self, channel: str) -> tuple[str, ...]:
        """The members of `channel` as last reported, sorted case-insensitively."""
        return tuple(sorted(self._members.get(casefold(channel), {}).values(), key=casefold))

    @property
    def channels(self) -> list[str]:
        return list(self._channel_names.values())

    def perform(self, target: str, command: UserCommand) -> str | None:
        """Carry out what the user typed in the window talking to `target`; an error text or None."""
        match command:
            case Say(text):
                return self.say(target, text)
            case Act(text):
                return self.say(target, text, action=True)
            case MessageTo(nick, text):
                return self.say(nick, text)
            case ChangeNick(nick):
                if not is_valid_nick(nick):
                    return f"'{nick}' is not a valid nickname."
                return self._queue(Message("NICK", (nick,)))
            case InputError(text):
                return text
        return f"Not handled here: {command}"

    def say(self, target: str, text: str, *, action: bool = False) -> str | None:
        """Send `text` to a channel or a nick, split into lines that fit the protocol's limit."""
        if not self.registered or self._outcome is not None:
            return "Not connected."
        head = f":{self.nick}!@ PRIVMSG {target} :".encode()
        budget = 510 - len(head) - PREFIX_RESERVE - (len(ACTION) + 1 if action else 0)
        for piece in split_text(text, budget):
            body = f"{ACTION}{piece}\x01" if action else piece
            error = self._queue(Message("PRIVMSG", (target, body)))
            if error:
                return error
            if "echo-message" not in self.caps:
                self._emit_message(self.nick, target, body, datetime.now(UTC), own=True)
        return None

    def close(self, reason: str = "Leaving") -> None:
        """Leave: say QUIT with `reason` and end `run()`."""
        self.quit_reason = reason or "Leaving"
        self._finish(Disconnected("quit", "You left the chat."))

    # --- the connection ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, register and chat until the connection ends; then report why to the listener."""
        host, port = self.target.host, self.target.port
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                stream = await trio.open_tcp_stream(host, port)
        except (OSError, trio.TooSlowError) as exc:
            self._emit(wording.connect_failure(host, port, exc))
            return
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, stream)
                    self._queue(Message("CAP", ("REQ", CAPS_WANTED)), paced=False)
                    self._queue(Message("NICK", (self.nick,)), paced=False)
                    self._queue(Message("USER", (self.nick, "0", "*", "MultiChat GUI")), paced=False)
                    self._queue(Message("CAP", ("END",)), paced=False)
                    await self._read(stream)
        finally:
            with trio.CancelScope(shield=True):
                await self._goodbye(stream)
        self._emit(self._outcome or Disconnected("closed", "The connection ended."))

    async def _goodbye(self, stream: trio.SocketStream) -> None:
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

    def _queue(self, message: Message, *, paced: bool = True) -> str | None:
        try:
            self._send_line.send_nowait((encode(message), paced))
        except trio.WouldBlock:
            return "You are typing faster than the server accepts; wait a moment and try again."
        return None

    async def _write(self, stream: trio.SocketStream) -> None:
        """Send queued lines in order, paced by a token bucket so the server never sees a flood."""
        burst, rate = self._pace
        tokens, last = float(burst), trio.current_time()
        async for data, paced in self._outgoing:
            if paced:
                now = trio.current_time()
                tokens = min(float(burst), tokens + (now - last) * rate)
                last = now
                if tokens < 1:
                    await trio.sleep((1 - tokens) / rate)  # pacing, not synchronisation
                    tokens, last = 1.0, trio.current_time()
                tokens -= 1
            try:
                with trio.fail_after(SEND_TIMEOUT):
                    await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, trio.TooSlowError):
                self._server_closed = True
                self._finish(Disconnected("closed", "The connection to the server was lost."))
                return

    async def _read(self, stream: trio.SocketStream) -> None:
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
                self._queue(Message("PING", ("multichat-gui",)), paced=False)
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
            self._queue(Message("PONG", msg.params), paced=False)
        elif command == "CAP" and msg.param(1) == "ACK":
            self.caps.update(cap for cap in msg.param(2).split() if not cap.startswith("-"))
        elif command == "001":
            self.registered, self.nick, self._registered_at = True, msg.param(0, self.nick), when
            self._server_name = msg.source
            self._emit(Registered(self.nick))
        elif command in ("433", "432"):
            self._nick_refused(msg)
        elif command == "JOIN":
            self._joined(nick, msg.param(0), when)
        elif command == "PART":
            self._left(nick, msg.param(0), msg.param(1), when)
        elif command == "KICK":
            self._left(msg.param(1), msg.param(0), f"kicked by {nick}: {msg.param(2)}", when)
        elif command == "QUIT":
            for channel in self._members.values():
                channel.pop(casefold(nick), None)
            self._emit(Membership("quit", nick, reason=msg.param(0), time=when))
            self._emit_users()
        elif command == "NICK":
            self._renamed(nick, msg.param(0), when)
        elif command == "353":
            pending = self._names_pending.setdefault(casefold(msg.param(2)), {})
            names = (word.lstrip("@+") for word in msg.param(3).split())  # `@op` and `+voiced`: the nick only
            pending.update((casefold(name), name) for name in names)
        elif command == "366":
            key = casefold(msg.param(1))
            if key in self._members:
                self._members[key] = self._names_pending.pop(key, {})
                self._emit(UsersChanged(self._channel_names[key], self.users(key)))
        elif command in ("PRIVMSG", "NOTICE"):
            if self._from_server(msg.source):
                self._emit(ServerNotice(msg.param(1)))
            else:
                self._emit_message(nick, msg.param(0), msg.param(1), when, notice=command == "NOTICE")
        elif command == "401":
            self._emit(NotDelivered(msg.param(1), f"{msg.param(1)} is not online ({msg.param(2)})."))
        elif command == "332":
            self._emit(ServerNotice(f"Topic of {msg.param(1)}: {msg.param(2)}"))
        elif command == "TOPIC":
            self._emit(ServerNotice(f"{nick} set the topic of {msg.param(0)}: {msg.param(1)}"))
        elif command == "ERROR":
            self._server_closed = True
            self._finish(wording.server_error(msg.param(0)))
        elif command.isdigit() and command not in _QUIET_NUMERICS:
            text = " ".join(msg.params[1:])
            self._emit(ServerNotice(text, error=command[0] in "45"))

    def _from_server(self, source: str | None) -> bool:
        """A line from the server rather than a user: no source, the server's own name, or a host
        name (a dot, no `!`). A bare nick (as in replayed history) is a user."""
        if source is None or source == self._server_name:
            return True
        return "!" not in source and "." in source

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

    def _joined(self, nick: str, channel: str, when: datetime) -> None:
        key = casefold(channel)
        own = casefold(nick) == casefold(self.nick)
        if own:
            self._members[key], self._channel_names[key], self._joined_at[key] = {}, channel, when
        self._members.setdefault(key, {})[casefold(nick)] = nick
        self._emit(Membership("join", nick, channel, time=when, own=own))
        if not own:
            self._emit(UsersChanged(self._channel_names.get(key, channel), self.users(key)))

    def _left(self, nick: str, channel: str, reason: str, when: datetime) -> None:
        key = casefold(channel)
        own = casefold(nick) == casefold(self.nick)
        self._members.get(key, {}).pop(casefold(nick), None)
        self._emit(Membership("part", nick, channel, reason=reason, time=when, own=own))
        if own:
            self._members.pop(key, None)
            self._channel_names.pop(key, None)
        self._emit(UsersChanged(channel, self.users(key)))

    def _renamed(self, old: str, new: str, when: datetime) -> None:
        own = casefold(old) == casefold(self.nick)
        if own:
            self.nick = new
        for members in self._members.values():
            if members.pop(casefold(old), None) is not None:
                members[casefold(new)] = new
        self._emit(Membership("nick", old, new_nick=new, time=when, own=own))
        self._emit_users()

    def _emit_message(
        self, sender: str, target: str, text: str, when: datetime, *, own: bool = False, notice: bool = False
    ) -> None:
        action = text.startswith(ACTION)
        if action:
            text = text[len(ACTION) :].rstrip("\x01")
        elif text.startswith("\x01"):
            return  # other CTCP queries (VERSION, PING...) are not for the user
        own = own or casefold(sender) == casefold(self.nick)
        private = not target.startswith("#")
        since = self._registered_at if private else self._joined_at.get(casefold(target), self._registered_at)
        self._emit(
            ChatMessage(target, sender, text, when, private, own, action, notice, history=when < since and not own)
        )

    def _emit_users(self) -> None:
        for key, name in self._channel_names.items():
            self._emit(UsersChanged(name, self.users(key)))

    def _emit(self, event: SessionEvent) -> None:
        self.listener.session_event(event)


def _server_time(msg: Message) -> datetime:
    """The `server-time` tag of `msg`, or now when it has none (or an unreadable one)."""
    stamp = msg.tags.get("time")
    if stamp:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp)
    return datetime.now(UTC)
