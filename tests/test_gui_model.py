"""The GUI's pure conversation model: conversations by casefolded name, unread counts and the
"new messages" marker, mentions, members, and de-duplication of lines seen twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multichat_gui.events import (
    AwayChanged,
    ChatMessage,
    ConversationOpened,
    Disconnected,
    Member,
    Membership,
    Registered,
    ServerNotice,
    TopicChanged,
    UsersChanged,
    WhoisReply,
)
from multichat_gui.model import SERVER, ChatModel, Conversation, Line

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def said(text: str, seconds: float, *, sender: str = "alice", target: str = "#lobby", **kw: object) -> ChatMessage:
    return ChatMessage(target, sender, text, at(seconds), private=not target.startswith("#"), **kw)  # type: ignore[arg-type]


def joined_model() -> ChatModel:
    model = ChatModel(clock=lambda: T0)
    model.apply(Registered("gui"))
    model.apply(Membership("join", "gui", "#lobby", time=T0, own=True))
    return model


def texts(conversation: Conversation | None) -> list[str]:
    assert conversation is not None
    return [line.text for line in conversation.lines if line.sender is not None]


def test_conversations_are_keyed_by_casefolded_name() -> None:
    model = joined_model()
    model.apply(said("hi", 1, target="#LOBBY"))
    model.apply(said("psst", 2, target="gui", sender="Bob[1]"))
    assert texts(model.get("#lobby")) == ["hi"]
    assert texts(model.get("bob{1}")) == ["psst"]
    assert model.get("BOB[1]") is model.get("bob{1}")
    assert model.get("#lobby").kind == "channel" and model.get("bob[1]").kind == "private"  # type: ignore[union-attr]
    assert model.get(SERVER) is not None and model.get(SERVER).kind == "server"  # type: ignore[union-attr]


def test_a_duplicate_by_msgid_is_dropped_even_with_another_time() -> None:
    model = joined_model()
    assert model.apply(said("hello", 1, msgid="abc"))
    assert not model.apply(said("hello", 1.5, msgid="abc", history=True))
    assert texts(model.get("#lobby")) == ["hello"]


def test_without_msgid_the_same_time_sender_and_text_is_a_duplicate() -> None:
    model = joined_model()
    assert model.apply(said("hello", 1))
    assert not model.apply(said("hello", 1, history=True))
    assert model.apply(said("hello", 2))  # said again later: a new line
    assert model.apply(said("hello", 1, sender="bob"))
    assert texts(model.get("#lobby")) == ["hello", "hello", "hello"]


def test_history_goes_in_time_order_before_live_lines() -> None:
    model = joined_model()
    model.apply(said("live", 10, msgid="3"))
    model.apply(said("older", 5, msgid="2", history=True))
    model.apply(said("oldest", 1, msgid="1", history=True))
    assert texts(model.get("#lobby")) == ["oldest", "older", "live"]
    assert model.newest_msgid("#lobby") == "3"


def test_unread_count_marker_and_mentions() -> None:
    model = joined_model()
    model.focus("#lobby")
    model.apply(said("seen", 1))
    model.focus(SERVER)
    model.apply(said("not seen", 2))
    model.apply(said("old one", 0.5, history=True))
    model.apply(said("my own", 3, sender="gui", own=True))
    model.apply(said("hey GUI, look", 4))
    lobby = model.get("#lobby")
    assert lobby is not None
    assert lobby.unread == 2 and lobby.alert
    assert lobby.marker is not None and lobby.lines[lobby.marker].text == "not seen"
    model.focus("#Lobby")
    assert (lobby.unread, lobby.alert, lobby.marker) == (0, False, None)


def test_any_private_message_alerts_and_a_channel_line_without_mention_does_not() -> None:
    model = joined_model()
    model.apply(said("just chatting", 1))
    assert not model.get("#lobby").alert  # type: ignore[union-attr]
    model.apply(said("psst", 2, target="gui"))
    assert model.get("alice").alert and model.get("alice").unread == 1  # type: ignore[union-attr]


def test_mention_is_our_nick_as_a_word_under_rfc1459() -> None:
    model = ChatModel()
    model.apply(Registered("[Gui]"))
    assert model.is_mention("hi {gui}!")
    assert model.is_mention("{GUI}: look")
    assert not model.is_mention("hi {gui}bot")
    assert not model.is_mention("a-{gui}")
    assert not ChatModel().is_mention("anything")


def test_lines_are_bounded_and_the_oldest_go_first() -> None:
    model = ChatModel(max_lines=3)
    for i in range(5):
        model.apply(said(f"line {i}", i, msgid=str(i)))
    assert texts(model.get("#lobby")) == ["line 2", "line 3", "line 4"]
    assert model.apply(said("line 0", 0, msgid="0"))  # forgotten, so no longer a duplicate
    assert texts(model.get("#lobby")) == ["line 2", "line 3", "line 4"]  # and older than all: trimmed at once


def test_members_topic_away_and_query() -> None:
    model = joined_model()
    members = (Member("alice", "@+"), Member("gui"), Member("bob", "+"))
    model.apply(UsersChanged("#lobby", ("alice", "bob", "gui"), members))
    lobby = model.get("#lobby")
    assert lobby is not None
    assert [m.label for m in lobby.member_list()] == ["@alice", "+bob", "gui"]
    model.apply(TopicChanged("#lobby", "Welcome", "alice", at(1)))
    assert lobby.topic == "Welcome" and lobby.lines[-1].text == "alice set the topic: Welcome"
    model.apply(AwayChanged("gui", "lunch", own=True))
    assert model.away == "lunch"
    model.apply(AwayChanged("bob", "gone", own=False))
    assert model.away_nicks == {"bob": "gone"}
    model.apply(ConversationOpened("Carol"))
    assert model.get("carol") is not None and model.get("carol").kind == "private"  # type: ignore[union-attr]
    model.apply(ServerNotice("You're not channel operator", error=True, target="#lobby"))
    assert lobby.lines[-1].kind == "error"


def test_own_part_closes_a_channel_a_kick_keeps_it_and_a_drop_marks_it_for_rejoining() -> None:
    model = joined_model()
    model.apply(Membership("join", "gui", "#a", time=at(1), own=True))
    model.apply(Membership("join", "gui", "#b", time=at(1), own=True))
    model.apply(Membership("part", "gui", "#a", time=at(2), own=True))
    assert model.get("#a") is None
    model.apply(Membership("kick", "gui", "#b", reason="out", time=at(3), own=True, by="alice"))
    assert model.get("#b") is not None and not model.get("#b").joined  # type: ignore[union-attr]
    assert model.get("#b").lines[-1].text == "You were kicked by alice (out)"  # type: ignore[union-attr]
    model.apply(Disconnected("closed", "The server closed the connection."))
    assert model.channels_to_rejoin() == ["#lobby"]
    model.apply(Membership("join", "gui", "#lobby", time=at(9), own=True))
    assert model.channels_to_rejoin() == []


def test_a_rename_moves_the_private_conversation_and_is_told_where_they_are() -> None:
    model = joined_model()
    model.apply(UsersChanged("#lobby", ("alice", "gui")))
    model.apply(said("psst", 1, target="gui"))
    model.apply(Membership("nick", "alice", new_nick="Alicia", time=at(2)))
    assert model.get("alice") is None and texts(model.get("alicia")) == ["psst"]
    assert model.get("#lobby").lines[-1].text == "alice is now known as Alicia"  # type: ignore[union-attr]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded 2-core CI machine
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["alice", "bob"]), st.sampled_from(["hi", "yo"]), st.booleans()),
        max_size=30,
    ),
    st.lists(st.integers(0, 1000), max_size=60),
)
def test_any_mix_of_duplicates_leaves_each_line_once_in_time_order(
    originals: list[tuple[int, str, str, bool]], picks: list[int]
) -> None:
    """Lines (some with a msgid, some without) arrive, then any of them again in any order, as a
    replay or a catch-up would bring them: each is there once, and the lines are in time order."""
    unique = {(t, sender, text): with_id for t, sender, text, with_id in originals}
    lines = [
        said(text, t, sender=sender, msgid=f"{t}-{sender}-{text}" if with_id else "")
        for (t, sender, text), with_id in unique.items()
    ]
    model = ChatModel()
    arrivals = lines + [lines[p % len(lines)] for p in picks] if lines else []
    for message in arrivals:
        model.apply(message)
    got = [line for line in model.get("#lobby").lines if line.sender] if lines else []  # type: ignore[union-attr]
    assert sorted((line.time, line.sender, line.text) for line in got) == sorted(
        (m.time, m.sender, m.text) for m in lines
    )
    assert [line.time for line in got] == sorted(line.time for line in got)


def test_a_line_of_ours_is_never_a_duplicate() -> None:
    conversation = Conversation("#x", "channel")
    for _ in range(2):
        assert conversation.add(Line(T0, None, "Disconnected.", "error"), seen=True)
    assert len(conversation.lines) == 2


def test_a_whois_answer_goes_where_it_was_asked_even_with_a_private_conversation_open() -> None:
    model = joined_model()
    model.apply(said("psst", 1, target="gui", sender="alice"))
    model.apply(WhoisReply("alice", ("alice is alice!u@host (A)",), "#lobby"))
    lobby, private = model.get("#lobby"), model.get("alice")
    assert lobby is not None and private is not None
    assert lobby.lines[-1].text == "alice is alice!u@host (A)" and lobby.lines[-1].kind == "info"
    assert all("alice is" not in line.text for line in private.lines)
    model.apply(WhoisReply("alice", ("alice is on #lobby",)))  # asked from nowhere known: the private one
    assert private.lines[-1].text == "alice is on #lobby"
