"""The GUI's trio-side `ChatSession` without Tk: real server on port 0, events collected by a recorder.

Rules: every wait has an absolute `fail_after`; waits are on events the session reports or lines a
test client receives, never on sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import trio
from multichat_gui.events import (
    ChatMessage,
    Disconnected,
    Membership,
    NotDelivered,
    Registered,
    ServerNotice,
    SessionEvent,
    UsersChanged,
)
from multichat_gui.session import ChatSession
from multichat_gui.userinput import Act, ChangeNick, ConnectTarget, MessageTo, Say

from multichat_trio.ircd.server import ChatServer

from .conftest import StartServer
from .ircclient import IrcClient

TIMEOUT = 10


class Recorder:
    """A `SessionListener` that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self._changed = trio.Event()

    def session_event(self, event: SessionEvent) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[SessionEvent], bool]) -> SessionEvent:
        """The first event (already seen or still to come) satisfying `predicate`."""
        with trio.fail_after(TIMEOUT):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                await self._changed.wait()

    async def users(self, *expected: str) -> None:
        await self.wait_for(lambda e: isinstance(e, UsersChanged) and sorted(e.users) == sorted(expected))


async def open_session(
    nursery: trio.Nursery, port: int, nick: str = "gui", *, target: ConnectTarget | None = None, **kwargs: Any
) -> tuple[ChatSession, Recorder]:
    recorder = Recorder()
    session = ChatSession(target or ConnectTarget(nick, "127.0.0.1", port), recorder, **kwargs)
    nursery.start_soon(session.run)
    return session, recorder


async def client(port: int, nick: str) -> IrcClient:
    irc = await IrcClient.connect(port)
    await irc.register(nick)
    return irc


async def test_connects_registers_and_sees_itself_in_the_lobby(server: ChatServer, nursery: trio.Nursery) -> None:
    session, rec = await open_session(nursery, server.port)
    assert await rec.wait_for(lambda e: isinstance(e, Registered)) == Registered("gui")
    await rec.users("gui")
    assert session.channels == ["#lobby"]
    assert {"echo-message", "server-time"} <= session.caps


async def test_user_list_follows_join_nick_part_and_quit(server: ChatServer, nursery: trio.Nursery) -> None:
    session, rec = await open_session(nursery, server.port)
    await rec.users("gui")
    alice, bob = await client(server.port, "alice"), await client(server.port, "bob")
    await rec.users("gui", "alice", "bob")
    await alice.send("NICK Alicia")
    await rec.users("gui", "Alicia", "bob")
    renamed = await rec.wait_for(lambda e: isinstance(e, Membership) and e.action == "nick")
    assert isinstance(renamed, Membership) and (renamed.nick, renamed.new_nick) == ("alice", "Alicia")
    await bob.send("PART #lobby :bye")
    await rec.users("gui", "Alicia")
    await alice.send("QUIT :done")
    await rec.users("gui")
    session.perform("#lobby", ChangeNick("guido"))
    await rec.users("guido")
    assert session.nick == "guido"
    assert session.users("#LOBBY") == ("guido",)
    await alice.aclose()
    await bob.aclose()


async def test_user_list_shows_operators_by_nick_and_follows_kicks(server: ChatServer, nursery: trio.Nursery) -> None:
    alice, bob = await client(server.port, "alice"), await client(server.port, "bob")
    hub_alice = server.hub.find_client("alice")
    assert hub_alice is not None
    hub_alice.oper = "admin"  # as OPER makes it
    await alice.send("MODE #lobby +ov alice bob")
    await alice.expect("MODE")
    session, rec = await open_session(nursery, server.port)
    await rec.users("gui", "alice", "bob")  # NAMES said `@alice +bob`
    await alice.send("KICK #lobby bob :enough")
    await rec.users("gui", "alice")
    assert session.users("#lobby") == ("alice", "gui")
    await alice.aclose()
    await bob.aclose()


async def test_private_message_round_trip(server: ChatServer, nursery: trio.Nursery) -> None:
    session, rec = await open_session(nursery, server.port)
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    await alice.send("PRIVMSG gui :psst")
    got = await rec.wait_for(lambda e: isinstance(e, ChatMessage) and e.private)
    assert isinstance(got, ChatMessage) and (got.peer, got.text, got.own) == ("alice", "psst", False)
    assert session.perform("alice", Say("hello back")) is None
    line = await alice.expect("PRIVMSG")
    assert line.params == ("alice", "hello back") and (line.source or "").startswith("gui!")
    echo = await rec.wait_for(lambda e: isinstance(e, ChatMessage) and e.own)
    assert isinstance(echo, ChatMessage) and (echo.peer, echo.text, echo.private) == ("alice", "hello back", True)
    session.perform("#lobby", Act("waves"))
    action = await alice.expect("PRIVMSG")
    assert action.params == ("#lobby", "\x01ACTION waves\x01")
    session.perform("#lobby", MessageTo("alice", "via /msg"))
    assert (await alice.expect("PRIVMSG")).params == ("alice", "via /msg")
    await alice.aclose()


async def test_message_to_someone_gone_reports_the_servers_error(server: ChatServer, nursery: trio.Nursery) -> None:
    session, rec = await open_session(nursery, server.port)
    await rec.wait_for(lambda e: isinstance(e, Registered))
    session.say("nobody", "are you there?")
    got = await rec.wait_for(lambda e: isinstance(e, NotDelivered))
    assert isinstance(got, NotDelivered) and got.target == "nobody" and "not online" in got.text


async def test_long_text_is_split_into_lines_that_fit(server: ChatServer, nursery: trio.Nursery) -> None:
    session, rec = await open_session(nursery, server.port)
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    text = " ".join(f"wörd{i}" for i in range(300))
    assert session.say("#lobby", text) is None
    received: list[str] = []
    while " ".join(received) != text:
        line = await alice.expect("PRIVMSG")
        assert len((line.source or "").encode()) + len(" ".join(line.params).encode()) < 500
        received.append(line.params[1])
    assert len(received) > 3
    await alice.aclose()


async def test_nick_in_use_ends_the_attempt_and_says_so(server: ChatServer, nursery: trio.Nursery) -> None:
    taken = await client(server.port, "bob")
    _, rec = await open_session(nursery, server.port, "BOB")
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert isinstance(got, Disconnected) and got.kind == "nick_in_use" and "already taken" in got.text
    assert not got.can_reconnect
    assert server.hub.user_count == 1
    await taken.aclose()


async def test_nick_in_use_later_is_a_notice_and_keeps_the_connection(
    server: ChatServer, nursery: trio.Nursery
) -> None:
    session, rec = await open_session(nursery, server.port)
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    session.perform("#lobby", ChangeNick("Alice"))
    notice = await rec.wait_for(lambda e: isinstance(e, ServerNotice) and e.error)
    assert isinstance(notice, ServerNotice) and "already taken" in notice.text and "You are still gui" in notice.text
    assert session.nick == "gui" and not any(isinstance(e, Disconnected) for e in rec.events)
    await alice.aclose()


async def test_connection_refused_is_reported_in_plain_words(nursery: trio.Nursery) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nothing listens there any more
    _, rec = await open_session(nursery, port)
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert isinstance(got, Disconnected) and got.kind == "refused"
    assert "Is the server running" in got.text and got.can_reconnect


async def test_server_shutdown_is_reported(server: ChatServer, nursery: trio.Nursery) -> None:
    _, rec = await open_session(nursery, server.port)
    await rec.users("gui")
    server.stop()
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert got == Disconnected("shutdown", "The server is shutting down.")


async def test_flood_disconnect_is_reported(start_server: StartServer, nursery: trio.Nursery) -> None:
    server = await start_server(flood_burst=2, flood_rate=0.5)
    session, rec = await open_session(nursery, server.port, pace_burst=100, pace_rate=1000)
    await rec.users("gui")
    for i in range(6):
        session.say("#lobby", f"spam {i}")
    got = await rec.wait_for(lambda e: isinstance(e, Disconnected))
    assert isinstance(got, Disconnected) and got.kind == "flood" and got.can_reconnect


async def test_pacing_keeps_a_burst_under_the_flood_limit(start_server: StartServer, nursery: trio.Nursery) -> None:
    server = await start_server(flood_burst=3, flood_rate=10)
    session, rec = await open_session(nursery, server.port, pace_burst=3, pace_rate=8)
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    for i in range(10):
        assert session.say("#lobby", f"line {i}") is None
    for i in range(10):
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", f"line {i}")
    assert not any(isinstance(e, Disconnected) for e in rec.events)
    await alice.aclose()


async def test_answers_server_pings(start_server: StartServer, nursery: trio.Nursery) -> None:
    """The session registers before alice, who never answers PING: were the session silent too,
    the server would drop it first. Seeing alice time out while still connected proves the PONGs."""
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    _, rec = await open_session(nursery, server.port)
    await rec.users("gui")
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    gone = await rec.wait_for(lambda e: isinstance(e, Membership) and e.action == "quit")
    assert isinstance(gone, Membership) and gone.nick == "alice" and "Ping timeout" in gone.reason
    assert not any(isinstance(e, Disconnected) for e in rec.events)
    await alice.aclose()


async def test_close_says_quit_with_the_reason(server: ChatServer, nursery: trio.Nursery) -> None:
    session, rec = await open_session(nursery, server.port)
    alice = await client(server.port, "alice")
    await rec.users("gui", "alice")
    session.close("see you")
    quit_line = await alice.expect("QUIT")
    assert quit_line.params == ("Quit: see you",)
    assert await rec.wait_for(lambda e: isinstance(e, Disconnected)) == Disconnected("quit", "You left the chat.")
    assert session.say("#lobby", "too late") == "Not connected."
    await alice.aclose()


async def test_history_replayed_by_the_server_is_marked_and_keeps_its_sender(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    """History (asked with CHATHISTORY, so it may come after a live line) is the original lines,
    sent by the bare nick; the session shows them as history from that user, apart from live lines."""
    server = await start_server(db=":memory:")
    alice = await client(server.port, "alice")
    await alice.send("PRIVMSG #lobby :said before you came")
    await alice.sync()
    session, rec = await open_session(nursery, server.port)
    await rec.users("gui", "alice")
    await alice.send("PRIVMSG #lobby :live now")
    live = await rec.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "live now")
    old = await rec.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "said before you came")
    assert isinstance(live, ChatMessage) and isinstance(old, ChatMessage)
    assert old.history and not live.history
    assert old.sender == live.sender == "alice"
    assert not [e for e in rec.events if isinstance(e, ServerNotice) and "said before" in e.text]
    session.close()
    await rec.wait_for(lambda e: isinstance(e, Disconnected))
    await alice.aclose()


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("Excess Flood", "flood"),
        ("SendQ exceeded", "sendq"),
        ("Ping timeout: 60 seconds", "ping"),
        ("Server shutting down", "shutdown"),
        ("Closing link: Client Quit", "quit"),
        ("Server is full", "closed"),
    ],
)
def test_error_lines_map_to_causes(error: str, kind: str) -> None:
    from multichat_gui.wording import server_error

    assert server_error(error).kind == kind


async def test_a_server_line_with_nul_is_dropped_and_the_session_goes_on(nursery: trio.Nursery) -> None:
    """Our server never sends one; another might. A line that could be cut short is not shown."""

    async def fake_server(stream: trio.SocketStream) -> None:
        await stream.send_all(
            b":srv 001 gui :Welcome\r\n:srv NOTICE gui :before\0after\r\n:srv NOTICE gui :a\rb\r\n"
            b":srv NOTICE gui :the next line\r\n"
        )
        received = b""
        while b"QUIT" not in received:
            received += await stream.receive_some() or b"QUIT"  # then trio closes the stream

    listeners = await nursery.start(partial(trio.serve_tcp, fake_server, 0, host="127.0.0.1"))
    session, rec = await open_session(nursery, listeners[0].socket.getsockname()[1])
    await rec.wait_for(lambda e: isinstance(e, ServerNotice) and e.text == "the next line")
    assert not [e for e in rec.events if isinstance(e, ServerNotice) and ("\0" in e.text or "\r" in e.text)]
    session.close()
    await rec.wait_for(lambda e: isinstance(e, Disconnected))
