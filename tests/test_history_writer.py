"""The history writer's schedule: what waits for a commit waits for nothing else (no extra scheduler pass)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.events import Event
from multichat_trio.chat.hub import Hub
from multichat_trio.history.store import HistoryStore, NewEvent
from multichat_trio.history.writer import HistoryWriter

from .conftest import test_config


class WriterSteps(trio.abc.Instrument):
    """Counts the steps the writer's task has run, and which task lets the held lines out."""

    def __init__(self) -> None:
        self.task: trio.lowlevel.Task | None = None
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


class GatedStore(HistoryStore):
    """A store in memory whose first commit waits for the test, and which notes the writer's steps at each one."""

    def __init__(self, steps: WriterSteps) -> None:
        super().__init__(":memory:")
        self.entered, self.go, self.second = threading.Event(), threading.Event(), threading.Event()
        self.steps_at: list[int] = []
        self._steps = steps

    def append(
        self,
        events: Sequence[NewEvent],
        channels: Mapping[str, dict[str, Any] | None] | None = None,
        accounts: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> list[int]:
        self.steps_at.append(self._steps.steps)
        if len(self.steps_at) == 1:
            self.entered.set()
            self.go.wait(10)
        elif len(self.steps_at) == 2:
            self.second.set()
        return super().append(events, channels, accounts)


def _event(text: str) -> Event:
    return Event("message", {"nick": "alice", "channel": "#lobby", "text": text, "command": "PRIVMSG"})


async def test_what_queued_during_a_commit_goes_into_the_next_at_once_and_held_lines_out_before_the_writer_wakes() -> (
    None
):
    steps = WriterSteps()
    store = GatedStore(steps)
    store.open()
    hub = Hub(test_config(), COMMANDS)
    releasers: list[trio.lowlevel.Task] = []
    release = hub.release

    def noting_release(stored: int) -> None:
        releasers.append(trio.lowlevel.current_task())
        release(stored)

    hub.release = noting_release  # type: ignore[method-assign]

    async def nowhere(events: list[Event]) -> None:
        pass

    writer = HistoryWriter(store, hub, nowhere, inline_most=0)  # every commit on the worker thread
    send, receive = trio.open_memory_channel[list[Event]](10)

    async def run_writer() -> None:
        steps.task = trio.lowlevel.current_task()
        await writer.run(receive)

    trio.lowlevel.add_instrument(steps)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_writer)
            send.send_nowait([_event("first")])
            await trio.to_thread.run_sync(store.entered.wait, 10)
            send.send_nowait([_event("queued meanwhile")])
            store.go.set()
            await trio.to_thread.run_sync(store.second.wait, 10)
            send.close()
    finally:
        trio.lowlevel.remove_instrument(steps)
    # The writer woke once after the first commit and went straight into the second: no receive, send or
    # limiter checkpoint in between (each was a scheduler pass, at load a whole round of the flusher's writes).
    assert store.steps_at[1] - store.steps_at[0] == 1
    # The first commit's lines were let out by trio's callback pass, before the writer's task ran again.
    assert releasers[0] is not steps.task
    assert [e.data["text"] for e in store.recent(10)] == ["first", "queued meanwhile"]
    store.close()


class TimedStore(HistoryStore):
    """A store in memory that notes the thread of each commit, and whose commits take `delay` seconds."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.threads: list[int] = []
        self.delay = 0.0

    def append(self, *args: Any, **kwargs: Any) -> list[int]:
        self.threads.append(threading.get_ident())
        if self.delay:
            threading.Event().wait(self.delay)  # a slow disk
        return super().append(*args, **kwargs)


async def test_a_small_batch_is_committed_on_the_trio_thread_a_large_one_and_a_slow_disk_on_the_worker() -> None:
    store = TimedStore()
    store.open()
    hub = Hub(test_config(), COMMANDS)
    released, releases = trio.open_memory_channel[int](10)
    hub.release = released.send_nowait  # type: ignore[method-assign]

    async def nowhere(events: list[Event]) -> None:
        pass

    writer = HistoryWriter(store, hub, nowhere, inline_most=4)
    send, receive = trio.open_memory_channel[list[Event]](10)
    trio_thread = threading.get_ident()
    stored = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run, receive)
        for batch, delay in (
            ([_event("small")], 0.0),
            ([_event(f"large {n}") for n in range(5)], 0.0),
            ([_event("slow")], 0.01),  # over SLOW_COMMIT: the next commit goes to the worker thread
            ([_event("after")], 0.0),
        ):
            store.delay = delay
            await send.send(batch)
            stored.append(await releases.receive())  # every commit lets its held lines out
        send.close()
    on_trio = [thread == trio_thread for thread in store.threads]
    assert on_trio == [True, False, True, False]  # small; large; small but slow (on the trio thread, once)
    assert stored == [1, 6, 7, 8]
    assert [e.data["text"] for e in store.recent(10)][-2:] == ["slow", "after"]
    store.close()


async def test_a_failing_release_is_logged_and_the_writer_goes_on(caplog: Any) -> None:
    """The held lines are let out by a trio callback, where an exception would end the whole run."""
    store = HistoryStore(":memory:")
    store.open()
    hub = Hub(test_config(), COMMANDS)
    calls: list[int] = []

    def broken_release(stored: int) -> None:
        calls.append(stored)
        if len(calls) == 1:
            raise RuntimeError("a bug in delivery")

    hub.release = broken_release  # type: ignore[method-assign]
    forwarded: list[str] = []

    async def forward(events: list[Event]) -> None:
        forwarded.extend(e.data["text"] for e in events)

    writer = HistoryWriter(store, hub, forward)
    send, receive = trio.open_memory_channel[list[Event]](10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.run, receive)
        await send.send([_event("first")])
        await send.send([_event("second")])
        send.close()
    assert forwarded == ["first", "second"] and calls[-1] == 2  # one commit or two: both went out
    assert "letting the held lines out failed" in caplog.text
    store.close()
