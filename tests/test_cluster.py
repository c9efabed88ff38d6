"""Cluster mode against a real redis-server: two or three nodes in this process, each its own nursery."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import coredis
import pytest
import trio
from argon2 import PasswordHasher

from multichat_trio.config import OperEntry, StartupError
from multichat_trio.ircd.server import ChatServer

from .conftest import OpenClient, test_config
from .ircclient import IrcClient
from .redisserver import RedisServer, shared_redis_url
from .test_web import events_until, get_json, http_get, next_event, open_viewer

pytestmark = pytest.mark.filterwarnings("ignore:Unclosed <MemoryObject:ResourceWarning")

StartNode = Callable[..., Awaitable[ChatServer]]


@pytest.fixture(scope="session")
def redis_session() -> Iterator[str]:
    url, own = shared_redis_url()
    yield url
    if own is not None:
        own.close()


@pytest.fixture
async def redis_url(redis_session: str) -> str:
    """The shared Redis, emptied for this test."""
    client = coredis.Redis.from_url(redis_session, decode_responses=True)
    async with client:
        await client.flushdb()
    return redis_session


class Node:
    """A node in a nursery of its own, so a test can stop it cleanly or kill it (cancel: no goodbye)."""

    def __init__(self, server: ChatServer, scope: trio.CancelScope) -> None:
        self.server, self.scope = server, scope

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
async def start_node(nursery: trio.Nursery) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    async def start(url: str, **overrides: Any) -> Node:
        server = ChatServer(test_config(cluster=url, **overrides))
        scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[None]) -> None:
            with scope:
                await server.serve(task_status=task_status)

        await nursery.start(run)
        return Node(server, scope)

    yield start


async def chatters(open_client: OpenClient, *nodes_and_nicks: tuple[Node, str], caps: str = "") -> list[IrcClient]:
    clients = []
    for node, nick in nodes_and_nicks:
        client = await open_client(node.port)
        await client.register(nick, caps=caps)
        clients.append(client)
    return clients


async def test_two_nodes_share_the_lobby(redis_url: str, start_node: Any, open_client: OpenClient) -> None:
    a, b = await start_node(redis_url), await start_node(redis_url)
    alice, bob = await chatters(open_client, (a, "alice"), (b, "bob"))
    joined = await alice.expect("JOIN")
    assert joined.source is not None and joined.source.startswith("bob!")
    await alice.send("PRIVMSG #lobby :hello from A")
    said = await bob.expect("PRIVMSG")
    assert said.params == ("#lobby", "hello from A") and said.source == "alice!u@127.0.0.1"
    await bob.send("PRIVMSG alice :a private word")
    assert (await alice.expect("PRIVMSG")).params == ("alice", "a private word")
    await bob.send("NAMES #lobby", "WHO alice")
    names = await bob.expect("353")
    assert set(names.params[-1].split()) == {"alice", "bob"}
    who = await bob.expect("352")
    assert who.params[5] == "alice"
    await alice.send("NICK alicia")
    assert (await bob.expect("NICK")).params == ("alicia",)
    await alice.send("QUIT :bye")
    quit_ = await bob.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("alicia!") and quit_.params == ("Quit: bye",)


async def test_a_channel_reads_the_same_on_every_node(redis_url: str, start_node: Any, open_client: OpenClient) -> None:
    a, b = await start_node(redis_url, flood_burst=0), await start_node(redis_url, flood_burst=0)
    alice, carol, bob, dave = await chatters(
        open_client, (a, "alice"), (a, "carol"), (b, "bob"), (b, "dave"), caps="echo-message"
    )
    for peer in (carol, bob, dave):
        await peer.sync()

    async def say(client: IrcClient) -> None:
        for n in range(20):
            await client.send(f"PRIVMSG #lobby :{client.nick} {n}")

    async def read(client: IrcClient, into: list[str]) -> None:
        while len(into) < 40:
            message = await client.expect("PRIVMSG")
            into.append(message.params[1])

    seen: dict[str, list[str]] = {name: [] for name in ("alice", "carol", "bob", "dave")}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(say, alice)
        nursery.start_soon(say, bob)
        for client in (alice, carol, bob, dave):
            nursery.start_soon(read, client, seen[client.nick])
    assert seen["alice"] == seen["carol"] == seen["bob"] == seen["dave"]
    assert sorted(seen["alice"]) == sorted([f"alice {n}" for n in range(20)] + [f"bob {n}" for n in range(20)])


async def test_two_clients_racing_for_a_nick_on_two_nodes(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url), await start_node(redis_url)
    first, second = await open_client(a.port), await open_client(b.port)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(first.send, "NICK racer", "USER u 0 * :one")
        nursery.start_soon(second.send, "NICK racer", "USER u 0 * :two")

    async def outcome(client: IrcClient) -> str:
        while True:
            message = await client.recv()
            if message.command in ("001", "433"):
                return message.command

    results = sorted([await outcome(first), await outcome(second)])
    assert results == ["001", "433"]
    observer = await open_client(a.port)
    await observer.register("observer")
    await observer.send("WHO racer")
    assert len([m for m in await observer.sync() if m.command == "352"]) == 1


async def test_modes_kicks_and_bans_hold_on_every_node(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url), await start_node(redis_url)
    alice, bob = await chatters(open_client, (a, "alice"), (b, "bob"))
    await alice.send("JOIN #den")
    await alice.expect("366")
    await bob.send("JOIN #den")
    await bob.expect("366")
    await alice.expect("JOIN", lambda m: m.params[0] == "#den")
    await alice.send("MODE #den +v bob", "TOPIC #den :the den")
    assert (await bob.expect("MODE")).params == ("#den", "+v", "bob")
    assert (await bob.expect("TOPIC")).params == ("#den", "the den")
    await alice.send("MODE #den +b bob!*@*", "KICK #den bob :out")
    kick = await bob.expect("KICK")
    assert kick.params == ("#den", "bob", "out")
    await bob.send("JOIN #den")
    assert (await bob.expect("474")).params[1] == "#den"
    await bob.send("PRIVMSG #den :let me in")
    assert (await bob.expect("404")).params[1] == "#den"  # +n: not a member


async def test_the_flood_limit_holds_wherever_a_user_connects(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url, flood_burst=5), await start_node(redis_url, flood_burst=5)
    alice, bob = await chatters(open_client, (a, "alice"), (b, "bob"))
    await bob.send(*[f"PRIVMSG #lobby :spam {n}" for n in range(30)])
    assert any(m.command == "ERROR" and "Excess Flood" in m.params[0] for m in await bob.wait_closed())
    quit_ = await alice.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("bob!") and quit_.params == ("Excess Flood",)


async def test_a_killed_node_has_its_users_removed_within_the_bound(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url, cluster_ttl=1.0), await start_node(redis_url, cluster_ttl=1.0)
    alice, _bob = await chatters(open_client, (a, "alice"), (b, "bob"))
    await alice.expect("JOIN")
    started = trio.current_time()
    b.scope.cancel()  # no goodbye: as a SIGKILL, its key expires
    alice.timeout = 10
    quit_ = await alice.expect("QUIT")
    assert quit_.source is not None and quit_.source.startswith("bob!") and quit_.params == ("*.net *.split",)
    assert trio.current_time() - started < 1.0 + 2.0 / 3 + 1.5  # the TTL, two heartbeats, the log's round trip
    await alice.send("WHO bob")
    assert not [m for m in await alice.sync() if m.command == "352"]


async def test_a_stopped_node_takes_its_users_at_once(redis_url: str, start_node: Any, open_client: OpenClient) -> None:
    a, b = await start_node(redis_url), await start_node(redis_url)
    alice, _bob = await chatters(open_client, (a, "alice"), (b, "bob"))
    await alice.expect("JOIN")
    b.server.stop()
    quit_ = await alice.expect("QUIT")
    assert quit_.params == ("Server shutting down",)


async def test_chathistory_gives_the_same_answer_on_either_node(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url, db=":memory:"), await start_node(redis_url, db=":memory:")
    caps = "draft/chathistory batch server-time message-tags echo-message"
    alice, bob = await chatters(open_client, (a, "alice"), (b, "bob"), caps=caps)
    for n in range(3):
        await alice.send(f"PRIVMSG #lobby :line {n}")
        await bob.expect("PRIVMSG")
        await alice.expect("PRIVMSG")  # the echo: stored on both nodes once each has shown it
    answers = []
    for client in (alice, bob):
        await client.send("CHATHISTORY LATEST #lobby * 10")
        lines = []
        while (message := await client.recv()).command != "BATCH" or not message.params[0].startswith("-"):
            lines += [message] if message.command == "PRIVMSG" and "batch" in message.tags else []
        answers.append([(m.params[1], m.tags.get("msgid"), m.tags.get("time")) for m in lines])
    assert [text for text, _, _ in answers[0]] == ["line 0", "line 1", "line 2"]
    assert answers[0] == answers[1]


async def test_redis_unreachable_at_startup_is_a_clear_error() -> None:
    port = RedisServer().port  # nothing listens there
    server = ChatServer(test_config(cluster=f"redis://127.0.0.1:{port}/0"))
    with pytest.RaisesGroup(pytest.RaisesExc(StartupError, match="cannot reach Redis"), flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)


async def test_serve_without_its_redis_exits_1_with_one_line(tmp_path: Path) -> None:
    port = RedisServer().port  # nothing listens there
    argv = [sys.executable, "-m", "multichat_trio", "serve", "--port", "0", "--no-web", "--db", ""]
    with trio.fail_after(20):
        done = await trio.run_process(
            [*argv, "--cluster", f"redis://127.0.0.1:{port}/0"], capture_stderr=True, check=False, cwd=tmp_path
        )
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert last.startswith(f"multichat-trio serve: error: cluster: cannot reach Redis at redis://127.0.0.1:{port}/0")


async def test_a_redis_restart_leaves_every_node_serving(start_node: Any, open_client: OpenClient) -> None:
    redis = RedisServer()
    redis.start()
    try:
        a, b = await start_node(redis.url), await start_node(redis.url)
        alice, carol, bob = await chatters(open_client, (a, "alice"), (a, "carol"), (b, "bob"))
        await alice.sync()
        redis.kill()
        alice.timeout = carol.timeout = bob.timeout = 15
        down = await alice.expect("NOTICE", lambda m: "link is down" in m.params[1])
        assert down.source == "irc.local" or down.source
        await alice.send("PRIVMSG #lobby :while Redis is away")
        assert (await carol.expect("PRIVMSG")).params[1] == "while Redis is away"  # same node: still served
        redis.start()  # empty: nothing persisted
        for client in (alice, bob):
            await client.expect("NOTICE", lambda m: "reachable again" in m.params[1])
        # Each node's users come back (as after a netsplit): bob sees alice in his NAMES, or her JOIN after.
        await bob.expect("JOIN", lambda m: m.source is not None and m.source.startswith("bob!"))
        names = await bob.expect("353")
        if "alice" not in names.params[-1].split():
            await bob.expect("JOIN", lambda m: m.source is not None and m.source.startswith("alice!"))
        await alice.send("PRIVMSG #lobby :Redis is back")
        assert (await bob.expect("PRIVMSG")).params[1] == "Redis is back"
        await bob.send("PRIVMSG alice :and PMs too")
        assert (await alice.expect("PRIVMSG", lambda m: m.params[0] == "alice")).params[1] == "and PMs too"
    finally:
        redis.close()


async def test_node_b_monitor_shows_node_a_message_and_the_cluster_figures(
    redis_url: str, start_monitor: Any, open_client: OpenClient
) -> None:
    a = await start_monitor(cluster=redis_url)
    carol = await open_client(a.server.port)
    await carol.register("carol")
    b = await start_monitor(cluster=redis_url)
    async with open_viewer(b.ws_port) as ws:
        snapshot = await next_event(ws)
        assert snapshot["users"] == [{"nick": "carol", "channels": ["#lobby"]}]  # online before B started
        alice = await open_client(a.server.port)
        await alice.register("alice")
        await alice.send("PRIVMSG #lobby :seen from the other node")
        said = await events_until(ws, lambda event: event["type"] == "message")
        assert said[-1]["nick"] == "alice" and said[-1]["text"] == "seen from the other node"
    stats = await get_json(b.http_port, "/api/stats")
    assert stats["clients"] == 2 and stats["cluster"]["state"] == "up"
    assert stats["cluster"]["nodes"][b.server.link.node] == {"users": 0}
    metrics = (await http_get(b.http_port, "/metrics"))[2].decode()
    assert "multichat_cluster_up 1.0" in metrics


async def test_an_account_name_is_taken_once_and_logs_in_on_any_node(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url), await start_node(redis_url)
    first, second = await open_client(a.port), await open_client(b.port)
    for client in (first, second):
        client.timeout = 10  # two argon2 hashes
        await client.send("CAP LS 302", "NICK shared", "CAP REQ :draft/account-registration")
        await client.expect("CAP", lambda m: m.params[1] == "ACK")
    async with trio.open_nursery() as nursery:
        for client in (first, second):
            nursery.start_soon(client.send, "REGISTER * * correct-horse-battery")

    async def outcome(client: IrcClient) -> str:
        while True:
            message = await client.recv()
            if message.command == "REGISTER" or (message.command == "FAIL" and message.params[0] == "REGISTER"):
                return message.params[0] if message.command == "REGISTER" else message.params[1]

    assert sorted([await outcome(first), await outcome(second)]) == ["ACCOUNT_EXISTS", "SUCCESS"]
    # Either node knows the account: a third client logs in to it on node B and node A's users see that.
    alice, carol = await chatters(open_client, (a, "alice"), (b, "carol"))
    carol.timeout = 10
    await carol.send("PRIVMSG NickServ :IDENTIFY shared correct-horse-battery")
    assert (await carol.expect("900")).params[2] == "shared"
    await carol.send("PRIVMSG #lobby :logged in")  # after the login in the log: once alice has it, she knows
    await alice.expect("PRIVMSG")
    await alice.send("WHOIS carol")
    assert (await alice.expect("330")).params[2] == "shared"


async def test_a_node_started_later_has_the_same_history(
    redis_url: str, start_node: Any, open_client: OpenClient, tmp_path: Path
) -> None:
    a = await start_node(redis_url, db=":memory:")
    caps = "draft/chathistory batch server-time message-tags echo-message"
    (alice,) = await chatters(open_client, (a, "alice"), caps=caps)
    said = []
    for n in range(3):
        await alice.send(f"PRIVMSG #lobby :before B {n}")
        said.append((await alice.expect("PRIVMSG")).tags["msgid"])
    link = a.server.link
    assert link is not None
    await link.write_snapshot()
    await link.write_snapshot()  # the log before the first one is trimmed: B cannot read those lines in it
    b = await start_node(redis_url, db=str(tmp_path / "b.sqlite3"))
    (bob,) = await chatters(open_client, (b, "bob"), caps=caps)

    async def history(client: IrcClient) -> list[tuple[str, str]]:
        await client.send("CHATHISTORY LATEST #lobby * 10")
        lines = []
        while (message := await client.recv()).command != "BATCH" or not message.params[0].startswith("-"):
            if message.command == "PRIVMSG" and "batch" in message.tags:
                lines.append((message.params[1], message.tags["msgid"]))
        return lines

    expected = [(f"before B {n}", msgid) for n, msgid in enumerate(said)]
    assert await history(bob) == expected
    await bob.send("PRIVMSG #lobby :from B")
    await alice.expect("PRIVMSG")
    b.server.stop()  # B again, on its own file: nothing twice
    await bob.wait_closed()
    b = await start_node(redis_url, db=str(tmp_path / "b.sqlite3"))
    (bob,) = await chatters(open_client, (b, "bob2"), caps=caps)
    assert [text for text, _ in await history(bob)] == [*(text for text, _ in expected), "from B"]
    await bob.send("PRIVMSG #lobby :after the restart")
    assert (await bob.expect("PRIVMSG")).params[1] == "after the restart"  # its echo waits for B's commit: it came
    assert (await alice.expect("PRIVMSG")).params[1] == "after the restart"


async def test_histserv_forget_holds_on_every_node_and_for_later_ones(
    redis_url: str, start_node: Any, open_client: OpenClient, tmp_path: Path
) -> None:
    a = await start_node(redis_url, db=":memory:", opers=(ADMIN,))
    b = await start_node(redis_url, db=":memory:", opers=(ADMIN,))
    caps = "draft/chathistory batch server-time message-tags echo-message"
    (troll,) = await chatters(open_client, (a, "troll"))
    (admin,) = await chatters(open_client, (b, "admin"), caps=caps)
    await troll.send("PRIVMSG #lobby :spam")
    await admin.expect("PRIVMSG")
    await admin.send("PRIVMSG #lobby :kept")
    await admin.expect("PRIVMSG")
    admin.timeout = 10
    await admin.send("OPER admin hunter2")
    await admin.expect("381")
    await admin.send("HISTSERV FORGET troll", "PRIVMSG #lobby :forgotten")
    await troll.expect("PRIVMSG", lambda m: m.params[1] == "forgotten")  # A has the FORGET too: it came first
    link = b.server.link
    assert link is not None
    await link.write_snapshot()
    await link.write_snapshot()  # the log is trimmed: a node started now has the history streams only
    c = await start_node(redis_url, db=":memory:")
    for node, nick in ((a, "watcher"), (c, "newcomer")):  # A was told; C brought in what was not forgotten
        (watcher,) = await chatters(open_client, (node, nick), caps=caps)
        await watcher.send("CHATHISTORY LATEST #lobby * 10")
        texts = []
        while (message := await watcher.recv()).command != "BATCH" or not message.params[0].startswith("-"):
            if message.command == "PRIVMSG" and "batch" in message.tags:
                texts.append(message.params[1])
        assert texts == ["kept", "forgotten"], nick


ADMIN = OperEntry("admin", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("hunter2"))


async def test_garbage_in_the_log_is_skipped_and_the_chat_goes_on(
    redis_url: str, start_node: Any, open_client: OpenClient
) -> None:
    a, b = await start_node(redis_url), await start_node(redis_url)
    alice, bob = await chatters(open_client, (a, "alice"), (b, "bob"))
    await alice.expect("JOIN")
    raw = coredis.Redis.from_url(redis_url)  # anyone who can reach Redis can write to the log
    async with raw:
        bad_line = {"k": "line", "u": "x1", "n": "n1", "s": 1, "c": "PRIVMSG", "p": ["#lobby", "a\r\nQUIT :x"]}
        for value in (b"\xff\xfe not UTF-8", b"[{", b"x" * 70_000, json.dumps([bad_line, {"k": "nope"}]).encode()):
            await raw.xadd("multichat:log", {"ops": value})
    await alice.send("PRIVMSG #lobby :still here")
    assert (await bob.expect("PRIVMSG")).params == ("#lobby", "still here")
    await bob.send("QUIT :bye")
    assert (await alice.expect("QUIT")).params == ("Quit: bye",)
