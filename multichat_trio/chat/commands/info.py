"""About the server and about who was here: VERSION, TIME, ADMIN, INFO, HELP (HELPOP), WHOWAS."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from ...protocol import Message, casefold
from ...protocol import numerics as rpl
from ..hub import Client, Hub
from .helptext import HELP
from .registration import send_isupport
from .table import COMMANDS, VERSION, command

#: Command names per line of HELP's index.
INDEX_WIDTH = 12


def _is_here(hub: Hub, client: Client, message: Message) -> bool:
    """A query naming a server (`VERSION <server>`) is ours if it names this one, or one of its users; else 402."""
    target = message.param(0)
    if not target or fnmatchcase(casefold(hub.name), casefold(target)):
        return True
    found = hub.find_client(target)
    if found is not None and found.registered:
        return True
    hub.reply(client, rpl.ERR_NOSUCHSERVER, target, "No such server")
    return False


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%A %d %B %Y %H:%M:%S UTC")


@command("VERSION")
def version(hub: Hub, client: Client, message: Message) -> None:
    if _is_here(hub, client, message):
        hub.reply(client, rpl.RPL_VERSION, VERSION, hub.name, "MultiChat: IRC on trio")
        send_isupport(hub, client)


@command("TIME")
def time_(hub: Hub, client: Client, message: Message) -> None:
    if _is_here(hub, client, message):
        hub.reply(client, rpl.RPL_TIME, hub.name, _utc(hub.wallclock()))


@command("ADMIN")
def admin(hub: Hub, client: Client, message: Message) -> None:
    if not _is_here(hub, client, message):
        return
    hub.reply(client, rpl.RPL_ADMINME, hub.name, "Administrative info")
    hub.reply(client, rpl.RPL_ADMINLOC1, f"{hub.name} of the {hub.config.network} network")
    hub.reply(client, rpl.RPL_ADMINLOC2, f"Running {VERSION}")
    hub.reply(client, rpl.RPL_ADMINEMAIL, hub.config.admin or "No contact given (the server's admin setting)")


@command("INFO")
def info(hub: Hub, client: Client, message: Message) -> None:
    if not _is_here(hub, client, message):
        return
    for line in (
        f"{VERSION}: MultiChat, a multi-user IRC chat server written in Python on trio",
        f"Python {platform.python_version()}",
        f"Up since {_utc(hub.created.timestamp())}",
        "HELP lists the commands; HELP <command> tells about one.",
    ):
        hub.reply(client, rpl.RPL_INFO, line)
    hub.reply(client, rpl.RPL_ENDOFINFO, "End of /INFO list")


@command("HELP", "HELPOP")
def help_(hub: Hub, client: Client, message: Message) -> None:
    """704, 705 lines, 706 (the modern help numerics); 524 for a subject we have no text on."""
    subject = message.param(0).upper()
    if not subject:
        names = sorted(name for name in COMMANDS if name in HELP)
        hub.reply(client, rpl.RPL_HELPSTART, "*", "Commands (HELP <command> tells about one):")
        for start in range(0, len(names), INDEX_WIDTH):
            hub.reply(client, rpl.RPL_HELPTXT, "*", " ".join(names[start : start + INDEX_WIDTH]))
        hub.reply(client, rpl.RPL_ENDOFHELP, "*", "End of /HELP")
        return
    text = HELP.get(subject) if subject in COMMANDS else None
    if text is None:
        hub.reply(client, rpl.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return
    hub.reply(client, rpl.RPL_HELPSTART, subject, text[0])
    for line in text[1:]:
        hub.reply(client, rpl.RPL_HELPTXT, subject, line)
    hub.reply(client, rpl.RPL_ENDOFHELP, subject, "End of /HELP")


@command("WHOWAS")
def whowas(hub: Hub, client: Client, message: Message) -> None:
    """314 and 312 per recent holder of the nick, newest first (at most <count> when positive), then 369."""
    nick = message.param(0)
    if not nick:
        hub.reply(client, rpl.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    try:
        count = int(message.param(1, "0"))
    except ValueError:
        count = 0
    found = hub.whowas.find(nick, count)
    hub.allow_reply(client, 2 * len(found) + 1)
    if not found:
        hub.reply(client, rpl.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    for was in found:
        hub.reply(client, rpl.RPL_WHOWASUSER, was.nick, was.user, was.host, "*", was.realname)
        hub.reply(client, rpl.RPL_WHOISSERVER, was.nick, hub.name, f"Left {_utc(was.when)}")
    hub.reply(client, rpl.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")
