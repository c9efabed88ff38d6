"""Channel state under random moderation: users send random MODE, KICK, INVITE, JOIN, PART and TOPIC lines.

After every line the state is consistent: operators and voiced users are members, +o is gained only
by creating a channel or from someone who could moderate it, limits are positive, keys valid, list
entries normalized and bounded, and a +b from a moderator is either listed or answered with a numeric.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from multichat_trio.chat import masks, modes
from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import LineFramer, casefold, parse

from .conftest import test_config
from .test_hub import FakeClock
from .test_hub_fuzz import check_output

NICKS = ["alice", "bob", "carol", "dave"]
CHANNELS = ["#a", "#lobby", "#B", "bad"]
MASKS = ["bob", "*!*@127.0.0.1", "ALICE!*@*", "c?rol", "*", "x" * 120, "a,b", "!@", "*@*.example"]
TEMPLATES = ["+o", "-o", "+v", "+b", "-b", "+e", "+i", "+k", "-k", "+l", "-l", "+m", "-n", "+s", "+ov", "+Z"]
mode_letters = st.one_of(
    st.sampled_from(TEMPLATES), st.sampled_from(TEMPLATES), st.text(alphabet="+-ovbeiklmnstZ", min_size=1, max_size=6)
)
mode_arg = st.one_of(
    st.sampled_from([*NICKS, *MASKS, "0", "-1", "3", "key", "k,y", "9" * 7, "a b", ":x"]),
    st.text("ab*!@?-1", min_size=1, max_size=8),
)


class ChannelMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.hub = Hub(test_config(flood_rate=0, autojoin="#lobby"), COMMANDS, clock=FakeClock(), wallclock=lambda: 1e9)
        self.users: list[Client] = []
        for nick in NICKS:
            client = self.hub.connect("127.0.0.1", Outbox(1 << 22))
            self.hub.receive(client, f"NICK {nick}".encode())
            self.hub.receive(client, b"USER u 0 * :x")
            self.users.append(client)
        self.users[3].oper = "admin"  # dave is a server operator
        self.replies: list[str] = []

    def send(self, who: int, line: str) -> None:
        client = self.users[who]
        channels = {key: (set(ch.ops), ch.may_moderate(client)) for key, ch in self.hub.channels.items()}
        may = {key: {u for u in self.users if ch.may_moderate(u)} for key, ch in self.hub.channels.items()}
        existed = set(self.hub.channels)
        self.hub.receive(client, line.encode())
        self.hub.fanout.flush()
        data = client.outbox.take()  # type: ignore[attr-defined]
        self.replies = [parse(raw.decode()).command for raw in LineFramer(1 << 22).feed(data)]
        for other in self.users:
            data += other.outbox.take()  # type: ignore[attr-defined]
        if data:
            check_output(data)
        for key, channel in self.hub.channels.items():
            if key not in existed:
                assert channel.ops <= {client}, "a new channel's only operator is its creator"
                continue
            before, _ = channels[key]
            gained = channel.ops - before
            assert not gained or client in may[key], f"{client.nick} granted +o in {key} without the right"

    @rule(
        who=st.integers(0, 3),
        channel=st.sampled_from(CHANNELS),
        letters=mode_letters,
        args=st.lists(mode_arg, max_size=4),
    )
    def mode(self, who: int, channel: str, letters: str, args: list[str]) -> None:
        before = self.hub.find_channel(channel)
        could = before is not None and before.may_moderate(self.users[who])
        line = " ".join(["MODE", channel, letters, *args[:-1], *(f":{arg}" for arg in args[-1:])])
        self.send(who, line)
        after = self.hub.find_channel(channel)
        sent = parse(line).params
        if could and after is not None and letters in ("+b", "b+") and len(sent) > 2:
            mask = masks.normalize(sent[2])
            assert mask in after.bans or {"696", "478"} & set(self.replies), (sent[2], self.replies)

    @rule(
        who=st.integers(0, 3),
        channel=st.sampled_from(CHANNELS),
        nick=st.sampled_from(NICKS),
        reason=st.text("ab ", max_size=5),
    )
    def kick(self, who: int, channel: str, nick: str, reason: str) -> None:
        self.send(who, f"KICK {channel} {nick} :{reason}")

    @rule(who=st.integers(0, 3), channel=st.sampled_from(CHANNELS), nick=st.sampled_from(NICKS))
    def invite(self, who: int, channel: str, nick: str) -> None:
        self.send(who, f"INVITE {nick} {channel}")

    @rule(
        who=st.integers(0, 3),
        channels=st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3),
        key=st.sampled_from(["", "key", "k,x"]),
    )
    def join(self, who: int, channels: list[str], key: str) -> None:
        self.send(who, f"JOIN {','.join(channels)} {key}".strip())

    @rule(who=st.integers(0, 3), channel=st.sampled_from(CHANNELS))
    def part(self, who: int, channel: str) -> None:
        self.send(who, f"PART {channel}")

    @rule(who=st.integers(0, 3), channel=st.sampled_from(CHANNELS), text=st.text("ab ", min_size=1, max_size=5))
    def topic(self, who: int, channel: str, text: str) -> None:
        self.send(who, f"TOPIC {channel} :{text}")

    @invariant()
    def consistent(self) -> None:
        if not hasattr(self, "hub"):
            return
        for key, channel in self.hub.channels.items():
            assert key == casefold(channel.name)
            assert channel.ops <= set(channel.members) and channel.voiced <= set(channel.members)
            assert channel.limit is None or 0 < channel.limit <= modes.MAX_LIMIT
            assert channel.key is None or (0 < len(channel.key) <= modes.KEYLEN and "," not in channel.key)
            assert channel.modes <= set(modes.FLAG_MODES)
            for entries in (channel.bans, channel.excepts):
                assert len(entries) <= modes.MAXLIST
                assert all(masks.normalize(mask) == mask and len(mask) <= modes.MASKLEN for mask in entries)
            for member in channel.members:
                assert member.channels.get(key) is channel
            assert channel.members or channel.name == "#lobby"
        for user in self.users:
            for key, channel in user.channels.items():
                assert self.hub.channels.get(key) is channel and user in channel.members


ChannelMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestChannelState = ChannelMachine.TestCase
