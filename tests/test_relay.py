"""The relay over real sockets: a ChatServer and a Relay in the test's nursery, both on port 0.

Rules as in the rest of the suite: localhost only, port 0, trio's clock (autojump) for anything
timed, every wait bounded (`IrcClient.recv` fails after 10 s, other waits use `fail_after`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from multichat_trio.config import RelayConfig
from multichat_trio.ircd.server import ChatServer
from multichat_trio.relay.proxy import Link, Relay, RelayLimits

from .conftest import RELAY_SECRET, OpenClient, StartServer
from .ircclient import IrcClient

StartRelay = Callable[..., Awaitable[Relay]]
RELAY_COMMAND = [sys.executable, "-m", "multichat_trio", "relay"]
LIMITS = RelayLimits(connect_timeout=5, send_timeout=5, shutdown_grace=1)


@pytest.fixture
async def start_relay(nursery: trio.Nursery) -> StartRelay:
    async def start(server_port: int, limits: RelayLimits = LIMITS, **overrides: Any) -> Relay:
        values = {"port": 0, "server_port": server_port, "stats_interval": 0, "relay_secret": RELAY_SECRET}
        config = RelayConfig(**(values | overrides))
        return await nursery.start(Relay(config, limits).serve)

    return start


@pytest.fixture
async def relay(server: ChatServer, start_relay: StartRelay) -> Relay:
    return await start_relay(server.port)


async def _lines_until_closed(client: IrcClient) -> list[str]:
    return [f"{m.command} {' '.join(m.params)}" for m in await client.wait_closed()]


async def test_user_through_relay_appears_starred_to_everyone(
    server: ChatServer, relay: Relay, open_client: OpenClient
) -> None:
    bob = await open_client(server.port)
    await bob.register("bob")
    user = await open_client(relay.port)
    seen = await user.register("relay_user")
    welcome = next(m for m in seen if m.command == "001")
    assert welcome.params[0] == "*relay_user" and welcome.params[-1].endswith("*relay_user!u@127.0.0.1")
    names = next(m for m in seen if m.command == "353")
    assert set(names.params[-1].split()) == {"bob", "*relay_user"}
    joined = await bob.expect("JOIN")
    assert joined.source == "*relay_user!u@127.0.0.1"
    await user.send("PRIVMSG #lobby :hello from the relay")
    said = await bob.expect("PRIVMSG")
    assert (said.source, said.params) == ("*relay_user!u@127.0.0.1", ("#lobby", "hello from the relay"))
    assert relay.connections_total == 1 and relay.lines_up >= 3 and relay.lines_down >= 10


async def test_private_messages_cross_the_relay_both_ways(
    server: ChatServer, relay: Relay, open_client: OpenClient
) -> None:
    bob = await open_client(server.port)
    await bob.register("bob")
    user = await open_client(relay.port)
    await user.register("relay_user")
    await bob.send("PRIVMSG *relay_user :hi, starred one")
    got = await user.expect("PRIVMSG")
    assert got.source is not None and got.source.startswith("bob!")
    assert got.params == ("*relay_user", "hi, starred one")
    await user.send("PRIVMSG bob :hi, bob")
    back = await bob.expect("PRIVMSG")
    assert back.source is not None and back.source.startswith("*relay_user!")
    assert back.params == ("bob", "hi, bob")


async def test_nick_change_through_the_relay_keeps_the_mark(
    server: ChatServer, relay: Relay, open_client: OpenClient
) -> None:
    bob = await open_client(server.port)
    await bob.register("bob")
    user = await open_client(relay.port)
    await user.register("relay_user")
    await user.send("NICK renamed")
    mine = await user.expect("NICK")
    assert mine.params == ("*renamed",)
    theirs = await bob.expect("NICK")
    assert theirs.source is not None and theirs.source.startswith("*relay_user!")
    assert theirs.params == ("*renamed",)


async def test_an_already_starred_nick_is_refused_through_the_relay(relay: Relay, open_client: OpenClient) -> None:
    user = await open_client(relay.port)
    await user.send("NICK *x", "USER u 0 * :x")
    refused = await user.expect("432")
    assert refused.params[1] == "**x"
    await user.send("NICK x")
    assert (await user.expect("001")).params[0] == "*x"


async def test_a_direct_client_cannot_pose_as_a_relayed_user(server: ChatServer, open_client: OpenClient) -> None:
    direct = await open_client(server.port)
    await direct.send("NICK *x", "USER u 0 * :x")
    assert (await direct.expect("432")).params[1] == "*x"
    await direct.send("NICK plain", f"WEBIRC {RELAY_SECRET} gw 10.0.0.1 10.0.0.1")  # after a NICK: too late
    lines = await _lines_until_closed(direct)
    assert lines[-1] == "ERROR Closing link: WEBIRC must come first"


async def test_relay_with_the_shared_secret_is_trusted(
    start_server: StartServer, start_relay: StartRelay, open_client: OpenClient
) -> None:
    server = await start_server(relay_secret="s3cret")
    relay = await start_relay(server.port, relay_secret="s3cret")
    user = await open_client(relay.port)
    seen = await user.register("relay_user")
    assert next(m for m in seen if m.command == "001").params[0] == "*relay_user"


@pytest.mark.parametrize("relay_secret", ["wrong", "s3cre"])
async def test_relay_without_the_right_secret_is_refused(
    start_server: StartServer, start_relay: StartRelay, open_client: OpenClient, relay_secret: str
) -> None:
    server = await start_server(relay_secret="s3cret")
    relay = await start_relay(server.port, relay_secret=relay_secret)
    user = await open_client(relay.port)
    await user.send("NICK relay_user", "USER u 0 * :x")
    lines = await _lines_until_closed(user)
    assert lines == ["ERROR Closing link: WEBIRC refused (bad secret)"]
    assert not server.hub.clients


async def test_a_user_cannot_smuggle_webirc_through_the_relay(
    server: ChatServer, relay: Relay, open_client: OpenClient
) -> None:
    user = await open_client(relay.port)
    await user.send("WEBIRC * gw 10.6.6.6 10.6.6.6", "NICK spoof", "USER u 0 * :x")
    lines = await _lines_until_closed(user)
    assert lines == ["ERROR Closing link: WEBIRC is not allowed through the relay"]


async def test_upstream_down_gives_a_clear_error_and_a_close(start_relay: StartRelay, open_client: OpenClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    relay = await start_relay(dead_port)
    user = await open_client(relay.port)
    await user.send("NICK relay_user", "USER u 0 * :x")
    lines = await _lines_until_closed(user)
    assert lines == [f"ERROR Closing link: upstream unavailable (127.0.0.1:{dead_port}: Connection refused)"]


async def test_an_unanswering_upstream_times_out(autojump_clock: trio.testing.MockClock) -> None:
    relay = Relay(RelayConfig(stats_interval=0, relay_secret=RELAY_SECRET), LIMITS)
    user_end, relay_end = trio.testing.memory_stream_pair()

    async def never_connects() -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError

    with trio.fail_after(LIMITS.connect_timeout + 1):
        await Link(relay, relay_end, "127.0.0.1", never_connects).run()
        said = await user_end.receive_some()
        assert said == b"ERROR :Closing link: upstream unavailable (127.0.0.1:12345: no answer in 5 s)\r\n"
        assert await user_end.receive_some() == b""


async def test_server_shutdown_reaches_relay_users(server: ChatServer, relay: Relay, open_client: OpenClient) -> None:
    user = await open_client(relay.port)
    await user.register("relay_user")
    server.stop()
    lines = await _lines_until_closed(user)
    assert lines[-1] == "ERROR Server shutting down"


async def test_relay_shutdown_says_goodbye_to_users_and_the_server(
    server: ChatServer, relay: Relay, open_client: OpenClient
) -> None:
    bob = await open_client(server.port)
    await bob.register("bob")
    user = await open_client(relay.port)
    await user.register("relay_user")
    relay.stop()
    lines = await _lines_until_closed(user)
    assert lines[-1] == "ERROR Closing link: relay shutting down"
    quit_ = await bob.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("*relay_user!")
    assert quit_.params == ("Quit: Relay shutting down",)
    with trio.fail_after(5):
        await relay.stopped.wait()
    with pytest.raises(OSError):
        await IrcClient.connect(relay.port)


async def test_a_full_relay_refuses_newcomers_clearly(
    server: ChatServer, start_relay: StartRelay, open_client: OpenClient
) -> None:
    relay = await start_relay(server.port, RelayLimits(max_connections=1))
    first = await open_client(relay.port)
    await first.register("first")
    second = await open_client(relay.port)
    assert await _lines_until_closed(second) == ["ERROR Closing link: relay is full"]
    await first.sync()


async def test_user_leaving_the_relay_leaves_the_server_promptly(
    server: ChatServer, relay: Relay, open_client: OpenClient
) -> None:
    bob = await open_client(server.port)
    await bob.register("bob")
    user = await open_client(relay.port)
    await user.register("relay_user")
    await user.aclose()
    quit_ = await bob.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("*relay_user!")
    assert quit_.params == ("Connection closed",)


async def test_a_flood_through_the_relay_kicks_only_the_flooder(
    start_server: StartServer, start_relay: StartRelay, open_client: OpenClient
) -> None:
    server = await start_server(flood_burst=5, flood_rate=1)
    relay = await start_relay(server.port)
    bob = await open_client(server.port)
    await bob.register("bob")
    calm = await open_client(relay.port)
    await calm.register("calm")
    flooder = await open_client(relay.port)
    await flooder.register("flooder")
    await flooder.send(*[f"PRIVMSG #lobby :spam {i}" for i in range(30)])
    lines = await _lines_until_closed(flooder)
    assert lines[-1] == "ERROR Excess Flood"
    quit_ = await bob.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("*flooder!")
    await calm.send("PRIVMSG #lobby :still here")
    said = await bob.expect("PRIVMSG", lambda m: m.params[-1] == "still here")
    assert said.source is not None and said.source.startswith("*calm!")


async def test_overlong_lines_and_invalid_utf8_get_their_answers_and_the_link_lives(
    relay: Relay, open_client: OpenClient
) -> None:
    user = await open_client(relay.port)
    await user.register("relay_user")
    await user.send(b"PRIVMSG #lobby :" + b"x" * 1000, b"PRIVMSG #lobby :\xff\xfe")
    too_long = await user.expect("417")
    assert too_long.params[0] == "*relay_user"
    assert (await user.expect("FAIL")).params[:2] == ("*", "INVALID_UTF8")
    await user.sync()


async def test_an_idle_link_is_closed(
    server: ChatServer, start_relay: StartRelay, open_client: OpenClient, autojump_clock: trio.testing.MockClock
) -> None:
    relay = await start_relay(server.port, RelayLimits(idle_timeout=5))
    bob = await open_client(server.port)
    await bob.register("bob")
    user = await open_client(relay.port)
    await user.register("relay_user")
    lines = await _lines_until_closed(user)
    assert lines[-1] == "ERROR Closing link: idle timeout"
    assert (await bob.expect("QUIT")).params == ("Quit: Relay idle timeout",)


async def test_a_user_who_stops_reading_holds_no_growing_buffer(autojump_clock: trio.testing.MockClock) -> None:
    relay = Relay(RelayConfig(stats_interval=0, relay_secret=RELAY_SECRET), LIMITS)
    _user_end, relay_end = trio.testing.lockstep_stream_pair()  # a send waits until the user reads (never)
    server_end, upstream = trio.testing.memory_stream_pair()

    async def connect() -> trio.abc.Stream:
        return upstream

    with trio.fail_after(LIMITS.send_timeout + 5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(Link(relay, relay_end, "127.0.0.1", connect).run)
            assert (await server_end.receive_some()).startswith(b"WEBIRC ")
            await server_end.send_all(b":srv PING :are you there\r\n")
        # The link gave up on the user after the send timeout and closed the server side too.
        assert await server_end.receive_some() == b""
    assert relay.lines_down == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_relay_command_prints_its_port_and_stops_cleanly_on_sigint(server: ChatServer) -> None:
    process = await trio.lowlevel.open_process(
        [*RELAY_COMMAND, "--port", "0", "--server-port", str(server.port), "--relay-secret", RELAY_SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        banner = b""
        with trio.fail_after(20):
            while b"\n" not in banner:
                chunk = await process.stdout.receive_some(4096)
                assert chunk, "relay exited before printing its banner"
                banner += chunk
        port = int(banner.split(b"\n", 1)[0].split(b" running on ", 1)[1].split(b",", 1)[0].rsplit(b":", 1)[1])
        user = await IrcClient.connect(port)
        await user.register("relay_user")
        process.send_signal(signal.SIGINT)
        lines = await _lines_until_closed(user)
        assert lines[-1] == "ERROR Closing link: relay shutting down"
        await user.aclose()
        with trio.fail_after(10):
            status = await process.wait()
        errors = b""
        while chunk := await process.stderr.receive_some(65536):
            errors += chunk
        assert status == 0, errors.decode()
        assert b"Traceback" not in errors
        assert b"final relay stats: 0 users relayed now, 1 connections" in errors
    finally:
        process.kill()
        await process.wait()


async def test_a_server_that_dies_without_error_still_leaves_relay_users_a_goodbye(
    nursery: trio.Nursery, start_relay: StartRelay, open_client: OpenClient
) -> None:
    async def dies_after_welcome(stream: trio.SocketStream) -> None:
        await stream.receive_some()  # the relay's WEBIRC (and maybe the user's first lines)
        await stream.send_all(b":fake 001 *relay_user :Welcome\r\n")
        await trio.aclose_forcefully(stream)  # a crash: no ERROR line, just a close

    listeners = await nursery.start(partial(trio.serve_tcp, dies_after_welcome, 0, host="127.0.0.1"))
    relay = await start_relay(listeners[0].socket.getsockname()[1])
    user = await open_client(relay.port)
    await user.send("NICK relay_user", "USER u 0 * :Real")
    lines = await _lines_until_closed(user)
    assert lines == ["001 *relay_user Welcome", "ERROR Closing link: upstream closed the connection"]
