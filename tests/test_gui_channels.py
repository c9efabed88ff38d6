"""The GUI session in several channels, against a real server on port 0: every slash command goes
to the server as its IRC command (never as chat), and the answers come back as events."""

from __future__ import annotations

import pytest
import trio
from multichat_gui.events import (
    AwayChanged,
    ChannelList,
    ChatMessage,
    ConversationOpened,
    Member,
    Membership,
    OperChanged,
    ServerNotice,
    TopicChanged,
    UsersChanged,
    WhoisReply,
)
from multichat_gui.model import ChatModel
from multichat_gui.userinput import parse_input

from multichat_trio.ircd.server import ChatServer

from .conftest import StartServer
from .test_gui_session import client, open_session
from .test_opers import ADMIN


def typed(session: object, window: str, line: str) -> str | None:
    """What the window does with a typed line: parse it, hand it to the session."""
    command = parse_input(line)
    assert command is not None
    return session.perform(window, command)  # type: ignore[attr-defined]


def members_of(channel: str, *expected: Member):  # type: ignore[no-untyped-def]
    return lambda e: isinstance(e, UsersChanged) and e.channel == channel and e.members == expected


async def test_join_is_a_command_not_chat_and_each_channel_has_its_events(
    server: ChatServer, nursery: trio.Nursery
) -> None:
    """The defect: `/join #other` was sent to the room as text. Now it joins, and the room hears nothing."""
    alice = await client(server.port, "alice")
    await alice.send("JOIN #other", "TOPIC #other :Other things")
    await alice.expect("TOPIC")
    model = ChatModel()
    session, rec = await open_session(nursery, server.port, model=model)
    await rec.users("gui", "alice")
    assert typed(session, "#lobby", "/join #other,#third") is None
    joined = await rec.wait_for(lambda e: isinstance(e, Membership) and e.own and e.channel == "#third")
    assert isinstance(joined, Membership) and joined.action == "join"
    topic = await rec.wait_for(lambda e: isinstance(e, TopicChanged))
    assert topic == TopicChanged("#other", "Other things")
    await rec.wait_for(members_of("#other", Member("alice", "@"), Member("gui")))
    assert typed(session, "#lobby", "/foo bar") == "Unknown command /foo: /help lists them"
    assert sorted(session.channels) == ["#lobby", "#other", "#third"]
    assert model.get("#other") is not None and model.get("#other").topic == "Other things"  # type: ignore[union-attr]
    await alice.send("PRIVMSG #other :in other", "PRIVMSG #lobby :in lobby")
    await rec.wait_for(lambda e: isinstance(e, ChatMessage) and e.text == "in lobby")
    assert [(e.target, e.text) for e in rec.events if isinstance(e, ChatMessage)] == [
        ("#other", "in other"),
        ("#lobby", "in lobby"),
    ]
    lines = await alice.sync()
    assert not [m for m in lines if m.command == "PRIVMSG"], "nothing typed reached the channels as chat"
    assert typed(session, "#third", "/part bye now") is None
    left = await rec.wait_for(lambda e: isinstance(e, Membership) and e.action == "part" and e.own)
    assert isinstance(left, Membership) and (left.channel, left.reason) == ("#third", "bye now")
    assert model.get("#third") is None and sorted(session.channels) == ["#lobby", "#other"]
    await alice.aclose()


async def test_operator_commands_change_members_and_a_kick_ends_our_membership(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    server = await start_server(flood_rate=0)  # many commands in a row: no need to pace them here
    model = ChatModel()
    session, rec = await open_session(nursery, server.port, model=model, pace_burst=100, pace_rate=100)
    await rec.users("gui")
    typed(session, "#lobby", "/join #ours")
    await rec.users("gui")
    bob = await client(server.port, "bob")
    await bob.send("JOIN #ours")
    await rec.wait_for(members_of("#ours", Member("gui", "@"), Member("bob")))
    typed(session, "#ours", "/voice bob")
    await rec.wait_for(members_of("#ours", Member("gui", "@"), Member("bob", "+")))
    typed(session, "#ours", "/op bob")
    await rec.wait_for(members_of("#ours", Member("bob", "@+"), Member("gui", "@")))  # multi-prefix
    typed(session, "#ours", "/deop bob")
    await rec.wait_for(members_of("#ours", Member("gui", "@"), Member("bob", "+")))
    typed(session, "#ours", "/topic Our own place")
    assert await rec.wait_for(lambda e: isinstance(e, TopicChanged) and e.setter == "gui")
    typed(session, "#ours", "/mode +m")
    await rec.wait_for(lambda e: isinstance(e, ServerNotice) and e.target == "#ours" and "+m" in e.text)
    typed(session, "#ours", "/ban bob")
    assert (await bob.expect("MODE", lambda m: m.param(1) == "+b")).params[2:] == ("bob!*@*",)
    typed(session, "#ours", "/kick bob be nice")
    kick = await bob.expect("KICK")
    assert kick.params == ("#ours", "bob", "be nice")
    await bob.send("JOIN #ours")
    assert (await bob.expect("474")).params[1] == "#ours"  # banned
    await bob.send("PART #lobby")
    await rec.users("gui")
    typed(session, "#ours", "/unban bob")
    typed(session, "#ours", "/invite bob")
    assert (await bob.expect("INVITE")).params == ("bob", "#ours")
    await bob.send("JOIN #ours", "MODE #ours +o bob")  # bob holds no op: a 482 for him, nothing for us
    await rec.wait_for(members_of("#ours", Member("gui", "@"), Member("bob")))
    hub_bob = server.hub.find_client("bob")
    assert hub_bob is not None
    hub_bob.oper = "admin"  # as OPER makes it, so bob may kick us
    await bob.send("KICK #ours gui :your turn")
    kicked = await rec.wait_for(lambda e: isinstance(e, Membership) and e.action == "kick" and e.own)
    assert kicked == Membership("kick", "gui", "#ours", "your turn", time=kicked.time, own=True, by="bob")  # type: ignore[union-attr]
    assert "#ours" not in session.channels
    conversation = model.get("#ours")
    assert conversation is not None and not conversation.joined
    await bob.aclose()


async def test_list_whois_away_query_and_help(server: ChatServer, nursery: trio.Nursery) -> None:
    alice = await client(server.port, "alice")
    await alice.send("JOIN #busy", "TOPIC #busy :Lots going on", "AWAY :on a call")
    await alice.sync()
    session, rec = await open_session(nursery, server.port)
    await rec.users("gui", "alice")
    typed(session, "#lobby", "/list")
    listed = await rec.wait_for(lambda e: isinstance(e, ChannelList))
    assert isinstance(listed, ChannelList)
    rows = {row.name: (row.users, row.topic) for row in listed.rows}
    assert rows["#busy"] == (1, "Lots going on") and rows["#lobby"] == (2, "")
    typed(session, "#lobby", "/whois alice")
    whois = await rec.wait_for(lambda e: isinstance(e, WhoisReply))
    assert isinstance(whois, WhoisReply) and whois.nick == "alice" and whois.where == "#lobby"
    assert any("#busy" in line for line in whois.lines) and any("away: on a call" in line for line in whois.lines)
    typed(session, "#lobby", "/away lunch")
    assert await rec.wait_for(lambda e: isinstance(e, AwayChanged)) == AwayChanged("gui", "lunch", own=True)
    await alice.send("WHOIS gui")
    assert (await alice.expect("301")).params[-1] == "lunch"
    typed(session, "#lobby", "/back")
    await rec.wait_for(lambda e: e == AwayChanged("gui", "", own=True))
    assert "away-notify" in session.caps  # asked for where offered, as this server does: peers' away is seen
    await alice.send("AWAY :back soon")
    assert await rec.wait_for(lambda e: isinstance(e, AwayChanged) and not e.own) == AwayChanged("alice", "back soon")
    assert typed(session, "#lobby", "/query alice hello you") is None
    assert await rec.wait_for(lambda e: isinstance(e, ConversationOpened)) == ConversationOpened("alice")
    assert (await alice.expect("PRIVMSG")).params == ("alice", "hello you")
    assert typed(session, "#lobby", "/help") is None
    helped = [e.text for e in rec.events if isinstance(e, ServerNotice) and e.target == "#lobby"]
    assert any(text.startswith("/join") for text in helped) and any(text.startswith("/oper") for text in helped)
    await alice.aclose()


async def test_oper_and_quote(start_server: StartServer, nursery: trio.Nursery) -> None:
    server = await start_server(opers=(ADMIN,))
    session, rec = await open_session(nursery, server.port)
    await rec.users("gui")
    typed(session, "#lobby", "/oper admin wrong")
    await rec.wait_for(lambda e: isinstance(e, ServerNotice) and e.error and "464" not in e.text)
    typed(session, "#lobby", "/oper admin hunter2")
    assert isinstance(await rec.wait_for(lambda e: isinstance(e, OperChanged)), OperChanged)
    typed(session, "#lobby", "/quote TOPIC #lobby :set raw")
    assert await rec.wait_for(lambda e: isinstance(e, TopicChanged) and e.topic == "set raw")


@pytest.mark.parametrize("line", ["/kick bob", "/topic x", "/op bob", "/part"])
async def test_channel_commands_in_a_private_window_say_where_to_type_them(
    server: ChatServer, nursery: trio.Nursery, line: str
) -> None:
    session, rec = await open_session(nursery, server.port)
    await rec.users("gui")
    error = typed(session, "alice", line)
    assert error is not None and "channel" in error
