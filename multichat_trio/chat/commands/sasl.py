"""SASL (IRCv3 sasl-3.1, 3.2): AUTHENTICATE with PLAIN (account and password) and EXTERNAL (the TLS client
certificate's fingerprint registered to the account), 400-byte chunks, abort and the length cap."""

from __future__ import annotations

from ...protocol import Message, casefold
from ...protocol import numerics as rpl
from ..accounts import SASL_CHUNK, SASL_MAX, Account, SaslState, decode_chunk, decode_plain
from ..hub import Client, Hub
from .accounts import check_password, failed_login, log_in
from .table import command

MECHANISMS = ("PLAIN", "EXTERNAL")
#: The longest base64 text of a payload within `SASL_MAX` bytes.
_MAX_TEXT = (SASL_MAX + 2) // 3 * 4


@command("AUTHENTICATE")
def authenticate(hub: Hub, client: Client, message: Message) -> None:
    text = message.param(0)
    if not text:
        hub.reply(client, rpl.ERR_NEEDMOREPARAMS, "AUTHENTICATE", "Not enough parameters")
        return
    if text == "*":
        client.sasl = None
        hub.reply(client, rpl.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if client.account is not None:
        hub.reply(client, rpl.ERR_SASLALREADY, "You have already authenticated using SASL")
        return
    state = client.sasl
    if state is None:
        mechanism = text.upper()
        if mechanism not in MECHANISMS:
            hub.reply(client, rpl.RPL_SASLMECHS, ",".join(MECHANISMS), "are available SASL mechanisms")
            hub.reply(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
            return
        client.sasl = SaslState(mechanism)
        hub.send(client, Message("AUTHENTICATE", ("+",)))
        return
    if len(text) > SASL_CHUNK or len(state.buffer) + len(text) > _MAX_TEXT:
        client.sasl = None
        hub.reply(client, rpl.ERR_SASLTOOLONG, "SASL message too long")
        return
    if text != "+":
        state.buffer += text
    if len(text) == SASL_CHUNK:
        return  # a full chunk: more follows (a last one of exactly 400 is followed by `+`)
    client.sasl = None
    payload = decode_chunk(state.buffer or "+")
    if payload is None:
        _refused(hub, client, None, "not base64")
    elif state.mechanism == "PLAIN":
        _plain(hub, client, payload)
    else:
        _external(hub, client, payload)


def _succeeded(hub: Hub, client: Client, account: Account, how: str) -> None:
    log_in(hub, client, account, how)
    hub.reply(client, rpl.RPL_SASLSUCCESS, "SASL authentication successful")


def _refused(hub: Hub, client: Client, name: str | None, why: str, *, count: bool = True) -> None:
    hub.reply(client, rpl.ERR_SASLFAIL, "SASL authentication failed")
    if count:
        failed_login(hub, client, name, why)


def _plain(hub: Hub, client: Client, payload: bytes) -> None:
    decoded = decode_plain(payload)
    if decoded is None:
        _refused(hub, client, None, "malformed PLAIN payload")
        return
    name, password = decoded
    check_password(
        hub,
        client,
        name,
        password,
        lambda account: _succeeded(hub, client, account, "sasl plain"),
        lambda why: _refused(hub, client, name, why, count=False),
    )


def _external(hub: Hub, client: Client, payload: bytes) -> None:
    account = hub.accounts.by_certfp(client.certfp) if client.certfp else None
    wanted = payload.decode("utf-8", "replace")
    if account is None or (wanted and casefold(wanted) != casefold(account.name)):
        _refused(hub, client, wanted or None, "no account has this client certificate")
        return
    _succeeded(hub, client, account, "sasl external")
