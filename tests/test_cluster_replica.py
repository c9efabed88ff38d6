"""Cluster mode without Redis: the log's entries checked (`ops`), and every node keeping the same state (`replica`)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.cluster import ops
from multichat_trio.cluster.link import LOG, Link, inbox, order
from multichat_trio.cluster.ops import BadEntry, Op

from .conftest import test_config


class Recorder:
    """A client's outbox: what it was sent, as text."""

    size = 0

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, data: bytes) -> bool:
        self.lines += data.decode().splitlines()
        return True

    def allow(self, extra: int, most: int) -> None:
        pass

    def close(self) -> None:
        pass


class Cluster:
    """Two nodes' hubs and their log: `step()` hands every entry written so far to both, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, Op]] = []
        self.links = []
        for _ in range(2):
            hub = Hub(test_config(flood_burst=0), COMMANDS, clock=lambda: 0.0, wallclock=lambda: 1_800_000_000.0)
            link = Link(hub, "redis://127.0.0.1:1/0", publish=None)  # type: ignore[arg-type]  # never connects
            link.state = "up"
            hub.cluster = link
            self.links.append(link)

    def step(self) -> None:
        for link in self.links:
            for stream, op in link._out:
                self.log.append((f"{1_800_000_000_000 + len(self.log)}-0", stream, op))
            link._out.clear()
        for link in self.links:
            for identifier, stream, op in self.log[len(self.log) - self._new(link) :]:
                if stream in (LOG, inbox(link.node)):  # the log, and the node's own inbox
                    assert link.replica.apply(identifier, ops.decode(op.encode()), log=stream == LOG)
            link.hub.fanout.flush()  # what the flusher task would write

    def _new(self, link: Link) -> int:
        done = getattr(link, "_applied", 0)
        link._applied = len(self.log)  # type: ignore[attr-defined]
        return len(self.log) - done

    def connect(self, node: int, nick: str) -> tuple[Client, Recorder]:
        hub = self.links[node].hub
        sink = Recorder()
        client = hub.connect("127.0.0.1", sink)
        hub.receive(client, f"NICK {nick}".encode())
        hub.receive(client, b"USER u 0 * :real")
        self.step()
        return client, sink

    def send(self, client: Client, node: int, line: str) -> None:
        self.links[node].hub.receive(client, line.encode())
        self.step()


def state(hub: Hub) -> dict[str, Any]:
    """What every node must agree on: users, channels with members, operators, voices, topic, modes and bans."""
    users = sorted((c.uid, c.nick, c.account or "", c.away or "") for c in hub.clients if c.registered and not c.closed)
    channels = {
        key: (
            sorted(m.uid for m in ch.members),
            sorted(m.uid for m in ch.ops),
            sorted(m.uid for m in ch.voiced),
            ch.topic,
            ch.topic_at,
            sorted(ch.modes),
            sorted(ch.bans),
        )
        for key, ch in hub.channels.items()
    }
    return {"users": users, "channels": channels}


def test_a_message_is_delivered_once_read_back_and_to_every_node() -> None:
    cluster = Cluster()
    alice, alice_sees = cluster.connect(0, "alice")
    bob, bob_sees = cluster.connect(1, "bob")
    assert alice.registered and bob.registered and "001" in alice_sees.lines[0]
    cluster.links[0].hub.receive(alice, b"PRIVMSG #lobby :hello")
    cluster.links[1].hub.fanout.flush()
    assert not any("hello" in line for line in bob_sees.lines)  # written to the log, not delivered yet
    cluster.step()
    assert bob_sees.lines[-1] == ":alice!u@127.0.0.1 PRIVMSG #lobby :hello"
    assert state(cluster.links[0].hub) == state(cluster.links[1].hub)


def test_a_private_message_goes_to_the_two_nodes_concerned_with_one_msgid() -> None:
    cluster = Cluster()
    cluster.links.append(Cluster().links[0])  # a third node, of the same log
    third = cluster.links[2]
    third.hub.cluster = third
    alice, alice_sees = cluster.connect(0, "alice")
    alice.caps = frozenset({"echo-message", "message-tags"})
    bob, bob_sees = cluster.connect(1, "bob")
    bob.caps = frozenset({"message-tags"})
    cluster.send(alice, 0, "PRIVMSG bob :just for you")
    streams = {stream for _, stream, op in cluster.log if op.kind == "line"}
    assert streams == {inbox(cluster.links[0].node), inbox(cluster.links[1].node)}
    echo, received = alice_sees.lines[-1], bob_sees.lines[-1]
    assert received.endswith("PRIVMSG bob :just for you") and echo.endswith("PRIVMSG bob :just for you")
    assert echo.split(" ")[0] == received.split(" ")[0]  # the same msgid tag on both ends
    assert third.replica.users[bob.uid].nick == "bob"


def test_the_second_intro_of_a_nickname_is_refused_on_every_node() -> None:
    cluster = Cluster()
    first, sink_one = cluster.links[0].hub.connect("127.0.0.1", Recorder()), None
    second = cluster.links[1].hub.connect("127.0.0.1", Recorder())
    for node, client in ((0, first), (1, second)):
        cluster.links[node].hub.receive(client, b"NICK racer")
        cluster.links[node].hub.receive(client, b"USER u 0 * :r")
    del sink_one
    cluster.step()  # both intros are in the log: the first one wins everywhere
    assert first.registered and not second.registered
    assert any(" 433 " in line for line in second.outbox.lines)  # type: ignore[attr-defined]
    assert state(cluster.links[0].hub) == state(cluster.links[1].hub)


LINES = [
    "JOIN #a",
    "JOIN #b",
    "PART #a",
    "PRIVMSG #a :hi",
    "TOPIC #a :a topic",
    "MODE #a +o {other}",
    "MODE #a +v {other}",
    "MODE #a -o {other}",
    "MODE #a +mi",
    "MODE #a +b {other}!*@*",
    "MODE #a -b {other}!*@*",
    "KICK #a {other} :out",
    "INVITE {other} #a",
    "NICK {nick}_",
    "AWAY :gone",
    "AWAY",
    "PRIVMSG {other} :a private word",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(LINES), st.integers(0, 3)), max_size=40))
def test_every_node_keeps_the_same_state(script: list[tuple[int, str, int]]) -> None:
    cluster = Cluster()
    people = [(node, *cluster.connect(node, f"u{n}")) for n, node in enumerate((0, 0, 1, 1))]
    for who, template, other in script:
        node, client, _ = people[who]
        if client.closed:
            continue
        cluster.send(client, node, template.format(other=people[other][1].nick, nick=client.nick[:8]))
        assert state(cluster.links[0].hub) == state(cluster.links[1].hub)
    node, client, _ = people[0]
    cluster.links[node].hub.disconnect(client, "Connection closed")  # a leaving goes through the log too
    cluster.step()
    assert state(cluster.links[0].hub) == state(cluster.links[1].hub)
    assert client.uid not in cluster.links[1].replica.users


def test_a_snapshot_brings_a_new_node_to_the_same_state() -> None:
    cluster = Cluster()
    alice, _ = cluster.connect(0, "alice")
    bob, _ = cluster.connect(1, "bob")
    cluster.send(alice, 0, "JOIN #den")
    cluster.send(bob, 1, "JOIN #den")
    cluster.send(alice, 0, "MODE #den +v bob")
    cluster.send(alice, 0, "TOPIC #den :snapshot me")
    snapshot = json.loads(json.dumps(cluster.links[0].replica.dump()))
    newcomer = Hub(test_config(), COMMANDS, clock=lambda: 0.0, wallclock=lambda: 1_800_000_000.0)
    link = Link(newcomer, "redis://127.0.0.1:1/0", publish=None)  # type: ignore[arg-type]
    newcomer.channels.clear()
    link.replica.load(snapshot)
    assert state(newcomer) == state(cluster.links[0].hub)
    assert link.replica.last_id == cluster.links[0].replica.last_id


def test_malformed_snapshot_rows_are_left_out() -> None:
    hub = Hub(test_config(), COMMANDS)
    link = Link(hub, "redis://127.0.0.1:1/0", publish=None)  # type: ignore[arg-type]
    good = {"uid": "u1", "node": "n1", "nick": "alice", "user": "u", "host": "h", "real": "A"}
    bad = {"uid": "u2", "node": "n1", "nick": "bad nick", "user": "u", "host": "h", "real": "B"}
    link.replica.load({"users": [good, bad, "nonsense"], "channels": [{"name": "nochannel"}], "bans": [[1]]})
    assert [c.nick for c in hub.clients] == ["alice"]


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.lists(st.text(max_size=8), max_size=3)
)
FIELDS = ["u", "n", "s", "c", "p", "nick", "user", "host", "real", "c", "gone", "why", "how", "acct", "oper", "away"]


@given(
    st.fixed_dictionaries(
        {"k": st.sampled_from([*sorted(ops.KINDS), "other"])},
        optional={key: st.one_of(VALUES, st.just("abc123")) for key in FIELDS},
    )
)
def test_any_json_entry_is_read_or_refused_never_crashes(body: dict[str, Any]) -> None:
    try:
        op = ops.decode({"ops": json.dumps([body])})
        if op.kind == "line":
            ops.message_of(op)
    except BadEntry:
        return
    assert op.kind in ops.KINDS


def test_entries_that_would_break_a_line_are_refused() -> None:
    for body in (
        {"k": "intro", "u": "u1", "n": "n1", "nick": "x\r\nQUIT", "user": "u", "host": "h", "real": "r"},
        {"k": "quit", "u": "u1", "n": "n1", "why": "a\nb", "how": "quit"},
        {"k": "line", "u": "../", "n": "n1", "c": "PRIVMSG", "p": ["#a", "x"]},
        {"k": "line", "u": "u1", "n": "n1", "c": "PRIVMSG", "p": ["#a b", "x"]},
        {"k": "line", "u": "u1", "n": "n1", "c": "PRIVMSG", "p": ["#a", "x\x00QUIT"]},
        {"k": "line", "u": "u1", "n": "n1", "c": "PRIV MSG", "p": []},
        {"k": "line", "u": "u1", "n": "n1", "c": "PRIVMSG", "p": ["#a", "x" * 600]},
        {"k": "rejoin", "u": "u1", "n": "n1", "c": ["not a channel"]},
        {"k": "down", "n": "n1", "gone": "", "why": "x"},
    ):
        try:
            ops.decode({"ops": json.dumps([body])})
        except BadEntry:
            continue
        raise AssertionError(f"accepted {body}")
    longest = ops.decode(Op("line", "u1", "n1", 1, {"c": "PRIVMSG", "p": ["#a", "x" * 498]}).encode())
    assert ops.message_of(longest).params[1] == "x" * 498  # PRIVMSG #a :xxx… is 510 bytes: a line still


def test_one_entry_carries_a_batch_and_a_bad_op_in_it_is_skipped_alone() -> None:
    good = Op("quit", "u1", "n1", 1, {"why": "bye", "how": "quit"})
    fields = ops.encode_entry([good, good])
    bodies = json.loads(fields["ops"])
    bodies.insert(1, {"k": "quit", "u": "u2", "n": "n1", "s": 2, "why": "a\r\nb", "how": "quit"})
    checked = ops.decode_entry({"ops": json.dumps(bodies)})
    assert [type(op).__name__ for op in checked] == ["Op", "BadEntry", "Op"]
    assert ops.decode_entry({"ops": "{"}) and isinstance(ops.decode_entry({"ops": "{"})[0], BadEntry)
    assert isinstance(ops.decode_entry({"op": "[]"})[0], BadEntry)


def test_message_ids_sort_as_they_were_written() -> None:
    written = ["1796000000000-0", "1796000000000-0-2", "1796000000000-0-2.1", "1796000000000-1", "1796000000001-0"]
    assert sorted(written, key=order) == written
    assert order("Zq3k9w") == order("1-2-3-4") == order("12.x") == (0, 0, 0, 0)  # a random msgid: none of these
