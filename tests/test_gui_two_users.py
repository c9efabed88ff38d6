"""Issue #15's "done when", under Xvfb: two GUI users and an IRC client (irene, as irssi would) chat in
#lobby and in a new channel, a private message is noticed while its window is not focused, and a server
restart is followed by both windows reconnecting by themselves, with no line shown twice."""

from __future__ import annotations

from pathlib import Path

import trio

from multichat_trio.ircd.server import ChatServer

from .conftest import StartServer, test_config
from .guidriver import Gui, State, in_log, needs_display, open_gui, open_xvfb
from .ircclient import IrcClient

pytestmark = needs_display


def unread(state: State, key: str) -> int:
    return next((e["unread"] for e in state["room"]["sidebar"] if e["key"] == key), 0)


async def say(gui: Gui, nick: str, text: str) -> None:
    """Type `text` and Enter into `nick`'s main window."""
    window = await gui.window(f" {nick} .+ MultiChat$")
    await gui.xdo("windowfocus", str(window))  # (--sync would wait forever if it has the focus already)
    await gui.wait_for(lambda s: s["focus"] == "room.input")
    await gui.type(text)
    await gui.key("Return")


async def test_two_gui_users_and_an_irc_client_across_two_channels_a_pm_and_a_restart(
    start_server: StartServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    db = str(tmp_path / "history.sqlite3")
    first = await start_server(db=db, flood_rate=0)
    port = first.port
    irene = await IrcClient.connect(port)
    await irene.register("irene")
    (tmp_path / "iclal").mkdir()
    (tmp_path / "bob").mkdir()
    async with (
        open_xvfb() as display,
        open_gui(display, tmp_path / "iclal", "--nick", "iclal", "--port", str(port)) as iclal,
        open_gui(display, tmp_path / "bob", "--nick", "bob", "--port", str(port)) as bob,
    ):
        for gui in (iclal, bob):
            await gui.wait_for(
                lambda s: s["room"]["current"] == "#lobby" and {"bob", "iclal"} <= set(s["room"]["users"])
            )

        # #lobby: everyone hears everyone.
        await say(iclal, "iclal", "hello lobby from iclal")
        assert (await irene.expect("PRIVMSG")).params == ("#lobby", "hello lobby from iclal")
        await bob.wait_for(lambda s: in_log("hello lobby from iclal", s["room"]["log"]))
        await irene.send("PRIVMSG #lobby :irene here, on irssi")
        for gui in (iclal, bob):
            await gui.wait_for(lambda s: in_log("irene here, on irssi", s["room"]["log"]))

        # A new channel: iclal makes it, bob and irene join, a line from each reaches the others.
        await say(iclal, "iclal", "/join #dev")
        await iclal.wait_for(lambda s: s["room"]["current"] == "#dev")
        await say(bob, "bob", "/join #dev")
        await bob.wait_for(lambda s: s["room"]["current"] == "#dev")
        await irene.send("JOIN #dev")
        await iclal.wait_for(lambda s: s["room"]["members"] == ["@iclal", "bob", "irene"])
        await say(bob, "bob", "bob in dev")
        await iclal.wait_for(lambda s: in_log("bob in dev", s["room"]["log"]))
        await irene.expect("PRIVMSG", lambda m: m.params == ("#dev", "bob in dev"))
        await irene.send("PRIVMSG #dev :irene in dev")
        for gui in (iclal, bob):
            await gui.wait_for(lambda s: in_log("irene in dev", s["room"]["log"]))
        # #lobby goes on while both look at #dev: its count rises in their sidebars.
        await irene.send("PRIVMSG #lobby :news in the lobby")
        for gui in (iclal, bob):
            await gui.wait_for(lambda s: unread(s, "#lobby") == 1)

        # A PM to bob while iclal's window has the focus: bob's app rings and counts it.
        await say(iclal, "iclal", "typing in my own window")
        await irene.send("PRIVMSG bob :psst bob, a private word")
        state = await bob.wait_for(lambda s: "irene" in s["private"] and s["bells"] > 0 and s["unread"] > 0)
        assert in_log("psst bob, a private word", state["private"]["irene"]["log"])

        # The server restarts: both windows come back by themselves; nothing shows twice.
        await irene.aclose()
        first.stop()
        await first.stopped.wait()
        second = ChatServer(test_config(port=port, db=db, flood_rate=0))
        await nursery.start(second.serve)
        for gui in (iclal, bob):
            await gui.wait_for(lambda s: s["room"]["input_enabled"] and s["room"]["banner"] == "")
        irene = await IrcClient.connect(port)
        await irene.register("irene")
        await irene.send("JOIN #dev", "PRIVMSG #dev :irene after the restart")
        for gui in (iclal, bob):
            state = await gui.wait_for(lambda s: in_log("irene after the restart", s["room"]["log"]))
            assert state["room"]["current"] == "#dev"
            log = state["room"]["log"]
            assert [sum(text in line for line in log) for text in ("bob in dev", "irene in dev")] == [1, 1], log
        for gui, nick in ((iclal, "iclal"), (bob, "bob")):
            gui.close_window(await gui.window(f" {nick} .+ MultiChat$"))
            assert await gui.exit_status() == 0
        await irene.aclose()
        second.stop()
