"""IRC messages: the `Message` value and its parse/format functions (IRCv3 tags included).

Pure functions over `str`; bytes, line endings and length caps belong to `framing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ForbiddenCharacter, LocalProtocolError, RemoteProtocolError

_TAG_ESCAPES = {";": r"\:", " ": r"\s", "\\": "\\\\", "\r": r"\r", "\n": r"\n"}
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
#: Commands whose text parameter (at this index) always goes out as trailing, `:` included, as ngircd,
#: InspIRCd and ergo send it: scripts and simple clients find the text by splitting on " :".
TEXT_PARAM = {"PRIVMSG": 1, "NOTICE": 1, "QUIT": 0, "PART": 1, "KICK": 2, "TOPIC": 1, "ERROR": 0, "AWAY": 0}


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message: `@tags :source COMMAND param param :trailing`."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default


def parse(line: str) -> Message:
    """Parse one line (without its CRLF). Raises `RemoteProtocolError` when there is no command.

    A line holding NUL, CR or LF raises `ForbiddenCharacter`: nothing parsed from input can carry one
    into state or into a line we send. A tag whose value unescapes to CR or LF is dropped (no tag we
    read may hold one).
    """
    if _has_forbidden(line):
        raise ForbiddenCharacter("line contains NUL, CR or LF")
    rest = line
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        tags = _parse_tags(raw_tags)
        rest = rest.lstrip(" ")
    source = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    middle, has_trailing, trailing = rest.partition(" :")
    if not has_trailing and middle.startswith(":"):
        # "CMD :x" was handled above; a lone ":x" after the command means trailing with no middles.
        middle, trailing, has_trailing = "", middle[1:], " :"
    words = [word for word in middle.split(" ") if word]
    if not words:
        raise RemoteProtocolError("message has no command")
    params = words[1:]
    if has_trailing:
        params.append(trailing)
    return Message(words[0].upper(), tuple(params), source or None, tags)


def _parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        value = _unescape_tag_value(value)
        if "\r" not in value and "\n" not in value:
            tags[key] = value
    return tags


def _unescape_tag_value(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append(_TAG_UNESCAPES.get(nxt, nxt))
        else:
            out.append(char)
    return "".join(out)


def format_message(message: Message) -> str:
    """Format `message` as one line without CRLF. Raises `LocalProtocolError` if it cannot be sent."""
    parts: list[str] = []
    if message.tags:
        parts.append(format_tags(message.tags))
    if message.source:
        _check_word(message.source, "source")
        parts.append(":" + message.source)
    _check_word(message.command, "command")
    parts.append(message.command)
    params = message.params
    for middle in params[:-1]:
        _check_word(middle, "middle parameter")
        parts.append(middle)
    if params:
        last = params[-1]
        if _has_forbidden(last):
            raise LocalProtocolError(f"parameter contains CR, LF or NUL: {last!r}")
        needs_colon = not last or " " in last or last[0] == ":" or TEXT_PARAM.get(message.command) == len(params) - 1
        parts.append(":" + last if needs_colon else last)
    return " ".join(parts)


def format_tags(tags: Mapping[str, str]) -> str:
    """`@key=value;key`: a line's tags part, without its trailing space. Raises `LocalProtocolError` for a bad key."""
    return "@" + ";".join(_format_tag(key, value) for key, value in tags.items())


def _check_word(word: str, what: str) -> None:
    if not word or word.startswith(":") or " " in word or _has_forbidden(word):
        raise LocalProtocolError(f"invalid {what}: {word!r}")


def _has_forbidden(text: str) -> bool:
    """CR, LF or NUL anywhere in `text` (plain `in` tests: this runs for every word of every line)."""
    return "\r" in text or "\n" in text or "\0" in text


def _format_tag(key: str, value: str) -> str:
    if not key or any(ch in key for ch in "; =\r\n\0"):
        raise LocalProtocolError(f"invalid tag key: {key!r}")
    if not value:
        return key
    return key + "=" + "".join(_TAG_ESCAPES.get(ch, ch) for ch in value)
