"""NickServ, for clients that know no REGISTER or SASL: `/msg NickServ REGISTER <password>`, IDENTIFY,
GHOST, REGAIN, SET PASSWORD, CERT, DROP, INFO, HELP. It answers with NOTICEs from `NickServ`."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from ...protocol import Message, casefold
from .. import events, opers
from ..accounts import MIN_PASSWORD, NICKSERV, Account
from ..hub import Client, Hub
from .accounts import check_password, log_in, log_out, protect_nick, register_account, service_notice
from .table import command

HELP = (
    "REGISTER <password>: register your current nickname as an account",
    "IDENTIFY [account] <password>: log in",
    "GHOST <nick>: disconnect a client using your account's nickname; REGAIN <nick>: and take it",
    "SET PASSWORD <new password>: change your password",
    "CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST: TLS client certificates for SASL EXTERNAL",
    "DROP <account>: delete your account (give its name to confirm)",
    "INFO [account]: when an account was registered",
)


#: NickServ's name folded once, not for every message.
FOLDED = casefold(NICKSERV)


def is_service(target: str) -> bool:
    return casefold(target) == FOLDED


@command("NICKSERV", "NS")
def nickserv_command(hub: Hub, client: Client, message: Message) -> None:
    """`NICKSERV <text>` / `NS <text>`: the same as a PRIVMSG to NickServ."""
    nickserv(hub, client, " ".join(message.params))


def nickserv(hub: Hub, client: Client, text: str) -> None:
    """One message to NickServ."""
    words = text.split()
    verb = words[0].upper() if words else "HELP"
    args = words[1:]
    say = partial(service_notice, hub, client)
    if verb == "REGISTER" and args:

        def answer(code: str, why: str) -> None:
            say(why if code == "SUCCESS" else f"Not registered: {why}")

        register_account(hub, client, client.nick, args[0], answer, then_login=True)
    elif verb == "IDENTIFY" and args:
        name, password = (args[0], args[1]) if len(args) > 1 else (client.nick, args[0])
        if client.account is not None:
            say(f"You are already logged in as {client.account}")
            return

        def identified(account: Account) -> None:
            log_in(hub, client, account, "nickserv")
            say(f"You are now identified for {account.name}")

        check_password(hub, client, name, password, identified, say)
    elif verb in ("GHOST", "REGAIN") and args:
        _ghost(hub, client, args[0], regain=verb == "REGAIN")
    elif verb == "SET" and len(args) >= 2 and args[0].upper() == "PASSWORD":
        _set_password(hub, client, args[1])
    elif verb == "CERT":
        _cert(hub, client, [arg.lower() for arg in args])
    elif verb == "DROP" and args:
        _drop(hub, client, args[0])
    elif verb == "INFO":
        name = args[0] if args else client.account or client.nick
        account = hub.accounts.find(name)
        if account is None:
            say(f"{name} is not registered")
        else:
            when = datetime.fromtimestamp(account.registered, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            online = sum(1 for other in hub.clients if other.account == account.name)
            say(f"{account.name}: registered {when}; logged in from {online} connection(s) now")
    else:
        for line in HELP:
            say(line)


def _ghost(hub: Hub, client: Client, nick: str, *, regain: bool) -> None:
    say = partial(service_notice, hub, client)
    owner = hub.accounts.find(nick)
    if client.account is None or owner is None or owner.name != client.account:
        say(f"{nick} is not a nickname of your account (log in first)")
        return
    holder = hub.find_client(nick)
    if holder is not None and holder is not client:
        hub.disconnect(holder, f"GHOST command used by {client.nick}", kind="ghost")
        say(f"{nick} has been disconnected")
    elif not regain:
        say(f"No one else is using {nick}")
    if regain and client.registered and hub.find_client(nick) is None:
        hub.rename(client, nick)
        protect_nick(hub, client)


def _set_password(hub: Hub, client: Client, password: str) -> None:
    account = hub.accounts.find(client.account) if client.account else None
    if account is None:
        service_notice(hub, client, "Log in first")
        return
    if len(password) < MIN_PASSWORD or " " in password:
        service_notice(hub, client, f"A password needs at least {MIN_PASSWORD} characters")
        return

    def hashed(password_hash: str) -> None:
        account.password_hash = password_hash
        hub.accounts.changed(account)
        hub.record(events.account("account_update", client.nick, account.name, what="password"))
        if not client.closed:
            service_notice(hub, client, "Password changed")

    hub.defer(client, partial(opers.hash_password, password), hashed)


def _cert(hub: Hub, client: Client, args: list[str]) -> None:
    say = partial(service_notice, hub, client)
    account = hub.accounts.find(client.account) if client.account else None
    if account is None:
        say("Log in first")
        return
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        for fp in account.certfps:
            say(fp)
        say(f"{len(account.certfps)} certificate fingerprint(s) on {account.name}")
        return
    fp = args[1] if len(args) > 1 else (client.certfp or "") if sub == "ADD" else ""
    if sub == "ADD" and (len(fp) != 64 or any(ch not in "0123456789abcdef" for ch in fp)):
        say("CERT ADD needs a SHA-256 fingerprint (64 hex digits), or a TLS connection with a client certificate")
        return
    if sub == "ADD" and hub.accounts.by_certfp(fp) is None and len(account.certfps) < 8:
        account.certfps.append(fp)
    elif sub == "DEL" and fp in account.certfps:
        account.certfps.remove(fp)
    else:
        say(f"CERT {sub}: nothing changed (unknown, already registered, or 8 already)")
        return
    hub.accounts.changed(account)
    hub.record(events.account("account_update", client.nick, account.name, what="certfp"))
    say(f"CERT {sub} {fp}: done")


def _drop(hub: Hub, client: Client, name: str) -> None:
    if client.account is None or casefold(name) != casefold(client.account):
        service_notice(hub, client, "DROP <account>: give the name of the account you are logged in to")
        return
    hub.accounts.drop(name)
    hub.read_markers.forget(name)  # the store forgets them with the event
    hub.record(events.account("account_drop", client.nick, name))
    for other in list(hub.clients):
        if other.account is not None and casefold(other.account) == casefold(name):
            log_out(hub, other)
    service_notice(hub, client, f"Account {name} dropped")
