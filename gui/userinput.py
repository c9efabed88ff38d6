"""Pure handling of what the user types: the connect form's fields and the chat input line.

No Tk and no trio here, so every rule is unit-tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from multichat_trio.protocol import is_valid_nick


@dataclass(frozen=True, slots=True)
class ConnectTarget:
    """Where and as whom to connect; produced by `validate_connect` only when all fields are good."""

    nick: str
    host: str
    port: int


def validate_connect(nick: str, host: str, port: str) -> ConnectTarget | dict[str, str]:
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
    return ConnectTarget(nick, host, int(port))


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
class InputError:
    """The line was a command used wrongly; `text` says how to use it."""

    text: str


UserCommand = Say | Act | MessageTo | ChangeNick | QuitChat | InputError


def parse_input(line: str) -> UserCommand | None:
    """What a line typed in a chat window asks for; None for a blank line.

    `/nick`, `/me`, `/msg`, `/quit` are commands; any other text, other slash words included, is
    sent as is (a leading `//` sends one literal slash).
    """
    if not line.strip():
        return None
    if line.startswith("//"):
        return Say(line[1:])
    word, _, rest = line.partition(" ")
    name = word.lower()
    rest = rest.strip()
    if name == "/nick":
        return ChangeNick(rest) if rest and " " not in rest else InputError("Usage: /nick newname")
    if name == "/me":
        return Act(rest) if rest else InputError("Usage: /me does something")
    if name == "/msg":
        nick, _, text = rest.partition(" ")
        return MessageTo(nick, text.strip()) if nick and text.strip() else InputError("Usage: /msg nick message")
    if name == "/quit":
        return QuitChat(rest)
    return Say(line)


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
