"""Pure handling of what the user types: the connect form's fields and the chat input line.

No Tk and no trio here, so every rule is unit-tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multichat_trio.protocol import is_valid_nick


@dataclass(frozen=True, slots=True)
class ConnectTarget:
    """Where and as whom to connect; produced by `validate_connect` only when all fields are good."""

    nick: str
    host: str
    port: int
    #: Given, the session logs in to the account named `nick` with SASL PLAIN before registering.
    password: str = field(default="", repr=False)
    tls: bool = False
    #: False accepts any certificate (a self-signed one on a LAN): the link is encrypted, not authenticated.
    tls_verify: bool = True


def validate_connect(
    nick: str, host: str, port: str, *, password: str = "", tls: bool = False, tls_verify: bool = True
) -> ConnectTarget | dict[str, str]:
    """The target, or a field name → message map of what is wrong (shown next to the fields)."""
    nick, host, port = nick.strip(), host.strip(), port.strip()
    errors: dict[str, str] = {}
    if not nick:
        errors["nick"] = "Enter a nickname."
    elif not is_valid_nick(nick):
        errors["nick"] = "Letters, digits and - _ [ ] { } \\ ` ^ | only; no digit or - first; at most 30."
    if not host:
        errors["host"] = "Enter the server's address."
    if not port.isdigit() or not 0 < int(port) < 65536:
        errors["port"] = "The port is a number from 1 to 65535."
    if errors:
        return errors
    return ConnectTarget(nick, host, int(port), password, tls, tls_verify)


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Act:
    """`/me waves`: a CTCP ACTION."""

    text: str


@dataclass(frozen=True, slots=True)
class MessageTo:
    """`/msg nick text`: a private message, whatever window it was typed in."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class ChangeNick:
    nick: str


@dataclass(frozen=True, slots=True)
class QuitChat:
    reason: str


@dataclass(frozen=True, slots=True)
class Join:
    """`/join #a,#b [key]`: names already carry their `#`."""

    channels: tuple[str, ...]
    key: str = ""


@dataclass(frozen=True, slots=True)
class Part:
    """`/part [#chan] [reason]`: an empty `channel` means the window's own."""

    channel: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Topic:
    """`/topic [text]`: None asks for the topic, a text sets it."""

    text: str | None = None


@dataclass(frozen=True, slots=True)
class Away:
    """`/away [message]` (an empty message is "back": `/back`)."""

    message: str


@dataclass(frozen=True, slots=True)
class ListChannels:
    """`/list [mask]`."""

    mask: str = ""


@dataclass(frozen=True, slots=True)
class Whois:
    nick: str


@dataclass(frozen=True, slots=True)
class Query:
    """`/query nick [text]`: open the private conversation with `nick` (and say `text` there)."""

    nick: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class Kick:
    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Mode:
    """`/mode [args]`: the window's channel unless the first argument names a channel or a nick."""

    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberModes:
    """`/op`, `/deop`, `/voice`, `/devoice nick...`: `change` is "+o", "-o", "+v" or "-v"."""

    change: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ban:
    """`/ban` and `/unban nick|mask...`: a bare nick means `nick!*@*`."""

    masks: tuple[str, ...]
    remove: bool = False


@dataclass(frozen=True, slots=True)
class Invite:
    nick: str
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Oper:
    name: str
    password: str


@dataclass(frozen=True, slots=True)
class Quote:
    """`/quote LINE`: a raw IRC line, checked by the protocol's parser before it goes."""

    line: str


@dataclass(frozen=True, slots=True)
class ShowHelp:
    """`/help`: the list of commands, shown locally."""


@dataclass(frozen=True, slots=True)
class InputError:
    """The line was a command used wrongly (or no command at all); `text` says how to use it."""

    text: str


UserCommand = (
    Say
    | Act
    | MessageTo
    | ChangeNick
    | QuitChat
    | Join
    | Part
    | Topic
    | Away
    | ListChannels
    | Whois
    | Query
    | Kick
    | Mode
    | MemberModes
    | Ban
    | Invite
    | Oper
    | Quote
    | ShowHelp
    | InputError
)

#: Every slash command with its usage, in the order `/help` lists them.
USAGE: dict[str, str] = {
    "/join": "/join #channel[,#other] [key]: join channels",
    "/part": "/part [#channel] [reason]: leave this channel (or the one named)",
    "/topic": "/topic [text]: show or set this channel's topic",
    "/msg": "/msg nick message: a private message",
    "/query": "/query nick [message]: open a private conversation",
    "/me": "/me does something: an action",
    "/nick": "/nick newname: change your nickname",
    "/away": "/away [message]: mark yourself away",
    "/back": "/back: no longer away",
    "/list": "/list [mask]: browse the channels",
    "/whois": "/whois nick: who is that",
    "/kick": "/kick nick [reason]: remove someone from this channel (operators)",
    "/mode": "/mode [#channel|nick] [modes [args]]: show or change modes",
    "/op": "/op nick...: make channel operators (/deop takes it back)",
    "/voice": "/voice nick...: give a voice (/devoice takes it back)",
    "/ban": "/ban nick|mask...: ban from this channel (a nick bans nick!*@*; /unban lifts it)",
    "/invite": "/invite nick [#channel]: invite to this channel (or the one named)",
    "/oper": "/oper name password: become a server operator",
    "/quote": "/quote LINE: send a raw IRC line",
    "/quit": "/quit [reason]: leave the chat",
    "/help": "/help: this list",
}
HELP_LINES = (*USAGE.values(), "//text sends a line that starts with a slash.")
_MEMBER_MODES = {"/op": "+o", "/deop": "-o", "/voice": "+v", "/devoice": "-v"}
_ALIASES = {"/j": "/join", "/leave": "/part", "/w": "/whois", "/m": "/msg", "/q": "/query", "/raw": "/quote"}


def parse_input(line: str) -> UserCommand | None:
    """What a line typed in a chat window asks for; None for a blank line.

    A line starting with one `/` is a command (an unknown one is an InputError: nothing typed
    by mistake reaches the room); `//text` sends `/text`; anything else is said as is.
    """
    if not line.strip():
        return None
    if line.startswith("//"):
        return Say(line[1:])
    if not line.startswith("/"):
        return Say(line)
    word, _, rest = line.partition(" ")
    name = _ALIASES.get(word.lower(), word.lower())
    rest = rest.strip()
    args = tuple(rest.split())
    command = _command(name, rest, args)
    if command is None:
        usage = USAGE.get(name) or USAGE.get({"/deop": "/op", "/devoice": "/voice", "/unban": "/ban"}.get(name, ""))
        if usage:
            return InputError(f"Usage: {usage.partition(':')[0]}")
        return InputError(f"Unknown command {word}: /help lists them")
    return command


def _command(name: str, rest: str, args: tuple[str, ...]) -> UserCommand | None:
    """The command `name` with its arguments, or None when they do not fit its usage."""
    first, _, tail = rest.partition(" ")
    tail = tail.strip()
    if name == "/nick":
        return ChangeNick(rest) if len(args) == 1 else None
    if name == "/me":
        return Act(rest) if rest else None
    if name == "/msg":
        return MessageTo(first, tail) if first and tail else None
    if name == "/quit":
        return QuitChat(rest)
    if name == "/join":
        channels = tuple(_channel(c) for c in first.split(",") if c)
        return Join(channels, tail) if channels and len(args) <= 2 else None
    if name == "/part":
        return Part(first, tail) if first.startswith("#") else Part("", rest)
    if name == "/topic":
        return Topic(rest or None)
    if name == "/away":
        return Away(rest or "Away")
    if name == "/back":
        return Away("")
    if name == "/list":
        return ListChannels(rest)
    if name == "/whois":
        return Whois(first) if len(args) == 1 else None
    if name == "/query":
        return Query(first, tail) if first else None
    if name == "/kick":
        return Kick(first, tail) if first else None
    if name == "/mode":
        return Mode(args)
    if name in _MEMBER_MODES:
        return MemberModes(_MEMBER_MODES[name], args) if args else None
    if name in ("/ban", "/unban"):
        return Ban(args, remove=name == "/unban") if args else None
    if name == "/invite":
        return Invite(args[0], _channel(args[1]) if len(args) > 1 else "") if 1 <= len(args) <= 2 else None
    if name == "/oper":
        return Oper(args[0], args[1]) if len(args) == 2 else None
    if name == "/quote":
        return Quote(rest) if rest else None
    if name == "/help":
        return ShowHelp()
    return None


def _channel(name: str) -> str:
    """`lobby` means `#lobby`, as irssi and weechat read it."""
    return name if name.startswith("#") else "#" + name


def split_text(text: str, budget: int) -> list[str]:
    """Split `text` into non-empty pieces of at most `budget` UTF-8 bytes each.

    Each line of a multi-line paste is its own piece; a long line breaks at its last space
    within the budget when there is one, and never inside a character.
    """
    pieces: list[str] = []
    for line in text.splitlines():
        while len(line.encode("utf-8")) > budget:
            cut = max(1, len(line.encode("utf-8")[:budget].decode("utf-8", "ignore")))
            space = line.rfind(" ", 0, cut + 1)
            if space > 0:
                head, line = line[:space], line[space + 1 :]
            else:
                head, line = line[:cut], line[cut:]
            if head.strip():
                pieces.append(head)
        if line.strip():
            pieces.append(line)
    return pieces
