"""The GUI session's history and sending against a real server on port 0: a reconnect with the same
model shows what was missed and nothing twice; a paste goes out whole, paced under the flood limit."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from multichat_gui.events import ChatMessage, Disconnected, Membership
from multichat_gui.model import ChatModel
from multichat_gui.session import MAX_PASTE, ChatSession
from multichat_gui.userinput import ConnectTarget, Join, Query

from multichat_trio.chat import opers
from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.hub import Hub
from multichat_trio.ircd.outbox import Outbox

from .conftest import StartServer, test_config
from .ircclient import IrcClient
from .test_accounts_server import PASSWORD
from .test_gui_session import Recorder, client, open_session
from .test_hub import FakeClock, join_as, received
from .test_opers import CHEAP


def said(rec: Recorder) -> list[str]:
    return [e.text for e in rec.events if isinstance(e, ChatMessage)]


def lobby_texts(model: ChatModel) -> list[str]:
    lobby = model.get("#lobby")
    assert lobby is not None
    return [line.text for line in lobby.lines if line.sender is not None]


async def say_all(irc: IrcClient, *texts: str) -> None:
    await irc.send(*(f"PRIVMSG #lobby :{text}" for text in texts))
    await irc.sync()


async def leave(session: ChatSession, rec: Recorder) -> None:
    session.close()
    await rec.wait_for(lambda e: isinstance(e, Disconnected))


@pytest.mark.parametrize(
    "caps",
    [
        pytest.param(None, id="chathistory"),
        pytest.param("batch message-tags server-time echo-message", id="replay-by-msgid"),
        pytest.param("server-time echo-message", id="replay-by-time-and-text"),
    ],
)
async def test_a_reconnect_shows_what_was_missed_and_nothing_twice(
    start_server: StartServer, nursery: trio.Nursery, caps: str | None
) -> None:
    """The defect: a reconnect replayed the last 50 lines again, under those already on screen.
    With CHATHISTORY the new session asks only for what came after the newest line it holds; with
    a server that replays on join instead, the model drops the lines it already has."""
    server = await start_server(db=":memory:", flood_rate=0)
    alice = await client(server.port, "alice")
    await say_all(alice, "before 1", "before 2")
    model = ChatModel()
    options = {"model": model} | ({"caps": caps} if caps else {})
    first, rec1 = await open_session(nursery, server.port, **options)
    await rec1.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "before 2")
    await say_all(alice, "live")
    await rec1.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "live")
    await leave(first, rec1)
    await say_all(alice, "missed 1", "missed 2")
    second, rec2 = await open_session(nursery, server.port, **options)
    await rec2.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "missed 2")
    await say_all(alice, "after")
    await rec2.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "after")
    assert said(rec2) == ["missed 1", "missed 2", "after"]
    assert lobby_texts(model) == ["before 1", "before 2", "live", "missed 1", "missed 2", "after"]
    if caps is None:  # caught up through CHATHISTORY: the missed lines are news, unread, not grey history
        assert not any(e.history for e in rec2.events if isinstance(e, ChatMessage))
        lobby = model.get("#lobby")
        assert lobby is not None and lobby.unread == 4 and lobby.marker is not None
        assert lobby.lines[lobby.marker].text == "live"
    await leave(second, rec2)
    await alice.aclose()


async def test_a_long_absence_is_caught_up_page_after_page(start_server: StartServer, nursery: trio.Nursery) -> None:
    """More was missed than one CHATHISTORY answer holds (100): the session asks again after each full page."""
    server = await start_server(db=":memory:", flood_rate=0)
    alice = await client(server.port, "alice")
    model = ChatModel()
    first, rec1 = await open_session(nursery, server.port, model=model)
    await say_all(alice, "seen")
    await rec1.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "seen")
    await leave(first, rec1)
    missed = [f"missed {i}" for i in range(230)]
    await say_all(alice, *missed)
    second, rec2 = await open_session(nursery, server.port, model=model)
    await rec2.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == missed[-1])
    assert said(rec2) == missed
    assert lobby_texts(model) == ["seen", *missed]
    await leave(second, rec2)
    await alice.aclose()


async def test_a_channel_of_ours_is_joined_again_after_a_reconnect(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    server = await start_server(db=":memory:")
    model = ChatModel()
    first, rec1 = await open_session(nursery, server.port, model=model)
    await rec1.users("gui")
    first.perform("#lobby", Join(("#ours",)))
    await rec1.wait_for(lambda e: isinstance(e, Membership) and e.channel == "#ours")
    await leave(first, rec1)
    second, rec2 = await open_session(nursery, server.port, model=model)
    await rec2.wait_for(lambda e: isinstance(e, Membership) and e.channel == "#ours" and e.own)
    assert sorted(second.channels) == ["#lobby", "#ours"]
    await leave(second, rec2)


async def test_a_paste_of_80_lines_arrives_whole_under_the_default_flood_limit(
    start_server: StartServer, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The defect: an 80-line paste sent 65 lines and dropped 15. Now every line waits its turn,
    paced within the server's default flood limit (burst 10, 2 lines/s): nothing dropped, no kill."""
    server = await start_server()
    session, rec = await open_session(nursery, server.port)
    alice = await client(server.port, "alice")
    alice.timeout = 600  # virtual seconds: 80 lines at 1.5 a second take about 50
    await rec.users("gui", "alice")
    lines = [f"pasted line {i}" for i in range(80)]
    started = trio.current_time()
    assert session.say("#lobby", "\n".join(lines)) is None
    assert session.say("#lobby", "typed after the paste") is None
    received = [(await alice.expect("PRIVMSG")).params[1] for _ in range(81)]
    assert received == [*lines, "typed after the paste"]
    assert trio.current_time() - started < 60
    assert not any(isinstance(e, Disconnected) for e in rec.events)
    assert server.hub.find_client("gui") is not None
    await alice.aclose()


async def test_a_paste_too_big_to_wait_is_refused_whole(start_server: StartServer, nursery: trio.Nursery) -> None:
    server = await start_server()
    session, rec = await open_session(nursery, server.port)
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    error = session.say("#lobby", "\n".join(f"line {i}" for i in range(MAX_PASTE + 1)))
    assert error is not None and f"at most {MAX_PASTE}" in error and "Nothing of it was sent" in error
    assert session.say("#lobby", "\n".join(f"part {i}" for i in range(MAX_PASTE - 5))) is None
    error = session.say("#lobby", "\n".join(f"more {i}" for i in range(10)))
    assert error is not None and "still waiting" in error
    assert (await alice.expect("PRIVMSG")).params[1] == "part 0"
    await alice.aclose()


async def test_a_private_conversation_fetches_its_history_and_catches_up_without_duplicates(
    start_server: StartServer, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PM history is the two parties' accounts' (`--store-pms`): the GUI logs in with SASL to have it."""
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)
    server = await start_server(db=":memory:", store_pms=True)
    for nick in ("gui", "alice"):  # both register an account named like the nick
        irc = await client(server.port, nick)
        await irc.send(f"REGISTER * * {PASSWORD}")
        await irc.expect("900")
        if nick == "gui":
            await irc.send("QUIT")
            await irc.wait_closed()
            await irc.aclose()
        else:
            alice = irc
    target = ConnectTarget("gui", "127.0.0.1", server.port, password=PASSWORD)
    model = ChatModel()
    first, rec1 = await open_session(nursery, server.port, target=target, model=model)
    await rec1.users("gui", "alice")
    await alice.send("PRIVMSG gui :psst")
    await rec1.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "psst")
    await leave(first, rec1)
    again, rec2 = await open_session(nursery, server.port, target=target, model=model)
    await rec2.users("gui", "alice")
    await alice.send("PRIVMSG gui :now")
    await rec2.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "now")
    assert said(rec2) == ["now"]
    conversation = model.get("alice")
    assert conversation is not None and [line.text for line in conversation.lines if line.sender] == ["psst", "now"]
    await leave(again, rec2)
    fresh, rec3 = await open_session(nursery, server.port, target=target)  # a new model: /query fetches the latest
    await rec3.users("gui", "alice")
    assert fresh.perform("#lobby", Query("alice")) is None
    old = await rec3.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "now")
    assert isinstance(old, ChatMessage) and old.history and old.private and old.peer == "alice"
    assert said(rec3) == ["psst", "now"]
    await leave(fresh, rec3)
    await alice.aclose()


def test_a_replayed_line_has_the_time_the_live_line_had() -> None:
    """The fallback de-duplication (time, sender, text) needs the replay's `@time` to be the live
    line's: the hub took a second reading of the clock for the replay, a millisecond apart at times."""
    ticks = iter(range(10_000))
    hub = Hub(test_config(), COMMANDS, clock=FakeClock(), wallclock=lambda: 1_800_000_000.0 + next(ticks) * 0.0017)
    hub.durable = True  # as with a history store: public lines are kept for replay
    alice, watcher = join_as(hub, "alice"), join_as(hub, "watcher")
    hub.receive(watcher, b"CAP REQ :server-time")
    hub.receive(watcher, b"CAP END")
    received(watcher, hub)
    hub.receive(alice, b"PRIVMSG #lobby :hello")
    hub.release(hub.recorded)
    (live,) = [m for m in received(watcher, hub) if m.command == "PRIVMSG"]
    late = hub.connect("127.0.0.1", Outbox(1 << 20))
    for line in (b"CAP REQ :server-time", b"NICK late", b"USER u 0 * :Late", b"CAP END"):
        hub.receive(late, line)
    (replayed,) = [m for m in received(late, hub) if m.command == "PRIVMSG"]
    assert replayed.params == live.params and replayed.tags["time"] == live.tags["time"]
