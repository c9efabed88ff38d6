"""The fan-out: the hub's output for one round, turned into one write per client.

Plain Python, no I/O. The hub does not copy a channel message into every member's queue: it adds
one item to the round, a `Line` for a list of recipients (a channel's roster, shared, not copied)
or `(client, bytes)` for one client. Consecutive lines to the same roster form one `Run`, so k
messages to n members cost about k + n steps, not k * n, and most members share one joined
`bytes`. `flush()` (the flusher task's call, once per scheduler tick, see `flusher.py`) works out
what each client receives, in the order the hub produced it, and writes it to the client's outbox
in one go; an outbox that overflows is reported to `on_overflow`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from ..protocol import Message, encode, format_tags
from .events import iso_utc
from .sink import Sink


class Recipient(Protocol):
    outbox: Sink
    #: The tags it asked for, as bits: 1 IRCv3 `server-time` (a `time` tag), 2 `account-tag` (the sender's
    #: `account`, on lines from a logged-in user), 4 `message-tags` (the line's `msgid`). A bool works too:
    #: True is `server-time` alone.
    server_time: int


#: `Recipient.server_time`'s bits.
TIME_TAG, ACCOUNT_TAG, MSGID_TAG = 1, 2, 4
VARIANTS = 8


class Line:
    """One encoded line for the first `count` of `recipients`, except `skip` (the sender, unechoed).

    `message` is a `Message` without tags, or one encoded already (`protocol.text_line`, a chat line). The tags a
    recipient asked for go in front of the same encoded line (they do not count against its length).
    """

    __slots__ = ("_variants", "account", "count", "msgid", "plain", "recipients", "skip", "when")

    def __init__(
        self,
        recipients: list[Recipient],
        message: Message | bytes,
        when: float,
        skip: Recipient | None = None,
        account: str | None = None,
        msgid: str | None = None,
    ) -> None:
        self.recipients = recipients
        self.count = len(recipients)  # the roster may grow later; this line is for these members
        self.skip = skip
        if isinstance(message, bytes):
            self.plain = message
        elif message.tags:
            raise ValueError(f"a line for many carries only the tags each recipient asked for: {message.tags!r}")
        else:
            self.plain = encode(message)
        self.when = when
        #: The sender's account (for `account-tag`), or None.
        self.account = account
        #: The message's IRCv3 `msgid` (public messages and PMs), or None.
        self.msgid = msgid
        self._variants: list[bytes | None] | None = None

    def data(self, variant: int) -> bytes:
        """The line as a recipient with these tag bits gets it (`Recipient.server_time`)."""
        if self.account is None:
            variant &= ~ACCOUNT_TAG
        if self.msgid is None:
            variant &= ~MSGID_TAG
        if not variant:
            return self.plain
        if self._variants is None:
            self._variants = [self.plain, *[None] * (VARIANTS - 1)]
        data = self._variants[variant]
        if data is None:
            tags = {}
            if variant & ACCOUNT_TAG:
                tags["account"] = self.account
            if variant & TIME_TAG:
                tags["time"] = iso_utc(self.when)
            if variant & MSGID_TAG:
                tags["msgid"] = self.msgid
            data = self._variants[variant] = f"{format_tags(tags)} ".encode() + self.plain
        return data


class Run:
    """Lines in a row for one roster (which only grew meanwhile, so each line's members are a prefix)."""

    __slots__ = ("lines", "recipients")

    def __init__(self, line: Line) -> None:
        self.recipients = line.recipients
        self.lines = [line]

    def deliveries(self) -> Iterator[tuple[Recipient, bytes]]:
        """(client, bytes) for each recipient: the lines it gets, joined; members alike share one."""
        lines = self.lines
        skips = {line.skip for line in lines}
        start = 0
        for k, first in enumerate(lines):
            if first.count <= start:
                continue
            tail = lines[k:]  # recipients from `start` on get every line from here
            shared: list[bytes | None] = [None] * VARIANTS  # by tag bits (Recipient.server_time)
            for client in self.recipients[start : first.count]:
                if client in skips:  # a sender that did not ask for echoes: all but its own lines
                    if mine := b"".join(line.data(client.server_time) for line in tail if line.skip is not client):
                        yield client, mine
                    continue
                variant = client.server_time
                data = shared[variant]
                if data is None:
                    data = shared[variant] = b"".join(line.data(variant) for line in tail)
                yield client, data
            start = first.count


class Fanout:
    def __init__(self) -> None:
        self._items: list[Run | tuple[Recipient, bytes]] = []
        #: Called when the round goes from empty to not empty (the flusher wakes up).
        self.on_pending: Callable[[], None] = lambda: None
        #: Called for each client whose outbox passed its limit (the hub drops it).
        self.on_overflow: Callable[[Recipient], None] = lambda client: None
        #: Called by `settled()`: the flusher writes at once unless it is busy (`flusher.py`).
        self.on_settled: Callable[[], None] = lambda: None

    @property
    def pending(self) -> bool:
        return bool(self._items)

    def settled(self) -> None:
        """A task is through the input it had (a reader's lines, a commit's release): its output may go now."""
        if self._items:
            self.on_settled()

    def send(self, client: Recipient, data: bytes) -> None:
        """`data` (whole lines) for one client."""
        if not self._items:
            self.on_pending()
        self._items.append((client, data))

    def broadcast(self, line: Line) -> None:
        items = self._items
        if not items:
            self.on_pending()
        elif type(last := items[-1]) is Run and last.recipients is line.recipients:
            last.lines.append(line)
            return
        items.append(Run(line))

    def flush(self) -> None:
        """Write everything queued so far, one write per client; repeats if that queued more."""
        while self._items:
            items, self._items = self._items, []
            item = items[0]
            if len(items) == 1 and type(item) is Run and len(item.lines) == 1:
                overflowed = _write_line(item.lines[0])
            else:
                one = len(items) == 1
                writes = (item.deliveries() if type(item) is Run else iter((item,))) if one else _merge(items)
                overflowed = [client for client, data in writes if not client.outbox.write(data)]
            for client in overflowed:
                self.on_overflow(client)


def _write_line(line: Line) -> list[Recipient]:
    """One line to its members, straight to their outboxes: a round's usual work at light and moderate load,
    where a generator's step and a tuple per member would be a tenth of each `send` (`benchmarks/README.md`)."""
    overflowed = []
    skip, plain = line.skip, line.plain
    for client in line.recipients[: line.count]:
        if client is skip:
            continue
        variant = client.server_time
        if not client.outbox.write(line.data(variant) if variant else plain):
            overflowed.append(client)
    return overflowed


def _merge(items: Iterable[Run | tuple[Recipient, bytes]]) -> Iterator[tuple[Recipient, bytes]]:
    """Each client's share of several items, in order, as one `bytes`."""
    chunks: dict[Recipient, list[bytes]] = {}
    for item in items:
        for client, data in item.deliveries() if type(item) is Run else (item,):
            mine = chunks.get(client)
            if mine is None:
                chunks[client] = [data]
            else:
                mine.append(data)
    for client, mine in chunks.items():
        yield client, mine[0] if len(mine) == 1 else b"".join(mine)
