"""The Feed on its own, without sockets: stamping, privacy, derived state, fan-out limits."""

from __future__ import annotations

import json

import pytest
import trio

from multichat_trio.chat import events
from multichat_trio.chat.events import Event
from multichat_trio.web.feed import CLOSE_GOING_AWAY, CLOSE_TOO_SLOW, CLOSE_TRY_LATER, Feed, FeedUnavailable

NOON = 1_767_268_800.25  # 2026-01-01T12:00:00.250Z


def make_feed(**options: int) -> Feed:
    return Feed(wallclock=lambda: NOON, **options)


def test_events_get_consecutive_ids_and_utc_timestamps() -> None:
    feed = make_feed()
    feed.publish([events.join("alice", "#lobby"), events.message("alice", "#lobby", "hi", "PRIVMSG")])
    feed.publish([events.nick_change("alice", "alicia")])
    recent = feed.events_after(0)
    assert [e["id"] for e in recent] == [1, 2, 3]
    assert {e["ts"] for e in recent} == {"2026-01-01T12:00:00.250Z"}
    assert recent[1] == {
        "type": "message",
        "id": 2,
        "ts": "2026-01-01T12:00:00.250Z",
        "nick": "alice",
        "channel": "#lobby",
        "text": "hi",
        "command": "PRIVMSG",
    }


def test_pm_events_never_carry_text_even_if_given_some() -> None:
    feed = make_feed()
    viewer, _ = feed.subscribe()
    feed.publish([Event("pm", {"from": "bob", "to": "alice", "text": "secret"})])
    (batch,) = [viewer.batches.receive_nowait()]
    assert json.loads(batch[0]) == {
        "type": "pm",
        "id": 1,
        "ts": "2026-01-01T12:00:00.250Z",
        "from": "bob",
        "to": "alice",
    }
    assert "secret" not in json.dumps(feed.snapshot())


def test_users_follow_joins_parts_quits_and_nick_changes() -> None:
    feed = make_feed()
    feed.publish([events.join("bob", "#lobby"), events.join("alice", "#lobby"), events.join("alice", "#dev")])
    feed.publish([events.leave("alice", "#dev", "", "part"), events.nick_change("bob", "Bobby")])
    assert feed.users() == [{"nick": "alice", "channels": ["#lobby"]}, {"nick": "Bobby", "channels": ["#lobby"]}]
    feed.publish([events.leave("alice", None, "Excess Flood", "flood")])
    assert feed.users() == [{"nick": "Bobby", "channels": ["#lobby"]}]


def test_stats_events_are_numbered_but_kept_out_of_recent_events() -> None:
    feed = make_feed()
    feed.publish([events.join("alice", "#lobby")])
    feed.publish([Event("stats", {"clients": 1, "messages": 0, "rate": 0.0, "connections": 1, "uptime": 5.0})])
    feed.publish([events.message("alice", "#lobby", "hi", "PRIVMSG")])
    assert [e["id"] for e in feed.events_after(0)] == [1, 3]
    snapshot = feed.snapshot()
    assert snapshot["id"] == 3 and snapshot["stats"]["uptime"] == 5.0 and snapshot["stats"]["messages"] == 1
    assert snapshot["rates"] == [[int(NOON), 1]]


def test_the_backlog_is_bounded_and_says_what_it_forgot() -> None:
    feed = make_feed(backlog=3)
    feed.publish([events.message("a", "#c", str(n), "PRIVMSG") for n in range(5)])
    assert [e["id"] for e in feed.events_after(0)] == [3, 4, 5]
    assert feed.forgotten_id == 2 and feed.events_after(4) == feed.events_after(0)[-1:]


def test_a_viewer_that_falls_behind_is_dropped_and_others_are_not() -> None:
    feed = make_feed(viewer_batches=2)
    slow, _ = feed.subscribe()
    fast, _ = feed.subscribe()
    for n in range(3):
        feed.publish([events.message("a", "#c", str(n), "PRIVMSG")])
        batch = fast.batches.receive_nowait()
        fast.sent(batch)
    assert slow.close_code == CLOSE_TOO_SLOW and "too slow" in slow.close_reason
    assert fast.close_code is None and feed.viewer_count == 1 and feed.dropped == 1


def test_a_viewer_over_its_byte_budget_is_dropped() -> None:
    feed = make_feed(viewer_bytes=1000)
    viewer, _ = feed.subscribe()
    feed.publish([events.message("a", "#c", "x" * 2000, "PRIVMSG")])
    assert viewer.close_code == CLOSE_TOO_SLOW and feed.viewer_count == 0


def test_subscribing_beyond_the_cap_or_after_close_is_refused() -> None:
    feed = make_feed(max_viewers=1)
    viewer, _ = feed.subscribe()
    with pytest.raises(FeedUnavailable) as full:
        feed.subscribe()
    assert full.value.code == CLOSE_TRY_LATER
    feed.close(CLOSE_GOING_AWAY, "server shutting down")
    assert viewer.close_code == CLOSE_GOING_AWAY and viewer.ended.is_set()
    feed.unsubscribe(viewer)
    with pytest.raises(FeedUnavailable) as closed:
        feed.subscribe()
    assert closed.value.code == CLOSE_GOING_AWAY


async def test_the_broadcaster_publishes_until_its_channel_closes_then_ends_viewers() -> None:
    feed = make_feed()
    viewer, snapshot = feed.subscribe()
    assert json.loads(snapshot)["id"] == 0
    send, receive = trio.open_memory_channel[list[Event]](4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run, receive)
        await send.send([events.join("alice", "#lobby")])
        await send.aclose()
    with trio.fail_after(1):
        batches = [batch async for batch in viewer.batches]
    assert [json.loads(text)["type"] for batch in batches for text in batch] == ["join"]
    assert viewer.close_code == CLOSE_GOING_AWAY and viewer.close_reason == "server shutting down"


@pytest.mark.parametrize("show_hosts", [False, True])
def test_users_addresses_stay_out_of_the_feed_unless_asked_for(show_hosts: bool) -> None:
    feed = Feed(wallclock=lambda: NOON, show_hosts=show_hosts)
    viewer, _ = feed.subscribe()
    feed.publish([events.flood("flooder", "192.0.2.7")])
    feed.restore([Event("flood", {"nick": "old", "host": "198.51.100.9"}, id=7, ts=NOON)])  # from the store
    (live,) = viewer.batches.receive_nowait()
    seen = live + json.dumps(feed.snapshot()) + json.dumps(feed.events_after(0))
    assert json.loads(live) == {"type": "flood", "id": 1, "ts": "2026-01-01T12:00:00.250Z", "nick": "flooder"} | (
        {"host": "192.0.2.7"} if show_hosts else {}
    )
    assert ("192.0.2.7" in seen and "198.51.100.9" in seen) is show_hosts
    assert ("192.0.2" in seen or "198.51" in seen) is show_hosts


@pytest.mark.parametrize("show_hosts", [False, True])
def test_mode_and_kick_events_keep_ban_addresses_private_and_the_users_list_true(show_hosts: bool) -> None:
    feed = Feed(wallclock=lambda: NOON, show_hosts=show_hosts)
    viewer, _ = feed.subscribe()
    feed.publish([events.join("op", "#c"), events.join("troll", "#c"), events.join("troll", "#d")])
    feed.publish([events.mode("op", "#c", "+obk-l", ["troll", "*!*@192.0.2.7", "*"])])
    feed.publish([events.kick("op", "#c", "troll", "spam")])
    viewer.batches.receive_nowait()
    (mode,) = viewer.batches.receive_nowait()
    assert json.loads(mode)["args"] == ["troll", "*!*@192.0.2.7" if show_hosts else "*!*@*", "*"]
    assert {u["nick"]: u["channels"] for u in feed.snapshot()["users"]} == {"op": ["#c"], "troll": ["#d"]}
