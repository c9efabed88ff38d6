"""Helpers for tests that run `python -m multichat_trio serve` as a real process."""

from __future__ import annotations

import trio


async def read_chat_port(process: trio.Process) -> int:
    """Read `serve`'s banner from its stdout up to the chat line; the chat port it names."""
    assert process.stdout is not None
    banner = b""
    with trio.fail_after(20):
        while b"Chat (IRC): " not in banner or not banner.endswith(b"\n"):
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "serve exited before printing its banner"
            banner += chunk
    return int(banner.split(b"Chat (IRC): ", 1)[1].split(b"\n", 1)[0].rsplit(b":", 1)[1])
