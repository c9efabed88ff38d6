"""Line framing: bytes in, complete lines out, with a cap on how long a line may grow.

The cap is the one place that bounds what an unfinished line can cost us: a peer that never sends
a newline holds at most `max_tags + max_line` bytes of our memory, after which the rest of its line
is skipped. As IRCv3 message-tags says, a line's tags part (`@`, the tags, the space) has its own
budget, `max_tags`, and the rest of the line keeps `max_line`, CRLF included.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LocalProtocolError
from .message import Message, _has_forbidden, format_message

#: RFC 1459: 512 bytes per line, CRLF included.
MAX_LINE = 512
#: IRCv3 message-tags: a client's tags part, the leading `@` and the trailing space included (4094 of tag data).
MAX_CLIENT_TAGS = 4096


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """Marker yielded in place of a line that exceeded the cap (its bytes were discarded)."""

    length: int


class LineFramer:
    """Splits a byte stream into lines. Accepts CRLF and bare LF; drops empty lines.

    A line is too long when its tags part passes `max_tags` or the rest of it `max_line` (CRLF included).
    """

    __slots__ = ("_buffer", "_max_content", "_max_tags", "_skipped")

    def __init__(self, max_line: int = MAX_LINE, max_tags: int = MAX_CLIENT_TAGS) -> None:
        self._max_content = max_line - 2  # room for CRLF
        self._max_tags = max_tags
        #: The unfinished line, or b"" (one shared object): an idle client holds no buffer.
        self._buffer = b""
        self._skipped = 0  # > 0 while discarding the tail of an over-long line

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        out: list[bytes | LineTooLong] = []
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._skipped:
                out.append(LineTooLong(self._skipped + len(line)))
                self._skipped = 0
            elif len(line) > self._room(line):
                out.append(LineTooLong(len(line)))
            elif line:
                out.append(line)
        rest = buffer[start:]
        if len(rest) > self._room(rest) + 1:  # +1: a CR may still be waiting for its LF
            self._skipped += len(rest)
            rest = b""
        self._buffer = rest
        return out

    def _room(self, start: bytes) -> int:
        """The longest a line beginning with `start` may be (CRLF aside); -1 once its tags part is too long."""
        if not start.startswith(b"@"):
            return self._max_content
        space = start.find(b" ", 0, self._max_tags)
        if space >= 0:
            return space + 1 + self._max_content
        return -1 if len(start) >= self._max_tags else self._max_tags + self._max_content

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held right now."""
        return len(self._buffer)


def encode(message: Message, max_line: int = MAX_LINE) -> bytes:
    """Format and encode `message` with CRLF, shortening the last parameter if the line is too long.

    Tags do not count against `max_line` (IRCv3 gives them their own budget).
    """
    text = format_message(message)
    data = text.encode("utf-8")
    tag_bytes = 0
    if message.tags:
        tag_bytes = data.index(b" ") + 1
    if len(data) - tag_bytes + 2 > max_line and not message.params:
        raise LocalProtocolError("line too long and nothing to shorten")
    return _ended(data, tag_bytes + max_line - 2)


def text_line(source: str, command: str, target: str, text: str, max_line: int = MAX_LINE) -> bytes:
    """`encode(Message(command, (target, text), source))` for parts that are valid already: a registered
    client's prefix, a channel's name or a nickname, and a text parsed from a client's line (no CR, LF or
    NUL). A chat line is the one every message makes, and a `Message` and its checks cost more than its
    sends to a small channel when the interpreter runs cold (benchmarks/README.md, "The floor"). The text,
    the part a user chose, is still checked: one that could end the line raises `LocalProtocolError`.
    """
    if _has_forbidden(text):
        raise LocalProtocolError(f"text contains CR, LF or NUL: {text!r}")
    return _ended(f":{source} {command} {target} :{text}".encode(), max_line - 2)


def _ended(data: bytes, limit: int) -> bytes:
    """`data` cut to `limit` bytes (never inside a UTF-8 character), then CRLF."""
    if len(data) > limit:
        data = data[:limit].decode("utf-8", "ignore").encode("utf-8")
    return data + b"\r\n"
