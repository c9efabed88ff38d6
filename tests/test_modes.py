"""Channel operators, modes, KICK, INVITE and JOIN keys, as hub rules (no sockets) and pure mode parsing."""

from __future__ import annotations

from multichat_trio.chat import modes
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.chat.modes import Change
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import Message

from .test_hub import join_as, make_hub, received


def say(hub: Hub, client: Client, *lines: str) -> list[Message]:
    """Send `lines` as `client`, return what it received."""
    for line in lines:
        hub.receive(client, line.encode())
    return received(client, hub)


def codes(messages: list[Message]) -> list[str]:
    return [m.command for m in messages]


def channel_of_three(hub: Hub) -> tuple[Client, Client, Client]:
    """alice creates #c (so operates it), bob joins it; carol is only in #lobby. Nothing left unread."""
    alice, bob, carol = join_as(hub, "alice"), join_as(hub, "bob"), join_as(hub, "carol")
    say(hub, alice, "JOIN #c")
    say(hub, bob, "JOIN #c")
    for client in (alice, bob, carol):
        received(client, hub)
    return alice, bob, carol


# --- pure mode strings -----------------------------------------------------------------------


def test_parse_splits_letters_and_parameters_by_class() -> None:
    changes, unknown = modes.parse("+ob-k+lXb", ["alice", "*!*@h", "old", "5"])
    assert changes == [
        Change(True, "o", "alice"),
        Change(True, "b", "*!*@h"),
        Change(False, "k", "old"),
        Change(True, "l", "5"),
        Change(True, "b"),  # no mask left: a list query
    ]
    assert unknown == ["X"]
    assert modes.parse("-l+v", [])[0] == [Change(False, "l")]  # +v without a nick is dropped
    five = modes.parse("+vvvvv", list("abcde"))[0]
    assert len(five) == modes.MODES_PER_LINE


def test_render_switches_signs_only_when_needed() -> None:
    changes = [Change(True, "o", "a"), Change(True, "v", "a"), Change(False, "b", "m"), Change(True, "n")]
    assert modes.render(changes) == ("+ov-b+n", "a", "a", "m")


# --- operators, prefixes, 005 ----------------------------------------------------------------


def test_creator_gets_op_but_no_one_in_the_autojoin_channel() -> None:
    hub, _ = make_hub()
    alice, bob, _ = channel_of_three(hub)
    channel = hub.find_channel("#c")
    lobby = hub.find_channel("#lobby")
    assert channel is not None and lobby is not None
    assert channel.ops == {alice} and not lobby.ops
    names = say(hub, bob, "NAMES #c")
    assert names[0].params[-1] == "@alice bob"
    bob.caps |= {"multi-prefix", "userhost-in-names"}
    say(hub, alice, "MODE #c +v alice")
    received(bob, hub)
    names = say(hub, bob, "NAMES #c")
    assert names[0].params[-1] == "@+alice!u@127.0.0.1 bob!u@127.0.0.1"
    who = say(hub, bob, "WHO #c")
    assert [m.params[6] for m in who[:-1]] == ["H@+", "H"]
    whois = say(hub, bob, "WHOIS alice")
    assert next(m for m in whois if m.command == "319").params[-1] == "#lobby @+#c"


def test_isupport_advertises_the_modes() -> None:
    hub, _ = make_hub()
    client = hub.connect("h", Outbox(1 << 20))
    hub.receive(client, b"NICK n")
    hub.receive(client, b"USER u 0 * :x")
    lines = [m for m in received(client, hub) if m.command == "005"]
    tokens = {p.split("=")[0]: p for m in lines for p in m.params[1:-1]}
    assert all(len(m.params) <= 15 for m in lines)
    assert tokens["PREFIX"] == "PREFIX=(ov)@+" and tokens["CHANMODES"] == "CHANMODES=be,k,l,imnst"
    for name in ("MODES", "MAXLIST", "TARGMAX", "KICKLEN", "TOPICLEN", "AWAYLEN", "CHANLIMIT", "EXCEPTS"):
        assert name in tokens


def test_mode_query_and_op_changes() -> None:
    hub, _ = make_hub()
    alice, bob, _ = channel_of_three(hub)
    query = say(hub, bob, "MODE #c")
    assert [(m.command, m.params[1:]) for m in query] == [("324", ("#c", "+nt")), ("329", ("#c", "1800000000"))]
    assert codes(say(hub, bob, "MODE #c +o bob")) == ["482"]
    assert codes(say(hub, alice, "MODE #c +o nobody", "MODE #c +Z")) == ["401", "472"]
    say(hub, alice, "MODE #c +o bob")
    (line,) = received(bob, hub)
    assert (line.command, line.params, line.source) == ("MODE", ("#c", "+o", "bob"), "alice!u@127.0.0.1")
    say(hub, bob, "MODE #c -o alice")
    channel = hub.find_channel("#c")
    assert channel is not None and channel.ops == {bob}
    assert codes(say(hub, alice, "MODE #c +v bob")) == ["MODE", "482"]  # she saw her own -o, then is refused
    events = hub.take_events()
    assert [(e.data["modes"], e.data["args"]) for e in events if e.type == "mode"] == [
        ("+o", ["bob"]),
        ("-o", ["alice"]),
    ]


def test_a_server_operator_moderates_every_channel() -> None:
    hub, _ = make_hub()
    _, bob, _ = channel_of_three(hub)
    bob.oper = "admin"
    assert codes(say(hub, bob, "MODE #lobby +o bob", "TOPIC #lobby :rules")) == ["MODE", "TOPIC"]
    assert codes(say(hub, bob, "KICK #c alice :out")) == ["KICK"]


# --- bans and exceptions ---------------------------------------------------------------------


def test_a_banned_user_cannot_join_speak_or_change_nick() -> None:
    hub, _ = make_hub()
    alice, bob, _ = channel_of_three(hub)
    say(hub, alice, "MODE #c +b bob")
    assert codes(say(hub, bob, "PRIVMSG #c :hi", "NICK robert")) == ["MODE", "404", "435"]
    assert bob.nick == "bob"
    listing = say(hub, bob, "MODE #c b")
    assert [m.params[1:3] for m in listing if m.command == "367"] == [("#c", "bob!*@*")]
    assert listing[-1].command == "368"
    say(hub, alice, "KICK #c bob")
    assert codes(say(hub, bob, "JOIN #c")) == ["KICK", "474"]
    say(hub, alice, "MODE #c +e *!u@127.0.0.1")
    assert codes(say(hub, bob, "JOIN #c"))[0] == "JOIN"
    channel = hub.find_channel("#c")
    assert channel is not None and channel.has_state()


def test_bad_mode_parameters_get_696_and_change_nothing() -> None:
    hub, _ = make_hub()
    alice, _, _ = channel_of_three(hub)
    replies = say(hub, alice, "MODE #c +l -3", "MODE #c +l lots", "MODE #c +k a,b", f"MODE #c +b {'x' * 120}")
    assert codes(replies) == ["696"] * 4
    channel = hub.find_channel("#c")
    assert channel is not None and channel.limit is None and channel.key is None and not channel.bans


def test_keys_and_masks_must_stand_as_one_parameter() -> None:
    hub, _ = make_hub()
    alice, _, _ = channel_of_three(hub)
    replies = say(hub, alice, "MODE #c +k :a b", "MODE #c +b :x y", "MODE #c +kl ::x 5", "MODE #c +b ::a!b")
    assert codes(replies) == ["696"] * 4
    assert codes(say(hub, alice, "MODE #c b", "MODE #c")) == ["368", "324", "329"]


def test_ban_list_is_bounded() -> None:
    hub, _ = make_hub(flood_rate=0)
    alice, _, _ = channel_of_three(hub)
    for i in range(modes.MAXLIST):
        hub.receive(alice, f"MODE #c +b n{i}".encode())
    received(alice, hub)
    assert codes(say(hub, alice, "MODE #c +b one-more")) == ["478"]


# --- +i, +k, +l, +m, +n, +t, +s --------------------------------------------------------------


def test_invite_only_and_invite() -> None:
    hub, _ = make_hub()
    alice, bob, carol = channel_of_three(hub)
    say(hub, alice, "MODE #c +i")
    assert codes(say(hub, carol, "JOIN #c")) == ["473"]
    assert codes(say(hub, carol, "INVITE carol #c")) == ["442"]
    assert codes(say(hub, bob, "INVITE carol #c")) == ["MODE", "482"]  # bob saw +i, then is refused
    assert codes(say(hub, alice, "INVITE bob #c", "INVITE nobody #c")) == ["443", "401"]
    alice.caps |= {"invite-notify"}
    bob.caps |= {"invite-notify"}
    say(hub, alice, "MODE #c +o bob")
    received(bob, hub)
    inviting = say(hub, bob, "INVITE carol #c")
    assert [(m.command, m.params) for m in inviting] == [("341", ("bob", "carol", "#c"))]
    assert [(m.command, m.params) for m in received(alice, hub)] == [("INVITE", ("carol", "#c"))]
    assert [(m.command, m.params) for m in received(carol, hub)] == [("INVITE", ("carol", "#c"))]
    assert codes(say(hub, carol, "JOIN #c"))[0] == "JOIN"
    say(hub, carol, "PART #c")
    assert codes(say(hub, carol, "JOIN #c")) == ["473"]  # an invitation is good for one join


def test_key_and_limit_and_several_joins_at_once() -> None:
    hub, _ = make_hub()
    alice, bob, carol = channel_of_three(hub)
    say(hub, alice, "JOIN #d", "MODE #d +k secret", "MODE #c +l 2")
    replies = say(hub, carol, "JOIN #c,#d,bad,#e wrong,secret")
    assert [
        (m.command, m.params[1 if m.command != "JOIN" else 0]) for m in replies if m.command in ("JOIN", "471", "403")
    ] == [
        ("471", "#c"),
        ("JOIN", "#d"),
        ("403", "bad"),
        ("JOIN", "#e"),
    ]
    say(hub, carol, "PART #d")
    received(bob, hub), received(alice, hub)
    assert codes(say(hub, carol, "JOIN #d wrong")) == ["475"]
    assert codes(say(hub, bob, "MODE #d")) == ["324", "329"]
    assert say(hub, bob, "MODE #d")[0].params[2:] == ("+ntk", "*")  # outsiders do not see the key
    assert say(hub, alice, "MODE #d")[0].params[2:] == ("+ntk", "secret")
    say(hub, carol, "JOIN 0")
    assert set(carol.channels) == set()


def test_moderated_and_outside_messages() -> None:
    hub, _ = make_hub()
    alice, bob, carol = channel_of_three(hub)
    say(hub, alice, "MODE #c +m")
    assert codes(say(hub, bob, "PRIVMSG #c :hi")) == ["MODE", "404"]
    say(hub, alice, "MODE #c +v bob")
    assert codes(say(hub, bob, "PRIVMSG #c :hi")) == ["MODE"]
    assert codes(say(hub, carol, "PRIVMSG #c :from outside")) == ["404"]
    say(hub, alice, "MODE #c -nm")
    assert codes(say(hub, carol, "PRIVMSG #c :from outside")) == []
    assert received(bob, hub)[-1].params == ("#c", "from outside")


def test_topic_lock() -> None:
    hub, _ = make_hub()
    alice, bob, _ = channel_of_three(hub)
    assert codes(say(hub, bob, "TOPIC #c :mine")) == ["482"]
    say(hub, alice, "TOPIC #c :hers")
    channel = hub.find_channel("#c")
    assert channel is not None and channel.topic_by == "alice!u@127.0.0.1"
    say(hub, alice, "MODE #c -t")
    assert codes(say(hub, bob, "TOPIC #c :mine")) == ["TOPIC", "MODE", "TOPIC"]


def test_secret_channels_are_hidden_from_outsiders() -> None:
    hub, _ = make_hub()
    alice, _, carol = channel_of_three(hub)
    say(hub, alice, "MODE #c +s")
    assert codes(say(hub, carol, "NAMES #c")) == ["366"]
    assert [m.params[1] for m in say(hub, carol, "LIST") if m.command == "322"] == ["#lobby"]
    whois = say(hub, carol, "WHOIS alice")
    assert next(m for m in whois if m.command == "319").params[-1] == "#lobby"
    assert codes(say(hub, carol, "MODE #c", "TOPIC #c", "WHO #c")) == ["403", "403", "315"]
    assert say(hub, alice, "NAMES #c")[0].params[1] == "@"


def test_invisible_users_are_hidden_from_names_and_who_of_channels_not_shared() -> None:
    hub, _ = make_hub()
    alice, bob, carol = channel_of_three(hub)
    say(hub, bob, "PART #lobby")
    received(carol, hub), received(alice, hub)
    bob.invisible = True
    assert say(hub, carol, "NAMES #c")[0].params[-1] == "@alice"
    assert [m.params[5] for m in say(hub, carol, "WHO #c")[:-1]] == ["alice"]
    assert say(hub, alice, "NAMES #c")[0].params[-1] == "@alice bob"


# --- KICK ------------------------------------------------------------------------------------


def test_kick_rules_and_reason() -> None:
    hub, _ = make_hub()
    alice, bob, carol = channel_of_three(hub)
    assert codes(say(hub, bob, "KICK #c", "KICK #nope alice", "KICK #c alice")) == ["461", "403", "482"]
    assert codes(say(hub, carol, "KICK #c alice")) == ["442"]
    assert codes(say(hub, alice, "KICK #c carol")) == ["441"]
    say(hub, alice, "KICK #c bob :be nice")
    (kick,) = received(bob, hub)
    assert (kick.command, kick.params, kick.source) == ("KICK", ("#c", "bob", "be nice"), "alice!u@127.0.0.1")
    channel = hub.find_channel("#c")
    assert channel is not None and bob not in channel.members and "#c" not in bob.channels
    assert [e.data for e in hub.take_events() if e.type == "kick"] == [
        {"nick": "alice", "channel": "#c", "target": "bob", "reason": "be nice"}
    ]


def test_autojoin_honours_a_ban_as_join_does() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    alice.oper = "admin"  # #lobby has no channel operator: server operators moderate it
    say(hub, alice, "MODE #lobby +b troll!*@*")
    troll = hub.connect("127.0.0.1", Outbox(1 << 20))
    burst = say(hub, troll, "NICK troll", "USER u 0 * :Troll")
    refused = next(m for m in burst if m.command == "474")
    assert refused.params[1] == "#lobby" and "JOIN" not in codes(burst)
    assert troll.registered and not troll.channels
