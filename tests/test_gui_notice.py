"""A PM or a mention is noticed, and private windows open on the visible screen (real windows under
Xvfb, see tests/guidriver.py): placement inside a 1400x900 screen with the main window near its right
edge, the X urgency hint (read back with xprop), the bell, the unread count in the title, one
window class for every window."""

from __future__ import annotations

from pathlib import Path

from multichat_trio.ircd.server import ChatServer

from .guidriver import in_log, inside, needs_display, open_elsewhere, open_gui, open_xvfb, xprop
from .ircclient import IrcClient

pytestmark = needs_display
SCREEN = [0, 0, 1400, 900]
URGENT = "urgency hint bit is set"


async def test_a_pm_window_opens_on_screen_and_a_pm_or_mention_while_away_asks_for_attention(
    server: ChatServer, tmp_path: Path
) -> None:
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    async with (
        open_xvfb("1400x900x24") as display,
        open_gui(display, tmp_path, "--nick", "iclal", "--port", str(server.port)) as gui,
    ):
        await gui.wait_for(lambda s: s["room"]["users"] == ["alice", "iclal"])
        main = await gui.window("MultiChat")
        await gui.xdo("windowmove", "--sync", str(main), "675", "0")  # its right edge at 1395
        await gui.wait_for(lambda s: (s["window"] or [0])[0] == 675)

        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "room.input")
        async with open_elsewhere(display) as elsewhere:
            await gui.xdo("windowfocus", "--sync", str(elsewhere))
            await gui.wait_for(lambda s: s["focus"] is None)

            # A PM while another app has the focus: its window on screen, flagged urgent, a bell, a count.
            await alice.send("PRIVMSG iclal :psst, iclal")
            state = await gui.wait_for(lambda s: "private:alice" in s["urgent"])
            assert inside(state["private"]["alice"]["window"], SCREEN), state["private"]["alice"]["window"]
            assert state["bells"] == 1 and state["unread"] == 1 and state["title"].startswith("(1) #lobby")
            private = await gui.window("alice")
            assert URGENT in await xprop(gui, private, "WM_HINTS")
            assert URGENT not in await xprop(gui, main, "WM_HINTS")

            # A mention in the room flags the main window too; other lines do not.
            await alice.send("PRIVMSG #lobby :just chatting", "PRIVMSG #lobby :iclal, are you there?")
            state = await gui.wait_for(lambda s: "main" in s["urgent"])
            assert state["bells"] == 2 and state["title"].startswith("(2) #lobby")
            assert in_log("are you there?", state["room"]["log"])
            assert URGENT in await xprop(gui, main, "WM_HINTS")

            # Every window is of one class, so a taskbar groups them.
            assert state["classes"] == ["Multichat"]
            for window in (main, private):
                assert '"Multichat"' in await xprop(gui, window, "WM_CLASS")

            # Back in the app: the flags and the count are cleared.
            await gui.xdo("windowfocus", "--sync", str(main))
            state = await gui.wait_for(lambda s: not s["urgent"] and s["unread"] == 0)
            assert not state["title"].startswith("(")
            assert URGENT not in await xprop(gui, private, "WM_HINTS")
            assert URGENT not in await xprop(gui, main, "WM_HINTS")

            # While the app has the focus, a PM rings nothing.
            await alice.send("PRIVMSG iclal :another one")
            state = await gui.wait_for(lambda s: in_log("another one", s["private"]["alice"]["log"]))
            assert state["bells"] == 2 and not state["urgent"]
    await alice.aclose()


async def test_hidpi_scaling_grows_the_window_and_its_fonts_and_the_icon_is_set(tmp_path: Path) -> None:
    """`MULTICHAT_GUI_SCALE=2` (as `Xft.dpi: 192` would): tk scaling at 192 DPI, a 1440x960 window."""
    async with open_xvfb("1600x1000x24") as display, open_gui(display, tmp_path, MULTICHAT_GUI_SCALE="2") as gui:
        state = await gui.wait_for(lambda s: s["screen"] == "form" and s["window"])
        assert abs(state["scaling"] - 192 / 72) < 0.02  # Tk rounds it to whole pixels per millimetre
        assert state["window"][2:] == [1440, 960] and state["menubar"][3] > 40  # the menu's font grew too
        assert "_NET_WM_ICON(CARDINAL)" in await xprop(gui, await gui.window("MultiChat"), "_NET_WM_ICON")
        gui.close_window(await gui.window("MultiChat"))
        assert await gui.exit_status() == 0
