"""The web chat client at /chat in a real headless Chromium: a browser user and a TCP IRC client chat.

As in test_browser.py, Playwright's sync API runs in one worker thread and the TCP client's turns run
back in trio through `trio.from_thread.run`. Screenshots at 1280 and 390 px land in the test's tmp dir
(and in $MULTICHAT_SCREENSHOTS if set).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from multichat_trio.app import Running, serve_services
from multichat_trio.chat import opers

from .browsers import WAIT_MS, XSS, chromium, chromium_browser, needs_chromium
from .conftest import OpenClient, test_config
from .ircclient import IrcClient
from .test_accounts_server import PASSWORD
from .test_opers import CHEAP

pytestmark = needs_chromium


def free_port() -> int:
    """A port free now on loopback (the IRC WebSocket's 0 means off, so the test picks one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def services(nursery: trio.Nursery) -> AsyncIterator[Running]:
    stop = trio.Event()
    config = test_config(irc_ws_port=free_port())
    yield await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=None))
    stop.set()


#: How far the page overflows the window, down and across, in CSS pixels ([]: it fits, nothing to scroll).
OVERFLOW = """(() => { const d = document.documentElement;
  return [d.scrollHeight - innerHeight, d.scrollWidth - innerWidth].filter(n => n > 0); })()"""


def chat_in_browser(url: str, turn: Callable[[str], Awaitable[None]], shots: Path) -> dict[str, Any]:
    """In a worker thread: log in as `webby`, chat with the TCP client (its `turn`s run in trio), read the DOM."""
    from playwright.sync_api import expect

    dialogs: list[str] = []
    errors: list[str] = []
    with chromium(viewport={"width": 1280, "height": 760}) as context:
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        expect(page.locator("#connect")).to_be_visible(timeout=WAIT_MS)
        overflow = [f"login at 1280: {page.evaluate(OVERFLOW)}"]
        page.fill("#nick", "webby")
        page.click("#connect")
        expect(page.locator("#status")).to_have_class("live", timeout=WAIT_MS)
        expect(page.locator("#title")).to_have_text("#lobby", timeout=WAIT_MS)
        trio.from_thread.run(turn, "join")
        expect(page.locator("#member-list")).to_contain_text("bob", timeout=WAIT_MS)
        page.fill("#input", "hello from the browser")
        page.press("#input", "Enter")
        page.fill("#input", "/me waves")
        page.press("#input", "Enter")
        trio.from_thread.run(turn, "answer")
        log = page.locator("#log")
        expect(log).to_contain_text("hi webby, from a terminal", timeout=WAIT_MS)
        expect(log).to_contain_text(XSS, timeout=WAIT_MS)
        pm = page.locator("#convs li[data-name='bob']")
        expect(pm.locator(".unread")).to_have_text("1", timeout=WAIT_MS)
        page.screenshot(path=str(shots / "webchat-1280.png"))
        overflow.append(f"chat at 1280: {page.evaluate(OVERFLOW)}")
        pm.click()
        expect(log).to_contain_text("a private word", timeout=WAIT_MS)
        page.fill("#input", "a private answer")
        page.press("#input", "Enter")
        trio.from_thread.run(turn, "private")
        page.fill("#input", "/join #talk")
        page.press("#input", "Enter")
        expect(page.locator("#title")).to_have_text("#talk", timeout=WAIT_MS)
        expect(page.locator("#topic")).to_have_text("Welcome <b>here</b>", timeout=WAIT_MS)
        expect(page.locator("#member-list")).to_contain_text("@bob", timeout=WAIT_MS)
        page.fill("#input", "/topic <i>not yours</i>")
        page.press("#input", "Enter")
        expect(log.locator("li.error")).to_contain_text("not channel operator", timeout=WAIT_MS)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(shots / "webchat-dark.png"))
        page.locator("#convs li[data-name='#lobby']").click()
        page.set_viewport_size({"width": 390, "height": 760})
        page.screenshot(path=str(shots / "webchat-390.png"))
        overflow.append(f"chat at 390: {page.evaluate(OVERFLOW)}")
        expect(page.locator("#sidebar")).to_be_hidden()
        page.click("#toggle-convs")
        expect(page.locator("#sidebar")).to_be_visible()
        page.screenshot(path=str(shots / "webchat-390-conversations.png"))
        page.locator("#convs li[data-name='#lobby']").click()
        expect(page.locator("#sidebar")).to_be_hidden()
        return {
            "rows": page.locator("#log li").all_text_contents(),
            "actions": page.locator("#log li.action").all_text_contents(),
            "members": page.locator("#member-list li").all_text_contents(),
            "convs": page.locator("#convs .name").all_text_contents(),
            "images": page.evaluate("document.querySelectorAll('img, script:not([src])').length"),
            "dialogs": dialogs,
            "errors": errors,
            "overflow": overflow,
        }


async def test_a_browser_user_and_a_tcp_user_chat_in_the_lobby_and_in_private(
    services: Running, open_client: OpenClient, tmp_path: Path
) -> None:
    bob: IrcClient | None = None

    async def turn(step: str) -> None:
        nonlocal bob
        if step == "join":
            bob = await open_client(services.server.port)
            await bob.register("bob")  # autojoins #lobby
            return
        assert bob is not None
        if step == "answer":
            await bob.expect("PRIVMSG", lambda m: m.params[-1] == "hello from the browser")
            await bob.expect("PRIVMSG", lambda m: m.params[-1] == "\x01ACTION waves\x01")
            await bob.send("JOIN #talk", "TOPIC #talk :Welcome <b>here</b>")
            await bob.send("PRIVMSG #lobby :hi webby, from a terminal", f"PRIVMSG #lobby :{XSS}")
            await bob.send("PRIVMSG webby :a private word")
            await bob.sync()
        elif step == "private":
            await bob.expect("PRIVMSG", lambda m: list(m.params) == ["bob", "a private answer"])

    assert services.http_port is not None
    with trio.fail_after(60):
        seen = await trio.to_thread.run_sync(chat_in_browser, f"http://127.0.0.1:{services.http_port}/", turn, tmp_path)
    if os.environ.get("MULTICHAT_SCREENSHOTS"):
        for shot in tmp_path.glob("webchat-*.png"):
            shutil.copy(shot, Path(os.environ["MULTICHAT_SCREENSHOTS"]) / shot.name)

    rows = "\n".join(seen["rows"])
    assert "hello from the browser" in rows and "hi webby, from a terminal" in rows
    assert XSS in rows and seen["images"] == 0 and seen["dialogs"] == []
    assert len(seen["actions"]) == 1 and seen["actions"][0].endswith("* webby waves")
    assert "a private word" not in rows  # it is in bob's conversation, not #lobby's
    assert {"#lobby", "bob"} <= set(seen["convs"])
    assert sorted(seen["members"]) == ["bob", "webby"]
    assert {"#lobby", "#talk", "bob"} <= set(seen["convs"])
    assert seen["errors"] == []
    assert seen["overflow"] == ["login at 1280: []", "chat at 1280: []", "chat at 390: []"]  # no page scrollbar
    assert all(
        (tmp_path / name).stat().st_size > 5_000 for name in ("webchat-1280.png", "webchat-390.png", "webchat-dark.png")
    )


def log_in(url: str, nick: str, password: str) -> list[str]:
    """In a worker thread: log in with an account password (SASL PLAIN); the server conversation's rows."""
    from playwright.sync_api import expect

    with chromium() as context:
        page = context.new_page()
        page.goto(url)
        page.fill("#nick", nick)
        page.fill("#password", password)
        page.click("#connect")
        expect(page.locator("#title")).to_have_text("#lobby", timeout=WAIT_MS)
        page.locator("#convs li[data-name='*server*']").click()
        return page.locator("#log li").all_text_contents()


async def test_an_account_password_logs_in_with_sasl_and_a_wrong_one_is_shown(
    nursery: trio.Nursery, open_client: OpenClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)
    stop = trio.Event()
    config = test_config(irc_ws_port=free_port(), db=str(tmp_path / "history.sqlite3"))
    running = await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=None))
    carol = await open_client(running.server.port)
    await carol.register("carol")
    await carol.send(f"REGISTER * * {PASSWORD}")
    await carol.expect("900")
    await carol.send("QUIT")
    await carol.wait_closed()

    url = f"http://127.0.0.1:{running.http_port}/"
    with trio.fail_after(60):
        good = "\n".join(await trio.to_thread.run_sync(log_in, url, "carol", PASSWORD))
        bad = "\n".join(await trio.to_thread.run_sync(log_in, url, "carol", "wrong"))
    stop.set()
    assert "You are now logged in as carol" in good
    assert "SASL authentication failed" in bad and "logged in as" not in bad


def try_nick(url: str, nick: str) -> str:
    """In a worker thread: ask for a nickname someone has; the login form's error once it is back."""
    from playwright.sync_api import expect

    with chromium() as context:
        page = context.new_page()
        page.goto(url)
        page.fill("#nick", nick)
        page.click("#connect")
        expect(page.locator("#login-error")).not_to_be_empty(timeout=WAIT_MS)
        expect(page.locator("#login")).to_be_visible()
        return page.locator("#login-error").inner_text()


async def test_a_nickname_in_use_brings_the_login_form_back_with_the_reason(
    services: Running, open_client: OpenClient
) -> None:
    dave = await open_client(services.server.port)
    await dave.register("dave")
    with trio.fail_after(60):
        error = await trio.to_thread.run_sync(try_nick, f"http://127.0.0.1:{services.http_port}/", "dave")
    assert "already in use" in error


def read_then_return(url: str, turn: Callable[[str], Awaitable[None]]) -> dict[str, Any]:
    """In a worker thread: carol reads #lobby in one page, leaves, then returns in a fresh page."""
    from playwright.sync_api import expect

    def open_as_carol(browser: Any) -> Any:
        page = browser.new_context().new_page()
        page.goto(url)
        page.fill("#nick", "carol")
        page.fill("#password", PASSWORD)
        page.click("#connect")
        expect(page.locator("#title")).to_have_text("#lobby", timeout=WAIT_MS)
        return page

    with chromium_browser() as browser:
        page = open_as_carol(browser)
        expect(page.locator("#log")).to_contain_text("read this", timeout=WAIT_MS)
        trio.from_thread.run(turn, "marker moved")  # the page told the server: read up to "read this"
        page.context.close()
        trio.from_thread.run(turn, "more")
        page = open_as_carol(browser)
        after_marker = page.locator("#log li.new-marker + li.line")
        expect(after_marker).to_contain_text("unread one", timeout=WAIT_MS)
        return {"rows": page.locator("#log li.line .text").all_text_contents()}


async def test_the_read_marker_follows_the_account_between_clients(
    nursery: trio.Nursery, open_client: OpenClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """draft/read-marker: the page moves carol's marker as she reads (another of her clients hears it),
    and a page opened later puts its "new messages" line where she left off."""
    monkeypatch.setattr(opers, "hash_password", CHEAP.hash)
    stop = trio.Event()
    config = test_config(irc_ws_port=free_port(), db=str(tmp_path / "history.sqlite3"), flood_rate=0)
    running = await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=None))
    phone = await open_client(running.server.port)
    await phone.register("carol", caps="draft/read-marker server-time")
    await phone.send(f"REGISTER * * {PASSWORD}", "NICK carolphone")
    await phone.expect("900")
    bob = await open_client(running.server.port)
    await bob.register("bob")
    await bob.send("PRIVMSG #lobby :read this")
    read_at = (await phone.expect("PRIVMSG", lambda m: m.params[-1] == "read this")).tags["time"]

    async def turn(step: str) -> None:
        if step == "marker moved":
            marker = await phone.expect("MARKREAD")
            assert marker.params == ("#lobby", f"timestamp={read_at}")
        elif step == "more":
            await bob.send("PRIVMSG #lobby :unread one", "PRIVMSG #lobby :unread two")
            await bob.sync()

    with trio.fail_after(60):
        seen = await trio.to_thread.run_sync(read_then_return, f"http://127.0.0.1:{running.http_port}/", turn)
    stop.set()
    assert seen["rows"][-3:] == ["read this", "unread one", "unread two"]
