"""IRCv3 draft/chathistory and msgid over real sockets, served from the history store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from multichat_trio.chat.chathistory import MAX_LIMIT, Invalid, parse_limit, parse_ref
from multichat_trio.history.store import HistoryStore, NewEvent
from multichat_trio.protocol import Message

from .conftest import OpenClient, StartServer, StartServices
from .ircclient import IrcClient
from .test_accounts_server import PASSWORD, cheap_hashes  # noqa: F401 (autouse: cheap argon2)
from .test_opers_server import ADMIN

CAPS = "server-time batch message-tags draft/chathistory"
EVERYTHING = "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10"


async def _say(client: IrcClient, *texts: str, target: str = "#lobby") -> list[Message]:
    await client.send(*[f"PRIVMSG {target} :{text}" for text in texts])
    return await client.sync()


async def _history(client: IrcClient, request: str) -> list[Message]:
    """The lines of the batch (or the FAIL) that answer `request`."""
    await client.send(request)
    seen = await client.sync()
    if any(m.command == "FAIL" for m in seen):
        return [m for m in seen if m.command == "FAIL"]
    start = next(i for i, m in enumerate(seen) if m.command == "BATCH")
    assert seen[start].params[1] in ("chathistory", "draft/chathistory-targets")
    assert seen[-1].command == "BATCH" and seen[-1].params == ("-" + seen[start].params[0][1:],)
    return seen[start + 1 : -1]


def _texts(lines: list[Message]) -> list[str]:
    return [m.params[1] for m in lines]


@contextmanager
def _stored(path: str) -> Iterator[HistoryStore]:
    """The history file at `path`, open to write rows as an earlier run (or a hand edit) left them."""
    store = HistoryStore(path)
    store.open()
    try:
        yield store
    finally:
        store.close()


async def _room(
    start_server: StartServer, open_client: OpenClient, **settings: object
) -> tuple[int, IrcClient, IrcClient]:
    """alice said one..six in #lobby; bob (the reader) speaks chathistory."""
    server = await start_server(db=":memory:", flood_rate=0, **settings)
    alice = await open_client(server.port)
    await alice.register("alice")
    await _say(alice, "one", "two", "three", "four", "five", "six")
    bob = await open_client(server.port)
    await bob.register("bob", caps=CAPS)
    return server.port, alice, bob


async def test_live_lines_carry_a_msgid_that_history_returns(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(db=":memory:", flood_rate=0)
    alice, bob, carol = [await open_client(server.port) for _ in range(3)]
    await alice.register("alice", caps="message-tags echo-message")
    await bob.register("bob", caps=CAPS)
    await carol.register("carol")
    (echo,) = [m for m in await _say(alice, "tagged") if m.command == "PRIVMSG"]
    live = await bob.expect("PRIVMSG")
    plain = await carol.expect("PRIVMSG")
    assert echo.tags["msgid"] == live.tags["msgid"] and len(live.tags["msgid"]) >= 16
    assert "msgid" not in plain.tags  # only for clients that negotiated message-tags
    (stored,) = await _history(bob, "CHATHISTORY LATEST #lobby * 10")
    assert stored.tags["msgid"] == live.tags["msgid"] and stored.tags["time"] == live.tags["time"]
    assert stored.source == "alice" and stored.params == ("#lobby", "tagged")


async def test_latest_before_after_around_between(start_server: StartServer, open_client: OpenClient) -> None:
    _, _alice, bob = await _room(start_server, open_client)
    everything = await _history(bob, "CHATHISTORY LATEST #lobby * 100")
    assert _texts(everything) == ["one", "two", "three", "four", "five", "six"]
    ids = [m.tags["msgid"] for m in everything]
    assert len(set(ids)) == 6
    assert _texts(await _history(bob, "CHATHISTORY LATEST #lobby * 2")) == ["five", "six"]
    assert _texts(await _history(bob, f"CHATHISTORY LATEST #lobby msgid={ids[2]} 10")) == ["four", "five", "six"]
    assert _texts(await _history(bob, f"CHATHISTORY LATEST #lobby msgid={ids[5]} 10")) == []  # nothing missed
    assert _texts(await _history(bob, f"CHATHISTORY BEFORE #lobby msgid={ids[3]} 2")) == ["two", "three"]
    assert _texts(await _history(bob, f"CHATHISTORY AFTER #lobby msgid={ids[3]} 5")) == ["five", "six"]
    assert _texts(await _history(bob, f"CHATHISTORY AROUND #lobby msgid={ids[3]} 3")) == ["three", "four", "five"]
    between = f"CHATHISTORY BETWEEN #lobby msgid={ids[0]} msgid={ids[5]}"
    assert _texts(await _history(bob, f"{between} 2")) == ["two", "three"]  # the oldest, from the first
    backwards = f"CHATHISTORY BETWEEN #lobby msgid={ids[5]} msgid={ids[0]}"
    assert _texts(await _history(bob, f"{backwards} 2")) == ["four", "five"]  # the newest, from the first
    early, late = "timestamp=2000-01-01T00:00:00.000Z", "timestamp=2100-01-01T00:00:00.000Z"
    assert _texts(await _history(bob, f"CHATHISTORY AFTER #lobby {early} 1")) == ["one"]
    assert _texts(await _history(bob, f"CHATHISTORY BEFORE #lobby {late} 1")) == ["six"]
    assert _texts(await _history(bob, f"CHATHISTORY BETWEEN #lobby {late} {early} 1")) == ["six"]
    assert _texts(await _history(bob, "CHATHISTORY BEFORE #lobby msgid=unknown 5")) == []


async def test_the_limit_is_advertised_and_bounds_the_answer(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(db=":memory:", flood_rate=0)
    alice = await open_client(server.port)
    seen = await alice.register("alice", caps=CAPS)
    (ls,) = [m for m in seen if m.command == "CAP" and m.params[1] == "LS"]
    assert "draft/chathistory" in ls.params[-1].split()
    tokens = [word for m in seen if m.command == "005" for word in m.params[1:-1]]
    assert f"CHATHISTORY={MAX_LIMIT}" in tokens and "MSGREFTYPES=msgid,timestamp" in tokens
    await _say(alice, *[f"m{i}" for i in range(MAX_LIMIT + 5)])
    got = await _history(alice, f"CHATHISTORY LATEST #lobby * {MAX_LIMIT * 10}")
    assert _texts(got) == [f"m{i}" for i in range(5, MAX_LIMIT + 5)]


async def test_no_chathistory_advertised_without_a_store(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server()
    alice = await open_client(server.port)
    seen = await alice.register("alice", caps="batch")
    (ls,) = [m for m in seen if m.command == "CAP" and m.params[1] == "LS"]
    assert "draft/chathistory" not in ls.params[-1].split() and "message-tags" in ls.params[-1].split()
    assert not [m for m in seen if m.command == "005" and any(p.startswith("CHATHISTORY") for p in m.params)]
    await alice.send("CHATHISTORY LATEST #lobby * 10")
    (fail,) = [m for m in await alice.sync() if m.command == "FAIL"]
    assert fail.params[:3] == ("CHATHISTORY", "MESSAGE_ERROR", "LATEST")


async def test_bad_requests_get_a_fail_and_outsiders_nothing(
    start_server: StartServer, open_client: OpenClient
) -> None:
    _, alice, bob = await _room(start_server, open_client)
    await alice.send("JOIN #secret")
    await _say(alice, "hidden", target="#secret")
    for request, code in [
        ("CHATHISTORY LATEST #secret * 10", "INVALID_TARGET"),  # bob is not a member
        ("CHATHISTORY LATEST #nowhere * 10", "INVALID_TARGET"),
        ("CHATHISTORY LATEST alice * 10", "INVALID_TARGET"),  # PMs are not stored
        ("CHATHISTORY LATEST #lobby * 0", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #lobby * many", "INVALID_PARAMS"),
        ("CHATHISTORY BEFORE #lobby * 10", "INVALID_PARAMS"),  # `*` is for LATEST only
        ("CHATHISTORY AFTER #lobby timestamp=yesterday 10", "INVALID_PARAMS"),
        ("CHATHISTORY SIDEWAYS #lobby * 10", "INVALID_PARAMS"),
        ("CHATHISTORY BETWEEN #lobby msgid=a 10", "NEED_MORE_PARAMS"),
        ("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z 10", "NEED_MORE_PARAMS"),
    ]:
        (fail,) = await _history(bob, request)
        assert fail.command == "FAIL" and fail.params[:2] == ("CHATHISTORY", code), request


async def _account(client: IrcClient, nick: str, caps: str = CAPS) -> None:
    """Register as `nick` and create the account `nick` (which logs in to it)."""
    await client.register(nick, caps=caps)
    await client.send(f"REGISTER * * {PASSWORD}")
    await client.expect("900")
    await client.sync()


async def test_private_history_only_to_the_two_parties_and_only_when_stored(
    start_server: StartServer, open_client: OpenClient
) -> None:
    port = (await start_server(db=":memory:", flood_rate=0, store_pms=True)).port
    alice, bob, carol = [await open_client(port) for _ in range(3)]
    await _account(alice, "alice")
    await _account(bob, "bob2")
    await bob.send("NICK bobby")  # an account's conversations follow it across nicks
    await bob.sync()
    await _account(carol, "carol")
    await _say(alice, "psst bob", target="bobby")
    await _say(bob, "hi alice", target="alice")
    await _say(carol, "carol to alice", target="alice")
    lines = await _history(bob, "CHATHISTORY LATEST Alice * 10")
    assert [(m.source, m.params) for m in lines] == [
        ("alice", ("bobby", "psst bob")),
        ("bobby", ("alice", "hi alice")),
    ]
    assert _texts(await _history(alice, "CHATHISTORY LATEST bob2 * 10")) == ["psst bob", "hi alice"]  # its account
    assert _texts(await _history(alice, "CHATHISTORY LATEST bobby * 10")) == ["psst bob", "hi alice"]  # its nick now
    assert _texts(await _history(carol, "CHATHISTORY LATEST bob2 * 10")) == []  # not carol's conversation
    assert _texts(await _history(carol, "CHATHISTORY LATEST alice * 10")) == ["carol to alice"]
    found = await _history(bob, "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10")
    assert [m.params[1] for m in found] == ["alice"]
    assert all(m.command == "CHATHISTORY" and m.params[0] == "TARGETS" and m.params[2].endswith("Z") for m in found)
    found = await _history(alice, EVERYTHING)
    assert sorted(m.params[1] for m in found) == ["bob2", "carol"]  # a correspondent by its account


async def test_whoever_takes_a_nick_later_reads_none_of_its_private_history(
    start_server: StartServer, open_client: OpenClient
) -> None:
    port = (await start_server(db=":memory:", flood_rate=0, store_pms=True)).port
    alice, bob = await open_client(port), await open_client(port)
    await _account(alice, "alice")
    await bob.register("bob", caps=CAPS)
    await _say(alice, "psst bob", target="bob")  # bob is not logged in: he cannot read it back either
    await _say(bob, "hi alice", target="alice")
    assert _texts(await _history(bob, "CHATHISTORY LATEST alice * 10")) == []
    assert _texts(await _history(alice, "CHATHISTORY LATEST bob * 10")) == ["psst bob", "hi alice"]
    await bob.send("QUIT")
    await bob.wait_closed()
    taker = await open_client(port)
    await taker.register("bob", caps=CAPS)
    assert _texts(await _history(taker, "CHATHISTORY LATEST alice * 50")) == []
    assert await _history(taker, EVERYTHING) == []
    await taker.send("NICK mallory", f"REGISTER * * {PASSWORD}")  # an account of its own does not open bob's
    await taker.expect("900")
    await taker.send("NICK bob")
    assert _texts(await _history(taker, "CHATHISTORY LATEST alice * 50")) == []
    assert [m.params[1] for m in await _history(alice, EVERYTHING)] == ["bob"]


async def test_private_history_needs_the_account_after_a_restart_and_old_rows_stay_hidden(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    db = str(tmp_path / "history.sqlite3")
    old = {"from": "alice", "to": "bob", "text": "stored by an older version", "msgid": "old1"}
    with _stored(db) as store:
        store.append([NewEvent(1_800_000_000.0, "pm", None, old)])
    start = partial(start_services, db=db, flood_rate=0, store_pms=True)
    first, stop_first = await start()
    alice, bob = await open_client(first.server.port), await open_client(first.server.port)
    await _account(alice, "alice")
    await _account(bob, "bob")
    await _say(alice, "before the restart", target="bob")
    stop_first.set()
    await first.server.stopped.wait()

    second, stop_second = await start()
    bob = await open_client(second.server.port)
    await bob.register("bob", caps=CAPS)
    assert _texts(await _history(bob, "CHATHISTORY LATEST alice * 10")) == []  # not logged in yet
    await bob.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    await bob.expect("900")
    assert _texts(await _history(bob, "CHATHISTORY LATEST alice * 10")) == ["before the restart"]
    stop_second.set()
    await second.server.stopped.wait()


async def test_forgotten_messages_never_come_back(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(db=":memory:", flood_rate=0, opers=(ADMIN,))
    troll, admin = await open_client(server.port), await open_client(server.port)
    await troll.register("troll")
    await admin.register("admin", caps=CAPS)
    await _say(troll, "spam")
    await _say(admin, "kept")
    await admin.send("OPER admin hunter2", "HISTSERV FORGET troll")
    await admin.sync()
    assert _texts(await _history(admin, "CHATHISTORY LATEST #lobby * 10")) == ["kept"]


async def test_client_only_tags_are_accepted_and_not_relayed(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(db=":memory:", flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice", caps="message-tags")
    await bob.register("bob", caps="message-tags")
    await alice.sync()
    await alice.send("@+typing=active TAGMSG #lobby", "@+typing=active TAGMSG bob")
    assert await alice.sync() == [] and await bob.sync() == []  # no 421, nothing relayed


async def test_the_join_replay_keeps_the_msgid(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(db=":memory:", flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice", caps="message-tags echo-message")
    (echo,) = [m for m in await _say(alice, "replayed") if m.command == "PRIVMSG"]
    (line,) = [m for m in await bob.register("bob", caps="server-time batch message-tags") if m.command == "PRIVMSG"]
    assert line.params == ("#lobby", "replayed") and line.tags["msgid"] == echo.tags["msgid"]


async def test_a_chathistory_client_gets_no_join_replay(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(db=":memory:", flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await _say(alice, "earlier")
    seen = await bob.register("bob", caps=CAPS)
    assert not [m for m in seen if m.command in ("BATCH", "PRIVMSG", "NOTICE") and "earlier" in str(m.params)]


async def test_msgids_are_the_same_after_a_restart(
    tmp_path: Path, open_client: OpenClient, start_services: StartServices
) -> None:
    db = str(tmp_path / "history.sqlite3")

    start = partial(start_services, db=db, flood_rate=0, http_port=0)

    first, stop_first = await start()
    alice = await open_client(first.server.port)
    await alice.register("alice", caps=CAPS)
    await _say(alice, "before", "the restart")
    before = await _history(alice, "CHATHISTORY LATEST #lobby * 10")
    stop_first.set()
    await first.server.stopped.wait()

    second, stop_second = await start()
    bob = await open_client(second.server.port)
    await bob.register("bob", caps=CAPS)
    after = await _history(bob, "CHATHISTORY LATEST #lobby * 10")
    assert [(m.tags["msgid"], m.tags["time"], m.params) for m in after] == [
        (m.tags["msgid"], m.tags["time"], m.params) for m in before
    ]
    assert _texts(await _history(bob, f"CHATHISTORY AFTER #lobby msgid={before[0].tags['msgid']} 10")) == [
        "the restart"
    ]
    stop_second.set()
    await second.server.stopped.wait()


def test_references_and_limits_are_checked() -> None:
    assert parse_ref("timestamp=2026-01-01T00:00:00.250Z").ms == 1767225600250
    assert parse_ref("msgid=abc").msgid == "abc" and parse_ref("*", star=True).msgid is None
    assert parse_limit("5") == 5 and parse_limit(str(MAX_LIMIT + 1)) == MAX_LIMIT
    for word in ("", "msgid=", "timestamp=", "ts=1", "*"):
        try:
            parse_ref(word)
        except Invalid as exc:
            assert exc.args[0] == "INVALID_PARAMS"
        else:
            raise AssertionError(word)


async def test_a_malformed_stored_row_is_left_out(
    tmp_path: Path, start_server: StartServer, open_client: OpenClient
) -> None:
    db = str(tmp_path / "edited.sqlite3")
    good = {"nick": "alice", "channel": "#lobby", "text": "fine", "command": "PRIVMSG", "msgid": "m1"}
    with _stored(db) as store:
        store.append(
            [
                NewEvent(1_800_000_000.0, "message", "#lobby", good),
                NewEvent(1_800_000_001.0, "message", "#lobby", good | {"text": 42, "msgid": "m2"}),
                NewEvent(1_800_000_002.0, "message", "#lobby", good | {"nick": "not a nick", "msgid": "m3"}),
            ]
        )
    server = await start_server(db=db, flood_rate=0)
    bob = await open_client(server.port)
    await bob.register("bob", caps=CAPS)
    lines = await _history(bob, "CHATHISTORY LATEST #lobby * 10")
    assert [(m.tags["msgid"], m.params[1]) for m in lines] == [("m1", "fine")]


async def test_a_stored_pm_that_is_not_json_leaves_the_others_readable(
    tmp_path: Path, start_server: StartServer, open_client: OpenClient
) -> None:
    db = str(tmp_path / "edited.sqlite3")
    pm = {"from": "alice", "to": "bob", "text": "fine", "msgid": "p1", "from_account": "alice", "to_account": "bob"}
    with _stored(db) as store:
        store.append([NewEvent(1_800_000_000.0, "pm", None, pm)])
        store.db.execute("INSERT INTO events (ts, type, channel, data) VALUES (1800000001.0, 'pm', NULL, 'not json')")
    server = await start_server(db=db, flood_rate=0, store_pms=True)
    bob = await open_client(server.port)
    await _account(bob, "bob")
    assert _texts(await _history(bob, "CHATHISTORY LATEST alice * 10")) == ["fine"]
    assert [m.params[1] for m in await _history(bob, EVERYTHING)] == ["alice"]


def test_a_fail_never_echoes_what_cannot_be_a_middle_parameter() -> None:
    """`CHATHISTORY ::` (found by the hub fuzzer) made the FAIL echo `:` as a middle parameter, which
    raised while formatting; the echoed context is `*` instead, as for numerics, for every FAIL."""
    from multichat_trio.chat.commands import COMMANDS
    from multichat_trio.chat.hub import Hub

    from .conftest import test_config
    from .test_hub import FakeClock, join_as, received

    hub = Hub(test_config(), COMMANDS, clock=FakeClock())
    alice = join_as(hub, "alice")
    received(alice, hub)
    for line in (b"CHATHISTORY ::", b"CHATHISTORY :a b", b"MARKREAD ::"):
        hub.receive(alice, line)
    fails = [m.params for m in received(alice, hub) if m.command == "FAIL"]
    assert fails[0][:3] == ("CHATHISTORY", "INVALID_PARAMS", "*") and fails[1][:3] == fails[0][:3]
    assert fails[2][:3] == ("MARKREAD", "ACCOUNT_REQUIRED", "*")
