"""Helpers for tests that run `python -m multichat_trio serve` as a real process."""

from __future__ import annotations

import re

import trio

CHAT = rb"Chat \(IRC\): [^\s]+:(\d+)\n"
TLS = rb"over TLS: [\d.]+:(\d+) "


async def read_banner(process: trio.Process, pattern: bytes) -> tuple[int, bytes]:
    """Read `process`'s stdout until `pattern` matches: the port its group captures, and what was read."""
    assert process.stdout is not None
    banner = b""
    with trio.fail_after(20):
        while (match := re.search(pattern, banner)) is None:
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "serve exited before printing its banner"
            banner += chunk
    return int(match.group(1)), banner


async def read_port(process: trio.Process, pattern: bytes) -> int:
    """The port `pattern`'s group captures in the banner."""
    return (await read_banner(process, pattern))[0]


async def read_chat_port(process: trio.Process) -> int:
    """The chat port `serve`'s banner names."""
    return await read_port(process, CHAT)
