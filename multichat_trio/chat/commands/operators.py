"""Server operators: OPER, KILL, server bans (KLINE/DLINE, UNKLINE/UNDLINE, KLINE LIST, STATS k),
HISTSERV FORGET, REHASH, and the user modes (+i, +o) of MODE on one's own nick.

Every command but OPER answers 481 to a client that is not an operator. docs/moderation.md is the
user-facing description of the same rules.
"""

from __future__ import annotations

import logging
from functools import partial

from ...protocol import Message, casefold
from ...protocol import numerics as rpl
from .. import events, opers, rehash
from ..bans import ServerBan, format_duration, parse_duration, parse_mask
from ..hub import Client, Hub
from .table import command, need

log = logging.getLogger(__name__)

#: A ban or kill reason is cut to this many characters.
REASONLEN = 200
_NO_REASON = "No reason given"


def is_oper(hub: Hub, client: Client) -> bool:
    """True for an operator; anyone else gets 481."""
    if client.oper is not None:
        return True
    hub.reply(client, rpl.ERR_NOPRIVILEGES, "Permission Denied - You're not an IRC operator")
    return False


def notice(hub: Hub, client: Client, text: str) -> None:
    hub.send(client, Message("NOTICE", (client.nick, text), hub.name))


@command("OPER")
def oper(hub: Hub, client: Client, message: Message) -> None:
    """`OPER <name> <password>`; `OPER <name>` alone for an operator tied to the account one is logged in to."""
    name = message.param(0)
    entry = opers.find(hub.config.opers, name)
    tied, mine = entry.account if entry is not None else None, client.account
    by_account = tied is not None and mine is not None and casefold(tied) == casefold(mine)
    if not by_account and not need(hub, client, message, 2):
        return
    password = message.param(1)
    if not hub.config.opers or (entry is not None and not opers.host_allowed(entry, client.host)):
        hub.reply(client, rpl.ERR_NOOPERHOST, "No O-lines for your host")
        log.warning("OPER %s by %s refused: not from an allowed host", name, client.prefix)
        return
    if entry is None:  # the same answer as a wrong password: operator names are not told
        hub.reply(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
        log.warning("OPER %s by %s refused: no such operator", name, client.prefix)
        return

    def checked(ok: bool) -> None:
        if client.closed:
            return
        if not ok:
            hub.reply(client, rpl.ERR_PASSWDMISMATCH, "Password incorrect")
            log.warning("OPER %s by %s refused: wrong password", name, client.prefix)
            return
        if client.oper is None:
            hub.send(client, Message("MODE", (client.nick, "+o"), client.prefix))
        client.oper = entry.name
        hub.reply(client, rpl.RPL_YOUREOPER, "You are now an IRC operator")
        hub.record(events.oper(client.nick, entry.name))
        log.info("%s is now operator %s", client.prefix, entry.name)

    if by_account:
        checked(True)
    elif not entry.password:  # tied to an account the client is not logged in to: no password opens it
        checked(False)
    else:
        hub.defer(client, partial(opers.verify, entry.password, password), checked)


@command("KILL")
def kill(hub: Hub, client: Client, message: Message) -> None:
    if not is_oper(hub, client) or not need(hub, client, message, 1):
        return
    target = hub.find_client(message.params[0])
    if target is None or not target.registered:
        hub.reply(client, rpl.ERR_NOSUCHNICK, message.params[0], "No such nick/channel")
        return
    reason = message.param(1)[:REASONLEN] or _NO_REASON
    why = f"Killed ({client.nick} ({reason}))"
    hub.record(events.kill(client.nick, target.nick, reason))
    log.info("%s killed %s: %s", client.prefix, target.prefix, reason)
    hub.disconnect(target, why, kind="kill", error=f"Closing link: {hub.name} ({why})")


@command("KLINE", "DLINE")
def kline(hub: Hub, client: Client, message: Message) -> None:
    """`KLINE [duration] <mask> [reason]`, `KLINE LIST`; DLINE is the same for addresses and CIDR ranges."""
    if not is_oper(hub, client) or not need(hub, client, message, 1):
        return
    params = list(message.params)
    if params[0].upper() == "LIST":
        list_bans(hub, client)
        return
    duration = parse_duration(params[0]) if len(params) > 1 else None
    if duration is not None:
        params.pop(0)
    mask = parse_mask(params[0])
    if mask is None or (message.command == "DLINE" and "!" in mask):
        kind = "an address or CIDR range" if message.command == "DLINE" else "a nick!user@host mask, address or range"
        notice(hub, client, f"{message.command}: {params[0]!r} is not {kind} (and may not match everyone)")
        return
    now = hub.wallclock()
    reason = (params[1] if len(params) > 1 else "")[:REASONLEN] or _NO_REASON
    ban = ServerBan(mask, reason, client.nick, now, now + duration if duration else 0.0)
    if ban.matches(client.host, client.prefix):
        notice(hub, client, f"{message.command}: {mask} would ban you too; not set")
        return
    hub.bans.add(ban)
    hub.record(events.kline(client.nick, mask, reason, ban.set_at, ban.expires))
    how_long = f"for {format_duration(duration)}" if duration else "until UNKLINE"
    notice(hub, client, f"Banned {mask} {how_long}: {reason}")
    log.info("%s banned %s %s: %s", client.prefix, mask, how_long, reason)
    for other in list(hub.clients):
        if ban.matches(other.host, other.prefix):
            disconnect_banned(hub, other, ban)


def disconnect_banned(hub: Hub, client: Client, ban: ServerBan) -> None:
    """A banned client goes with 465 and an ERROR giving the reason; its channels see it QUIT."""
    hub.reply(client, rpl.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}")
    hub.disconnect(client, f"K-lined: {ban.reason}", kind="kline", error=f"Closing link: You are banned ({ban.reason})")


@command("UNKLINE", "UNDLINE")
def unkline(hub: Hub, client: Client, message: Message) -> None:
    if not is_oper(hub, client) or not need(hub, client, message, 1):
        return
    mask = parse_mask(message.params[0]) or message.params[0]
    if hub.bans.remove(mask) is None:
        notice(hub, client, f"{message.command}: no ban on {mask}")
        return
    hub.record(events.unkline(client.nick, mask))
    notice(hub, client, f"Removed the ban on {mask}")
    log.info("%s removed the ban on %s", client.prefix, mask)


@command("STATS")
def stats(hub: Hub, client: Client, message: Message) -> None:
    """Only `STATS k` (the server bans, for operators, as InspIRCd lists its K-lines); other letters end at once."""
    letter = message.param(0, "*")[:1] or "*"
    if letter.lower() == "k" and is_oper(hub, client):
        list_bans(hub, client)
        return
    hub.reply(client, rpl.RPL_ENDOFSTATS, letter, "End of /STATS report")


def list_bans(hub: Hub, client: Client) -> None:
    """216 per ban (`K <mask> <seconds left, 0 never> <set by> :<reason>`), then 219."""
    now = hub.wallclock()
    bans = hub.bans.active(now)
    hub.allow_reply(client, len(bans) + 1)
    for ban in bans:
        left = str(max(1, int(ban.expires - now))) if ban.expires else "0"
        hub.reply(client, rpl.RPL_STATSKLINE, "K", ban.mask, left, ban.set_by, ban.reason)
    hub.reply(client, rpl.RPL_ENDOFSTATS, "k", "End of /STATS report")


@command("HISTSERV")
def histserv(hub: Hub, client: Client, message: Message) -> None:
    """`HISTSERV FORGET <nick> [duration]`: the nick's messages leave the stored history and every replay.

    With a duration (`1h`), only those of that last while; without, all of them. As ergo's HISTSERV
    FORGET (by nick here: there are no accounts).
    """
    if not is_oper(hub, client):
        return
    if message.param(0).upper() != "FORGET" or len(message.params) < 2 or not message.params[1]:
        notice(hub, client, "HISTSERV: usage: HISTSERV FORGET <nick> [duration, e.g. 1h]")
        return
    target = message.params[1]
    since = 0.0
    if len(message.params) > 2:
        duration = parse_duration(message.params[2])
        if duration is None:
            notice(hub, client, f"HISTSERV: {message.params[2]!r} is not a duration (30m, 2h, 1d)")
            return
        since = hub.wallclock() - duration
    removed = forget(hub, target, since)
    hub.record(events.forget(client.nick, target, since, removed))
    stored = "; the stored history follows" if hub.durable else " (there is no history store)"
    notice(hub, client, f"HISTSERV: forgetting {target}'s messages: {removed} left the replay{stored}")
    log.info("%s: HISTSERV FORGET %s since %s (%d replay lines)", client.prefix, target, since, removed)


def forget(hub: Hub, nick: str, since: float) -> int:
    """Drop `nick`'s lines since `since` from every channel's replay cache; how many went (the store does its own)."""
    key = casefold(nick)
    removed = 0
    for recent in hub.recent.values():
        kept = [line for line in recent if casefold(line.nick) != key or line.ts < since]
        removed += len(recent) - len(kept)
        if len(kept) != len(recent):
            recent.clear()
            recent.extend(kept)
    return removed


@command("REHASH")
def rehash_(hub: Hub, client: Client, message: Message) -> None:
    if not is_oper(hub, client):
        return
    if hub.reload is None:
        notice(hub, client, "REHASH: this server was not started from settings it can read again")
        return
    hub.reply(client, rpl.RPL_REHASHING, "config", "Rehashing")

    def done(loaded: rehash.Loaded | str) -> None:
        report = rehash.apply(hub, loaded)
        if not client.closed:
            notice(hub, client, report)

    hub.defer(client, partial(rehash.read, hub.reload, list(hub.certificates)), done)


def user_mode(hub: Hub, client: Client, message: Message) -> None:
    """MODE on a nick: one's own +i/-i and -o (+o only comes with OPER); 221 answers, 502 for others."""
    target = message.params[0]
    if casefold(target) != casefold(client.nick):
        hub.reply(client, rpl.ERR_USERSDONTMATCH, "Cannot change mode for other users")
        return
    if len(message.params) == 1:
        hub.reply(client, rpl.RPL_UMODEIS, "+" + "i" * client.invisible + "o" * (client.oper is not None))
        return
    adding, unknown = True, False
    changes: dict[str, bool] = {}
    for letter in message.params[1]:
        if letter in "+-":
            adding = letter == "+"
        elif letter == "i" and client.invisible != adding:
            client.invisible = adding
            changes["i"] = adding
        elif letter == "o" and not adding and client.oper is not None:
            client.oper = None
            changes["o"] = False
        elif letter not in "io":
            unknown = True
    if unknown:
        hub.reply(client, rpl.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changes:
        text, sign = "", ""
        for letter, on in changes.items():
            if sign != ("+" if on else "-"):
                sign = "+" if on else "-"
                text += sign
            text += letter
        hub.send(client, Message("MODE", (client.nick, text), client.prefix))
