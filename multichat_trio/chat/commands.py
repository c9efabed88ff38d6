"""What each IRC command does: one handler per command, registered in `COMMANDS`.

Each handler gets the hub, the client and the parsed message, and answers through the hub's
delivery helpers. docs/protocol.md is the user-facing description of the same rules.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from ..protocol import Message, casefold, host_word, is_channel_name, is_valid_nick
from ..protocol import numerics as rpl
from ..protocol.names import CHANNELLEN, CHANTYPES, NICKLEN, RELAY_MARK
from . import events
from .hub import Client, Handler, Hub

COMMANDS: dict[str, Handler] = {}
#: Capabilities we implement and so advertise in `CAP LS`.
SUPPORTED_CAPS = ("batch", "echo-message", "server-time")

TOPICLEN = 390
AWAYLEN = 200
VERSION = "multichat-trio-0.1"


def command(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = handler
        return handler

    return register


def _need(hub: Hub, client: Client, message: Message, count: int) -> bool:
    """True if `message` has `count` parameters; otherwise answer 461."""
    if len(message.params) >= count and all(message.params[:count]):
        return True
    hub.reply(client, rpl.ERR_NEEDMOREPARAMS, message.command, "Not enough parameters")
    return False


# --- registration ----------------------------------------------------------------------------


@command("CAP")
def cap(hub: Hub, client: Client, message: Message) -> None:
    sub = message.param(0).upper()
    target = client.nick
    if sub == "LS":
        if not client.registered:
            client.cap_negotiating = True
        hub.send(client, Message("CAP", (target, "LS", " ".join(SUPPORTED_CAPS)), hub.name))
    elif sub == "LIST":
        hub.send(client, Message("CAP", (target, "LIST", " ".join(sorted(client.caps))), hub.name))
    elif sub == "REQ":
        if not client.registered:
            client.cap_negotiating = True
        wanted = message.param(1).split()
        adding = [name for name in wanted if not name.startswith("-")]
        if all(name.lstrip("-") in SUPPORTED_CAPS for name in wanted) and wanted:
            client.caps.update(adding)
            client.caps.difference_update(name[1:] for name in wanted if name.startswith("-"))
            client.server_time = "server-time" in client.caps
            hub.send(client, Message("CAP", (target, "ACK", message.param(1)), hub.name))
        else:
            hub.send(client, Message("CAP", (target, "NAK", message.param(1)), hub.name))
    elif sub == "END":
        client.cap_negotiating = False
        _try_register(hub, client)
    else:
        hub.reply(client, rpl.ERR_INVALIDCAPCMD, sub or "*", "Invalid CAP command")


@command("PASS")
def pass_(hub: Hub, client: Client, message: Message) -> None:
    if client.registered:
        hub.reply(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
    elif _need(hub, client, message, 1):
        client.password_ok = hub.config.password in (None, message.params[0])


@command("WEBIRC")
def webirc(hub: Hub, client: Client, message: Message) -> None:
    """A trusted relay (gateway) vouches for its user: `WEBIRC secret gateway hostname ip`.

    Accepted only as the first command, once, and only with the configured secret (with none
    configured, from nobody: being on the same machine proves nothing). The user then appears with
    its real address (an IPv6 one starting with ':' gets a leading '0', as with a direct client) and
    may take a `*`-marked nickname. The hostname is not used: the relay does no DNS and passes the
    address there too.
    """
    if client.registered or client.nick != "*" or client.relayed:  # once, first: no re-vouching a new address
        hub.disconnect(client, "WEBIRC refused", error="Closing link: WEBIRC must come first")
        return
    if len(message.params) < 4 or not _is_address(message.params[3]):
        hub.disconnect(client, "WEBIRC refused", error="Closing link: WEBIRC needs: secret gateway hostname ip")
        return
    secret = hub.config.relay_secret
    if secret is None or not hmac.compare_digest(message.params[0].encode(), secret.encode()):
        hub.disconnect(client, "WEBIRC refused", error="Closing link: WEBIRC refused (bad secret)")
        return
    client.relayed = True
    refusal = hub.move_address(client, host_word(message.params[3]))  # counted by its own address, not the relay's
    if refusal is not None:
        hub.disconnect(client, refusal)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@command("NICK")
def nick(hub: Hub, client: Client, message: Message) -> None:
    if not message.params or not message.params[0]:
        hub.reply(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    new = message.params[0]
    if not is_valid_nick(new, relayed=client.relayed):
        why = (
            "Nicknames starting with * are reserved for relayed users"
            if new.startswith(RELAY_MARK) and not client.relayed
            else "Erroneous nickname"
        )
        hub.reply(client, rpl.ERR_ERRONEUSNICKNAME, new, why)
        return
    key = casefold(new)
    holder = hub.nicks.get(key)
    if holder is not None and holder is not client:
        hub.reply(client, rpl.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
        return
    old = client.nick
    if new == old:
        return
    if hub.nicks.get(casefold(old)) is client:
        del hub.nicks[casefold(old)]
    hub.nicks[key] = client
    if client.registered:
        hub.broadcast(hub.peers_of(client), Message("NICK", (new,), client.prefix))
        client.nick = new
        hub.record(events.nick_change(old, new))
    else:
        client.nick = new
        _try_register(hub, client)


@command("USER")
def user(hub: Hub, client: Client, message: Message) -> None:
    if client.registered:
        hub.reply(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    if not _need(hub, client, message, 4):
        return
    client.user = "".join(ch for ch in message.params[0] if ch.isalnum() or ch in "-_.")[:10] or "user"
    client.realname = message.params[3]
    _try_register(hub, client)


def _try_register(hub: Hub, client: Client) -> None:
    if client.registered or client.cap_negotiating or client.nick == "*" or not client.user:
        return
    if not client.password_ok:
        hub.reply(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
        hub.disconnect(client, "Bad password")
        return
    hub.mark_registered(client)
    created = hub.created.strftime("%Y-%m-%d %H:%M:%S UTC")
    hub.reply(client, rpl.RPL_WELCOME, f"Welcome to the {hub.config.network} IRC network, {client.prefix}")
    hub.reply(client, rpl.RPL_YOURHOST, f"Your host is {hub.name}, running version {VERSION}")
    hub.reply(client, rpl.RPL_CREATED, f"This server was created {created}")
    hub.reply(client, rpl.RPL_MYINFO, hub.name, VERSION, "i", "nt")
    tokens = [
        f"AWAYLEN={AWAYLEN}",
        "CASEMAPPING=rfc1459",
        f"CHANLIMIT={CHANTYPES}:{hub.config.max_channels_per_user or ''}",
        "CHANMODES=,,,nt",
        f"CHANNELLEN={CHANNELLEN}",
        "CHANTYPES=" + CHANTYPES,
        "LINELEN=512",
        "NETWORK=" + hub.config.network,
        f"NICKLEN={NICKLEN}",
        "PREFIX=",
        "SAFELIST",  # a LIST's answer may pass the SendQ (Hub.allow_reply)
        f"TOPICLEN={TOPICLEN}",
        "UTF8ONLY",
    ]
    hub.reply(client, rpl.RPL_ISUPPORT, *tokens, "are supported by this server")
    lusers(hub, client, Message("LUSERS"))
    motd(hub, client, Message("MOTD"))
    for name in hub.config.autojoin_channels:
        if is_channel_name(name):
            hub.join(client, name)


# --- queries -----------------------------------------------------------------------------------


@command("LUSERS")
def lusers(hub: Hub, client: Client, message: Message) -> None:
    users = hub.user_count
    unknown = len(hub.clients) - users
    hub.reply(client, rpl.RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers")
    hub.reply(client, rpl.RPL_LUSEROP, "0", "operator(s) online")
    hub.reply(client, rpl.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    hub.reply(client, rpl.RPL_LUSERCHANNELS, str(len(hub.channels)), "channels formed")
    hub.reply(client, rpl.RPL_LUSERME, f"I have {users} clients and 0 servers")
    hub.reply(
        client, rpl.RPL_LOCALUSERS, str(users), str(hub.max_users), f"Current local users {users}, max {hub.max_users}"
    )
    hub.reply(
        client,
        rpl.RPL_GLOBALUSERS,
        str(users),
        str(hub.max_users),
        f"Current global users {users}, max {hub.max_users}",
    )


@command("MOTD")
def motd(hub: Hub, client: Client, message: Message) -> None:
    if hub.motd is None:
        hub.reply(client, rpl.ERR_NOMOTD, "MOTD File is missing")
        return
    hub.reply(client, rpl.RPL_MOTDSTART, f"- {hub.name} Message of the day - ")
    for line in hub.motd:
        hub.reply(client, rpl.RPL_MOTD, f"- {line}")
    hub.reply(client, rpl.RPL_ENDOFMOTD, "End of /MOTD command.")


@command("PING")
def ping(hub: Hub, client: Client, message: Message) -> None:
    if _need(hub, client, message, 1):
        hub.send(client, Message("PONG", (hub.name, message.params[0]), hub.name))


@command("PONG")
def pong(hub: Hub, client: Client, message: Message) -> None:
    """Any line counts as a sign of life; the server's reader resets its idle timer."""


@command("QUIT")
def quit_(hub: Hub, client: Client, message: Message) -> None:
    reason = message.param(0)
    hub.disconnect(client, f"Quit: {reason}" if reason else "Client Quit", error="Closing link: Client Quit")


@command("NAMES")
def names(hub: Hub, client: Client, message: Message) -> None:
    targets = message.param(0).split(",") if message.param(0) else list(client.channels)
    for name in targets:
        channel = hub.find_channel(name)
        if channel is None:
            hub.reply(client, rpl.RPL_ENDOFNAMES, name, "End of /NAMES list")
        else:
            hub.send_names(client, channel)


@command("LIST")
def list_(hub: Hub, client: Client, message: Message) -> None:
    wanted = {casefold(name) for name in message.param(0).split(",") if name}
    listed = [channel for key, channel in hub.channels.items() if not wanted or key in wanted]
    hub.allow_reply(client, len(listed) + 2)
    hub.reply(client, rpl.RPL_LISTSTART, "Channel", "Users  Name")
    for channel in listed:
        hub.reply(client, rpl.RPL_LIST, channel.name, str(len(channel.members)), channel.topic)
    hub.reply(client, rpl.RPL_LISTEND, "End of /LIST")


@command("WHO")
def who(hub: Hub, client: Client, message: Message) -> None:
    mask = message.param(0, "*")
    channel = hub.find_channel(mask)
    if channel is not None:
        members = list(channel.members)
    else:
        found = hub.find_client(mask)
        members = [found] if found is not None and found.registered else []
    hub.allow_reply(client, len(members) + 1)
    for member in members:
        flags = "G" if member.away is not None else "H"
        where = channel.name if channel is not None else "*"
        hub.reply(
            client,
            rpl.RPL_WHOREPLY,
            where,
            member.user,
            member.host,
            hub.name,
            member.nick,
            flags,
            f"0 {member.realname}",
        )
    hub.reply(client, rpl.RPL_ENDOFWHO, mask, "End of /WHO list")


@command("WHOIS")
def whois(hub: Hub, client: Client, message: Message) -> None:
    if not message.params:
        hub.reply(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = message.params[-1]
    target = hub.find_client(nick)
    if target is None or not target.registered:
        hub.reply(client, rpl.ERR_NOSUCHNICK, nick, "No such nick/channel")
    else:
        hub.reply(client, rpl.RPL_WHOISUSER, target.nick, target.user, target.host, "*", target.realname)
        if target.channels:
            hub.reply(client, rpl.RPL_WHOISCHANNELS, target.nick, " ".join(ch.name for ch in target.channels.values()))
        hub.reply(client, rpl.RPL_WHOISSERVER, target.nick, hub.name, hub.config.network)
        if target.away is not None:
            hub.reply(client, rpl.RPL_AWAY, target.nick, target.away)
        idle = int(hub.clock() - target.last_message_at)
        hub.reply(client, rpl.RPL_WHOISIDLE, target.nick, str(idle), "seconds idle")
    hub.reply(client, rpl.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")


@command("ISON")
def ison(hub: Hub, client: Client, message: Message) -> None:
    present = [c.nick for nick in " ".join(message.params).split() if (c := hub.find_client(nick)) and c.registered]
    hub.reply(client, rpl.RPL_ISON, " ".join(present))


@command("USERHOST")
def userhost(hub: Hub, client: Client, message: Message) -> None:
    replies = []
    for nick in message.params[:5]:
        found = hub.find_client(nick)
        if found is not None and found.registered:
            replies.append(f"{found.nick}={'-' if found.away is not None else '+'}{found.user}@{found.host}")
    hub.reply(client, rpl.RPL_USERHOST, " ".join(replies))


@command("MODE")
def mode(hub: Hub, client: Client, message: Message) -> None:
    """Modes are fixed here (+nt on channels, none on users); queries get answers, changes a refusal."""
    if not _need(hub, client, message, 1):
        return
    target = message.params[0]
    if target[:1] in CHANTYPES:
        channel = hub.find_channel(target)
        if channel is None:
            hub.reply(client, rpl.ERR_NOSUCHCHANNEL, target, "No such channel")
        elif len(message.params) == 1:
            hub.reply(client, rpl.RPL_CHANNELMODEIS, channel.name, "+nt")
        elif message.params[1].lstrip("+") == "b":
            hub.reply(client, rpl.RPL_ENDOFBANLIST, channel.name, "End of channel ban list")
        else:
            hub.reply(client, rpl.ERR_CHANOPRIVSNEEDED, channel.name, "Channel modes cannot be changed here")
    elif casefold(target) != casefold(client.nick):
        hub.reply(client, rpl.ERR_USERSDONTMATCH, "Cannot change mode for other users")
    else:
        hub.reply(client, rpl.RPL_UMODEIS, "+")


# --- channels ----------------------------------------------------------------------------------


@command("JOIN")
def join(hub: Hub, client: Client, message: Message) -> None:
    if not _need(hub, client, message, 1):
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
    if not _need(hub, client, message, 1):
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
    if not _need(hub, client, message, 1):
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
        channel.topic_by = client.nick
        channel.topic_at = int(hub.wallclock())
        hub.broadcast(channel, Message("TOPIC", (channel.name, channel.topic), client.prefix))
        hub.record(events.topic(client.nick, channel.name, channel.topic))


# --- messages ----------------------------------------------------------------------------------


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


def _deliver(hub: Hub, client: Client, command: str, target: str, text: str, is_notice: bool) -> None:
    if target[:1] in CHANTYPES:
        channel = hub.find_channel(target)
        if channel is None:
            if not is_notice:
                hub.reply(client, rpl.ERR_NOSUCHCHANNEL, target, "No such channel")
            return
        if client not in channel.members:
            if not is_notice:
                hub.reply(client, rpl.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel (you are not in it)")
            return
        echo = "echo-message" in client.caps
        hub.messages_total += 1
        hub.record(events.message(client.nick, channel.name, text, command))  # first: the line waits for it
        line = Message(command, (channel.name, text), client.prefix)
        hub.broadcast(channel, line, durable=True, skip=None if echo else client)
        hub.remember(channel, client.nick, command, text)
        return
    recipient = hub.find_client(target)
    if recipient is None or not recipient.registered:
        if not is_notice:
            hub.reply(client, rpl.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    line = Message(command, (recipient.nick, text), client.prefix)
    echo = "echo-message" in client.caps and recipient is not client
    hub.broadcast([recipient, client] if echo else [recipient], line)
    hub.messages_total += 1
    hub.record(events.private_message(client.nick, recipient.nick, text if hub.config.store_pms else None))
    if recipient.away is not None and not is_notice:
        hub.reply(client, rpl.RPL_AWAY, recipient.nick, recipient.away)


@command("AWAY")
def away(hub: Hub, client: Client, message: Message) -> None:
    text = message.param(0)
    if text:
        client.away = text[:AWAYLEN]
        hub.reply(client, rpl.RPL_NOWAWAY, "You have been marked as being away")
    else:
        client.away = None
        hub.reply(client, rpl.RPL_UNAWAY, "You are no longer marked as being away")
