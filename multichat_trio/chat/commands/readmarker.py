"""MARKREAD (IRCv3 `draft/read-marker`): an account's clients tell each other what the user has read.

`MARKREAD <target>` asks for the marker, `MARKREAD <target> timestamp=...` moves it forward (never
past now). The answer is always `MARKREAD <target> <timestamp|*>` with the value kept; a marker that
moved is also sent to the account's other clients with the capability, and recorded as an event,
which the history store keeps (`read_markers`). Only clients logged in to an account have markers.
"""

from __future__ import annotations

from ...protocol import Message, casefold, is_channel_name, is_valid_nick
from .. import events
from ..hub import Client, Hub
from ..readmarkers import markread_line, parse_timestamp
from .table import command

CAP = "draft/read-marker"


@command("MARKREAD")
def markread(hub: Hub, client: Client, message: Message) -> None:
    def fail(code: str, *context: str) -> None:
        hub.fail(client, "MARKREAD", code, *context)

    target = message.param(0)
    if not target:
        fail("NEED_MORE_PARAMS", "Missing parameters")
        return
    if client.account is None:
        fail("ACCOUNT_REQUIRED", target, "You must be logged in to an account to use read markers")
        return
    if not (is_channel_name(target) or is_valid_nick(target)):
        fail("INVALID_PARAMS", target, "Invalid target")
        return
    channel = hub.find_channel(target)
    shown = channel.name if channel is not None else target
    account = client.account
    if len(message.params) > 1:
        ms = parse_timestamp(message.params[1])
        if ms is None:
            fail("INVALID_PARAMS", message.params[1], "Invalid timestamp: timestamp=YYYY-MM-DDThh:mm:ss.sssZ")
            return
        ms = min(ms, int(hub.wallclock() * 1000))  # never past the present
        if hub.read_markers.advance(account, target, ms):
            hub.record(events.markread(account, casefold(target), ms))
            key = casefold(account)
            others = [
                other
                for other in hub.clients
                if other is not client and CAP in other.caps and other.account and casefold(other.account) == key
            ]
            line = markread_line(hub.name, shown, ms)
            for other in others:
                hub.send(other, line)
    hub.send(client, markread_line(hub.name, shown, hub.read_markers.get(account, target)))
