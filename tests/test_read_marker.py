"""IRCv3 draft/read-marker (MARKREAD): the rules on the hub, the store's table, and a restart over sockets."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from multichat_trio.chat import events
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.chat.readmarkers import ReadMarkers, format_timestamp, parse_timestamp
from multichat_trio.history.store import HistoryStore, NewEvent
from multichat_trio.protocol import Message
from multichat_trio.web.feed import Feed

from .conftest import OpenClient, StartServices
from .test_accounts_server import PASSWORD, cheap_hashes, plain  # noqa: F401 (autouse: cheap argon2)
from .test_hub import join_as, make_hub, received

CAP = "draft/read-marker"
T1, T2 = "timestamp=2026-01-01T00:00:00.250Z", "timestamp=2026-06-01T12:30:00.000Z"
NOW = "timestamp=2027-01-15T08:00:00.000Z"  # make_hub's wallclock


def _session(hub: Hub, nick: str, account: str | None = "alice", *, cap: bool = True) -> Client:
    client = join_as(hub, nick)
    client.account = account
    if cap:
        client.caps |= {CAP}
    return client


def _quiet(hub: Hub, *clients: Client) -> None:
    """Forget what the clients were sent so far (the autojoins of the others) and the events."""
    for client in clients:
        received(client, hub)
    hub.take_events()


def _said(client: Client, hub: Hub) -> list[tuple[str, ...]]:
    return [(m.command, *m.params) for m in received(client, hub)]


def test_timestamps_are_checked_strictly() -> None:
    assert parse_timestamp(T1) == 1767225600250
    assert format_timestamp(1767225600250) == T1 and format_timestamp(None) == "*"
    for word in (
        "*",
        "timestamp=2026-01-01T00:00:00Z",  # no milliseconds
        "timestamp=2026-01-01T00:00:00.250",  # no Z
        "timestamp=2026-01-01T00:00:00.250+00:00",
        "timestamp=2026-02-30T00:00:00.000Z",  # no such day
        "timestamp=2026-01-01 00:00:00.000Z",
        "2026-01-01T00:00:00.000Z",
        "timestamp=\uff12026-01-01T00:00:00.000Z",  # a non-ASCII digit
    ):
        assert parse_timestamp(word) is None, word


def test_a_marker_moves_forward_only_and_each_account_keeps_a_bounded_number() -> None:
    markers = ReadMarkers(limit=3)
    assert markers.advance("Alice", "#A", 5) and not markers.advance("alice", "#a", 5)
    assert not markers.advance("alice", "#a", 4) and markers.get("ALICE", "#A") == 5
    for ms, target in [(9, "#b"), (7, "bob"), (8, "#c")]:
        assert markers.advance("alice", target, ms)
    assert markers.get("alice", "#a") is None  # the oldest went
    assert [markers.get("alice", t) for t in ("#b", "bob", "#c")] == [9, 7, 8]
    assert markers.get("bob", "#b") is None  # markers are the account's own
    markers.forget("ALICE")
    assert markers.get("alice", "#b") is None


def test_markread_sets_answers_and_tells_the_accounts_other_sessions_only() -> None:
    hub, _ = make_hub()
    laptop, phone, old = _session(hub, "alice"), _session(hub, "alice_phone"), _session(hub, "alice3", cap=False)
    other = _session(hub, "mallory", "mallory")
    _quiet(hub, laptop, phone, old, other)
    hub.receive(laptop, f"MARKREAD #Lobby {T2}".encode())
    assert _said(laptop, hub) == [("MARKREAD", "#lobby", T2)]  # the channel's own name
    assert _said(phone, hub) == [("MARKREAD", "#lobby", T2)]
    assert _said(old, hub) == [] and _said(other, hub) == []
    (event,) = hub.take_events()
    assert event.type == "markread" and event.data == {"account": "alice", "target": "#lobby", "ms": 1780317000000}
    hub.receive(phone, f"MARKREAD #lobby {T1}".encode())  # older: the kept value, no event, nobody else told
    assert _said(phone, hub) == [("MARKREAD", "#lobby", T2)] and _said(laptop, hub) == []
    assert hub.take_events() == []
    hub.receive(old, b"MARKREAD #LOBBY")  # a get, without the cap too
    assert _said(old, hub) == [("MARKREAD", "#lobby", T2)]
    hub.receive(other, b"MARKREAD #lobby")
    assert _said(other, hub) == [("MARKREAD", "#lobby", "*")]
    hub.receive(laptop, b"MARKREAD bob timestamp=2100-01-01T00:00:00.000Z")  # never past now
    assert _said(laptop, hub) == [("MARKREAD", "bob", NOW)]


def test_bad_markreads_get_a_fail_and_change_nothing() -> None:
    hub, _ = make_hub()
    alice, guest = _session(hub, "alice"), _session(hub, "guest", None)
    _quiet(hub, alice, guest)
    for line, fail in [
        ("MARKREAD", ("NEED_MORE_PARAMS",)),
        ("MARKREAD #lobby timestamp=yesterday", ("INVALID_PARAMS", "timestamp=yesterday")),
        ("MARKREAD #lobby *", ("INVALID_PARAMS", "*")),
        ("MARKREAD #lobby 2026-01-01T00:00:00.000Z", ("INVALID_PARAMS", "2026-01-01T00:00:00.000Z")),
        ("MARKREAD not,a,target " + T1, ("INVALID_PARAMS", "not,a,target")),
    ]:
        hub.receive(alice, line.encode())
        (answer,) = received(alice, hub)
        assert answer.command == "FAIL" and answer.params[: 1 + len(fail)] == ("MARKREAD", *fail), line
    hub.receive(guest, f"MARKREAD #lobby {T1}".encode())
    (answer,) = received(guest, hub)
    assert answer.params[:3] == ("MARKREAD", "ACCOUNT_REQUIRED", "#lobby")
    assert hub.take_events() == [] and hub.read_markers.get("alice", "#lobby") is None


def test_a_join_sends_the_channels_marker_before_the_names_end() -> None:
    hub, _ = make_hub()
    alice, guest, plain = _session(hub, "alice"), _session(hub, "guest", None), _session(hub, "bob", cap=False)
    hub.receive(alice, f"MARKREAD #room {T1}".encode())
    _quiet(hub, alice, guest, plain)
    for client in (alice, guest, plain):
        hub.receive(client, b"JOIN #Room")
    alice_saw, guest_saw = received(alice, hub), received(guest, hub)
    order = [m.command for m in alice_saw]
    assert order.index("JOIN") < order.index("MARKREAD") < order.index("366")
    assert Message("MARKREAD", ("#Room", T1), hub.name) in alice_saw
    assert [m.params for m in guest_saw if m.command == "MARKREAD"] == [("#Room", "*")]
    assert not [m for m in received(plain, hub) if m.command == "MARKREAD"]


def test_the_store_keeps_markers_forward_only_bounded_and_forgets_a_dropped_account(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h.sqlite3"))
    store.open()

    def mark(account: str, target: str, ms: int) -> NewEvent:
        return NewEvent(ms / 1000, "markread", None, {"account": account, "target": target, "ms": ms})

    try:
        store.append([mark("Alice", "#a", 5000), mark("alice", "#a", 4000), mark("bob", "#a", 1000)])
        assert store.read_markers() == [("alice", "#a", 5000), ("bob", "#a", 1000)]
        store.append([mark("alice", f"#c{i}", 10_000 + i) for i in range(1000)])
        kept = [row for row in store.read_markers() if row[0] == "alice"]
        assert len(kept) == 1000 and ("alice", "#a", 5000) not in kept  # the oldest went, as in the hub
        store.append([NewEvent(99.0, "account_drop", None, {"nick": "bob", "account": "BOB"})])
        assert [row for row in store.read_markers() if row[0] == "bob"] == []
        assert [event.type for event in store.recent(10_000)] == ["account_drop"]  # markers are no history rows
    finally:
        store.close()


async def test_markers_survive_a_restart_and_reach_the_accounts_other_clients(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    start = partial(start_services, db=str(tmp_path / "history.sqlite3"), flood_rate=0)
    first, stop_first = await start()
    laptop = await open_client(first.server.port)
    await laptop.register("alice", caps=CAP)
    await laptop.send(f"REGISTER * * {PASSWORD}")
    await laptop.expect("900")
    await laptop.send(f"MARKREAD #lobby {T1}")
    assert (await laptop.expect("MARKREAD")).params == ("#lobby", T1)
    await laptop.sync()
    stop_first.set()
    await first.server.stopped.wait()

    second, stop_second = await start()
    laptop, phone = await open_client(second.server.port), await open_client(second.server.port)
    for client, nick in ((laptop, "alice"), (phone, "phone")):
        await client.send("CAP LS 302", f"NICK {nick}", "USER u 0 * :Real", f"CAP REQ :{CAP} sasl")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect("AUTHENTICATE")
        await client.send(f"AUTHENTICATE {plain('alice', PASSWORD)}")
        await client.expect("903")
        await client.send("CAP END")
        seen = await client.collect_until("366")  # the autojoin: its marker comes before the names end
        assert [m.params for m in seen if m.command == "MARKREAD"] == [("#lobby", T1)]
        await client.sync()
    await phone.send(f"MARKREAD #lobby {T2}")
    assert (await phone.expect("MARKREAD")).params == ("#lobby", T2)
    assert (await laptop.expect("MARKREAD")).params == ("#lobby", T2)
    stop_second.set()
    await second.server.stopped.wait()


def test_the_web_monitor_never_shows_a_read_marker() -> None:
    feed = Feed(wallclock=lambda: 1_800_000_000.0)
    feed.publish([events.join("a", "#x"), events.markread("alice", "#x", 1), events.join("b", "#x")])
    assert [(record["type"], record["id"]) for record in feed.events_after(0)] == [("join", 1), ("join", 2)]
