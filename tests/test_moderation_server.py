"""Channel moderation over real sockets: an operator locks, bans and kicks; the troll cannot come back."""

from __future__ import annotations

from .conftest import OpenClient, StartServer


async def test_operator_bans_and_kicks_a_troll_who_cannot_rejoin(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(flood_rate=0)
    alice, troll, carol = [await open_client(server.port) for _ in range(3)]
    await alice.register("alice", caps="multi-prefix invite-notify")
    await troll.register("troll")
    await carol.register("carol", caps="userhost-in-names")
    await alice.send("JOIN #room", "MODE #room +b troll!*@*", "MODE #room +i", "PING :x")
    await alice.collect_until("PONG")
    await troll.send("JOIN #room")
    assert (await troll.expect("474")).params[1] == "#room"
    await alice.send("INVITE carol #room")
    assert (await alice.expect("341")).params[1:] == ("carol", "#room")
    assert (await carol.expect("INVITE")).params == ("carol", "#room")
    await carol.send("JOIN #room")
    names = await carol.expect("353")
    assert names.params[-1].split() == ["@alice!u@127.0.0.1", "carol!u@127.0.0.1"]
    await alice.send("MODE #room -b troll!*@*", "INVITE troll #room")
    await troll.expect("INVITE")
    await troll.send("JOIN #room", "PRIVMSG #room :spam")
    assert (await carol.expect("PRIVMSG")).params == ("#room", "spam")
    await alice.send("MODE #room +b *!*@127.0.0.1", "MODE #room +e carol", "KICK #room troll :no spam")
    kick = await troll.expect("KICK")
    assert kick.params == ("#room", "troll", "no spam") and kick.source and kick.source.startswith("alice!")
    await troll.send("JOIN #room", "NICK troll2")  # banned and no longer invited; a nick change is no way out
    assert (await troll.expect("474")).params[1] == "#room"
    await carol.send("MODE #room", "PRIVMSG #room :still here")
    assert (await carol.expect("324")).params[1:] == ("#room", "+int")
    await alice.expect("PRIVMSG", lambda m: m.params == ("#room", "still here"))
