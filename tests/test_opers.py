"""Server operators as plain Python: OPER, KILL, server bans, HISTSERV FORGET, REHASH, user modes."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from multichat_trio import config as settings
from multichat_trio.chat import bans, opers, rehash
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.chat.replay import ReplayLine
from multichat_trio.config import OperEntry, ServerConfig
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import Message

from .test_hub import join_as, make_hub, received

#: Cheap argon2 parameters: the hash carries them, so verifying it is fast too.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SECRET = CHEAP.hash("hunter2")
ADMIN = OperEntry("admin", SECRET)


def run_deferred(hub: Hub, client: Client) -> None:
    """What the connection does: the blocking work (here inline), then its follow-up."""
    deferred = hub.take_deferred(client)
    assert deferred is not None
    deferred.then(deferred.work())


def oper_up(hub: Hub, client: Client) -> list[Message]:
    hub.receive(client, b"OPER admin hunter2")
    run_deferred(hub, client)
    return received(client, hub)


def people(hub: Hub, *nicks: str) -> list[Client]:
    """Registered clients in #lobby, with what their arrivals sent them already read."""
    clients = [join_as(hub, nick) for nick in nicks]
    for client in clients:
        received(client, hub)
    return clients


def commands(messages: list[Message]) -> list[str]:
    return [m.command for m in messages]


def test_oper_with_the_right_password_gets_381_and_plus_o() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice = join_as(hub, "alice")
    answers = oper_up(hub, alice)
    assert commands(answers) == ["MODE", "381"]
    assert answers[0].params == ("alice", "+o") and answers[0].source.startswith("alice!")
    assert alice.oper == "admin"
    assert [e.type for e in hub.take_events()][-1] == "oper"
    hub.receive(alice, b"MODE alice")
    assert received(alice, hub)[0].params[-1] == "+o"


def test_oper_refusals_464_and_491() -> None:
    hub, _ = make_hub(opers=(ADMIN, OperEntry("local", SECRET, ("10.0.0.0/8",))))
    alice = join_as(hub, "alice")
    hub.receive(alice, b"OPER admin wrong")
    run_deferred(hub, alice)
    hub.receive(alice, b"OPER nobody hunter2")  # an unknown name looks like a wrong password
    assert hub.take_deferred(alice) is None
    hub.receive(alice, b"OPER local hunter2")  # 127.0.0.1 is not in 10/8
    hub.receive(alice, b"OPER admin")
    assert commands(received(alice, hub)) == ["464", "464", "491", "461"]
    assert alice.oper is None
    bare, _ = make_hub()
    bob = join_as(bare, "bob")
    bare.receive(bob, b"OPER admin hunter2")
    assert commands(received(bob, bare)) == ["491"]


def test_a_malformed_hash_is_a_failed_check() -> None:
    assert not opers.verify("$argon2id$garbage", "x")
    assert opers.verify(SECRET, "hunter2") and not opers.verify(SECRET, "hunter3")


def test_oper_hosts_match_addresses_ranges_and_patterns() -> None:
    entry = OperEntry("o", SECRET, ("192.168.1.0/24", "*.example.org", "::1"))
    assert opers.host_allowed(entry, "192.168.1.7") and opers.host_allowed(entry, "A.Example.org")
    assert opers.host_allowed(entry, "0::1")  # the host word of ::1
    assert not opers.host_allowed(entry, "192.168.2.7") and not opers.host_allowed(entry, "example.org")
    assert opers.host_allowed(OperEntry("any", SECRET), "anything")


def test_commands_need_an_operator() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice, bob = people(hub, "alice", "bob")
    for line in (b"KILL bob :x", b"KLINE bob", b"UNKLINE bob", b"KLINE LIST", b"HISTSERV FORGET bob", b"REHASH"):
        hub.receive(alice, line)
    assert commands(received(alice, hub)) == ["481"] * 6
    assert not bob.closed and len(hub.bans) == 0


def test_kill_disconnects_with_the_reason() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice, bob, carol = people(hub, "alice", "bob", "carol")
    oper_up(hub, alice)
    hub.take_events()
    hub.receive(alice, b"KILL Bob :spamming")
    assert bob.closed
    assert received(bob, hub)[-1] == Message("ERROR", ("Closing link: multichat.local (Killed (alice (spamming)))",))
    quit_line = next(m for m in received(carol, hub) if m.command == "QUIT")
    assert quit_line.params == ("Killed (alice (spamming))",)
    assert [(e.type, e.data.get("kind")) for e in hub.take_events()] == [("kill", None), ("leave", "kill")]
    hub.receive(alice, b"KILL nobody")
    assert commands(received(alice, hub)) == ["QUIT", "401"]  # alice shared #lobby with bob


def test_kline_disconnects_matching_users_and_refuses_them_at_registration() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice = join_as(hub, "alice")
    troll = join_as(hub, "troll", host="203.0.113.9")
    oper_up(hub, alice)
    hub.receive(alice, b"KLINE 1h troll :go away")
    assert troll.closed
    lines = received(troll, hub)
    assert lines[-2].command == "465" and "go away" in lines[-2].params[-1]
    assert lines[-1].command == "ERROR" and "go away" in lines[-1].params[0]
    assert "Banned troll!*@* for 1h" in received(alice, hub)[0].params[-1]
    kline = next(e for e in hub.take_events() if e.type == "kline")
    assert kline.data["mask"] == "troll!*@*" and kline.data["expires"] == kline.data["set_at"] + 3600
    again = hub.connect("198.51.100.1", Outbox(1 << 16))
    hub.receive(again, b"NICK TROLL")
    hub.receive(again, b"USER u 0 * :x")
    assert again.closed and not again.registered
    assert commands(received(again, hub)) == ["465", "ERROR"]
    hub.wallclock = lambda: 1_800_000_000.0 + 3601  # the ban has run out
    later = join_as(hub, "troll")
    assert later.registered


def test_dline_on_a_range_and_unkline() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice = join_as(hub, "alice")
    bob = join_as(hub, "bob", host="203.0.113.9")
    oper_up(hub, alice)
    hub.receive(alice, b"DLINE bob")  # not an address
    hub.receive(alice, b"DLINE 203.0.113.0/24 :botnet")
    assert bob.closed
    hub.receive(alice, b"KLINE LIST")
    hub.receive(alice, b"UNKLINE 203.0.113.0/24")
    hub.receive(alice, b"UNKLINE 203.0.113.0/24")
    answers = [m for m in received(alice, hub) if m.command != "QUIT"]
    assert commands(answers) == ["NOTICE", "NOTICE", "216", "219", "NOTICE", "NOTICE"]
    assert answers[2].params[1:] == ("K", "203.0.113.0/24", "0", "alice", "botnet")
    assert "Removed" in answers[4].params[-1] and "no ban" in answers[5].params[-1]
    assert [e.type for e in hub.take_events()][-1] == "unkline"
    assert join_as(hub, "bob", host="203.0.113.9").registered


def test_an_operator_cannot_ban_everyone_or_himself() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice = join_as(hub, "alice")
    oper_up(hub, alice)
    for line in (b"KLINE *", b"KLINE *!*@*", b"KLINE 0.0.0.0/0", b"KLINE 127.0.0.1", b"KLINE 10.0.0.0/33"):
        hub.receive(alice, line)
    assert commands(received(alice, hub)) == ["NOTICE"] * 5
    assert not alice.closed and len(hub.bans) == 0


def test_ban_masks_and_durations() -> None:
    assert bans.parse_mask("Bob") == "bob!*@*"
    assert bans.parse_mask("*@203.0.113.*") == "*!*@203.0.113.*"
    assert bans.parse_mask("203.0.113.5") == "203.0.113.5"
    assert bans.parse_mask("2001:db8::/32") == "2001:db8::/32"
    assert bans.parse_mask("a b") is None and bans.parse_mask(":x") is None
    assert bans.parse_duration("1h30m") == 5400 and bans.parse_duration("troll") is None
    assert bans.format_duration(93784) == "1d2h3m4s"
    ban = bans.ServerBan("2001:db8::/32", "r", "op", 0)
    assert ban.matches("2001:db8::1", "x!u@2001:db8::1") and not ban.matches("10.0.0.1", "x!u@10.0.0.1")
    assert bans.ServerBan("10.0.0.0/8", "r", "op", 0).matches("::ffff:10.1.2.3", "x!u@::ffff:10.1.2.3")


def test_histserv_forget_removes_a_nick_from_every_replay() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice = join_as(hub, "alice")
    oper_up(hub, alice)
    hub.recent = {
        "#a": deque([ReplayLine(100, "Troll", "PRIVMSG", "spam"), ReplayLine(200, "bob", "PRIVMSG", "hi")], maxlen=5),
        "#b": deque([ReplayLine(300, "troll", "NOTICE", "more spam")], maxlen=5),
    }
    hub.receive(alice, b"HISTSERV FORGET troll")
    assert [line.nick for line in hub.recent["#a"]] == ["bob"] and not hub.recent["#b"]
    assert hub.recent["#a"].maxlen == 5
    event = hub.take_events()[-1]
    assert (event.type, event.data["target"], event.data["since"], event.data["removed"]) == ("forget", "troll", 0, 2)
    hub.receive(alice, b"HISTSERV FORGET bob 10m")  # bob's line is older than that
    assert [line.nick for line in hub.recent["#a"]] == ["bob"]
    hub.receive(alice, b"HISTSERV FORGET bob soon")
    hub.receive(alice, b"HISTSERV DELETE bob")
    assert commands(received(alice, hub)) == ["NOTICE"] * 4


def test_user_modes_invisible_and_deoper() -> None:
    hub, _ = make_hub(opers=(ADMIN,))
    alice, bob = people(hub, "alice", "bob")
    hub.receive(alice, b"MODE alice +i")
    hub.receive(alice, b"MODE alice +i")  # no change: no answer
    hub.receive(alice, b"MODE alice")
    hub.receive(alice, b"MODE alice +o")  # only OPER gives +o
    hub.receive(alice, b"MODE alice +x")
    hub.receive(alice, b"MODE bob")
    hub.receive(alice, b"MODE bob -i")
    answers = received(alice, hub)
    assert commands(answers) == ["MODE", "221", "501", "502", "502"]
    assert answers[0].params == ("alice", "+i") and answers[1].params[-1] == "+i"
    assert alice.invisible and alice.oper is None and not bob.invisible
    hub.receive(bob, b"LUSERS")
    lusers = received(bob, hub)
    assert "1 users and 1 invisible" in lusers[0].params[-1] and lusers[1].params[1] == "0"
    oper_up(hub, alice)
    hub.receive(bob, b"LUSERS")
    assert received(bob, hub)[1].params[1] == "1"
    hub.receive(bob, b"WHOIS alice")
    assert "313" in commands(received(bob, hub))
    hub.receive(alice, b"MODE alice -oi")
    assert received(alice, hub)[0].params == ("alice", "-oi")
    assert alice.oper is None and not alice.invisible


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_oper_tables_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    _write(path, f'flood_rate = 3\n[opers.admin]\npassword = "{SECRET}"\nhosts = ["127.0.0.1"]\n')
    config = settings.parse_known(ServerConfig, ["--config", str(path)], "serve")
    assert config.opers == (OperEntry("admin", SECRET, ("127.0.0.1",)),)
    _write(path, f'[serve.opers.admin]\npassword = "{SECRET}"\n')
    assert settings.parse_known(ServerConfig, ["--config", str(path)], "serve").opers[0].name == "admin"
    _write(path, '[opers.admin]\npassword = "hunter2"\n')
    with pytest.raises(ValueError, match=r"argon2 hash .*hash-password"):
        settings.parse_known(ServerConfig, ["--config", str(path)], "serve")
    _write(path, f'[opers.admin]\npassword = "{SECRET}"\nhost = "x"\n')
    with pytest.raises(ValueError, match="unknown key"):
        settings.parse_known(ServerConfig, ["--config", str(path)], "serve")


def test_rehash_applies_what_it_can_and_says_what_needs_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    _write(path, "flood_rate = 2\n")
    hub, _ = make_hub(opers=(ADMIN,))
    hub.reload = lambda: settings.parse_known(ServerConfig, ["--config", str(path), "--port", "0"], "serve")
    alice = join_as(hub, "alice")
    oper_up(hub, alice)
    _write(path, f'flood_rate = 5\nmax_channels = 7\nserver_name = "other.name"\n[opers.root]\npassword = "{SECRET}"\n')
    hub.receive(alice, b"REHASH")
    run_deferred(hub, alice)
    answers = received(alice, hub)
    assert commands(answers) == ["382", "MODE", "NOTICE"]  # admin is gone from the file: alice is -o
    report = answers[-1].params[-1]
    assert "opers, flood_rate, max_channels changed" in report and "server_name" in report
    assert hub.config.flood_rate == 5 and hub.config.max_channels == 7 and hub.config.server_name == "multichat.local"
    assert alice.oper is None
    refused = rehash.apply(hub, rehash.read(lambda: ServerConfig(server_name="bad name")))
    assert refused.startswith("Rehash refused") and hub.config.flood_rate == 5


def test_the_feed_forgets_spam_and_hides_ban_masks() -> None:
    from multichat_trio.chat import events
    from multichat_trio.web.feed import Feed

    feed = Feed(wallclock=lambda: 1_800_000_000.0)
    feed.publish(
        [events.message("Troll", "#lobby", "spam", "PRIVMSG"), events.message("bob", "#lobby", "hi", "PRIVMSG")]
    )
    feed.publish([events.kline("op", "troll!*@203.0.113.9", "spam", 1.0, 0.0), events.forget("op", "troll", 0, 1)])
    recent = feed.snapshot()["events"]
    assert [(e["type"], e.get("nick")) for e in recent] == [("message", "bob"), ("kline", "op"), ("forget", "op")]
    assert "mask" not in recent[1] and recent[1]["reason"] == "spam"
    shown = Feed(show_hosts=True)
    shown.publish([events.kline("op", "troll!*@203.0.113.9", "spam", 1.0, 0.0)])
    assert shown.snapshot()["events"][0]["mask"] == "troll!*@203.0.113.9"


def test_an_ipv4_mapped_client_matches_ipv4_oper_hosts() -> None:
    assert opers.host_allowed(OperEntry("o", SECRET, ("127.0.0.0/8",)), "::ffff:127.0.0.1")
    assert not opers.host_allowed(OperEntry("o", SECRET, ("127.0.0.0/8",)), "localhost")
