"""The relay's line rules without sockets (`relay_rules`), and the server's WEBIRC trust rule on the hub."""

from __future__ import annotations

import pytest

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.hub import Hub
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import parse
from multichat_trio.relay.rules import RelaySession, check_secret, webirc_line

from .conftest import test_config


def test_nick_gets_the_relay_mark_at_registration_and_later() -> None:
    session = RelaySession()
    assert session.from_client(b"NICK relay_user\r\nUSER u 0 * :Real\r\n").to_server == (
        b"NICK *relay_user\r\nUSER u 0 * :Real\r\n"
    )
    assert session.from_client(b"nick :newname\r\n").to_server == b"NICK *newname\r\n"
    tagged = session.from_client(b"@label=1 :me NICK other\r\n").to_server
    assert parse(tagged.decode().rstrip("\r\n")).params == ("*other",)
    assert parse(tagged.decode().rstrip("\r\n")).tags == {"label": "1"}


def test_an_already_marked_nick_is_marked_again_for_the_server_to_refuse() -> None:
    assert RelaySession().from_client(b"NICK *x\r\n").to_server == b"NICK **x\r\n"


def test_other_lines_pass_unchanged_in_order_and_whole() -> None:
    session = RelaySession()
    first = session.from_client(b"PRIVMSG #lobby :two  spaces\nPRIVMSG bob :half")
    assert (first.to_server, first.lines) == (b"PRIVMSG #lobby :two  spaces\r\n", 1)
    rest = session.from_client(b" a line\r\nNICK\r\n")
    assert (rest.to_server, rest.lines) == (b"PRIVMSG bob :half a line\r\nNICK\r\n", 2)


def test_invalid_utf8_is_passed_for_the_server_to_answer() -> None:
    result = RelaySession().from_client(b"NICK \xff\xfe\r\nPRIVMSG #lobby :\xc3\r\n")
    assert result.to_server == b"NICK \xff\xfe\r\nPRIVMSG #lobby :\xc3\r\n"
    assert result.to_client == b""


def test_overlong_line_is_answered_with_417_addressed_like_the_server_would() -> None:
    session = RelaySession()
    session.from_server(b":multichat.local 001 *relay_user :Welcome\r\n")
    result = session.from_client(b"PRIVMSG #lobby :" + b"x" * 600 + b"\r\nPING :still here\r\n")
    assert result.to_server == b"PING :still here\r\n"
    assert result.to_client == b":multichat.local 417 *relay_user :Input line was too long\r\n"


def test_tags_have_the_servers_own_budgets_through_the_relay() -> None:
    session = RelaySession()
    tagged = b"@+draft/reply=" + b"r" * 3000 + b" PRIVMSG #lobby :" + b"x" * 400 + b"\r\n"
    assert session.from_client(tagged).to_server == tagged  # a client's 4096 of tags, as the server takes them
    too_many = b"@+draft/reply=" + b"r" * 4082 + b" PRIVMSG #lobby :x\r\n"
    assert session.from_client(too_many).to_server == b""
    from_server = b"@msgid=a;+draft/reply=" + b"r" * 8000 + b" :alice!u@h PRIVMSG #lobby :" + b"x" * 400 + b"\r\n"
    assert session.from_server(from_server).to_client == from_server  # a server line's 8191 of tags


def test_webirc_from_the_user_is_never_forwarded() -> None:
    result = RelaySession().from_client(b"NICK a\r\nWEBIRC pw gw host 6.6.6.6\r\nUSER u 0 * :x\r\n")
    assert result.to_server == b"NICK *a\r\n"
    assert result.close is not None and "WEBIRC" in result.close


def test_server_lines_pass_whole_and_numerics_track_the_nick() -> None:
    session = RelaySession()
    first = session.from_server(b":srv 001 *a :Welcome\r\n:srv 002 *a :Your ho")
    assert (first.to_client, first.lines) == (b":srv 001 *a :Welcome\r\n", 1)
    assert (session.nick, session.server_name) == ("*a", "srv")
    assert session.from_server(b"st\r\n").to_client == b":srv 002 *a :Your host\r\n"
    session.from_server(b":*a!u@h NICK *b\r\n:srv 433 *a *c :Nickname is already in use\r\n")
    assert session.nick == "*a"


def test_webirc_line_passes_the_real_address() -> None:
    assert webirc_line("s3cret", "203.0.113.5") == b"WEBIRC s3cret multichat-relay 203.0.113.5 203.0.113.5\r\n"
    message = parse(webirc_line("s3cret", "::1").decode().rstrip("\r\n"))
    assert message.params == ("s3cret", "multichat-relay", "0::1", "::1")


@pytest.mark.parametrize("secret", ["", "two words", ":colon", "new\nline"])
def test_a_secret_that_cannot_be_one_parameter_is_rejected(secret: str) -> None:
    with pytest.raises(ValueError, match="relay_secret"):
        check_secret(secret)


# --- the server's side of the trust rule, at the hub (no sockets, so any peer address) ----------


def _webirc(host: str, line: bytes, **overrides: object) -> tuple[Hub, list[bytes]]:
    hub = Hub(test_config(**overrides), COMMANDS)
    outbox = Outbox(1 << 16)
    client = hub.connect(host, outbox)
    hub.receive(client, line)
    hub.receive(client, b"NICK *relayed")
    hub.receive(client, b"USER u 0 * :x")
    hub.fanout.flush()
    return hub, outbox.take().splitlines()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "203.0.113.5"])
def test_webirc_without_a_configured_secret_is_refused_even_from_loopback(host: str) -> None:
    hub, lines = _webirc(host, b"WEBIRC * gw 198.51.100.7 198.51.100.7", relay_secret=None)
    assert lines == [b"ERROR :Closing link: WEBIRC refused (bad secret)"]
    assert not hub.clients


def test_webirc_with_the_secret_is_trusted_from_anywhere_and_gives_the_real_address() -> None:
    hub, lines = _webirc("203.0.113.5", b"WEBIRC s3cret gw 198.51.100.7 198.51.100.7", relay_secret="s3cret")
    assert lines[0] == b":multichat.local 001 *relayed :Welcome to the MultiChat IRC network, *relayed!u@198.51.100.7"
    (client,) = hub.clients
    assert client.relayed and client.host == "198.51.100.7"


@pytest.mark.parametrize("given", [b"wrong", b"*", b"s3cre", b"s3crett"])
def test_webirc_with_another_secret_is_refused_even_from_loopback(given: bytes) -> None:
    hub, lines = _webirc("127.0.0.1", b"WEBIRC " + given + b" gw 198.51.100.7 198.51.100.7", relay_secret="s3cret")
    assert lines == [b"ERROR :Closing link: WEBIRC refused (bad secret)"]
    assert not hub.clients


def test_a_second_webirc_cannot_change_the_vouched_address() -> None:
    hub = Hub(test_config(), COMMANDS)
    outbox = Outbox(1 << 16)
    client = hub.connect("127.0.0.1", outbox)
    hub.receive(client, b"WEBIRC test-relay-secret gw 198.51.100.7 198.51.100.7")
    hub.receive(client, b"WEBIRC test-relay-secret gw 10.6.6.6 10.6.6.6")
    assert client.closed and client.host == "198.51.100.7"
    hub.fanout.flush()
    assert outbox.take() == b"ERROR :Closing link: WEBIRC must come first\r\n"


def test_a_malformed_webirc_is_refused_and_closed() -> None:
    for line in (b"WEBIRC test-relay-secret gw 198.51.100.7", b"WEBIRC test-relay-secret gw host not-an-address"):
        hub, lines = _webirc("127.0.0.1", line)
        assert lines == [b"ERROR :Closing link: WEBIRC needs: secret gateway hostname ip"]
        assert not hub.clients


def test_a_server_line_with_nul_or_cr_is_not_passed_on_and_the_rest_is() -> None:
    session = RelaySession()
    result = session.from_server(b":srv NOTICE *a :a\0b\r\n:srv NOTICE *a :c\rd\r\n:srv NOTICE *a :fine\r\n")
    assert (result.to_client, result.lines) == (b":srv NOTICE *a :fine\r\n", 1)


def test_a_user_line_with_nul_goes_to_the_server_to_answer() -> None:
    result = RelaySession().from_client(b"NICK a\0b\r\nPRIVMSG #lobby :a\0b\r\n")
    assert result.to_server == b"NICK a\0b\r\nPRIVMSG #lobby :a\0b\r\n"
