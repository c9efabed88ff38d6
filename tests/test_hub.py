"""The hub's rules as plain Python: no sockets, no trio, a hand-driven clock."""

from __future__ import annotations

import contextlib

import pytest

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.chat.replay import ReplayLine, replay_messages, stored_line
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import LineFramer, LocalProtocolError, Message, format_message, parse

from .conftest import test_config


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_hub(**overrides: object) -> tuple[Hub, FakeClock]:
    clock = FakeClock()
    return Hub(test_config(**overrides), COMMANDS, clock=clock, wallclock=lambda: 1_800_000_000.0), clock


def received(client: Client, hub: Hub) -> list[Message]:
    hub.fanout.flush()
    return [parse(line.decode()) for line in LineFramer(1 << 20).feed(client.outbox.take())]  # type: ignore[union-attr]


def join_as(hub: Hub, nick: str, *, sendq: int = 1 << 20, host: str = "127.0.0.1") -> Client:
    client = hub.connect(host, Outbox(sendq))
    hub.receive(client, f"NICK {nick}".encode())
    hub.receive(client, b"USER u 0 * :Real")
    assert client.registered
    hub.fanout.flush()
    client.outbox.take()
    return client


def test_nick_is_reserved_at_once_so_only_one_racer_registers() -> None:
    hub, _ = make_hub()
    first, second = hub.connect("h1", Outbox(1 << 16)), hub.connect("h2", Outbox(1 << 16))
    hub.receive(first, b"NICK Racer")
    hub.receive(second, b"NICK racer")
    assert [m.command for m in received(second, hub)] == ["433"]
    hub.receive(second, b"USER u 0 * :x")
    hub.receive(first, b"USER u 0 * :x")
    assert first.registered and not second.registered


def test_flood_bucket_allows_the_burst_then_disconnects(tmp_path: object) -> None:
    hub, clock = make_hub(flood_burst=5, flood_rate=1.0)
    alice, bob = join_as(hub, "alice"), join_as(hub, "bob")
    for _ in range(5):
        hub.receive(alice, b"PRIVMSG #lobby :hi")
    assert not alice.closed
    clock.now += 1.0  # one token back
    hub.receive(alice, b"PRIVMSG #lobby :ok")
    hub.receive(alice, b"PRIVMSG #lobby :too much")
    assert alice.closed
    assert received(alice, hub)[-1] == Message("ERROR", ("Excess Flood",))
    quits = [m for m in received(bob, hub) if m.command == "QUIT"]
    assert quits and quits[0].params == ("Excess Flood",)
    kinds = [e.type for e in hub.take_events()]
    assert kinds[-2:] == ["flood", "leave"]


def test_a_client_over_its_sendq_is_dropped_and_the_room_goes_on() -> None:
    hub, _ = make_hub(flood_rate=0)
    slow = join_as(hub, "slow", sendq=2048)
    fast, talker = join_as(hub, "fast"), join_as(hub, "talker")
    for i in range(20):
        hub.receive(talker, f"PRIVMSG #lobby :message number {i} {'x' * 100}".encode())
    hub.fanout.flush()
    assert slow.closed and slow.outbox.closing
    assert received(slow, hub)[-1] == Message("ERROR", ("SendQ exceeded",))
    got = received(fast, hub)
    assert sum(m.command == "PRIVMSG" for m in got) == 20
    assert any(m.command == "QUIT" and m.params == ("SendQ exceeded",) for m in got)
    assert hub.find_client("slow") is None


def test_pm_event_never_carries_the_text() -> None:
    hub, _ = make_hub()
    alice, bob = join_as(hub, "alice"), join_as(hub, "bob")
    hub.take_events()
    hub.receive(alice, b"PRIVMSG bob :the secret")
    (event,) = hub.take_events()
    assert event.type == "pm" and event.data.keys() == {"from", "to", "msgid", "from_account", "to_account"}
    assert event.data["from_account"] is None  # who may read it back (CHATHISTORY): neither, not logged in
    assert "the secret" not in repr(event)
    assert received(bob, hub)[-1].params == ("bob", "the secret")


def test_server_time_tag_only_for_clients_that_asked() -> None:
    hub, _ = make_hub()
    tagged = hub.connect("h", Outbox(1 << 16))
    for line in (b"CAP LS 302", b"NICK t", b"USER u 0 * :x", b"CAP REQ :server-time", b"CAP END"):
        hub.receive(tagged, line)
    plain = join_as(hub, "plain")
    hub.fanout.flush()
    tagged.outbox.take()
    hub.receive(plain, b"PRIVMSG #lobby :hi")
    (message,) = received(tagged, hub)
    assert message.tags == {"time": "2027-01-15T08:00:00.000Z"}
    assert message.params == ("#lobby", "hi")


def test_registration_waits_for_cap_end() -> None:
    hub, _ = make_hub()
    client = hub.connect("h", Outbox(1 << 16))
    for line in (b"CAP LS 302", b"NICK n", b"USER u 0 * :x"):
        hub.receive(client, line)
    assert not client.registered
    hub.receive(client, b"CAP END")
    assert client.registered


def test_empty_default_channel_keeps_its_topic() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    alice.oper = "admin"  # #lobby is +t and its operators are the server's
    hub.receive(alice, b"TOPIC #lobby :Welcome all")
    hub.receive(alice, b"QUIT")
    bob = join_as(hub, "bob", sendq=1 << 16)
    assert hub.find_channel("#lobby") is not None
    hub.receive(bob, b"TOPIC #lobby")
    assert received(bob, hub)[0].params[-1] == "Welcome all"


def test_other_channels_vanish_when_empty() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    hub.receive(alice, b"JOIN #side")
    assert hub.find_channel("#SIDE") is not None
    hub.receive(alice, b"PART #side :bye")
    assert hub.find_channel("#side") is None


def test_shutdown_gives_each_client_its_error_and_no_quit_lines_of_the_others() -> None:
    hub, _ = make_hub()
    clients = [join_as(hub, nick) for nick in ("alice", "bob", "carol")]
    for client in clients:
        received(client, hub)  # the others' JOINs
    hub.take_events()
    hub.shutdown()
    for client in clients:
        assert received(client, hub) == [Message("ERROR", ("Server shutting down",))]
    assert [e.type for e in hub.take_events()] == ["leave"] * 3  # the monitor still sees them go


def test_a_direct_ipv6_client_has_a_host_that_stands_as_one_parameter() -> None:
    hub, _ = make_hub()
    v6, bob = join_as(hub, "v6", host="::1"), join_as(hub, "bob")
    assert v6.host == "0::1"
    hub.receive(bob, b"WHO v6")
    hub.receive(bob, b"WHOIS v6")
    assert [m.params[3] for m in received(bob, hub) if m.command in ("352", "311")] == ["0::1", "0::1"]


def test_a_disconnect_that_fails_to_encode_its_quit_still_frees_the_nick() -> None:
    hub, _ = make_hub()
    alice, _bob = join_as(hub, "alice"), join_as(hub, "bob")
    with contextlib.suppress(LocalProtocolError):
        hub.disconnect(alice, "reason\0that cannot be sent")  # validated input never gets here; a bug might
    assert hub.find_client("alice") is None and alice not in hub.clients
    assert alice not in hub.find_channel("#lobby").members  # type: ignore[union-attr]


def test_plain_replay_shows_an_action_as_an_action() -> None:
    lines = [
        ReplayLine(1_796_119_200.0, "alice", "PRIVMSG", "\x01ACTION waves\x01"),
        ReplayLine(0.0, "bob", "NOTICE", "hi"),
    ]
    texts = [m.params[1] for m in replay_messages(lines, "#lobby", set(), "srv", "h1")]
    assert texts == ["[2026-12-01 10:00 UTC] * alice waves", "[1970-01-01 00:00 UTC] <bob> hi"]
    (tagged,) = replay_messages(lines[:1], "#lobby", {"server-time"}, "srv", "h1")
    assert tagged.params[1] == "\x01ACTION waves\x01"  # a client with server-time shows it itself


@pytest.mark.parametrize(
    "data",
    [
        {"nick": "alice", "command": "PRIVMSG", "text": "a\0b"},
        {"nick": "alice", "command": "PRIVMSG"},
        {"nick": "alice", "command": "PRIVMSG", "text": ""},
        {"nick": ["alice"], "command": "PRIVMSG", "text": "hi"},
        {"nick": "two words", "command": "PRIVMSG", "text": "hi"},
        {"nick": "alice", "command": "JOIN", "text": "hi"},
    ],
)
def test_a_stored_message_that_cannot_be_replayed_is_refused(data: dict[str, object]) -> None:
    assert stored_line(1.0, data) is None
    assert stored_line(1.0, {"nick": "*relayed", "command": "NOTICE", "text": "hi"}) is not None


def test_away_notify_tells_cap_holders_who_share_a_channel_and_follows_a_join() -> None:
    hub, _ = make_hub()
    watcher = hub.connect("127.0.0.1", Outbox(1 << 20))
    for line in ("CAP REQ :away-notify", "NICK watcher", "USER u 0 * :Real", "CAP END", "JOIN #side"):
        hub.receive(watcher, line.encode())
    plain, alice, outsider = join_as(hub, "plain"), join_as(hub, "alice"), join_as(hub, "outsider")
    outsider.caps |= {"away-notify"}
    hub.receive(outsider, b"PART #lobby")  # shares no channel with alice
    for client in (watcher, plain, alice, outsider):
        received(client, hub)

    hub.receive(alice, b"AWAY :gone")
    assert received(watcher, hub) == [Message("AWAY", ("gone",), alice.prefix)]
    assert format_message(Message("AWAY", ("gone",), alice.prefix)).endswith(" AWAY :gone")  # trailing, as the spec
    assert [m.command for m in received(alice, hub)] == ["306"]  # alice herself has her numeric only
    assert received(plain, hub) == [] and received(outsider, hub) == []
    hub.receive(alice, b"AWAY :gone")  # no change: nothing to tell
    assert received(watcher, hub) == []

    hub.receive(alice, b"JOIN #side")  # IRCv3 away-notify: the joiner's AWAY right after its JOIN
    assert [(m.command, m.params) for m in received(watcher, hub)] == [("JOIN", ("#side",)), ("AWAY", ("gone",))]

    hub.receive(alice, b"AWAY")  # back: once, although the two share two channels
    assert received(watcher, hub) == [Message("AWAY", (), alice.prefix)]
    hub.receive(alice, b"AWAY")
    assert received(watcher, hub) == []
    hub.receive(plain, b"JOIN #side")  # not away: a JOIN alone
    assert [m.command for m in received(watcher, hub)] == ["JOIN"]
