"""Accounts as plain Python: REGISTER/VERIFY, SASL PLAIN and EXTERNAL, PASS account:password, NickServ,
failed-login limiting and nick protection (the hub with a fake clock; deferred work run inline)."""

from __future__ import annotations

import base64

import pytest

from multichat_trio import config as settings
from multichat_trio.chat import accounts, bans, opers, rehash
from multichat_trio.chat.accounts import Account, LoginLimiter
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import Message

from .conftest import test_config
from .test_hub import join_as, make_hub, received
from .test_opers import CHEAP, SECRET, commands

PASSWORD = "correct-horse"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registration hashes with cheap argon2 parameters (the hash carries them, so checks are cheap too)."""
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)


def run(hub: Hub, client: Client, *lines: str) -> list[Message]:
    """Send `lines`, running any deferred check inline as the connection would; what came back."""
    for line in lines:
        hub.receive(client, line.encode())
        while (deferred := hub.take_deferred(client)) is not None:
            deferred.then(deferred.work())
    return received(client, hub)


def with_account(name: str = "alice", password: str = PASSWORD, **overrides: object) -> Hub:
    hub, _ = make_hub(**overrides)
    hub.accounts.add(Account(name, CHEAP.hash(password), 0.0))
    hub.accounts.take_changed()
    return hub


def plain(name: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{name}\0{password}".encode()).decode()


def unregistered(hub: Hub, nick: str = "alice", host: str = "127.0.0.1") -> Client:
    client = hub.connect(host, Outbox(1 << 20))
    run(hub, client, "CAP LS 302", f"NICK {nick}", "USER u 0 * :Real", "CAP REQ :sasl")
    return client


# --- REGISTER and VERIFY ---------------------------------------------------------------------------


def test_register_creates_the_account_and_logs_in_and_no_hash_reaches_an_event() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    hub.take_events()
    answers = run(hub, alice, f"REGISTER * * :{PASSWORD}")
    assert [m.command for m in answers] == ["REGISTER", "900"]
    assert answers[0].params[:2] == ("SUCCESS", "alice")
    assert alice.account == "alice" and hub.accounts.find("ALICE") is not None
    taken = hub.take_events()
    assert [e.type for e in taken] == ["account_register", "login"]
    assert "$argon2" not in repr(taken) and PASSWORD not in repr(taken)
    stored = hub.accounts.take_changed()
    assert stored["alice"]["password_hash"].startswith("$argon2")  # type: ignore[index]


def test_register_refusals() -> None:
    hub = with_account("bob")
    carol = join_as(hub, "carol")
    assert run(hub, carol, "REGISTER * * short")[0].params[:2] == ("REGISTER", "WEAK_PASSWORD")
    assert run(hub, carol, f"REGISTER bob * :{PASSWORD}")[0].params[:2] == ("REGISTER", "BAD_ACCOUNT_NAME")
    assert run(hub, carol, "REGISTER *")[0].params[:2] == ("REGISTER", "NEED_MORE_PARAMS")
    bob = join_as(hub, "bob")
    assert run(hub, bob, f"REGISTER * * :{PASSWORD}")[0].params[:2] == ("REGISTER", "ACCOUNT_EXISTS")
    for policy in ("closed", "operators"):
        closed, _ = make_hub(registration=policy)
        dave = join_as(closed, "dave")
        assert run(closed, dave, f"REGISTER * * :{PASSWORD}")[0].params[:2] == ("REGISTER", "DISALLOWED")
        assert closed.accounts.find("dave") is None


def test_register_before_connect_then_the_welcome_and_cap_ls_values() -> None:
    hub, _ = make_hub()
    client = hub.connect("127.0.0.1", Outbox(1 << 20))
    ls = run(hub, client, "CAP LS 302")[0].params[-1].split()
    assert "sasl=PLAIN,EXTERNAL" in ls and "draft/account-registration=before-connect" in ls
    assert "sasl" in run(hub, client, "CAP LS")[0].params[-1].split()
    answers = run(hub, client, "NICK alice", f"REGISTER * * :{PASSWORD}", "USER u 0 * :R", "CAP END")
    assert commands(answers)[:3] == ["REGISTER", "900", "001"]
    assert client.registered and client.account == "alice"
    closed, _ = make_hub(registration="closed")
    other = closed.connect("127.0.0.1", Outbox(1 << 20))
    assert "draft/account-registration" not in run(closed, other, "CAP LS 302")[0].params[-1]


def test_verify_has_nothing_pending() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    assert run(hub, alice, "VERIFY alice 1234")[0].params[:2] == ("VERIFY", "INVALID_CODE")
    assert run(hub, alice, "VERIFY :a b")[0].params == ("VERIFY", "INVALID_CODE", "*", "No verification is pending")


# --- SASL ------------------------------------------------------------------------------------------


def test_sasl_plain_success_logs_in_before_the_welcome() -> None:
    hub = with_account()
    client = unregistered(hub)
    assert run(hub, client, "AUTHENTICATE PLAIN")[0].params == ("+",)
    answers = run(hub, client, f"AUTHENTICATE {plain('alice', PASSWORD)}")
    assert commands(answers) == ["900", "903"]
    assert answers[0].params[2] == "alice"
    assert commands(run(hub, client, "CAP END"))[0] == "001"
    assert client.account == "alice" and client.rename_at is None
    assert commands(run(hub, client, "AUTHENTICATE PLAIN")) == ["907"]


def test_sasl_plain_wrong_password_unknown_account_and_bad_authzid_fail_with_904() -> None:
    hub = with_account()
    for payload in (plain("alice", "wrong password"), plain("nobody", PASSWORD), plain("alice", PASSWORD, "bob")):
        client = unregistered(hub, "someone")
        run(hub, client, "AUTHENTICATE PLAIN")
        assert commands(run(hub, client, f"AUTHENTICATE {payload}")) == ["904"]
        assert client.account is None and client.failed_logins == 1
        assert client.hold_until > hub.clock()  # its next line waits


def test_sasl_abort_unknown_mechanism_and_cap_end_midway() -> None:
    hub = with_account()
    client = unregistered(hub)
    run(hub, client, "AUTHENTICATE PLAIN")
    assert commands(run(hub, client, "AUTHENTICATE *")) == ["906"]
    assert client.sasl is None
    answers = run(hub, client, "AUTHENTICATE SCRAM-SHA-256")
    assert commands(answers) == ["908", "904"] and answers[0].params[1] == "PLAIN,EXTERNAL"
    run(hub, client, "AUTHENTICATE PLAIN")
    assert commands(run(hub, client, "CAP END"))[:2] == ["906", "001"]


def test_sasl_payload_in_400_byte_chunks_and_too_long() -> None:
    long_password = "p" * 293  # the payload's base64 is exactly 400 characters: a '+' ends it
    hub = with_account(password=long_password)
    client = unregistered(hub)
    payload = plain("alice", long_password)
    assert len(payload) == 400
    run(hub, client, "AUTHENTICATE PLAIN")
    assert run(hub, client, f"AUTHENTICATE {payload}") == []
    assert commands(run(hub, client, "AUTHENTICATE +")) == ["900", "903"]
    other = unregistered(hub, "bob")
    run(hub, other, "AUTHENTICATE PLAIN")
    assert commands(run(hub, other, "AUTHENTICATE " + "A" * 401)) == ["905"]
    third = unregistered(hub, "carol")
    run(hub, third, "AUTHENTICATE PLAIN")
    answers = run(hub, third, *["AUTHENTICATE " + "A" * 400] * 5)
    assert commands(answers) == ["905"] and third.sasl is None


def test_sasl_external_with_a_registered_certificate_fingerprint() -> None:
    hub = with_account()
    account = hub.accounts.find("alice")
    assert account is not None
    account.certfps.append("ab" * 32)
    client = unregistered(hub)
    client.certfp = "ab" * 32  # the TLS listener sets it from the client certificate
    run(hub, client, "AUTHENTICATE EXTERNAL")
    assert commands(run(hub, client, "AUTHENTICATE +")) == ["900", "903"]
    stranger = unregistered(hub, "bob")
    stranger.certfp = "cd" * 32
    run(hub, stranger, "AUTHENTICATE EXTERNAL")
    assert commands(run(hub, stranger, "AUTHENTICATE +")) == ["904"]


def test_pass_account_password_logs_in_old_clients() -> None:
    hub = with_account()
    client = hub.connect("127.0.0.1", Outbox(1 << 20))
    answers = run(hub, client, f"PASS :alice:{PASSWORD}", "NICK alice", "USER u 0 * :R")
    assert commands(answers)[:2] == ["900", "001"] and client.account == "alice"
    wrong = hub.connect("127.0.0.1", Outbox(1 << 20))
    answers = run(hub, wrong, "PASS alice:nope", "NICK bob", "USER u 0 * :R")
    assert commands(answers)[:2] == ["NOTICE", "001"] and wrong.account is None and wrong.registered


# --- failed logins ---------------------------------------------------------------------------------


def test_three_failed_logins_disconnect_and_an_address_is_blocked_after_ten() -> None:
    hub = with_account()
    client = unregistered(hub)
    for _ in range(3):
        run(hub, client, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', 'wrong one')}")
    assert client.closed
    limiter = LoginLimiter()
    delays = [limiter.failed("10.0.0.1", "alice", 0.0) for _ in range(accounts.FAILS_PER_WINDOW)]
    assert delays[:3] == [1.0, 2.0, 4.0] and delays[-1] == accounts.MAX_DELAY
    assert limiter.blocked("10.0.0.1", None, 1.0) and limiter.blocked("10.0.0.2", "ALICE", 1.0)
    assert not limiter.blocked("10.0.0.2", "bob", 1.0)
    assert not limiter.blocked("10.0.0.1", None, accounts.FAIL_WINDOW + 1)


def test_a_blocked_address_is_refused_unchecked() -> None:
    hub = with_account()
    for _ in range(accounts.FAILS_PER_WINDOW):
        hub.login_limits.failed("127.0.0.1", None, hub.clock())
    client = unregistered(hub)
    run(hub, client, "AUTHENTICATE PLAIN")
    hub.receive(client, f"AUTHENTICATE {plain('alice', PASSWORD)}".encode())
    assert hub.take_deferred(client) is None  # no argon2 work for a guesser
    assert commands(received(client, hub)) == ["904"] and client.account is None


# --- NickServ --------------------------------------------------------------------------------------


def ns(hub: Hub, client: Client, text: str) -> list[str]:
    return [m.params[-1] for m in run(hub, client, f"PRIVMSG NickServ :{text}") if m.command == "NOTICE"]


def test_nickserv_register_identify_set_password_info_and_drop() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    hub.take_events()
    assert ns(hub, alice, f"REGISTER {PASSWORD}") == ["Account alice registered"]
    assert alice.account == "alice"
    assert "pm" not in [e.type for e in hub.take_events()]  # the text held a password: no event for it
    assert ns(hub, alice, "SET PASSWORD another-secret") == ["Password changed"]
    again = join_as(hub, "alice2")
    assert ns(hub, again, f"IDENTIFY alice {PASSWORD}") == ["Invalid account name or password"]
    assert ns(hub, again, "IDENTIFY alice another-secret") == ["You are now identified for alice"]
    assert again.account == "alice"
    assert "logged in from 2 connection(s)" in ns(hub, alice, "INFO")[0]
    assert ns(hub, alice, "DROP alice") == ["Account alice dropped"]
    assert alice.account is None and again.account is None and hub.accounts.find("alice") is None
    assert commands(run(hub, alice, "NS HELP"))[0] == "NOTICE"


def test_nickserv_is_a_reserved_nick() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    assert commands(run(hub, alice, "NICK nickserv")) == ["432"]


def test_ghost_and_regain() -> None:
    hub = with_account(nick_protection_grace=30)
    squatter = join_as(hub, "alice")
    owner = join_as(hub, "owner")
    assert "not a nickname of your account" in ns(hub, owner, "GHOST alice")[0]
    ns(hub, owner, f"IDENTIFY alice {PASSWORD}")
    ns(hub, owner, "REGAIN alice")
    assert squatter.closed and owner.nick == "alice" and owner.rename_at is None


# --- nick protection -------------------------------------------------------------------------------


def test_a_registered_nick_is_renamed_after_the_grace_unless_identified() -> None:
    hub, clock = with_account(nick_protection_grace=30), None
    squatter = join_as(hub, "alice")
    assert squatter.rename_at == hub.clock() + 30
    hub.nick_grace_over(squatter)
    assert squatter.nick.startswith("Guest") and hub.find_client("alice") is None
    honest = join_as(hub, "alice")
    ns(hub, honest, f"IDENTIFY {PASSWORD}")
    assert honest.rename_at is None
    hub.nick_grace_over(honest)
    assert honest.nick == "alice"
    del clock


def test_with_no_grace_a_registered_nick_is_refused() -> None:
    hub = with_account(nick_protection_grace=0)
    client = hub.connect("127.0.0.1", Outbox(1 << 20))
    assert commands(run(hub, client, "NICK alice", "USER u 0 * :R")) == ["433"]
    assert not client.registered
    assert commands(run(hub, client, "NICK bob"))[0] == "001"
    assert commands(run(hub, client, "NICK alice")) == ["433"]
    sasl = unregistered(hub, "alice")
    run(hub, sasl, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', PASSWORD)}")
    assert commands(run(hub, sasl, "CAP END"))[0] == "001"


# --- accounts feed the rest ------------------------------------------------------------------------


def test_account_tag_extended_join_account_notify_and_whois_330() -> None:
    hub = with_account()
    peer = hub.connect("127.0.0.1", Outbox(1 << 20))
    run(hub, peer, "CAP REQ :account-tag extended-join account-notify", "NICK peer", "USER u 0 * :R", "CAP END")
    plain_peer = join_as(hub, "plainpeer")
    received(peer, hub)
    alice = unregistered(hub)
    run(hub, alice, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', PASSWORD)}", "CAP END")
    join = next(m for m in received(peer, hub) if m.command == "JOIN")
    assert join.params == ("#lobby", "alice", "Real") and join.tags == {"account": "alice"}
    assert next(m for m in received(plain_peer, hub) if m.command == "JOIN").params == ("#lobby",)
    run(hub, alice, "PRIVMSG #lobby :hi")
    assert received(peer, hub)[0].tags == {"account": "alice"}
    assert received(plain_peer, hub)[0].tags == {}
    run(hub, peer, "PRIVMSG #lobby :anonymous")
    assert received(alice, hub)[0].tags == {}
    whois = run(hub, peer, "WHOIS alice")
    assert next(m for m in whois if m.command == "330").params[1:] == ("alice", "alice", "is logged in as")
    assert "330" not in commands(run(hub, alice, "WHOIS peer"))
    run(hub, alice, "NS DROP alice")
    notify = [m for m in received(peer, hub) if m.command == "ACCOUNT"]
    assert [m.params for m in notify] == [("*",)] and not [
        m for m in received(plain_peer, hub) if m.command == "ACCOUNT"
    ]


def test_an_account_extban_keeps_the_account_out_whatever_its_nick() -> None:
    hub = with_account("troll")
    op = join_as(hub, "op")
    run(hub, op, "JOIN #room", "MODE #room +b $A:Troll")
    assert "$a:troll" in hub.find_channel("#room").bans  # type: ignore[union-attr]
    troll = unregistered(hub, "nice_guy")
    run(hub, troll, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('troll', PASSWORD)}", "CAP END")
    assert troll.account == "troll"
    assert commands(run(hub, troll, "JOIN #room")) == ["474"]
    anonymous = join_as(hub, "troll")  # the nick alone is not the account
    assert commands(run(hub, anonymous, "JOIN #room"))[0] == "JOIN"
    run(hub, op, "MODE #room -b $a:troll", "MODE #room +b $a:*")
    received(troll, hub)  # the other troll's arrival in #lobby
    assert commands(run(hub, troll, "JOIN #room")) == ["474"]
    hub.receive(op, b"MODE #room -b $a:*")
    assert commands(run(hub, troll, "JOIN #room"))[0] == "JOIN"
    assert bans.parse_mask("$a:troll") is None  # a server ban is checked before any login: not there


def test_whox_tells_the_account() -> None:
    hub = with_account()
    alice = unregistered(hub)
    run(hub, alice, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', PASSWORD)}", "CAP END")
    bob = join_as(hub, "bob")
    answers = run(hub, bob, "WHO #lobby %tnaf,42")
    assert [m.params[1:] for m in answers if m.command == "354"] == [
        ("42", "alice", "H", "alice"),
        ("42", "bob", "H", "0"),
    ]
    assert commands(answers)[-1] == "315"
    assert "352" in commands(run(hub, bob, "WHO #lobby"))


def test_an_operator_tied_to_an_account_opers_without_a_password() -> None:
    tied = settings.parse_opers({"alice": {"account": "alice"}, "both": {"account": "bob", "password": SECRET}}, "t")
    hub = with_account(opers=tied)
    alice = unregistered(hub)
    run(hub, alice, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', PASSWORD)}", "CAP END")
    assert commands(run(hub, alice, "OPER alice")) == ["MODE", "381"] and alice.oper == "alice"
    squatter = join_as(hub, "alice_")
    assert commands(run(hub, squatter, "OPER alice", "OPER alice guess")) == ["461", "464"]
    assert squatter.oper is None
    assert commands(run(hub, squatter, "OPER both hunter2"))[-1] == "381"  # its password still works
    verify = accounts.operator_check(hub.accounts, tied)
    assert verify("alice", PASSWORD) and not verify("alice", "wrong") and not verify("bob", PASSWORD)
    with pytest.raises(ValueError, match="argon2"):
        settings.parse_opers({"x": {"password": "plain"}}, "t")


def cs(hub: Hub, client: Client, text: str) -> list[str]:
    return [m.params[-1] for m in run(hub, client, f"PRIVMSG ChanServ :{text}") if m.command == "NOTICE"]


def test_a_registered_channel_gives_its_founder_ops_on_every_join() -> None:
    hub = with_account()
    alice = unregistered(hub)
    run(hub, alice, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', PASSWORD)}", "CAP END")
    bob = join_as(hub, "bob")
    run(hub, bob, "JOIN #room")
    run(hub, alice, "JOIN #room")
    assert "channel operator" in cs(hub, alice, "REGISTER #room")[0]
    run(hub, alice, "PART #room")
    run(hub, bob, "PART #room")  # empty: gone, unless registered
    run(hub, alice, "JOIN #room")
    assert "registered to alice" in cs(hub, alice, "REGISTER #room")[0]
    assert hub.take_events()[-1].type == "channel_register"
    run(hub, alice, "PART #room")
    room = hub.find_channel("#room")
    assert room is not None and room.snapshot()["founder"] == "alice"  # kept, empty, and stored with it
    run(hub, bob, "JOIN #room")  # the first joiner of an existing channel gets no +o
    answers = run(hub, alice, "JOIN #room")
    assert any(m.command == "MODE" and m.params == ("#room", "+o", "alice") for m in answers)
    assert "founder alice" in cs(hub, bob, "INFO #room")[0]
    assert "Log in first" in cs(hub, bob, "DROP #room")[0]
    assert commands(run(hub, bob, "NICK ChanServ")) == ["432"]
    assert "no longer registered" in cs(hub, alice, "DROP #room")[0]


def test_rehash_changes_registration_and_the_grace() -> None:
    hub, _ = make_hub()
    report = rehash.apply(hub, rehash.read(lambda: test_config(registration="closed", nick_protection_grace=5)))
    assert "registration, nick_protection_grace changed" in report
    alice = join_as(hub, "alice")
    assert run(hub, alice, f"REGISTER * * {PASSWORD}")[0].params[:2] == ("REGISTER", "DISALLOWED")
    with pytest.raises(ValueError, match="registration"):
        test_config(registration="sometimes")
