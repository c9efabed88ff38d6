"""The monitor page in a real headless Chromium (Debian's), driven by Playwright's sync API.

The browser runs in one worker thread (`trio.to_thread.run_sync`); the chat actions it waits for
run back in trio through `trio.from_thread.run`. Skipped only when Chromium is missing and CI is
not set. A screenshot is saved in the test's tmp dir (and in $MULTICHAT_SCREENSHOTS if set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from multichat_trio.app import Running, serve_services

from .browsers import SCRIPT, WAIT_MS, XSS, chromium, needs_chromium
from .conftest import OpenClient, test_config
from .ircclient import IrcClient

pytestmark = needs_chromium


@pytest.fixture
async def monitor(nursery: trio.Nursery) -> AsyncIterator[Running]:
    stop = trio.Event()
    config = test_config()  # default flood limits: the flooder below gets kicked
    yield await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=0))
    stop.set()


#: The header's parts whose own text takes more than one line (on a phone they go to a line of their own, whole).
WRAPPED_IN_HEADER = """[...document.querySelectorAll('header > *')].filter(el => {
  const range = document.createRange(); range.selectNodeContents(el);
  const boxes = [...range.getClientRects()].filter(r => r.height > 0).sort((a, b) => a.top - b.top);
  return boxes.some(r => r.top >= boxes[0].bottom - 1);  // a box below the first line's: a second line
}).map(el => el.className || el.tagName)"""


def browse(url: str, chat: Callable[[], Awaitable[None]], screenshot: Path) -> dict[str, Any]:
    """In a worker thread: open the page, let `chat` happen (in trio), then read the DOM."""
    from playwright.sync_api import expect

    dialogs: list[str] = []
    errors: list[str] = []
    with chromium(viewport={"width": 1280, "height": 760}) as context:
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#status.live", timeout=WAIT_MS)
        trio.from_thread.run(chat)
        page.wait_for_selector("#log .row.leave.alert", timeout=WAIT_MS)  # the flood kick, last
        # `expect` polls from Playwright's side: wait_for_function would eval in the page, which its CSP forbids.
        expect(page.locator("#stat-messages")).not_to_have_text("0", timeout=WAIT_MS)
        page.screenshot(path=str(screenshot))
        page.set_viewport_size({"width": 390, "height": 760})
        wrapped = page.evaluate(WRAPPED_IN_HEADER)
        return {
            "messages": page.locator("#log .row.message .text").all_text_contents(),
            "actions": page.locator("#log .row.action").all_text_contents(),
            "rows": page.locator("#log .row").all_text_contents(),
            "users": page.locator("#users .nick").all_text_contents(),
            "images": page.evaluate("document.querySelectorAll('img, script:not([src])').length"),
            "title": page.title(),
            "html": page.content(),
            "status": page.locator("#status-text").inner_text(),
            "dialogs": dialogs,
            "errors": errors,
            "wrapped": wrapped,
        }


async def test_page_shows_the_chat_live_as_text_and_runs_no_injected_script(
    monitor: Running, open_client: OpenClient, tmp_path: Path
) -> None:
    async def client(nick: str) -> IrcClient:
        irc = await open_client(monitor.server.port)
        await irc.register(nick)
        return irc

    async def chat() -> None:
        alice, bob = await client("alice"), await client("bob")
        await client("carol")
        # #lobby is +t with no channel operator (autojoin channels are the server operators'): a new channel
        await alice.send("JOIN #news", "TOPIC #news :Welcome to <b>MultiChat</b>")
        await alice.send("PRIVMSG #lobby :hello everyone")
        await bob.send("PRIVMSG #lobby :hi alice, how is the new monitor?")
        await alice.send(f"PRIVMSG #lobby :{XSS}", f"PRIVMSG #lobby :{SCRIPT}")
        await bob.send("PRIVMSG #lobby :\x01ACTION waves <b>hello</b>\x01")  # /me waves ...
        await bob.send("PRIVMSG alice :this text must stay private")
        await bob.send("NICK bobby")
        await alice.sync()
        await bob.sync()
        flooder = await client("flooder")
        await flooder.send(*[f"PRIVMSG #lobby :spam {i}" for i in range(12)])
        await flooder.wait_closed()

    shot = tmp_path / "web-monitor.png"
    assert monitor.http_port is not None
    with trio.fail_after(60):
        seen = await trio.to_thread.run_sync(browse, f"http://127.0.0.1:{monitor.http_port}/monitor", chat, shot)
    if os.environ.get("MULTICHAT_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["MULTICHAT_SCREENSHOTS"]) / shot.name)

    assert XSS in seen["messages"] and SCRIPT in seen["messages"]  # shown literally, as text
    assert seen["images"] == 0 and seen["dialogs"] == [] and seen["title"] == "MultiChat monitor"
    assert seen["errors"] == []
    rows = "\n".join(seen["rows"])
    assert "bob → alice (private message)" in rows and "must stay private" not in seen["html"]
    assert "Welcome to <b>MultiChat</b>" in rows
    assert "bob is now known as bobby" in rows
    assert [action.split("#lobby", 1)[1] for action in seen["actions"]] == ["*bob waves <b>hello</b>"]
    assert "\x01" not in rows and "ACTION" not in rows
    assert "flooder was disconnected for flooding" in rows
    assert sorted(seen["users"]) == ["alice", "bobby", "carol"]
    assert seen["status"] == "live"
    assert seen["wrapped"] == []  # at 390 px wide
    assert shot.stat().st_size > 10_000


def watch_restart(url: str, restart: Callable[[], Awaitable[None]]) -> list[str]:
    """In a worker thread: see the page go down, let `restart` happen (in trio), see it come back."""
    with chromium() as context:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#log .row.join", timeout=WAIT_MS)
        trio.from_thread.run(restart)
        page.wait_for_selector("#log .row.note", timeout=WAIT_MS)
        page.wait_for_selector("#status.live", timeout=WAIT_MS)
        return page.locator("#log .row.note").all_text_contents()


async def test_page_reconnects_by_itself_when_the_server_restarts(nursery: trio.Nursery) -> None:
    first_stop, first_done = trio.Event(), trio.Event()

    async def first_run(task_status: trio.TaskStatus[Running]) -> None:
        await serve_services(test_config(), first_stop, http_port=0, ws_port=0, task_status=task_status)
        first_done.set()

    first = await nursery.start(first_run)
    alice = await IrcClient.connect(first.server.port)
    await alice.register("alice")  # a join, so the page has seen ids the new server will not have

    async def restart() -> None:
        first_stop.set()
        await first_done.wait()
        await alice.aclose()
        second = partial(serve_services, test_config(), trio.Event(), http_port=first.http_port, ws_port=first.ws_port)
        await nursery.start(second)

    with trio.fail_after(60):
        notes = await trio.to_thread.run_sync(watch_restart, f"http://127.0.0.1:{first.http_port}/monitor", restart)
    assert notes and "the server restarted" in notes[-1]
