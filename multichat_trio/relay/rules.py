"""What the relay does to the lines it carries, without I/O: the sans-IO half of `relay.py`.

Bytes in, bytes out, in the manner of h11. `RelaySession` frames one user's two byte streams with
the protocol package's `LineFramer`, marks the nickname in every `NICK` the user sends with `*`,
and passes every other line through unchanged and in order. It also notes the user's current nick
and the server's name from the server's numerics, so the few answers the relay gives itself (an
over-long line, a forbidden `WEBIRC`) look like the server's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import (
    MAX_LINE,
    LineFramer,
    LineTooLong,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    encode,
    format_message,
    host_word,
    parse,
)
from ..protocol import numerics as rpl
from ..protocol.names import RELAY_MARK

#: The gateway name the relay gives in `WEBIRC`.
GATEWAY = "multichat-relay"
#: Server lines may carry IRCv3 tags (a tags part up to 8191 bytes) on top of the 512-byte line.
MAX_SERVER_TAGS = 8191


def check_secret(secret: str | None) -> None:
    """Raise `ValueError` unless `secret` can travel as one WEBIRC parameter."""
    if secret is None:
        return
    if not secret or secret.startswith(":") or any(ch in secret for ch in " \r\n\0"):
        raise ValueError("relay_secret must be one word: no spaces, no leading ':'")


def webirc_line(secret: str, ip: str) -> bytes:
    """`WEBIRC password gateway hostname ip`: the relay vouching for its user's real address.

    The relay does no reverse DNS (it would delay every connection), so the hostname is the
    address itself; an IPv6 address starting with ':' gets a leading '0' to stay one word.
    """
    return encode(Message("WEBIRC", (secret, GATEWAY, host_word(ip), ip)))


def mark_nick(nick: str) -> str:
    """`*` + nick, always: a nick that already starts with `*` becomes `**x`, which the server refuses (432)."""
    return RELAY_MARK + nick


@dataclass(frozen=True, slots=True)
class FromClient:
    """What to do with one read from the user."""

    to_server: bytes = b""
    to_client: bytes = b""
    lines: int = 0  # lines forwarded to the server
    close: str | None = None  # set: send `to_client`, then end the link with this ERROR


@dataclass(frozen=True, slots=True)
class FromServer:
    """Complete lines of one read from the server, to forward to the user as they are."""

    to_client: bytes = b""
    lines: int = 0


class RelaySession:
    """One relayed user's line rules. Holds at most one unfinished line per direction."""

    def __init__(self) -> None:
        self._client_framer = LineFramer()  # the server's own caps: too long here is too long there
        self._server_framer = LineFramer(MAX_LINE, MAX_SERVER_TAGS)
        #: The user's nickname as the server last addressed it (`*` before registration).
        self.nick = "*"
        #: The server's name, from the source of its numerics.
        self.server_name = GATEWAY
        #: The server sent its ERROR line: the user has had the server's own goodbye.
        self.server_said_goodbye = False

    def from_client(self, data: bytes) -> FromClient:
        """Frame `data` from the user; rewrite `NICK`, answer what the server never should see."""
        up: list[bytes] = []
        back: list[bytes] = []
        for line in self._client_framer.feed(data):
            if isinstance(line, LineTooLong):
                back.append(self._reply(rpl.ERR_INPUTTOOLONG, "Input line was too long"))
                continue
            message = _parse(line)
            if message is not None and message.command == "WEBIRC":
                # Only the relay vouches for addresses; a user's own WEBIRC would spoof one.
                return FromClient(b"".join(up), b"".join(back), len(up), "WEBIRC is not allowed through the relay")
            if message is not None and message.command == "NICK" and message.params and message.params[0]:
                line = _renamed(line, message)
            up.append(line + b"\r\n")
        return FromClient(b"".join(up), b"".join(back), len(up))

    def from_server(self, data: bytes) -> FromServer:
        """Frame `data` from the server into complete lines, watching numerics for the user's nick."""
        out: list[bytes] = []
        for line in self._server_framer.feed(data):
            if isinstance(line, LineTooLong) or _forbidden(line):
                continue  # the server never sends these; a line cut in half (or in two) must not reach the user
            message = _parse(line)
            if message is not None and message.command == "ERROR":
                self.server_said_goodbye = True
            if message is not None and len(message.command) == 3 and message.command.isdigit() and message.params:
                self.nick = message.params[0]
                self.server_name = message.source or self.server_name
            out.append(line + b"\r\n")
        return FromServer(b"".join(out), len(out))

    def _reply(self, numeric: str, *params: str) -> bytes:
        return encode(Message(numeric, (self.nick, *params), self.server_name))


def _parse(line: bytes) -> Message | None:
    """The message on `line`, or None when it is not UTF-8 or not IRC (the server answers those)."""
    try:
        return parse(line.decode("utf-8"))
    except (UnicodeDecodeError, RemoteProtocolError):
        return None


def _forbidden(line: bytes) -> bool:
    """True if `line` holds NUL or CR (the framer took the LF): the user's client might split it."""
    return b"\0" in line or b"\r" in line


def _renamed(line: bytes, message: Message) -> bytes:
    """`line` with its nickname marked; the line unchanged if it cannot be re-formatted.

    Unchanged is safe: the server accepts only `*`-marked nicks on a relayed connection, so an
    unmarked one just gets its 432.
    """
    marked = Message(message.command, (mark_nick(message.params[0]), *message.params[1:]), message.source, message.tags)
    try:
        return format_message(marked).encode("utf-8")
    except LocalProtocolError:
        return line
