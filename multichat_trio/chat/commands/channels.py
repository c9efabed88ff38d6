"""Channels: JOIN (with the channel limits, keys, bans, +i and +l), PART, TOPIC (honouring +t)."""

from __future__ import annotations

from ...protocol import Message, is_channel_name
from ...protocol import numerics as rpl
from .. import events
from ..hub import Client, Hub
from .table import TOPICLEN, command, need


@command("JOIN")
def join(hub: Hub, client: Client, message: Message) -> None:
    """`JOIN #a,#b key1,key2` joins each it may (keys in order), `JOIN 0` leaves all; each refusal its numeric."""
    if not need(hub, client, message, 1):
        return
    if message.params[0] == "0":
        for channel in list(client.channels.values()):
            hub.part(client, channel, "")
        return
    keys = message.param(1).split(",")
    for index, name in enumerate(message.params[0].split(",")):
        try_join(hub, client, name, keys[index] if index < len(keys) else "")


def try_join(hub: Hub, client: Client, name: str, key: str = "") -> None:
    """Join `name` if the rules let `client` in, else answer the refusal's numeric (JOIN and autojoin alike)."""
    if not is_channel_name(name):
        hub.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
    elif (refusal := _join_refusal(hub, client, name, key)) is not None:
        hub.reply(client, *refusal)
    else:
        hub.join(client, name)


def _join_refusal(hub: Hub, client: Client, name: str, key: str) -> tuple[str, ...] | None:
    """The numeric a JOIN gets when refused: a channel or server limit, a ban, +i, +k or +l.

    An invitation lets a user past +i, +k and +l, not past a ban; a server operator passes all.
    """
    config = hub.config
    channel = hub.find_channel(name)
    if channel is not None and client in channel.members:
        return None
    if config.max_channels_per_user and len(client.channels) >= config.max_channels_per_user:
        return rpl.ERR_TOOMANYCHANNELS, name, f"You have joined too many channels ({config.max_channels_per_user})"
    if channel is None:
        if config.max_channels and len(hub.channels) >= config.max_channels:
            # As ergo when creation is not allowed: 403; the text says why.
            return (
                rpl.ERR_NOSUCHCHANNEL,
                name,
                f"Cannot create channel: the server has too many ({config.max_channels})",
            )
        return None
    if client.oper is not None:
        return None
    if channel.is_banned(client):
        return rpl.ERR_BANNEDFROMCHAN, channel.name, "Cannot join channel (+b): you are banned"
    if channel.is_invited(client.nick):
        return None
    if "i" in channel.modes:
        return rpl.ERR_INVITEONLYCHAN, channel.name, "Cannot join channel (+i): invite only"
    if channel.key is not None and key != channel.key:
        return rpl.ERR_BADCHANNELKEY, channel.name, "Cannot join channel (+k): wrong key"
    if channel.limit is not None and len(channel.members) >= channel.limit:
        return rpl.ERR_CHANNELISFULL, channel.name, "Cannot join channel (+l): channel is full"
    return None


@command("PART")
def part(hub: Hub, client: Client, message: Message) -> None:
    if not need(hub, client, message, 1):
        return
    for name in message.params[0].split(","):
        channel = hub.find_channel(name)
        if channel is None:
            hub.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif client not in channel.members:
            hub.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        else:
            hub.part(client, channel, message.param(1))


@command("TOPIC")
def topic(hub: Hub, client: Client, message: Message) -> None:
    if not need(hub, client, message, 1):
        return
    channel = hub.find_channel(message.params[0])
    if channel is None or not hub.may_see(client, channel):
        hub.reply(client, rpl.ERR_NOSUCHCHANNEL, message.params[0], "No such channel")
    elif len(message.params) == 1:
        if channel.topic:
            hub.reply(client, rpl.RPL_TOPIC, channel.name, channel.topic)
            hub.reply(client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))
        else:
            hub.reply(client, rpl.RPL_NOTOPIC, channel.name, "No topic is set")
    elif client not in channel.members and client.oper is None:
        hub.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
    elif "t" in channel.modes and not channel.may_moderate(client):
        hub.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator (the topic is +t)")
    else:
        channel.topic = message.params[1][:TOPICLEN]
        channel.topic_by = client.prefix
        channel.topic_at = int(hub.wallclock())
        hub.state_changed(channel)
        hub.broadcast(channel, Message("TOPIC", (channel.name, channel.topic), client.prefix))
        hub.record(events.topic(client.nick, channel.name, channel.topic))
