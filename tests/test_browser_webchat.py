"""The web chat client at / in a real headless Chromium: two browser users and a TCP IRC client.

One scenario, as people would use it: history on join and scrolling up for older messages, a mention, a
new channel, a PM, unread counts and the "new messages" line, Tab completion and Up, the channel list,
notifications (permission asked on a click only), and a server restart after which the page reconnects
by itself and catches up from CHATHISTORY without duplicates. Playwright's sync API runs in one worker
thread; the TCP client's turns and the restart run back in trio through `trio.from_thread.run`.
Screenshots at 1280 and 390 px land in the test's tmp dir (and in $MULTICHAT_SCREENSHOTS if set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from multichat_trio.app import Running, serve_services

from .browsers import WAIT_MS, XSS, chromium_browser, needs_chromium
from .conftest import OpenClient, test_config
from .test_browser_chat import free_port
from .test_opers_server import ADMIN

pytestmark = needs_chromium

LONG = " ".join(f"a long line, part {n} of it, with ünïcödé" for n in range(40))
NIGHTLY = "morning! the nightly build is green again"
OLD = 70  # messages in #lobby before anyone opens the page: more than the first page of history (50)
#: Stands in for the browser's Notification: records what would be shown, and whether permission was asked.
FAKE_NOTIFICATIONS = """(() => {
  window.shown = []; window.asked = 0;
  window.Notification = class {
    static permission = "default";
    static async requestPermission() { window.asked += 1; this.permission = "granted"; return "granted"; }
    constructor(title, options) { window.shown.push([title, options.body]); }
    addEventListener(type, listener) { window.clickNotification = listener; }
    close() {}
  };
  Object.defineProperty(document, "hidden", { configurable: true, get: () => window.pretendHidden === true });
})();"""


class Site:
    """`serve_services` on fixed web ports and a file store, so it can be stopped and started again."""

    def __init__(self, nursery: trio.Nursery, tmp_path: Path) -> None:
        self.nursery = nursery
        self.http_port = free_port()
        self.config = test_config(
            irc_ws_port=free_port(), db=str(tmp_path / "history.sqlite3"), flood_rate=0, opers=(ADMIN,)
        )
        self.running: Running | None = None

    async def start(self) -> Running:
        self.stop, self.done = trio.Event(), trio.Event()
        self.running = await self.nursery.start(self._run)
        return self.running

    async def _run(self, task_status: trio.TaskStatus[Running]) -> None:
        try:
            await serve_services(
                self.config, self.stop, http_port=self.http_port, ws_port=None, task_status=task_status
            )
        finally:
            self.done.set()

    async def restart(self) -> Running:
        self.stop.set()
        await self.done.wait()
        return await self.start()


def scenario(url: str, turn: Callable[..., Awaitable[Any]], shots: Path) -> dict[str, Any]:
    """In a worker thread: ann and ben in two browser contexts, tom's turns in trio; what they saw."""
    from playwright.sync_api import Page, expect

    errors: list[str] = []

    def open_page(browser: Any, nick: str, width: int = 1280) -> Page:
        page = browser.new_context(viewport={"width": width, "height": 800}).new_page()
        page.on("pageerror", lambda error: errors.append(f"{nick}: {error}"))
        page.on("console", lambda m: errors.append(f"{nick}: {m.text}") if m.type == "error" else None)
        page.on("dialog", lambda dialog: (errors.append(f"{nick}: dialog {dialog.message}"), dialog.dismiss()))
        page.add_init_script(FAKE_NOTIFICATIONS)
        page.goto(url)
        expect(page.locator("#login-irc")).to_contain_text("IRC clients: 127.0.0.1, port ")
        page.fill("#nick", nick)
        page.click("#connect")
        expect(page.locator("#status")).to_have_class("live", timeout=WAIT_MS)
        expect(page.locator("#title")).to_have_text("#lobby", timeout=WAIT_MS)
        return page

    def say(page: Page, text: str) -> None:
        page.fill("#input", text)
        page.press("#input", "Enter")

    def conversation(page: Page, name: str) -> Any:
        return page.locator(f"#convs li[data-name='{name}']")

    seen: dict[str, Any] = {}
    with chromium_browser() as browser:
        ann = open_page(browser, "ann")
        log = ann.locator("#log")
        # History on join: the latest page; scrolling up fetches the older ones, down to the start.
        expect(log).to_contain_text(f"old {OLD}", timeout=WAIT_MS)
        expect(log.locator("li.line", has_text="old 01")).to_have_count(0)
        log.locator("li").first.scroll_into_view_if_needed()
        expect(log.locator("li.line", has_text="old 01")).to_have_count(1, timeout=WAIT_MS)
        expect(log.locator("li.history-top")).to_have_text("This is the start of #lobby.", timeout=WAIT_MS)
        seen["history"] = log.locator("li.line .text").all_text_contents()

        ben = open_page(browser, "ben")
        expect(log).to_contain_text("ben joined", timeout=WAIT_MS)
        say(ben, "hello ann, and <b>everyone</b>")
        expect(log.locator("li.mention")).to_contain_text("hello ann, and <b>everyone</b>", timeout=WAIT_MS)
        trio.from_thread.run(turn, "expect", "#lobby", "hello ann, and <b>everyone</b>")
        trio.from_thread.run(turn, "say", "PRIVMSG #lobby :tom here, on a terminal", f"PRIVMSG #lobby :{XSS}")
        expect(ben.locator("#log")).to_contain_text(XSS, timeout=WAIT_MS)
        say(ann, LONG)  # over one line's 512 bytes: it goes out as several messages, all of it
        trio.from_thread.run(turn, "expect long")
        say(ann, "hi ben, welcome")
        trio.from_thread.run(turn, "expect", "#lobby", "hi ben, welcome")

        # Tab completes a nick (at the start of the line: "nick: "), Up brings back the line sent before.
        ann.fill("#input", "be")
        ann.press("#input", "Tab")
        expect(ann.locator("#input")).to_have_value("ben: ")
        ann.fill("#input", "")
        ann.press("#input", "ArrowUp")
        seen["up"] = ann.locator("#input").input_value()
        ann.fill("#input", "")

        # A new channel: ann creates it, ben and tom join, everyone talks there.
        say(ann, "/join #team")
        expect(ann.locator("#title")).to_have_text("#team", timeout=WAIT_MS)
        say(ben, "/join #team")
        expect(ben.locator("#title")).to_have_text("#team", timeout=WAIT_MS)
        trio.from_thread.run(turn, "say", "JOIN #team")
        expect(ann.locator("#member-list")).to_contain_text("@ann", timeout=WAIT_MS)
        expect(ann.locator("#member-list li")).to_have_count(3, timeout=WAIT_MS)
        say(ann, "/topic Release 2.0: reviews and builds")
        expect(ben.locator("#topic")).to_have_text("Release 2.0: reviews and builds", timeout=WAIT_MS)
        say(ann, "/me brings coffee")
        trio.from_thread.run(turn, "expect", "#team", "\x01ACTION brings coffee\x01")
        trio.from_thread.run(turn, "say", f"PRIVMSG #team :{NIGHTLY}")
        expect(ben.locator("#log")).to_contain_text(NIGHTLY, timeout=WAIT_MS)
        say(ben, "thanks ann! could you look at my patch for the login form?")
        expect(log.locator("li.mention")).to_contain_text("my patch for the login form", timeout=WAIT_MS)

        # Unread counts, the "new messages" line: ben reads #lobby while #team goes on.
        conversation(ben, "#lobby").click()
        say(ann, "sure, looking now")
        say(ann, "one thing: the error message is cut off on a phone")
        expect(conversation(ben, "#team").locator(".unread")).to_have_text("2", timeout=WAIT_MS)
        trio.from_thread.run(turn, "say", "PRIVMSG #team :ben: I see that on my phone too")
        expect(conversation(ben, "#team").locator(".unread.mentioned")).to_have_text("3", timeout=WAIT_MS)
        conversation(ben, "#team").click()
        expect(conversation(ben, "#team").locator(".unread")).to_have_count(0)
        expect(ben.locator("#log li.new-marker + li.line")).to_contain_text("sure, looking now")
        expect(ben.locator("#log li.mention")).to_contain_text("on my phone too")

        # Channel operator commands and the rest, typed as on IRC.
        say(ann, "/op ben")
        expect(ben.locator("#member-list")).to_contain_text("@ben", timeout=WAIT_MS)
        say(ann, "/whois tom")
        expect(log).to_contain_text("tom is in", timeout=WAIT_MS)
        say(ben, "/away reviewing")
        expect(ben.locator("#log")).to_contain_text("marked as being away", timeout=WAIT_MS)
        expect(ann.locator("#member-list li.away")).to_contain_text("ben", timeout=WAIT_MS)  # away-notify
        ben.screenshot(path=str(shots / "webchat-desktop.png"))
        say(ben, "/back")
        expect(ben.locator("#log")).to_contain_text("no longer marked as being away", timeout=WAIT_MS)
        expect(ann.locator("#member-list li.away")).to_have_count(0, timeout=WAIT_MS)

        # A PM from tom to ann, while ann's tab is hidden: a notification, once she allowed them by a click.
        seen["asked before click"] = ann.evaluate("window.asked")
        ann.click("#notifications")
        expect(ann.locator("#notifications")).to_have_text("Notifications on")
        ann.evaluate("window.pretendHidden = true")
        trio.from_thread.run(turn, "say", "PRIVMSG ann :psst, ann")
        expect(conversation(ann, "tom").locator(".unread.mentioned")).to_have_text("1", timeout=WAIT_MS)
        seen["notifications"] = ann.evaluate("window.shown")
        ann.evaluate("window.pretendHidden = false; window.clickNotification()")  # the click opens the PM
        expect(ann.locator("#title")).to_have_text("tom")
        expect(log).to_contain_text("psst, ann")
        say(ann, "hi tom, privately")
        trio.from_thread.run(turn, "expect", "tom", "hi tom, privately")

        # A server operator gets the monitor's link.
        expect(ann.locator("#monitor-link")).to_be_hidden()
        say(ann, "/oper admin hunter2")
        expect(ann.locator("#monitor-link")).to_be_visible(timeout=WAIT_MS)
        seen["monitor link"] = ann.locator("#monitor-link").get_attribute("href")

        # The channel list.
        ann.click("#browse")
        rows = ann.locator("#channel-rows li[data-name]")
        expect(rows).to_have_count(2, timeout=WAIT_MS)
        seen["channels"] = rows.locator(".name").all_text_contents()
        ann.click("#channel-close")

        conversation(ann, "#lobby").click()
        phone = open_page(browser, "cem", width=390)
        say(phone, "/join #team")
        expect(phone.locator("#log")).to_contain_text("the error message is cut off", timeout=WAIT_MS)
        say(phone, "hi all, from a phone")
        expect(ben.locator("#log")).to_contain_text("hi all, from a phone", timeout=WAIT_MS)
        phone.screenshot(path=str(shots / "webchat-phone.png"))
        phone.click("#toggle-convs")
        phone.screenshot(path=str(shots / "webchat-phone-conversations.png"))

        # The server restarts; tom speaks before the pages are back; they reconnect and catch up, once each.
        trio.from_thread.run(turn, "restart")
        expect(ann.locator("#status")).not_to_have_class("live", timeout=WAIT_MS)
        trio.from_thread.run(turn, "after restart")
        for page in (ann, ben):
            expect(page.locator("#status")).to_have_class("live", timeout=WAIT_MS * 3)
        expect(log).to_contain_text("missed in lobby", timeout=WAIT_MS)
        conversation(ann, "#team").click()
        expect(log).to_contain_text("missed in team", timeout=WAIT_MS)
        expect(ben.locator("#log")).to_contain_text("missed in team", timeout=WAIT_MS)
        say(ann, "back after the restart")
        expect(ben.locator("#log")).to_contain_text("back after the restart", timeout=WAIT_MS)
        seen["team after"] = log.locator("li.line .text").all_text_contents()
        conversation(ann, "#lobby").click()
        seen["lobby after"] = log.locator("li.line .text").all_text_contents()
        seen["images"] = ann.evaluate("document.querySelectorAll('#log img, #log b').length")
    seen["errors"] = errors
    return seen


async def test_two_browser_users_and_a_tcp_user_chat_and_survive_a_restart(
    nursery: trio.Nursery, open_client: OpenClient, tmp_path: Path
) -> None:
    site = Site(nursery, tmp_path)
    running = await site.start()
    tom = await open_client(running.server.port)
    await tom.register("tom")
    await tom.send(*(f"PRIVMSG #lobby :old {n:02}" for n in range(1, OLD + 1)))
    await tom.sync()

    async def turn(step: str, *args: str) -> None:
        nonlocal tom
        if step == "say":
            await tom.send(*args)
            await tom.sync()
        elif step == "expect":
            target, text = args
            await tom.expect("PRIVMSG", lambda m: list(m.params) == [target, text])
        elif step == "expect long":
            pieces: list[str] = []
            while " ".join(pieces) != LONG:
                message = await tom.expect("PRIVMSG")
                # each fits one IRC line with the `:nick!user@host ` prefix the server adds (80 bytes kept for it)
                assert message.params[0] == "#lobby" and len(message.params[1].encode()) <= 510 - 16 - 80
                pieces.append(message.params[1])
            assert len(pieces) > 1
        elif step == "restart":
            await tom.aclose()
            await site.restart()
        elif step == "after restart":
            assert site.running is not None
            tom = await open_client(site.running.server.port)
            await tom.register("tom")
            await tom.send("JOIN #team", "PRIVMSG #lobby :missed in lobby", "PRIVMSG #team :missed in team")
            await tom.sync()

    url = f"http://127.0.0.1:{site.http_port}/"
    with trio.fail_after(120):
        seen = await trio.to_thread.run_sync(scenario, url, turn, tmp_path)
    site.stop.set()
    if os.environ.get("MULTICHAT_SCREENSHOTS"):
        for shot in tmp_path.glob("webchat-*.png"):
            shutil.copy(shot, Path(os.environ["MULTICHAT_SCREENSHOTS"]) / shot.name)

    assert seen["errors"] == []
    assert seen["history"] == [f"old {n:02}" for n in range(1, OLD + 1)]
    assert seen["up"] == "hi ben, welcome"
    assert seen["asked before click"] == 0
    assert seen["notifications"] == [["tom", "psst, ann"]]
    assert seen["channels"] == ["#lobby", "#team"]
    assert seen["monitor link"] == "/monitor"
    for rows, text in [(seen["lobby after"], "missed in lobby"), (seen["team after"], "missed in team")]:
        assert rows.count(text) == 1, rows
    lobby = seen["lobby after"]
    assert lobby.count("hello ann, and <b>everyone</b>") == 1 and lobby.count("tom here, on a terminal") == 1
    assert [t for t in lobby if t.startswith("old ")] == [f"old {n:02}" for n in range(1, OLD + 1)]
    assert seen["team after"].count(NIGHTLY) == 1
    assert seen["images"] == 0 and lobby.count(XSS) == 1
    assert all((tmp_path / f"webchat-{name}.png").stat().st_size > 5_000 for name in ("desktop", "phone"))
