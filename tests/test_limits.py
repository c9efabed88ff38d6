"""The limits as plain Python: per address, per user, per server, and before registration."""

from __future__ import annotations

from multichat_trio.chat.limits import TOO_MANY, AddressBook, LogEvery
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import Message

from .conftest import RELAY_SECRET
from .test_hub import join_as, make_hub, received


def test_an_address_may_hold_so_many_connections_and_the_next_is_refused() -> None:
    book = AddressBook(max_clients=2, max_connects=0, window=60, now=0.0)
    for _ in range(2):
        assert book.check("10.0.0.1", 0.0) is None
        book.add("10.0.0.1", 0.0)
    assert book.check("10.0.0.1", 0.0) == TOO_MANY
    assert book.check("10.0.0.2", 0.0) is None  # another address is not concerned
    book.remove("10.0.0.1")
    assert book.check("10.0.0.1", 0.0) is None


def test_an_ipv6_host_counts_by_its_64_and_a_mapped_ipv4_as_ipv4() -> None:
    book = AddressBook(max_clients=2, max_connects=0, window=60, now=0.0)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        assert book.check(host, 0.0) is None
        book.add(host, 0.0)
    assert book.check("2001:db8:1:2::abcd", 0.0) == TOO_MANY
    assert book.check("2001:db8:1:3::1", 0.0) is None  # the next /64
    book.add("::ffff:192.0.2.1", 0.0)
    assert book.count("192.0.2.1") == 1


def test_connect_rate_per_address_refills_over_the_window() -> None:
    book = AddressBook(max_clients=0, max_connects=3, window=30, now=0.0)
    assert [book.check("h", 0.0) for _ in range(3)] == [None] * 3
    refusal = book.check("h", 0.0)
    assert refusal == "Too many new connections from your host: try again in 10 seconds"
    assert book.check("h", 9.0) is not None  # 0.9 of a token
    assert book.check("h", 10.5) is None


def test_zero_turns_each_limit_off() -> None:
    book = AddressBook(max_clients=0, max_connects=0, window=60, now=0.0)
    for _ in range(1000):
        assert book.check("h", 0.0) is None
        book.add("h", 0.0)


def test_idle_addresses_are_forgotten_once_their_bucket_is_full() -> None:
    book = AddressBook(max_clients=16, max_connects=4, window=40, now=0.0)
    for n in range(100):
        host = f"10.0.{n // 256}.{n % 256}"
        assert book.check(host, 1.0) is None
        book.add(host, 1.0)
        book.remove(host)
    book.add("10.9.9.9", 1.0)  # still connected: kept
    assert len(book) == 101
    book.check("10.1.1.1", 100.0)  # a later call sweeps: only the connected one and the caller remain
    assert len(book) == 2 and book.count("10.9.9.9") == 1


def test_log_every_reports_once_per_interval_with_the_count() -> None:
    throttle = LogEvery(10.0)
    assert throttle.note(0.0) == 1
    assert [throttle.note(t) for t in (1.0, 2.0, 9.9)] == [None] * 3
    assert throttle.note(10.0) == 4
    throttle.note(11.0)
    assert throttle.due(15.0) is None and throttle.due(20.0) == 1 and throttle.due(40.0) is None


def test_unregistered_flood_is_disconnected() -> None:
    hub, _ = make_hub()
    client = hub.connect("10.0.0.1", Outbox(1 << 20))
    for _ in range(100):
        hub.receive(client, b"PING :x")
    assert client.closed
    assert received(client, hub)[-1] == Message("ERROR", ("Excess Flood",))
    assert hub.addresses.count("10.0.0.1") == 0


def test_registering_does_not_eat_into_the_users_burst() -> None:
    hub, _ = make_hub(flood_burst=3, flood_rate=1.0)
    client = hub.connect("h", Outbox(1 << 20))
    for line in (b"CAP LS 302", b"NICK n", b"USER u 0 * :x", b"CAP REQ :echo-message", b"CAP END"):
        hub.receive(client, line)
    assert client.registered and not client.closed
    for _ in range(3):
        hub.receive(client, b"PRIVMSG #lobby :hi")
    assert not client.closed


def test_chanlimit_is_advertised_and_a_join_past_it_gets_405() -> None:
    hub, _ = make_hub(max_channels_per_user=3, flood_rate=0)
    client = hub.connect("h", Outbox(1 << 20))
    hub.receive(client, b"NICK n")
    hub.receive(client, b"USER u 0 * :x")
    isupport = [p for m in received(client, hub) if m.command == "005" for p in m.params]
    assert "CHANLIMIT=#:3" in isupport and "SAFELIST" in isupport
    hub.receive(client, b"JOIN #a,#b,#c")  # #lobby, #a, #b: #c is one too many
    replies = received(client, hub)
    assert [m.params[0] for m in replies if m.command == "JOIN"] == ["#a", "#b"]
    (refusal,) = [m for m in replies if m.command == "405"]
    assert refusal.params[1:] == ("#c", "You have joined too many channels (3)")
    assert hub.find_channel("#c") is None
    hub.receive(client, b"JOIN #a")  # already in it: no refusal
    assert not [m for m in received(client, hub) if m.command == "405"]


def test_the_server_wide_channel_cap_refuses_a_new_channel_not_an_existing_one() -> None:
    hub, _ = make_hub(max_channels=3, flood_rate=0)
    alice, bob = join_as(hub, "alice"), join_as(hub, "bob")
    hub.receive(alice, b"JOIN #a,#b")
    hub.receive(bob, b"JOIN #new")
    (refusal,) = [m for m in received(bob, hub) if m.command == "403"]
    assert refusal.params[1:] == ("#new", "Cannot create channel: the server has too many (3)")
    hub.receive(bob, b"JOIN #a")
    assert any(m.command == "JOIN" and m.params == ("#a",) for m in received(bob, hub))


def test_an_emptied_channel_takes_its_replay_with_it() -> None:
    hub, _ = make_hub(flood_rate=0)
    hub.durable = True
    alice = join_as(hub, "alice")
    hub.receive(alice, b"JOIN #side")
    hub.receive(alice, b"PRIVMSG #side :remember me")
    hub.receive(alice, b"PRIVMSG #lobby :and me")
    hub.release(hub.recorded)
    assert set(hub.recent) == {"#side", "#lobby"}
    hub.receive(alice, b"PART #side")
    assert set(hub.recent) == {"#lobby"}  # the autojoin channel stays, with its replay


def test_a_list_bigger_than_the_sendq_is_not_dropped() -> None:
    hub, _ = make_hub(flood_rate=0, max_channels_per_user=0)
    maker = join_as(hub, "maker")
    for n in range(60):
        hub.receive(maker, f"JOIN #room{n}".encode())
        hub.receive(maker, f"TOPIC #room{n} :{'t' * 300}".encode())
    asker = join_as(hub, "asker", sendq=8192)  # nothing is read until the whole answer is queued
    hub.receive(asker, b"LIST")
    replies = received(asker, hub)
    assert not asker.closed
    assert sum(m.command == "322" for m in replies) == 61 and replies[-1].command == "323"
    hub.receive(maker, b"PRIVMSG #lobby :" + b"x" * 400)
    for _ in range(30):  # the allowance ended with the backlog: the SendQ holds again
        hub.receive(maker, b"PRIVMSG #lobby :" + b"x" * 400)
    hub.fanout.flush()
    assert asker.closed


def test_webirc_counts_the_user_by_its_real_address() -> None:
    hub, _ = make_hub(max_clients_per_ip=2)
    relayed = []
    for _ in range(3):
        client = hub.connect("127.0.0.1", Outbox(1 << 20))
        hub.receive(client, f"WEBIRC {RELAY_SECRET} gateway host 203.0.113.5".encode())
        relayed.append(client)
    assert [c.closed for c in relayed] == [False, False, True]
    assert received(relayed[2], hub)[-1] == Message("ERROR", (TOO_MANY,))
    assert hub.addresses.count("127.0.0.1") == 0 and hub.addresses.count("203.0.113.5") == 2
    hub.receive(relayed[0], b"QUIT")
    assert hub.addresses.count("203.0.113.5") == 1


def test_a_relay_does_not_spend_its_own_connect_rate_on_its_users() -> None:
    hub, clock = make_hub(max_connects_per_ip=2)
    for n in range(5):  # as the server does: ask, connect, then the relay's WEBIRC
        assert hub.addresses.check("127.0.0.1", clock()) is None
        client = hub.connect("127.0.0.1", Outbox(1 << 20))
        hub.receive(client, f"WEBIRC {RELAY_SECRET} gateway host 198.51.100.{n}".encode())
        assert not client.closed
