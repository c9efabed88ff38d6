"""Queries that change nothing: LUSERS, MOTD, PING/PONG, NAMES, LIST, WHO, WHOIS, ISON, USERHOST, MODE."""

from __future__ import annotations

from ...protocol import Message, casefold
from ...protocol import numerics as rpl
from ...protocol.names import CHANTYPES
from ..hub import Client, Hub
from .modes import channel_mode
from .operators import user_mode
from .table import command, need


@command("LUSERS")
def lusers(hub: Hub, client: Client, message: Message) -> None:
    users = hub.user_count
    unknown = len(hub.clients) - users
    invisible = sum(c.invisible for c in hub.clients if c.registered)
    operators = sum(c.oper is not None for c in hub.clients if c.registered)
    shown = f"There are {users - invisible} users and {invisible} invisible on 1 servers"
    hub.reply(client, rpl.RPL_LUSERCLIENT, shown)
    hub.reply(client, rpl.RPL_LUSEROP, str(operators), "operator(s) online")
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
    if need(hub, client, message, 1):
        hub.send(client, Message("PONG", (hub.name, message.params[0]), hub.name))


@command("PONG")
def pong(hub: Hub, client: Client, message: Message) -> None:
    """Any line counts as a sign of life; the server's reader resets its idle timer."""


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
    listed = [
        channel
        for key, channel in hub.channels.items()
        if (not wanted or key in wanted) and hub.may_see(client, channel)
    ]
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
        inside = client in channel.members
        members = (
            [m for m in channel.members if inside or hub.visible_to(m, client)] if hub.may_see(client, channel) else []
        )
    else:
        found = hub.find_client(mask)
        members = [found] if found is not None and found.registered else []
    hub.allow_reply(client, len(members) + 1)
    multi = "multi-prefix" in client.caps
    fields, _, token = message.param(1).partition(",")
    for member in members:
        flags = ("G" if member.away is not None else "H") + ("*" if member.oper is not None else "")
        if channel is not None:
            flags += channel.prefix_of(member, multi=multi)
        where = channel.name if channel is not None else "*"
        if fields.startswith("%"):  # WHOX: the fields asked for, in the standard order
            values = {
                "t": token or "0",
                "c": where,
                "u": member.user,
                "i": "255.255.255.255",
                "h": member.host,
                "s": hub.name,
                "n": member.nick,
                "f": flags,
                "d": "0",
                "l": str(int(hub.clock() - member.last_message_at)),
                "a": member.account or "0",
                "o": "n/a",
                "r": member.realname,
            }
            chosen = [value for letter, value in values.items() if letter in fields]
            if chosen:
                hub.reply(client, rpl.RPL_WHOSPCRPL, *chosen)
            continue
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
        multi = "multi-prefix" in client.caps
        shown = [
            ch.prefix_of(target, multi=multi) + ch.name for ch in target.channels.values() if hub.may_see(client, ch)
        ]
        if shown:
            hub.reply(client, rpl.RPL_WHOISCHANNELS, target.nick, " ".join(shown))
        hub.reply(client, rpl.RPL_WHOISSERVER, target.nick, hub.name, hub.config.network)
        if target.away is not None:
            hub.reply(client, rpl.RPL_AWAY, target.nick, target.away)
        if target.oper is not None:
            hub.reply(client, rpl.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
        if target.account is not None:
            hub.reply(client, rpl.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
        idle = int(hub.clock() - target.last_message_at)
        signon = str(int(target.signon))
        hub.reply(client, rpl.RPL_WHOISIDLE, target.nick, str(idle), signon, "seconds idle, signon time")
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
    """A channel's modes are `modes.channel_mode`'s; a nick's are `operators.user_mode`'s."""
    if not need(hub, client, message, 1):
        return
    target = message.params[0]
    if target[:1] in CHANTYPES:
        channel = hub.find_channel(target)
        if channel is None or not hub.may_see(client, channel):
            hub.reply(client, rpl.ERR_NOSUCHCHANNEL, target, "No such channel")
        else:
            channel_mode(hub, client, channel, message)
    else:
        user_mode(hub, client, message)
