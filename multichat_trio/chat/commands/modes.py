"""Channel MODE: the mode query (324, 329), list queries (367/368, 348/349) and changes by operators."""

from __future__ import annotations

from ...protocol import Message
from ...protocol import numerics as rpl
from .. import events, modes
from ..channel import Channel
from ..hub import Client, Hub
from ..modes import Change


def channel_mode(hub: Hub, client: Client, channel: Channel, message: Message) -> None:
    """`MODE #chan [modestring [args...]]`, from anyone: only channel or server operators change anything."""
    if len(message.params) == 1:
        shown = channel.mode_params(with_key=client in channel.members or client.oper is not None)
        hub.reply(client, rpl.RPL_CHANNELMODEIS, channel.name, *shown[:-1], shown[-1])
        hub.reply(client, rpl.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    changes, unknown = modes.parse(message.params[1], message.params[2:])
    for letter in dict.fromkeys(unknown):
        hub.reply(client, rpl.ERR_UNKNOWNMODE, letter, f"is an unknown mode char to me for {channel.name}")
    applied: list[Change] = []
    refused = False
    now = int(hub.wallclock())
    for change in changes:
        if change.arg is None and change.letter in modes.LIST_MODES:
            _list(hub, client, channel, change.letter)
            continue
        if not channel.may_moderate(client):
            if not refused:
                refused = True
                hub.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            continue
        if change.letter in modes.PREFIX_MODES:
            result = _member_mode(hub, client, channel, change)
        else:
            result = modes.apply(channel, change, client.prefix, now)
        if isinstance(result, Change):
            applied.append(result)
        elif result is not None:
            hub.reply(client, *result)
    if not applied:
        return
    line = modes.render(applied)
    hub.broadcast(channel, Message("MODE", (channel.name, *line), client.prefix))
    shown = [("*" if c.letter == "k" else c.arg) for c in applied if c.arg is not None]
    hub.record(events.mode(client.nick, channel.name, line[0], shown))
    if any(c.letter not in modes.PREFIX_MODES for c in applied):
        hub.state_changed(channel)


def _member_mode(hub: Hub, client: Client, channel: Channel, change: Change) -> Change | tuple[str, ...] | None:
    """+o/-o/+v/-v on a member named by nick: 401 for no such nick, 441 for one not in the channel."""
    assert change.arg is not None
    target = hub.find_client(change.arg)
    if target is None or not target.registered:
        return rpl.ERR_NOSUCHNICK, change.arg, "No such nick/channel"
    if target not in channel.members:
        return rpl.ERR_USERNOTINCHANNEL, target.nick, channel.name, "They aren't on that channel"
    holders = channel.ops if change.letter == "o" else channel.voiced
    if (target in holders) == change.adding:
        return None
    (holders.add if change.adding else holders.discard)(target)
    return Change(change.adding, change.letter, target.nick)


def _list(hub: Hub, client: Client, channel: Channel, letter: str) -> None:
    entries = channel.bans if letter == "b" else channel.excepts
    item, end = (
        (rpl.RPL_BANLIST, rpl.RPL_ENDOFBANLIST) if letter == "b" else (rpl.RPL_EXCEPTLIST, rpl.RPL_ENDOFEXCEPTLIST)
    )
    hub.allow_reply(client, len(entries) + 1)
    for entry in entries.values():
        hub.reply(client, item, channel.name, entry.mask, entry.by, str(entry.at))
    what = "ban" if letter == "b" else "exception"
    hub.reply(client, end, channel.name, f"End of channel {what} list")
