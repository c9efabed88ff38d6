"""The relay proxy (its own issue): placeholder until implemented."""

from __future__ import annotations

import trio

from .config import RelayConfig


async def run_relay(config: RelayConfig, stop: trio.Event) -> None:
    raise NotImplementedError("the relay is not implemented yet")
