"""The fan-out's rules as plain Python: who gets which lines of a round, in which order, in one write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from multichat_trio.chat.events import iso_utc
from multichat_trio.chat.fanout import ACCOUNT_TAG, MSGID_TAG, TIME_TAG, Fanout, Line
from multichat_trio.ircd.flusher import WINDOW, LoadMeter
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import Message, encode, parse, text_line


class Kernel:
    """A socket whose `send` is the given function."""

    def __init__(self, send: Callable[[bytes], int]) -> None:
        self.send = send


@dataclass(eq=False)
class Member:
    name: str
    server_time: bool = False
    writes: list[bytes] = field(default_factory=list)
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(1 << 16, self)

    def send(self, data: bytes) -> int:  # the member is its own socket: the kernel takes every write
        self.writes.append(data)
        return len(data)

    def lines(self) -> list[bytes]:
        return b"".join(self.writes).splitlines()


def say(roster: list[Member], text: str, skip: Member | None = None, when: float = 0.0) -> Line:
    return Line(roster, Message("PRIVMSG", ("#room", text), "nick!u@h"), when, skip)  # type: ignore[arg-type]


def texts(member: Member) -> list[str]:
    return [parse(line.decode()).params[-1] for line in member.lines()]


def test_a_round_of_messages_to_one_roster_is_one_write_per_member() -> None:
    a, b, c = Member("a"), Member("b"), Member("c")
    roster = [a, b, c]
    fanout = Fanout()
    for i in range(5):
        fanout.broadcast(say(roster, f"m{i}", skip=a if i == 2 else None))
    fanout.flush()
    assert [len(m.writes) for m in roster] == [1, 1, 1]
    assert texts(b) == texts(c) == ["m0", "m1", "m2", "m3", "m4"]
    assert texts(a) == ["m0", "m1", "m3", "m4"]  # the unechoed sender misses only its own line
    assert b.writes[0] is c.writes[0]  # members alike share one joined bytes
    fanout.broadcast(say(roster, "alone", skip=a))
    fanout.flush()
    assert len(a.writes) == 1  # nothing for the sender: no empty write either


def test_a_newcomer_gets_only_lines_sent_after_it_joined() -> None:
    a, b, late = Member("a"), Member("b"), Member("late")
    roster = [a, b]
    fanout = Fanout()
    fanout.broadcast(say(roster, "before"))
    roster.append(late)  # the roster grows in place while members only join
    fanout.broadcast(say(roster, "after"))
    fanout.flush()
    assert texts(a) == texts(b) == ["before", "after"]
    assert texts(late) == ["after"]


def test_lines_for_one_client_keep_the_hub_order_across_items() -> None:
    a, b = Member("a"), Member("b")
    roster = [a, b]
    fanout = Fanout()
    fanout.broadcast(say(roster, "one"))
    fanout.send(a, b"PRIVATE\r\n")  # type: ignore[arg-type]
    fanout.broadcast(say(roster, "two"))
    fanout.broadcast(say([b], "pm"))
    fanout.flush()
    assert a.lines() == [b":nick!u@h PRIVMSG #room :one", b"PRIVATE", b":nick!u@h PRIVMSG #room :two"]
    assert texts(b) == ["one", "two", "pm"]
    assert len(a.writes) == len(b.writes) == 1


def test_server_time_clients_get_the_tagged_line_with_the_time_it_was_sent() -> None:
    plain, tagged = Member("plain"), Member("tagged", server_time=True)
    fanout = Fanout()
    fanout.broadcast(say([plain, tagged], "hi there", when=1_800_000_000.25))
    fanout.flush()
    assert plain.lines() == [b":nick!u@h PRIVMSG #room :hi there"]
    assert tagged.lines() == [b"@time=2027-01-15T08:00:00.250Z :nick!u@h PRIVMSG #room :hi there"]


def test_an_overflowing_outbox_is_reported_after_the_round_and_others_still_get_theirs() -> None:
    fast, slow = Member("fast"), Member("slow")
    slow.outbox = Outbox(100, Kernel(lambda data: 0))  # the kernel takes nothing
    dropped: list[object] = []
    fanout = Fanout()
    fanout.on_overflow = dropped.append
    for i in range(3):
        fanout.broadcast(say([fast, slow], f"{i} {'x' * 40}"))
    fanout.flush()
    assert dropped == [slow]
    assert len(fast.lines()) == 3 and slow.outbox.size > 100


def test_a_write_the_kernel_takes_in_part_keeps_the_rest_in_order() -> None:
    taken: list[bytes] = []
    backlog_started: list[bool] = []

    def send(data: bytes) -> int:
        taken.append(data[:3])
        return 3

    class Owner:
        def on_backlog(self) -> None:
            backlog_started.append(True)

        def on_stop(self) -> None:
            pass

    outbox = Outbox(1 << 16, Kernel(send), Owner())
    assert outbox.write(b"abcdef") and outbox.write(b"ghi")
    assert taken == [b"abc"] and backlog_started == [True]  # the second write waits behind the first
    assert outbox.take() == b"defghi"
    assert outbox.take() == b"" and not outbox.draining  # drained: writes go straight out again
    assert outbox.write(b"jkl") and taken == [b"abc", b"jkl"]


def test_an_allowance_lets_one_answer_past_the_limit_and_ends_when_it_has_drained() -> None:
    kernel_takes = [True]
    taken: list[bytes] = []

    def send(data: bytes) -> int:
        if not kernel_takes[0]:
            return 0
        taken.append(data)
        return len(data)

    outbox = Outbox(10, Kernel(send))
    outbox.allow(100, 100)  # a LIST answer is on its way
    assert outbox.write(b"x" * 50) and taken == [b"x" * 50]  # the kernel took it: nothing waits
    kernel_takes[0] = False
    assert outbox.write(b"y" * 60)  # 60 waiting: over the limit of 10, inside the allowance
    assert not outbox.write(b"z" * 60)  # 120: past limit and allowance
    assert outbox.take() == b"y" * 60 + b"z" * 60
    kernel_takes[0] = True
    assert outbox.take() == b"" and not outbox.draining  # drained: the allowance is spent, writes go direct
    assert outbox.write(b"w") and taken[-1] == b"w"
    kernel_takes[0] = False
    assert not outbox.write(b"v" * 11)  # the plain limit again
    outbox.finish()
    assert outbox.write(b"u") and outbox.take() == b"v" * 11  # a finished outbox drops later writes


# --- when to let the kernel join small writes (flusher.LoadMeter) ------------------------------


def test_the_load_meter_turns_busy_above_half_and_idle_again_below_a_fifth() -> None:
    w = WINDOW  # every time below in windows
    meter = LoadMeter(now=0.0)
    assert meter.add(0.00, 0.75 * w) is None  # the window is not over yet
    assert meter.add(1.00 * w, 1.25 * w) is True  # 1 of 1.25 windows spent writing
    assert meter.add(1.50 * w, 2.25 * w) is None  # 0.75 of 1: still busy
    assert meter.add(3.00 * w, 3.25 * w) is None  # 0.25 of 1: between the lines, stays busy
    assert meter.add(4.95 * w, 5.00 * w) is False  # 0.05 of 1.75: idle
    assert not meter.busy


def test_the_tags_a_recipient_asked_for_go_in_front_of_the_one_encoded_line() -> None:
    """A chat line comes encoded (`text_line`); each tag variant is what encoding the tagged message gives."""
    when, line_bytes = 1_800_000_000.25, text_line("nick!u@h", "PRIVMSG", "#room", "hello there")
    line = Line([], line_bytes, when, account="acct", msgid="id1")
    assert line.data(0) is line_bytes
    for variant in range(1, 8):
        tags = {"account": "acct"} if variant & ACCOUNT_TAG else {}
        tags |= {"time": iso_utc(when)} if variant & TIME_TAG else {}
        tags |= {"msgid": "id1"} if variant & MSGID_TAG else {}
        assert line.data(variant) == encode(Message("PRIVMSG", ("#room", "hello there"), "nick!u@h", tags))
    assert Line([], Message("JOIN", ("#room",), "nick!u@h"), when).data(7) == b"@time=" + iso_utc(when).encode() + (
        b" :nick!u@h JOIN #room\r\n"  # no account, no msgid: only the time it asked for
    )
    with pytest.raises(ValueError):  # tags of its own would make two tags parts
        Line([], Message("PRIVMSG", ("#room", "x"), "nick!u@h", {"label": "1"}), when)
