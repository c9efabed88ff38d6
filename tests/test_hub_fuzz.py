"""The hub under random input from several clients: no handler raises, and every line it sends is valid IRC.

A hypothesis state machine drives a `Hub` (no sockets, a hand-driven clock, a store that commits
at once) with random lines: known commands and junk, NUL/CR/LF, huge parameters, odd nick and
channel names, lines framed as a socket would deliver them and lines handed over raw.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.events import well_formed
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import MAX_LINE, LineFramer, format_message, parse

from .conftest import RELAY_SECRET, test_config
from .test_hub import FakeClock

NAMES = ["alice", "Bob", "bob", "*relay", "a b", ":x", "x" * 40, "[]\\`", "#lobby", "#a", "#A", "#a,#b"]
NAMES += ["#a,,#b", ",", "#", "#" + "c" * 60, "0", "lobby", "-", "*", "+b", "LS", "REQ", "END", "::1"]
COMMAND_WORDS = [*sorted(COMMANDS), "FOO", "privmsg", "001", ":", "@"]
junk = st.text(alphabet=st.sampled_from([*"ab :,#*!@+-=;\\", "\x01", "\0", "\r", "\n", "é", "💬"]), max_size=30)
huge = st.text(alphabet="xy z", min_size=300, max_size=700)
param = st.one_of(st.sampled_from(NAMES), junk, st.text(max_size=12), huge)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One client line, often nearly valid IRC, sometimes anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=80))
    parts = []
    if draw(st.integers(0, 5)) == 0:
        parts.append("@" + draw(st.sampled_from(["a=b", "time=x\\r", "k=\\n;x", "label=1", "=", "a=\\s\\:"])))
    if draw(st.integers(0, 5)) == 0:
        parts.append(":" + draw(st.sampled_from(["alice!u@h", "srv", ""])))
    parts.append(draw(st.sampled_from(COMMAND_WORDS)))
    params = draw(st.lists(param, max_size=5))
    if params and draw(st.booleans()):
        params[-1] = ":" + params[-1]
    return " ".join(parts + params).encode()


def check_output(data: bytes) -> None:
    """Whole lines, each ending in CRLF, holding no NUL/CR/LF, within 512 bytes before its tags, and IRC."""
    assert data.endswith(b"\r\n"), data[-80:]
    for raw in data[:-2].split(b"\r\n"):
        assert b"\0" not in raw and b"\r" not in raw and b"\n" not in raw, raw
        tags = raw.index(b" ") + 1 if raw.startswith(b"@") else 0
        assert len(raw) - tags + 2 <= MAX_LINE, raw
        text = raw.decode("utf-8")
        message = parse(text)
        assert message.command and all(p and " " not in p and p[0] != ":" for p in message.params[:-1]), raw
        if len(raw) - tags < MAX_LINE - 6:  # surely not shortened: formatting it again gives it back
            assert format_message(message) == text, raw


class HubMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.clock = FakeClock()
        self.hub = Hub(
            test_config(replay=5, flood_burst=40), COMMANDS, clock=self.clock, wallclock=lambda: 1_800_000_000.0
        )
        self.hub.durable = True  # public lines wait for `release`, and joiners get a replay
        self.clients: list[Client] = []
        self.framers: dict[Client, LineFramer] = {}
        for host, nick, caps in (
            ("127.0.0.1", "alice", ""),
            ("::1", "bob", "server-time"),
            ("127.0.0.1", "*relayed", ""),
        ):
            self.connect(host)
            if nick.startswith("*"):  # through a relay, from an IPv6 address
                webirc = f"WEBIRC {RELAY_SECRET} gateway 0::ffff:10.0.0.1 :::ffff:10.0.0.1"
                self.hub.receive(self.clients[-1], webirc.encode())
            self.register(len(self.clients) - 1, nick, caps)

    @rule(host=st.sampled_from(["127.0.0.1", "::1", "fe80::1%eth0"]))
    def connect(self, host: str) -> None:
        if len(self.hub.clients) < 6:
            sendq = 4096 if not self.clients else 1 << 20  # the first one is a slow reader
            client = self.hub.connect(host, Outbox(sendq))
            self.clients.append(client)
            self.framers[client] = LineFramer()

    @rule(
        which=st.integers(0, 20),
        nick=st.sampled_from(["alice", "bob", "carol", "*relayed", "Alice"]),
        caps=st.sampled_from(["", "server-time", "server-time batch echo-message"]),
    )
    def register(self, which: int, nick: str, caps: str = "") -> None:
        client = self.clients[which % len(self.clients)]
        if caps:
            self.hub.receive(client, f"CAP REQ :{caps}".encode())
        self.hub.receive(client, f"NICK {nick}".encode())
        self.hub.receive(client, b"USER u 0 * :Real Name")
        self.hub.receive(client, b"CAP END")

    @rule(which=st.integers(0, 20), line=lines(), framed=st.booleans())
    def send(self, which: int, line: bytes, framed: bool) -> None:
        """A line as the connection's framer would cut it, or handed to the hub as it is."""
        client = self.clients[which % len(self.clients)]
        for piece in self.framers[client].feed(line + b"\r\n") if framed else [line]:
            self.hub.receive(client, piece)

    @rule(
        which=st.integers(0, 20),
        command=st.sampled_from(["PRIVMSG", "NOTICE", "TOPIC", "JOIN", "PART", "AWAY", "WHO", "WHOIS", "QUIT"]),
        to=st.sampled_from(["#lobby", "#a", "alice", "bob", "carol", "*relayed", "#a,bob"]),
        text=st.one_of(st.text(max_size=20), junk, huge, st.sampled_from(["", "hi", "\x01ACTION waves\x01"])),
    )
    def command(self, which: int, command: str, to: str, text: str) -> None:
        """A command that is right but for its text: the paths that change state and reach others."""
        client = self.clients[which % len(self.clients)]
        self.hub.receive(client, f"{command} {to} :{text}".encode()[:2000])

    @rule(
        which=st.integers(0, 20),
        text=st.one_of(st.text(min_size=1, max_size=20), huge, st.just("\x01ACTION waves\x01")),
    )
    def say(self, which: int, text: str) -> None:
        """Something to replay to later joiners (`register` on a new connection sees it)."""
        self.hub.receive(self.clients[which % len(self.clients)], f"PRIVMSG #lobby :{text}".encode()[:600])

    @rule(which=st.integers(0, 20))
    def drop(self, which: int) -> None:
        """The connection ends (EOF, reset): what `Connection.run` does on its way out."""
        self.hub.disconnect(self.clients[which % len(self.clients)], "Connection closed")

    @rule(which=st.integers(0, 20))
    def ping(self, which: int) -> None:
        self.hub.ping(self.clients[which % len(self.clients)])

    @rule(seconds=st.sampled_from([0.5, 5.0, 300.0]))
    def tick(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule()
    def commit(self) -> None:
        """The history writer stored everything recorded so far."""
        self.hub.release(self.hub.recorded)

    @invariant()
    def output_is_valid_and_state_consistent(self) -> None:
        hub = self.hub
        hub.fanout.flush()
        for client in self.clients:
            data = client.outbox.take()  # type: ignore[attr-defined]
            if data:
                check_output(data)
        for event in hub.take_events():
            json.dumps(event.data)
            assert well_formed(event.type, event.data, 0.0), event  # what is stored can be read back
        live = hub.clients
        assert all(client in live and not client.closed for client in hub.nicks.values())  # no ghosts
        assert hub.user_count == sum(client.registered for client in live)
        for channel in hub.channels.values():
            assert all(member in live for member in channel.members)

    def teardown(self) -> None:
        if hasattr(self, "hub"):
            self.hub.shutdown()
            self.hub.release(self.hub.recorded)
            self.output_is_valid_and_state_consistent()


HubMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_hub_under_random_lines = HubMachine.TestCase


@pytest.mark.parametrize(
    "line",
    [
        b"JOIN #a,,#b",
        b"JOIN :#a b",
        b"PART #lobby,",
        b"NAMES #lobby,",
        b"NICK :a b",
        b"NICK ::x",
        b"WHOIS :a b",
        b"WHO :",
        b"MODE :#a b",
        b"TOPIC :a b",
        b"PRIVMSG a,,b :hi",
        b"CAP :ls x",
        b"CAP ::x",
    ],
)
def test_an_echoed_name_that_cannot_be_a_middle_parameter_becomes_a_star(line: bytes) -> None:
    hub = Hub(test_config(), COMMANDS, clock=FakeClock(), wallclock=lambda: 1_800_000_000.0)
    client = hub.connect("127.0.0.1", Outbox(1 << 20))
    hub.receive(client, b"NICK alice")
    hub.receive(client, b"USER u 0 * :Real")
    hub.receive(client, line)
    hub.fanout.flush()
    check_output(client.outbox.take())
    assert not client.closed
