"""The monitor page shows operator actions, and HISTSERV FORGET takes the spam off the page too."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import trio

from multichat_trio.app import serve_services

from .browsers import needs_chromium
from .conftest import OpenClient, test_config
from .ircclient import IrcClient
from .test_browser import browse
from .test_opers_server import ADMIN

pytestmark = needs_chromium


async def test_operator_actions_on_the_page(open_client: OpenClient, nursery: trio.Nursery, tmp_path: Path) -> None:
    stop = trio.Event()
    config = test_config(opers=(ADMIN,), flood_rate=0)
    monitor = await nursery.start(partial(serve_services, config, stop, http_port=0, ws_port=0))

    async def client(nick: str) -> IrcClient:
        irc = await open_client(monitor.server.port)
        await irc.register(nick)
        return irc

    async def chat() -> None:
        alice, troll = await client("alice"), await client("troll")
        await troll.send("PRIVMSG #lobby :buy cheap pills")
        await troll.sync()
        await alice.send("PRIVMSG #lobby :hello", "OPER admin hunter2")
        await alice.expect("381")
        await alice.send("HISTSERV FORGET troll", "KLINE troll :spam")
        await troll.wait_closed()

    with trio.fail_after(60):
        seen = await trio.to_thread.run_sync(
            browse, f"http://127.0.0.1:{monitor.http_port}/monitor", chat, tmp_path / "opers.png"
        )
    stop.set()
    rows = "\n".join(seen["rows"])
    assert seen["messages"] == ["hello"] and "pills" not in seen["html"]
    assert "alice is now server operator admin" in rows
    assert "alice removed the messages of troll from the history" in rows
    assert "alice banned a user from the server (spam)" in rows  # no mask without --monitor-show-hosts
    assert "troll was banned from the server" in rows
    assert seen["errors"] == []
