"""Channels: JOIN (with the channel limits), PART, TOPIC."""

from __future__ import annotations

from ...protocol import Message, is_channel_name
from ...protocol import numerics as rpl
from .. import events
from ..hub import Client, Hub
from .table import TOPICLEN, command, need


@command("JOIN")
def join(hub: Hub, client: Client, message: Message) -> None:
    if not need(hub, client, message, 1):
        return
    if message.params[0] == "0":
        for channel in list(client.channels.values()):
            hub.part(client, channel, "")
        return
    for name in message.params[0].split(","):
        if not is_channel_name(name):
            hub.reply(client, rpl.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif (refusal := _join_refusal(hub, client, name)) is not None:
            hub.reply(client, *refusal)
        else:
            hub.join(client, name)


def _join_refusal(hub: Hub, client: Client, name: str) -> tuple[str, str, str] | None:
    """The numeric a JOIN past a limit gets: the user's channel count, or the server's (to create one)."""
    config = hub.config
    channel = hub.find_channel(name)
    if channel is not None and client in channel.members:
        return None
    if config.max_channels_per_user and len(client.channels) >= config.max_channels_per_user:
        return rpl.ERR_TOOMANYCHANNELS, name, f"You have joined too many channels ({config.max_channels_per_user})"
    if channel is None and config.max_channels and len(hub.channels) >= config.max_channels:
        # As ergo when creation is not allowed: 403; the text says why.
        return rpl.ERR_NOSUCHCHANNEL, name, f"Cannot create channel: the server has too many ({config.max_channels})"
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
    if channel is None:
        hub.reply(client, rpl.ERR_NOSUCHCHANNEL, message.params[0], "No such channel")
    elif len(message.params) == 1:
        if channel.topic:
            hub.reply(client, rpl.RPL_TOPIC, channel.name, channel.topic)
            hub.reply(client, rpl.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))
        else:
            hub.reply(client, rpl.RPL_NOTOPIC, channel.name, "No topic is set")
    elif client not in channel.members:
        hub.reply(client, rpl.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
    else:
        channel.topic = message.params[1][:TOPICLEN]
        channel.topic_by = client.prefix
        channel.topic_at = int(hub.wallclock())
        hub.broadcast(channel, Message("TOPIC", (channel.name, channel.topic), client.prefix))
        hub.record(events.topic(client.nick, channel.name, channel.topic))
