"""Accounts: REGISTER and VERIFY (IRCv3 draft/account-registration), the NickServ service, logging in and
out, failed-login pacing and nick protection. SASL's AUTHENTICATE is in `sasl.py`.

docs/accounts.md is the user-facing description of the same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache, partial

from ...protocol import Message, casefold, is_valid_nick
from ...protocol import numerics as rpl
from .. import events, opers
from ..accounts import FAILS_PER_CONNECTION, MIN_PASSWORD, NICKSERV, RESERVED, SERVICE_PREFIX, Account
from ..hub import Client, Hub
from .table import command

log = logging.getLogger(__name__)


@cache
def _no_such() -> str:
    """A hash to check a password against when the account does not exist, so both take as long."""
    return opers.hash_password("no such account: this hash matches no password anyone types")


def service_notice(hub: Hub, client: Client, text: str) -> None:
    hub.send(client, Message("NOTICE", (client.nick, text), SERVICE_PREFIX))


# --- logging in and out ---------------------------------------------------------------------


def log_in(hub: Hub, client: Client, account: Account, how: str) -> None:
    """`client` is now logged in to `account`: 900, peers with account-notify see ACCOUNT, the grace ends."""
    client.account = account.name
    if client.rename_at is not None and casefold(client.nick) == casefold(account.name):
        client.rename_at = None
    hub.reply(client, rpl.RPL_LOGGEDIN, client.prefix, account.name, f"You are now logged in as {account.name}")
    _notify_account(hub, client, account.name)
    hub.record(events.account("login", client.nick, account.name, how=how))
    log.info("%s logged in to account %s (%s)", client.prefix, account.name, how)


def log_out(hub: Hub, client: Client) -> None:
    name = client.account
    if name is None:
        return
    client.account = None
    hub.reply(client, rpl.RPL_LOGGEDOUT, client.prefix, "You are now logged out")
    _notify_account(hub, client, "*")
    hub.record(events.account("logout", client.nick, name))
    protect_nick(hub, client)


def _notify_account(hub: Hub, client: Client, name: str) -> None:
    if client.registered:
        peers = [peer for peer in hub.peers_of(client) - {client} if "account-notify" in peer.caps]
        if peers:
            hub.broadcast(peers, Message("ACCOUNT", (name,), client.prefix))


def check_password(
    hub: Hub,
    client: Client,
    name: str,
    password: str,
    ok: Callable[[Account], None],
    refused: Callable[[str], None],
) -> None:
    """Check `name`'s password off the trio thread; then `ok(account)` or `refused(why)` (the failure counted).

    An address or account with too many recent failures is refused without a check.
    """
    now = hub.clock()
    if hub.login_limits.blocked(client.host, name, now):
        log.warning("login to %s by %s refused unchecked: too many failed logins", name, client.prefix)
        refused("Too many failed logins; try again later")
        failed_login(hub, client, name, "too many failures", count=False)
        return
    account = hub.accounts.find(name)
    password_hash = account.password_hash if account is not None else _no_such()

    def checked(good: bool) -> None:
        if client.closed:
            return
        if good and account is not None and hub.accounts.find(name) is account:
            ok(account)
            return
        refused("Invalid account name or password")
        failed_login(hub, client, name, "wrong password" if account is not None else "no such account")

    hub.defer(client, partial(opers.verify, password_hash, password), checked)


def failed_login(hub: Hub, client: Client, name: str | None, why: str, *, count: bool = True) -> None:
    """A failed login: logged; the client's next line waits a while; the third on a connection disconnects it."""
    now = hub.clock()
    if count:
        delay = hub.login_limits.failed(client.host, name, now)
        log.warning("failed login to %s by %s: %s (next line waits %g s)", name, client.prefix, why, delay)
    else:
        delay = 0.0
    client.failed_logins += 1
    client.hold_until = max(client.hold_until, now + delay)
    if client.failed_logins >= FAILS_PER_CONNECTION:
        hub.disconnect(client, "Too many failed logins", kind="login")


# --- nick protection -----------------------------------------------------------------------


def _owner_elsewhere(hub: Hub, client: Client, nick: str) -> Account | None:
    """The account `nick` is registered to, if `client` is not logged in to it."""
    owner = hub.accounts.find(nick)
    if owner is None or (client.account is not None and casefold(client.account) == casefold(owner.name)):
        return None
    return owner


def protection_refuses(hub: Hub, client: Client, nick: str) -> bool:
    """With no grace (`--nick-protection-grace 0`), a registered nickname is refused (433) to anyone else."""
    if hub.config.nick_protection_grace == 0 and _owner_elsewhere(hub, client, nick) is not None:
        hub.reply(client, rpl.ERR_NICKNAMEINUSE, nick, "Nickname is registered to an account: log in first")
        return True
    return False


def protect_nick(hub: Hub, client: Client) -> None:
    """`client` (registered) now holds its nickname: if that is someone's account, the grace starts."""
    if _owner_elsewhere(hub, client, client.nick) is None:
        client.rename_at = None
        return
    grace = hub.config.nick_protection_grace
    client.rename_at = hub.clock() + grace
    service_notice(
        hub,
        client,
        f"{client.nick} is a registered nickname. Log in (/msg {NICKSERV} IDENTIFY <password>, or SASL) within"
        f" {grace:g} seconds, or you will be renamed.",
    )


# --- registering -----------------------------------------------------------------------------


def register_account(
    hub: Hub, client: Client, name: str, password: str, answer: Callable[[str, str], None], then_login: bool
) -> None:
    """Create `name` with `password` (hashed off the trio thread); `answer(code, text)` says how it went.

    `code` is SUCCESS or a draft/account-registration FAIL code.
    """
    policy = hub.config.registration
    if policy == "closed" or (policy == "operators" and client.oper is None):
        answer("DISALLOWED", "Account registration is " + ("closed" if policy == "closed" else "for operators only"))
        return
    if client.account is not None and then_login:
        answer("ALREADY_AUTHENTICATED", f"You are already logged in as {client.account}")
        return
    if not is_valid_nick(name) or casefold(name) in RESERVED or casefold(name).startswith("guest"):
        answer("BAD_ACCOUNT_NAME", f"{name} cannot be an account name")
        return
    if hub.accounts.find(name) is not None:
        answer("ACCOUNT_EXISTS", f"{name} is already registered")
        return
    if len(password) < MIN_PASSWORD or " " in password:
        answer("WEAK_PASSWORD", f"A password needs at least {MIN_PASSWORD} characters and no spaces")
        return

    def hashed(password_hash: str) -> None:
        if client.closed:
            return
        account = Account(name, password_hash, hub.wallclock())
        if hub.cluster is not None and not hub.applying:  # the name must be free cluster-wide: the log decides
            hub.cluster.create_account(client, account, lambda created: finish(account, created))
        else:
            finish(account, hub.accounts.find(name) is None)

    def finish(account: Account, free: bool) -> None:
        if not free:
            answer("ACCOUNT_EXISTS", f"{name} is already registered")
            return
        if hub.accounts.find(name) is not account:
            hub.accounts.add(account)
        hub.record(events.account("account_register", client.nick, name))
        log.info("%s registered account %s", client.prefix, name)
        answer("SUCCESS", f"Account {name} registered")
        if then_login:
            log_in(hub, client, account, "register")

    hub.defer(client, partial(opers.hash_password, password), hashed)


@command("REGISTER")
def register(hub: Hub, client: Client, message: Message) -> None:
    """`REGISTER <account> <email | *> <password>`: the account is the nickname (`*` says so)."""
    if len(message.params) < 3 or not all(message.params[:3]):
        hub.fail(client, "REGISTER", "NEED_MORE_PARAMS", "Usage: REGISTER <account|*> <email|*> <password>")
        return
    wanted, _email, password = message.params[:3]
    if client.nick == "*":
        hub.fail(client, "REGISTER", "NEED_NICK", "*", "Send NICK before REGISTER")
        return
    name = client.nick if wanted == "*" else wanted
    mine = casefold(name) == casefold(client.nick)
    if not mine and client.oper is None:
        hub.fail(client, "REGISTER", "BAD_ACCOUNT_NAME", name, "The account name must be your nickname")
        return

    def answer(code: str, text: str) -> None:
        if code == "SUCCESS":
            hub.send(client, Message("REGISTER", ("SUCCESS", name, text), hub.name))
        else:
            hub.fail(client, "REGISTER", code, name, text)

    register_account(hub, client, name, password, answer, then_login=mine)


@command("VERIFY")
def verify(hub: Hub, client: Client, message: Message) -> None:
    """No registration here waits for a code (no email is sent): every VERIFY is an invalid code."""
    hub.fail(client, "VERIFY", "INVALID_CODE", message.param(0, "*") or "*", "No verification is pending")


def registration_cap(hub: Hub) -> str | None:
    """The `draft/account-registration` capability's value, or None when registration is closed."""
    if hub.config.registration != "open":
        return None
    return "draft/account-registration=before-connect"
