"""IRCv3 `draft/chathistory`, sans-IO: a request parsed into a `Query`, stored rows turned into a batch.

The store answers the query (`HistoryStore.chathistory`, on the history writer's thread); this module
only checks what the client asked and shapes the answer. References are `msgid=` (exact: the stored
message's row) or `timestamp=` (ISO 8601 UTC); every bound is exclusive, as the spec says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..protocol import Message
from .events import iso_utc

#: Messages one CHATHISTORY request returns at most (ISUPPORT `CHATHISTORY=`); a bigger limit is cut to it.
MAX_LIMIT = 100
SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS")


class Invalid(Exception):
    """A request the spec answers with `FAIL CHATHISTORY <code> ... :<text>`; args: (code, context, text)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A position in the history: a msgid, a unix time in milliseconds (a `server-time` tag's precision,
    which is what a client has), or none (`*`: the newest end, LATEST only)."""

    msgid: str | None = None
    ms: int | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """What to read: `channel` (casefolded key), or a private conversation: `me` the reader's account
    (None: not logged in, so none), `other` the target nick and `other_account` the account of whoever
    uses that nick now (all casefolded). The other party matches by its account if it had one, else by nick."""

    sub: str
    channel: str | None
    me: str | None
    other: str | None
    refs: tuple[Ref, ...]
    limit: int
    other_account: str | None = None


def parse_ref(word: str, *, star: bool = False) -> Ref:
    if star and word == "*":
        return Ref()
    kind, _, value = word.partition("=")
    if kind == "msgid" and value:
        return Ref(msgid=value)
    if kind == "timestamp" and value:
        try:
            return Ref(ms=round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000))
        except (ValueError, OverflowError):
            pass
    raise Invalid("INVALID_PARAMS", word, "Invalid message reference")


def parse_limit(word: str) -> int:
    if not word.isdigit() or int(word) <= 0:
        raise Invalid("INVALID_PARAMS", word, "Invalid limit")
    return min(int(word), MAX_LIMIT)


def parse_refs(sub: str, words: list[str]) -> tuple[tuple[Ref, ...], int]:
    """The references and the limit of `sub` (not TARGETS) from its words after the target."""
    count = 2 if sub == "BETWEEN" else 1
    if len(words) < count + 1:
        raise Invalid("NEED_MORE_PARAMS", sub, "Missing parameters")
    refs = tuple(parse_ref(word, star=sub == "LATEST") for word in words[:count])
    return refs, parse_limit(words[count])


def history_messages(
    rows: Iterable[Mapping[str, Any]], target: str, caps: Set[str], server_name: str, batch_ref: str
) -> list[Message]:
    """A `chathistory` batch for `target` of stored rows (`ts`, `type`, `data`): the original lines."""
    batched, tagged = "batch" in caps, "message-tags" in caps
    out = [Message("BATCH", ("+" + batch_ref, "chathistory", target), server_name)] if batched else []
    for row in rows:
        data = row["data"]
        tags = {"time": iso_utc(row["ts"])}
        if tagged and isinstance(data.get("msgid"), str):
            tags["msgid"] = data["msgid"]
        if batched:
            tags["batch"] = batch_ref
        if row["type"] == "pm":
            out.append(Message("PRIVMSG", (data["to"], data["text"]), data["from"], tags))
        else:
            out.append(Message(data["command"], (target, data["text"]), data["nick"], tags))
    if batched:
        out.append(Message("BATCH", ("-" + batch_ref,), server_name))
    return out


def targets_messages(
    found: Iterable[tuple[str, float]], caps: Set[str], server_name: str, batch_ref: str
) -> list[Message]:
    """The `draft/chathistory-targets` batch: one `CHATHISTORY TARGETS <name> <latest time>` line each."""
    batched = "batch" in caps
    out = [Message("BATCH", ("+" + batch_ref, "draft/chathistory-targets"), server_name)] if batched else []
    for name, ts in found:
        tags = {"batch": batch_ref} if batched else {}
        out.append(Message("CHATHISTORY", ("TARGETS", name, iso_utc(ts)), server_name, tags))
    if batched:
        out.append(Message("BATCH", ("-" + batch_ref,), server_name))
    return out
