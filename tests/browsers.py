"""Headless Chromium (Debian's) for the browser tests: where it is, how it starts, and when tests skip.

Playwright's sync API is used from one worker thread per test (`trio.to_thread.run_sync`); the context
managers here open the browser in that thread and close it however the test ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import IN_CI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>document.title='pwned'</script>"
WAIT_MS = 10_000

#: `pytestmark = needs_chromium`: skipped only when Chromium is missing and CI is not set.
needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM and not IN_CI, reason="chromium is not installed")


@contextmanager
def chromium(*flags: str, **options: Any) -> Iterator[BrowserContext]:
    """One browser context in a fresh profile (deleted afterwards); `flags` add to FLAGS, `options` go to
    Playwright's `launch_persistent_context` (viewport, ignore_https_errors, ...)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=[*FLAGS, *flags], headless=True, **options
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def chromium_browser() -> Iterator[Browser]:
    """A browser in which a test opens several contexts (`browser.new_context()`: one per user, each its own
    cookies and storage)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
