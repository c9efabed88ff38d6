"""Channel moderation: KICK and INVITE."""

from __future__ import annotations

from ...protocol import Message
from ...protocol import numerics as rpl
from ..hub import Client, Hub
from .table import KICKLEN, command, need

#: Nicks one KICK may name (ISUPPORT TARGMAX).
KICK_TARGETS = 4


@command("KICK")
def kick(hub: Hub, client: Client, message: Message) -> None:
    """`KICK #chan nick[,nick...] [:reason]`: the kicked user sees the reason (the kicker's nick by default)."""
    if not need(hub, client, message, 2):
        return
    channel = hub.find_channel(message.params[0])
    if channel is None:
        hub.reply(client, rpl.ERR_NOSUCHCHANNEL, message.params[0], "No such channel")
        return
    if client not in channel.members and client.oper is None:
        hub.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not channel.may_moderate(client):
        hub.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    reason = (message.param(2) or client.nick)[:KICKLEN]
    for nick in message.params[1].split(",")[:KICK_TARGETS]:
        target = hub.find_client(nick)
        if target is None or target not in channel.members:
            hub.reply(client, rpl.ERR_USERNOTINCHANNEL, nick, channel.name, "They aren't on that channel")
        else:
            hub.kick(client, channel, target, reason)


@command("INVITE")
def invite(hub: Hub, client: Client, message: Message) -> None:
    """`INVITE nick #chan`: lets `nick` past +i (and +k, +l) once; members with `invite-notify` hear of it."""
    if not need(hub, client, message, 2):
        return
    nick, name = message.params[0], message.params[1]
    target = hub.find_client(nick)
    if target is None or not target.registered:
        hub.reply(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    channel = hub.find_channel(name)
    if channel is None:
        hub.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if client not in channel.members and client.oper is None:
        hub.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if target in channel.members:
        hub.reply(client, rpl.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel")
        return
    if "i" in channel.modes and not channel.may_moderate(client):
        hub.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    channel.invite(target.nick)
    hub.reply(client, rpl.RPL_INVITING, target.nick, channel.name)
    line = Message("INVITE", (target.nick, channel.name), client.prefix)
    told = [m for m in channel.members if m is not client and "invite-notify" in m.caps and channel.may_moderate(m)]
    hub.broadcast([target, *told], line)
    if target.away is not None:
        hub.reply(client, rpl.RPL_AWAY, target.nick, target.away)
