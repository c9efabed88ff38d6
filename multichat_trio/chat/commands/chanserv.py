"""ChanServ: an account registers a channel (`/msg ChanServ REGISTER #chan`); its founder then gets +o on
every join, across restarts (the founder is part of the channel's stored state)."""

from __future__ import annotations

from functools import partial

from ...protocol import Message, casefold
from ..accounts import CHANSERV_PREFIX
from ..events import Event
from ..hub import Client, Hub
from .table import command

HELP = (
    "REGISTER <#chan>: your account becomes the channel's founder (you must be a channel operator there)",
    "DROP <#chan>: the channel is no longer registered (its founder, or a server operator)",
    "INFO <#chan>: who founded it",
)


@command("CHANSERV", "CS")
def chanserv_command(hub: Hub, client: Client, message: Message) -> None:
    """`CHANSERV <text>` / `CS <text>`: the same as a PRIVMSG to ChanServ."""
    chanserv(hub, client, " ".join(message.params))


def chanserv(hub: Hub, client: Client, text: str) -> None:
    words = text.split()
    verb = words[0].upper() if words else "HELP"
    say = partial(_notice, hub, client)
    channel = hub.find_channel(words[1]) if len(words) > 1 else None
    if verb not in ("REGISTER", "DROP", "INFO"):
        for line in HELP:
            say(line)
    elif channel is None:
        say("No such channel")
    elif verb == "INFO":
        say(f"{channel.name}: founder {channel.founder}" if channel.founder else f"{channel.name} is not registered")
    elif client.account is None:
        say("Log in first (/msg NickServ IDENTIFY <password>)")
    elif verb == "REGISTER":
        if channel.founder:
            say(f"{channel.name} is already registered to {channel.founder}")
        elif client not in channel.ops:
            say(f"You must be a channel operator of {channel.name} to register it")
        else:
            channel.founder = client.account
            hub.state_changed(channel)
            hub.record(
                Event("channel_register", {"nick": client.nick, "channel": channel.name, "account": client.account})
            )
            say(f"{channel.name} is registered to {client.account}: you will get +o whenever you join")
    elif client.oper is not None or (channel.founder and casefold(channel.founder) == casefold(client.account)):
        channel.founder = None
        hub.state_changed(channel)
        hub.record(_registered(client, channel.name, None))
        say(f"{channel.name} is no longer registered")
    else:
        say(f"Only the founder of {channel.name} (or a server operator) may drop it")


def _notice(hub: Hub, client: Client, text: str) -> None:
    hub.send(client, Message("NOTICE", (client.nick, text), CHANSERV_PREFIX))


def _registered(client: Client, channel: str, account: str | None) -> Event:
    """The event of a channel registered (to `account`) or dropped (None)."""
    return Event("channel_register", {"nick": client.nick, "channel": channel, "account": account})
