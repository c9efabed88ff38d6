"""CHATHISTORY (IRCv3 `draft/chathistory`): a channel's or a private conversation's stored messages.

The request is checked here; the store is read off the trio thread, on the history writer's thread
slot (`Hub.defer`), and the answer is one `chathistory` batch. Channel history is for its members
only; private history for the two parties' accounts only, and only when PMs are stored (`--store-pms`).
"""

from __future__ import annotations

from typing import Any

from ...protocol import Message, casefold, is_channel_name
from .. import chathistory as ch
from ..hub import Client, Hub
from ..replay import stored_line
from .table import command


@command("CHATHISTORY")
def chathistory(hub: Hub, client: Client, message: Message) -> None:
    words = list(message.params)
    sub = words[0].upper() if words else ""
    try:
        if sub not in ch.SUBCOMMANDS:
            raise ch.Invalid("INVALID_PARAMS", sub or "*", "Unknown subcommand")
        if hub.history is None:
            raise ch.Invalid("MESSAGE_ERROR", sub, "No history is kept on this server")
        if sub == "TARGETS":
            _targets(hub, client, words[1:])
            return
        if len(words) < 2:
            raise ch.Invalid("NEED_MORE_PARAMS", sub, "Missing parameters")
        target = words[1]
        refs, limit = ch.parse_refs(sub, words[2:])
        query = _query(hub, client, sub, target, refs, limit)
    except ch.Invalid as exc:
        hub.fail(client, "CHATHISTORY", *exc.args)
        return
    read = hub.history
    assert read is not None

    def answer(rows: list[Any] | None) -> None:
        if rows is None:
            hub.fail(client, "CHATHISTORY", "MESSAGE_ERROR", sub, target, "History unreadable")
            return
        fit = [row for row in (_fit(row) for row in rows) if row is not None]
        hub.allow_reply(client, 2 * len(fit) + 2)  # a line's tags may make it longer than MAX_LINE
        for line in ch.history_messages(fit, target, client.caps, hub.name, hub.batch_ref()):
            hub.send(client, line)

    hub.defer(client, lambda: read.chathistory(query), answer, limiter=hub.history_limiter)


def _query(hub: Hub, client: Client, sub: str, target: str, refs: tuple[ch.Ref, ...], limit: int) -> ch.Query:
    """Whose history `target` names, if `client` may read it; otherwise INVALID_TARGET."""
    refused = ch.Invalid("INVALID_TARGET", sub, target, "Messages could not be retrieved")
    if is_channel_name(target):
        channel = hub.find_channel(target)
        if channel is None or client not in channel.members:
            raise refused
        return ch.Query(sub, casefold(channel.name), None, None, refs, limit)
    if not hub.config.store_pms or not target or " " in target:
        raise refused
    now_on = hub.find_client(target)  # the target's account now, if logged in: its PMs from before count too
    other_account = casefold(now_on.account) if now_on is not None and now_on.account else None
    me = casefold(client.account) if client.account else None  # not logged in: an empty batch (as ergo)
    return ch.Query(sub, None, me, casefold(target), refs, limit, other_account)


def _targets(hub: Hub, client: Client, words: list[str]) -> None:
    if len(words) < 3:
        raise ch.Invalid("NEED_MORE_PARAMS", "TARGETS", "Missing parameters")
    after, before = (ch.parse_ref(word) for word in words[:2])
    if after.ms is None or before.ms is None:
        raise ch.Invalid("INVALID_PARAMS", "TARGETS", "TARGETS takes two timestamps")
    limit = ch.parse_limit(words[2])
    keys = [key for key in client.channels]
    me = casefold(client.account) if hub.config.store_pms and client.account else None
    read = hub.history
    assert read is not None
    low, high = after.ms, before.ms

    def answer(found: list[tuple[str, float]] | None) -> None:
        if found is None:
            hub.fail(client, "CHATHISTORY", "MESSAGE_ERROR", "TARGETS", "History unreadable")
            return
        named = [(client.channels[name].name if name in client.channels else name, ts) for name, ts in found]
        hub.allow_reply(client, len(named) + 2)
        for line in ch.targets_messages(named, client.caps, hub.name, hub.batch_ref()):
            hub.send(client, line)

    hub.defer(client, lambda: read.chathistory_targets(keys, me, low, high, limit), answer, limiter=hub.history_limiter)


def _fit(row: Any) -> dict[str, Any] | None:
    """A stored row fit to send (a hand-edited one may not be), as `history_messages` takes it."""
    data = row.data
    if row.type == "pm":
        fields = (data.get("from"), data.get("to"), data.get("text"))
        if (
            not all(isinstance(value, str) and value for value in fields)
            or stored_line(row.ts, data | {"nick": data["from"], "command": "PRIVMSG"}) is None
        ):
            return None
    elif stored_line(row.ts, data) is None:
        return None
    return {"ts": row.ts, "type": row.type, "data": data}
