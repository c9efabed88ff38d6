"""The cluster log's entries, sans-IO: what a node writes to Redis and checks when it reads it back.

Every entry of the log stream is one field, `ops`: a JSON array of the ops one node wrote at once (a
batch: one entry, not one per line, so Redis and its client handle far fewer). Redis is another process
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

from ..protocol import MAX_LINE, Message, is_channel_name, is_valid_nick

Kind = Literal["line", "intro", "quit", "attrs", "rejoin", "down", "account"]
KINDS: frozenset[str] = frozenset(("line", "intro", "quit", "attrs", "rejoin", "down", "account"))
#: The kinds that are about no one user.
UNOWNED = frozenset(("down", "account"))
_BREAKS = frozenset("\r\n\0")
#: The longest text field an entry may carry (a realname, an away message, a reason).
MAX_TEXT = 512
#: Channels one `rejoin` may name.
MAX_REJOIN = 1000
#: Ops one entry holds at most, and its size at most (the writer stays well under both).
MAX_OPS = 500
MAX_ENTRY = MAX_OPS * 2 * MAX_LINE


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

    def body(self) -> dict[str, Any]:
        return {"k": self.kind, "u": self.uid, "n": self.node, "s": self.seq, **self.data}

    def encode(self) -> dict[str, str]:
        """A log entry holding this op alone."""
        return encode_entry([self])


def encode_entry(batch: list[Op]) -> dict[str, str]:
    """One log entry holding `batch`, in order."""
    return {"ops": json.dumps([op.body() for op in batch], separators=(",", ":"), ensure_ascii=False)}


def line(message: Message) -> dict[str, Any]:
    """The `line` entry's data: the message's command and parameters (its prefix and tags are not the
    cluster's: the reading node knows who sent it)."""
    return {"c": message.command, "p": list(message.params)}


def decode_entry(fields: dict[str, str]) -> list[Op | BadEntry]:
    """The ops of a log entry, each checked: a malformed one is its `BadEntry` (the others stand)."""
    raw = fields.get("ops")
    if not isinstance(raw, str) or len(raw) > MAX_ENTRY:
        return [BadEntry("no ops field, or one too long")]
    try:
        bodies = json.loads(raw)
    except ValueError as exc:
        return [BadEntry(f"not JSON: {exc}")]
    if not isinstance(bodies, list):
        return [BadEntry("not a JSON array")]
    checked: list[Op | BadEntry] = []
    for body in bodies:
        try:
            checked.append(parse_op(body))
        except BadEntry as exc:
            checked.append(exc)
    return checked


def decode(fields: dict[str, str]) -> Op:
    """The one op of an entry; raises `BadEntry` unless it holds exactly one, well formed."""
    checked = decode_entry(fields)
    if len(checked) != 1:
        raise BadEntry(f"{len(checked)} ops, not one")
    if isinstance(checked[0], BadEntry):
        raise checked[0]
    return checked[0]


def parse_op(body: object) -> Op:
    """One op from its JSON object; raises `BadEntry` unless it is one of the shapes above."""
    if not isinstance(body, dict):
        raise BadEntry("not a JSON object")
    body = dict(body)
    kind, uid, node, seq = body.pop("k", None), body.pop("u", ""), body.pop("n", ""), body.pop("s", 0)
    if kind not in KINDS:
        raise BadEntry(f"unknown kind {kind!r}")
    if not _is_id(node) or not isinstance(seq, int) or (kind not in UNOWNED and not _is_id(uid)):
        raise BadEntry("bad node, user id or sequence number")
    _CHECKS[kind](body)
    return Op(kind, uid, node, seq, body)


def message_of(op: Op) -> Message:
    """The `line` op's message (checked in `decode` as a line from a socket would be)."""
    return Message(op.data["c"], tuple(op.data["p"]))


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
    """What `parse` lets through from a socket: a command word, at most 15 parameters, the middle ones
    words, none holding NUL, CR or LF, all within one line."""
    command, params = body.get("c"), body.get("p")
    if not isinstance(command, str) or not command.isascii() or not command.isalnum():
        raise BadEntry("c: not a command")
    if not isinstance(params, list) or len(params) > 15 or not all(isinstance(p, str) for p in params):
        raise BadEntry("p: not a list of parameters")
    if any(not p or " " in p or p[0] == ":" for p in params[:-1]) or any(_BREAKS.intersection(p) for p in params):
        raise BadEntry("p: a parameter that cannot be in a line")
    if len(command) + sum(len(p.encode()) + 1 for p in params) + bool(params) > MAX_LINE:
        raise BadEntry("p: longer than a line")
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
