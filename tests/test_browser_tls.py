"""The monitor page over HTTPS in headless Chromium: the page loads and its feed goes live over WSS.

Chromium is told to accept the test CA's certificate (`ignore_https_errors`, and the flag for the
WebSocket); skipped only when Chromium is missing and CI is not set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from .browsers import WAIT_MS, chromium, needs_chromium
from .conftest import OpenClient, StartMonitor
from .test_tls import Certs

pytestmark = needs_chromium


def browse(url: str, chat: Callable[[], Awaitable[None]]) -> tuple[str, list[str], list[str]]:
    """In a worker thread: open the page, wait for the live feed, let `chat` happen, read the users."""
    errors: list[str] = []
    with chromium("--ignore-certificate-errors", ignore_https_errors=True) as context:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_selector("#status.live", timeout=WAIT_MS)
        trio.from_thread.run(chat)
        page.wait_for_selector("#users .nick", timeout=WAIT_MS)
        scheme = page.evaluate("location.protocol")
        return scheme, page.locator("#users .nick").all_text_contents(), errors


async def test_the_page_over_https_reads_its_feed_over_wss(
    start_monitor: StartMonitor, open_client: OpenClient, tmp_path: Path
) -> None:
    running = await start_monitor(**Certs(tmp_path).settings())
    url = running.monitor_url("127.0.0.1")
    assert url is not None and url.startswith("https://")

    async def chat() -> None:
        alice = await open_client(running.server.port)
        await alice.register("alice")

    scheme, users, errors = await trio.to_thread.run_sync(browse, url, chat)
    assert scheme == "https:" and users == ["alice"] and errors == []
