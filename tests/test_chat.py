"""Integration tests over real sockets: registration, channels, messages, private messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .ircclient import IrcClient

Connect = Callable[[], Awaitable[IrcClient]]


async def test_registration_sends_welcome_burst_and_autojoins_lobby(connect: Connect) -> None:
    alice = await connect()
    seen = await alice.register("alice")
    commands = [m.command for m in seen]
    for numeric in ("001", "002", "003", "004", "005", "251", "252", "253", "254", "255", "265", "266", "422"):
        assert numeric in commands, numeric
    join = next(m for m in seen if m.command == "JOIN")
    assert join.params == ("#lobby",) and join.source and join.source.startswith("alice!")
    assert "331" in commands
    names = next(m for m in seen if m.command == "353")
    assert names.params[-1].split() == ["alice"]
    assert commands.index("JOIN") < commands.index("353") < commands.index("366")
    isupport = " ".join(next(m for m in seen if m.command == "005").params)
    for token in (
        "CASEMAPPING=rfc1459",
        "CHANTYPES=#",
        "NICKLEN=30",
        "CHANNELLEN=50",
        "NETWORK=MultiChat",
        "LINELEN=512",
    ):
        assert token in isupport


async def test_two_clients_chat_in_lobby(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    await alice.register("alice")
    await bob.register("bob")
    joined = await alice.expect("JOIN")
    assert joined.source is not None and joined.source.startswith("bob!")
    await bob.send("PRIVMSG #lobby :hello, alice")
    got = await alice.expect("PRIVMSG")
    assert got.params == ("#lobby", "hello, alice") and got.source is not None and got.source.startswith("bob!")
    assert [m for m in await bob.sync() if m.command == "PRIVMSG"] == []  # no echo without echo-message
