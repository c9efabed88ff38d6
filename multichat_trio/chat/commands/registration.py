"""Registration: CAP, PASS, WEBIRC, NICK, USER, and the welcome burst."""

from __future__ import annotations

import hmac
import ipaddress

from ...protocol import Message, casefold, host_word, is_valid_nick
from ...protocol import numerics as rpl
from ...protocol.names import CHANNELLEN, CHANTYPES, NICKLEN, RELAY_MARK
from .. import chathistory, modes
from ..accounts import RESERVED
from ..hub import Client, Hub, shared_caps
from . import accounts
from .channels import try_join
from .moderation import KICK_TARGETS
from .operators import disconnect_banned
from .queries import lusers, motd
from .table import AWAYLEN, CAP_VALUES, KICKLEN, SUPPORTED_CAPS, TOPICLEN, VERSION, command, need

#: Tokens in one 005 line (with the nick and the trailing text, within IRC's 15 parameters).
ISUPPORT_PER_LINE = 12


@command("CAP")
def cap(hub: Hub, client: Client, message: Message) -> None:
    sub = message.param(0).upper()
    target = client.nick
    if sub == "LS":
        if not client.registered:
            client.cap_negotiating = True
        with_values = message.param(1).isdigit() and int(message.param(1)) >= 302
        offered = [
            f"{name}={CAP_VALUES[name]}" if with_values and name in CAP_VALUES else name
            for name in SUPPORTED_CAPS
            if name != "draft/account-registration" or accounts.registration_cap(hub)
            if name != "draft/chathistory" or hub.history is not None  # nothing to serve without a store
        ]
        if with_values and (policy := sts(hub, client)) is not None:  # sts has no meaning without its value
            offered.append(policy)
        hub.send(client, Message("CAP", (target, "LS", " ".join(offered)), hub.name))
    elif sub == "LIST":
        hub.send(client, Message("CAP", (target, "LIST", " ".join(sorted(client.caps))), hub.name))
    elif sub == "REQ":
        if not client.registered:
            client.cap_negotiating = True
        wanted = message.param(1).split()
        adding = [name for name in wanted if not name.startswith("-")]
        if all(name.lstrip("-") in SUPPORTED_CAPS for name in wanted) and wanted:
            caps = client.caps.union(adding).difference(name[1:] for name in wanted if name.startswith("-"))
            client.caps = caps = shared_caps(caps)
            client.server_time = ("server-time" in caps) | ("account-tag" in caps) << 1 | ("message-tags" in caps) << 2
            hub.send(client, Message("CAP", (target, "ACK", message.param(1)), hub.name))
        else:
            hub.send(client, Message("CAP", (target, "NAK", message.param(1)), hub.name))
    elif sub == "END":
        if client.sasl is not None:  # CAP END ends an unfinished SASL exchange (IRCv3 sasl-3.1)
            client.sasl = None
            hub.reply(client, rpl.ERR_SASLABORTED, "SASL authentication aborted")
        client.cap_negotiating = False
        _try_register(hub, client)
    else:
        hub.reply(client, rpl.ERR_INVALIDCAPCMD, sub or "*", "Invalid CAP command")


def sts(hub: Hub, client: Client) -> str | None:
    """The IRCv3 `sts` capability: where to upgrade (plain) or how long to insist on TLS; None without TLS.

    Not over a relay (it has its own ports) nor a WebSocket: a page's socket cannot move to the TLS port
    (raw IRC, not WebSocket), and a policy learnt there would send the client's later TLS connections to
    the WebSocket's port; a browser's own HTTPS rules already keep a wss:// page's socket secure.
    """
    if hub.tls_port is None or hub.config.sts_duration <= 0 or client.relayed or client.websocket:
        return None
    return f"sts=duration={hub.config.sts_duration}" if client.tls else f"sts=port={hub.tls_port}"


@command("PASS")
def pass_(hub: Hub, client: Client, message: Message) -> None:
    if client.registered:
        hub.reply(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
    elif need(hub, client, message, 1):
        given = message.params[0]
        client.password_ok = hub.config.password in (None, given)
        if hub.config.password is None and ":" in given:  # `PASS account:password`, for clients without SASL
            name, _, password = given.partition(":")
            client.pass_login = (name, password) if name and password else None


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
    if key in RESERVED:
        hub.reply(client, rpl.ERR_ERRONEUSNICKNAME, new, "Reserved for a service")
        return
    holder = hub.nicks.get(key)
    if holder is not None and holder is not client:
        hub.reply(client, rpl.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
        return
    old = client.nick
    if new == old:
        return
    banned = next((ch for ch in client.channels.values() if ch.ban_applies(client)), None)
    if banned is not None:
        hub.reply(client, rpl.ERR_BANNICKCHANGE, banned.name, "Cannot change nickname while banned on channel")
        return
    if client.registered:
        if not hub.applying and accounts.protection_refuses(hub, client, new):  # cluster: checked before the log
            return
        hub.rename(client, new)
        accounts.protect_nick(hub, client)
    else:
        if hub.nicks.get(casefold(old)) is client:
            del hub.nicks[casefold(old)]
        hub.nicks[key] = client
        client.nick = new
        _try_register(hub, client)


@command("USER")
def user(hub: Hub, client: Client, message: Message) -> None:
    if client.registered:
        hub.reply(client, rpl.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    if not need(hub, client, message, 4):
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
    if (ban := hub.bans.find(client.host, client.prefix, hub.wallclock())) is not None:
        disconnect_banned(hub, client, ban)
        return
    if client.pass_login is not None:  # log in first (off the trio thread), then register either way
        (name, password), client.pass_login = client.pass_login, None
        if client.account is None:
            accounts.check_password(
                hub,
                client,
                name,
                password,
                lambda account: (accounts.log_in(hub, client, account, "pass"), _try_register(hub, client)),
                lambda why: (accounts.service_notice(hub, client, f"Not logged in: {why}"), _try_register(hub, client)),
            )
            return
    if accounts.protection_refuses(hub, client, client.nick):
        return
    if hub.cluster is not None and not hub.applying:
        hub.cluster.introduce(client, lambda: welcome(hub, client))  # the nickname must be free cluster-wide
    else:
        welcome(hub, client)


def welcome(hub: Hub, client: Client) -> None:
    """Registered: 001 to 005, LUSERS, the MOTD, then the autojoin channels."""
    hub.mark_registered(client)
    created = hub.created.strftime("%Y-%m-%d %H:%M:%S UTC")
    hub.reply(client, rpl.RPL_WELCOME, f"Welcome to the {hub.config.network} IRC network, {client.prefix}")
    hub.reply(client, rpl.RPL_YOURHOST, f"Your host is {hub.name}, running version {VERSION}")
    hub.reply(client, rpl.RPL_CREATED, f"This server was created {created}")
    hub.reply(client, rpl.RPL_MYINFO, hub.name, VERSION, "io", "beiklmnostv", "beklov")
    send_isupport(hub, client)
    lusers(hub, client, Message("LUSERS"))
    motd(hub, client, Message("MOTD"))
    accounts.protect_nick(hub, client)
    for name in hub.config.autojoin_channels:  # as a JOIN would: a ban, +i or +k keeps the user out
        try_join(hub, client, name)


def send_isupport(hub: Hub, client: Client) -> None:
    """005: what this server supports (at registration, and after VERSION)."""
    tokens = [
        f"AWAYLEN={AWAYLEN}",
        "CASEMAPPING=rfc1459",
        f"CHANLIMIT={CHANTYPES}:{hub.config.max_channels_per_user or ''}",
        "CHANMODES=" + modes.CHANMODES,
        f"CHANNELLEN={CHANNELLEN}",
        "CHANTYPES=" + CHANTYPES,
        *([f"CHATHISTORY={chathistory.MAX_LIMIT}", "MSGREFTYPES=msgid,timestamp"] if hub.history is not None else []),
        "EXCEPTS=e",
        "EXTBAN=$,a",
        f"KICKLEN={KICKLEN}",
        "LINELEN=512",
        "NETWORK=" + hub.config.network,
        f"MAXLIST={modes.LIST_MODES}:{modes.MAXLIST}",
        f"MODES={modes.MODES_PER_LINE}",
        f"NICKLEN={NICKLEN}",
        "PREFIX=" + modes.PREFIX,
        "SAFELIST",  # a LIST's answer may pass the SendQ (Hub.allow_reply)
        f"TARGMAX=KICK:{KICK_TARGETS},NAMES:,NOTICE:4,PRIVMSG:4,WHOIS:1",
        f"TOPICLEN={TOPICLEN}",
        "UTF8ONLY",
        "WHOX",
    ]
    for start in range(0, len(tokens), ISUPPORT_PER_LINE):  # IRC allows 15 parameters a line
        hub.reply(client, rpl.RPL_ISUPPORT, *tokens[start : start + ISUPPORT_PER_LINE], "are supported by this server")
