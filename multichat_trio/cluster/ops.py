"""The cluster log's entries, sans-IO: what a node writes to Redis and checks when it reads it back.

Every entry of the log stream is one field, `op`, holding a JSON object. Redis is another process
(and anyone who can reach it can write to it), so what is read is checked here before any state
changes: an entry that is not one of these shapes is refused with a reason and skipped.

- `line`: a registered user's IRC line (no prefix), handled on every node when read back.
- `intro`: a user registers: its id, node, nickname and what WHO and WHOIS show.
- `quit`: a user left (QUIT, ping timeout, flood, a closed socket).
- `attrs`: a user's account or operator name changed on its node (a login, OPER).
- `rejoin`: a user back after its node lost the log: into its channels again, whatever their modes.
- `down`: a node is gone (stopped, or its heartbeat key expired): every user it served leaves.
- `account`: a registered account created (`new`: only if the name is still free), changed or dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from ..protocol import MAX_LINE, Message, RemoteProtocolError, format_message, is_channel_name, is_valid_nick, parse

Kind = Literal["line", "intro", "quit", "attrs", "rejoin", "down", "account"]
KINDS: frozenset[str] = frozenset(("line", "intro", "quit", "attrs", "rejoin", "down", "account"))
#: The kinds that are about no one user.
UNOWNED = frozenset(("down", "account"))
#: The longest text field an entry may carry (a realname, an away message, a reason).
MAX_TEXT = 512
#: Channels one `rejoin` may name.
MAX_REJOIN = 1000


class BadEntry(ValueError):
    """A log entry that is not one of the shapes above (the message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class Op:
    kind: Kind
    #: The user it is about (all but `down`).
    uid: str = ""
    #: The node that wrote it, and that node's count of its entries (so it knows when its own are read back).
    node: str = ""
    seq: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> dict[str, str]:
        body = {"k": self.kind, "u": self.uid, "n": self.node, "s": self.seq, **self.data}
        return {"op": json.dumps(body, separators=(",", ":"), ensure_ascii=False)}


def line(uid: str, message: Message) -> dict[str, Any]:
    """The `line` entry's data: the message without its prefix, formatted as any line we send."""
    return {"l": format_message(Message(message.command, message.params, tags=message.tags))}


def decode(fields: dict[str, str]) -> Op:
    """The op in a log entry's fields; raises `BadEntry` unless it is well formed."""
    raw = fields.get("op")
    if not isinstance(raw, str) or len(raw) > 16 * MAX_LINE:
        raise BadEntry("no op field, or one too long")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadEntry(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadEntry("not a JSON object")
    kind, uid, node, seq = body.pop("k", None), body.pop("u", ""), body.pop("n", ""), body.pop("s", 0)
    if kind not in KINDS:
        raise BadEntry(f"unknown kind {kind!r}")
    if not _is_id(node) or not isinstance(seq, int) or (kind not in UNOWNED and not _is_id(uid)):
        raise BadEntry("bad node, user id or sequence number")
    _CHECKS[kind](body)
    return Op(kind, uid, node, seq, body)


def message_of(op: Op) -> Message:
    """The `line` op's message, parsed as a line from a socket would be."""
    try:
        return parse(op.data["l"])
    except RemoteProtocolError as exc:
        raise BadEntry(f"not an IRC line: {exc}") from None


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isascii() and value.isalnum()


def _text(body: dict[str, Any], key: str, *, optional: bool = False) -> None:
    value = body.get(key)
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > MAX_TEXT or any(ch in value for ch in "\r\n\0"):
        raise BadEntry(f"{key}: not a line of text")


def _word(body: dict[str, Any], key: str, *, optional: bool = False) -> None:
    _text(body, key, optional=optional)
    value = body.get(key)
    if value is not None and (not value or " " in value or value.startswith(":")):
        raise BadEntry(f"{key}: not one word")


def _check_line(body: dict[str, Any]) -> None:
    text = body.get("l")
    if not isinstance(text, str) or len(text.encode()) > MAX_LINE + 4096:
        raise BadEntry("l: not a line")
    msgid = body.get("m")
    if msgid is not None and not (isinstance(msgid, str) and 0 < len(msgid) <= 32 and msgid.isascii()):
        raise BadEntry("m: not a message id")
    if msgid is not None and not all(ch.isalnum() or ch in "-_" for ch in msgid):
        raise BadEntry("m: not a message id")


def _check_intro(body: dict[str, Any]) -> None:
    _word(body, "nick")
    if not is_valid_nick(body["nick"], relayed=body["nick"].startswith("*")):
        raise BadEntry("nick: not a nickname")
    for key in ("user", "host"):
        _word(body, key)
    _text(body, "real")
    for key in ("acct", "oper"):
        _word(body, key, optional=True)
    _text(body, "away", optional=True)
    if not isinstance(body.get("signon", 0), int | float):
        raise BadEntry("signon: not a time")


def _check_quit(body: dict[str, Any]) -> None:
    _text(body, "why")
    _word(body, "how")


def _check_attrs(body: dict[str, Any]) -> None:
    _word(body, "acct", optional=True)
    _word(body, "oper", optional=True)


def _check_rejoin(body: dict[str, Any]) -> None:
    names = body.get("c")
    if not isinstance(names, list) or len(names) > MAX_REJOIN:
        raise BadEntry("c: not a list of channels")
    if not all(isinstance(name, str) and is_channel_name(name) for name in names):
        raise BadEntry("c: not a channel name")


def _check_down(body: dict[str, Any]) -> None:
    if not _is_id(body.get("gone")):
        raise BadEntry("gone: not a node id")
    _text(body, "why")


def _check_account(body: dict[str, Any]) -> None:
    _word(body, "name")
    if not isinstance(body.get("state"), dict | None) or not isinstance(body.get("new", False), bool):
        raise BadEntry("state: not an account")


_CHECKS = {
    "account": _check_account,
    "line": _check_line,
    "intro": _check_intro,
    "quit": _check_quit,
    "attrs": _check_attrs,
    "rejoin": _check_rejoin,
    "down": _check_down,
}


def entry_time(identifier: str) -> float:
    """A stream entry id (`1796118116036-0`) as unix time: Redis's clock when it was added."""
    return int(identifier.partition("-")[0]) / 1000
