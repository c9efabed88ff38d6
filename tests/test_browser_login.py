"""In Chromium: the monitor asks for a login, and the session cookie of the page's port opens the feed's port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from multichat_trio.app import serve_services

from .browsers import WAIT_MS, chromium, needs_chromium
from .conftest import OpenClient, test_config

pytestmark = needs_chromium

TOKEN = "browser-monitor-token"


def log_in_and_watch(url: str, chat: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """In a worker thread: a wrong token, the right one, a chat message seen live, then logout."""
    from playwright.sync_api import expect

    errors: list[str] = []
    with chromium() as context:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#login:not([hidden])", timeout=WAIT_MS)
        page.fill("#login-password", "wrong")
        page.click("#login button[type=submit]")
        expect(page.locator("#login-error")).not_to_have_text("", timeout=WAIT_MS)  # no eval: the page's CSP
        refused = page.locator("#login-error").inner_text()
        page.fill("#login-password", TOKEN)
        page.click("#login button[type=submit]")
        page.wait_for_selector("#status.live", timeout=WAIT_MS)  # the feed, on its own port, took the cookie
        trio.from_thread.run(chat)
        page.wait_for_selector("#log .row.message", timeout=WAIT_MS)
        seen = {
            "refused": refused,
            "messages": page.locator("#log .row.message .text").all_text_contents(),
            "cookies": context.cookies(),
            "login_hidden": page.locator("#login").is_hidden(),
        }
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])", timeout=WAIT_MS)
        page.reload()
        page.wait_for_selector("#login:not([hidden])", timeout=WAIT_MS)
        seen["cookies_after_logout"] = context.cookies()
        seen["errors"] = errors
        return seen


async def test_login_through_the_form_opens_the_page_and_the_feed(
    open_client: OpenClient, nursery: trio.Nursery
) -> None:
    stop = trio.Event()
    config = test_config(monitor_login="always", monitor_token=TOKEN)
    monitor = await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=0))

    async def chat() -> None:
        alice = await open_client(monitor.server.port)
        await alice.register("alice")
        await alice.send("PRIVMSG #lobby :seen only after a login")
        await alice.sync()

    with trio.fail_after(60):
        seen = await trio.to_thread.run_sync(log_in_and_watch, f"http://127.0.0.1:{monitor.http_port}/monitor", chat)
    stop.set()
    assert "wrong token" in seen["refused"]
    assert seen["messages"] == ["seen only after a login"] and seen["login_hidden"]
    [cookie] = seen["cookies"]
    assert cookie["name"] == "multichat_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/" and not cookie["secure"]
    assert seen["cookies_after_logout"] == []
    assert seen["errors"] == []
