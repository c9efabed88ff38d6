"""Messages and presence: PRIVMSG and NOTICE (to channels and nicks), TAGMSG (dropped), AWAY, QUIT."""

from __future__ import annotations

from ...protocol import Message, casefold, text_line
from ...protocol import numerics as rpl
from ...protocol.names import CHANTYPES
from .. import events
from ..accounts import CHANSERV
from ..hub import Client, Hub
from .chanserv import chanserv
from .nickserv import FOLDED as NICKSERV_FOLDED
from .nickserv import nickserv
from .table import AWAYLEN, command


@command("PRIVMSG", "NOTICE")
def privmsg(hub: Hub, client: Client, message: Message) -> None:
    is_notice = message.command == "NOTICE"
    if not message.params or not message.params[0]:
        if not is_notice:
            hub.reply(client, rpl.ERR_NORECIPIENT, f"No recipient given ({message.command})")
        return
    if len(message.params) < 2 or not message.params[1]:
        if not is_notice:
            hub.reply(client, rpl.ERR_NOTEXTTOSEND, "No text to send")
        return
    text = message.params[1]
    client.last_message_at = hub.clock()
    for target in message.params[0].split(",")[:4]:
        _deliver(hub, client, message.command, target, text, is_notice)


_CHANSERV_FOLDED = casefold(CHANSERV)


def _deliver(hub: Hub, client: Client, command: str, target: str, text: str, is_notice: bool) -> None:
    folded = casefold(target)
    if folded == NICKSERV_FOLDED:
        if not is_notice:
            nickserv(hub, client, text)  # never an event: the text may hold a password
        return
    if folded == _CHANSERV_FOLDED:
        if not is_notice:
            chanserv(hub, client, text)
        return
    if target[:1] in CHANTYPES:
        channel = hub.channels.get(folded)
        if channel is None:
            if not is_notice:
                hub.reply(client, rpl.ERR_NOSUCHCHANNEL, target, "No such channel")
            return
        refusal = channel.speak_refusal(client)
        if refusal is not None:
            if not is_notice:
                hub.reply(client, rpl.ERR_CANNOTSENDTOCHAN, channel.name, refusal)
            return
        echo = "echo-message" in client.caps
        hub.messages_total += 1
        msgid = hub.new_msgid()
        now = hub.wallclock()
        hub.record(events.message(client.nick, channel.name, text, command, msgid, now))  # first: the line waits for it
        line = text_line(client.prefix, command, channel.name, text)
        skip = None if echo else client
        hub.broadcast(channel, line, durable=True, skip=skip, account=client.account, msgid=msgid, when=now)
        hub.remember(channel, client.nick, command, text, msgid, when=now)
        return
    recipient = hub.find_client(target)
    if recipient is None or not recipient.registered:
        if not is_notice:
            hub.reply(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    line = text_line(client.prefix, command, recipient.nick, text)
    echo = "echo-message" in client.caps and recipient is not client
    msgid, now, stored = hub.new_msgid(), hub.wallclock(), hub.config.store_pms
    hub.messages_total += 1
    parties = (client.account, recipient.account)
    event = events.private_message(client.nick, recipient.nick, text if stored else None, msgid, parties, now)
    hub.record(event)  # a stored PM, like a public message, waits for its commit (CHATHISTORY)
    to = [recipient, client] if echo else [recipient]
    hub.broadcast(to, line, durable=stored, account=client.account, msgid=msgid, when=now)
    if recipient.away is not None and not is_notice:
        hub.reply(client, rpl.RPL_AWAY, recipient.nick, recipient.away)


@command("TAGMSG")
def tagmsg(hub: Hub, client: Client, message: Message) -> None:
    """IRCv3 message-tags: a line of client-only tags (`+typing`), which this server does not relay; no 421 for it."""


@command("AWAY")
def away(hub: Hub, client: Client, message: Message) -> None:
    """Set or clear the away message; peers with IRCv3 away-notify hear of a change (`AWAY :text`, `AWAY`)."""
    text, was = message.param(0), client.away
    if text:
        client.away = text[:AWAYLEN]
        hub.reply(client, rpl.RPL_NOWAWAY, "You have been marked as being away")
    else:
        client.away = None
        hub.reply(client, rpl.RPL_UNAWAY, "You are no longer marked as being away")
    if client.away != was:
        hub.notify_away(client, hub.peers_of(client))


@command("QUIT")
def quit_(hub: Hub, client: Client, message: Message) -> None:
    reason = message.param(0)
    hub.disconnect(client, f"Quit: {reason}" if reason else "Client Quit", error="Closing link: Client Quit")
