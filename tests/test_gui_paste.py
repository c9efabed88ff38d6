"""A multi-line paste asks first, and File → Quit leaves cleanly (real windows under Xvfb, see
tests/guidriver.py). The clipboard is owned by another X client, as when copying from another app."""

from __future__ import annotations

from pathlib import Path

from multichat_trio.ircd.server import ChatServer

from .guidriver import inside, keep, needs_display, open_elsewhere, open_gui, open_xvfb, outer
from .ircclient import IrcClient

pytestmark = needs_display
PASTED = "first line\nsecond line\n\nthird line\n"


async def test_a_multi_line_paste_asks_before_sending_and_the_file_menu_quits(
    server: ChatServer, tmp_path: Path
) -> None:
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    async with (
        open_xvfb() as display,
        open_gui(display, tmp_path, "--nick", "iclal", "--port", str(server.port)) as gui,
        open_elsewhere(display, clipboard=PASTED),
    ):
        await gui.wait_for(lambda s: s["room"]["users"] == ["alice", "iclal"])
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "room.input")

        # Ctrl+V with three lines: "Send 3 lines?"; Enter sends them, with what was typed before.
        await gui.type("note: ")
        await gui.key("ctrl+v")
        state = await gui.wait_for(lambda s: s["dialog"] is not None and s["focus"] == "dialog.send")
        assert state["dialog"]["question"] == "Send 3 lines?"
        assert inside(state["dialog"]["window"], [0, 0, 1280, 800])
        await keep(gui, tmp_path, "gui-paste.png", outer(state), publish=False)
        await gui.key("Return")
        for line in ("note: first line", "second line", "third line"):
            assert (await alice.expect("PRIVMSG")).params == ("#lobby", line)
        await gui.wait_for(lambda s: s["dialog"] is None and s["focus"] == "room.input")

        # Escape cancels: nothing is sent, and the next line goes alone.
        await gui.key("ctrl+v")
        await gui.wait_for(lambda s: s["dialog"] is not None and s["focus"] == "dialog.send")
        await gui.key("Escape")
        await gui.wait_for(lambda s: s["dialog"] is None and s["focus"] == "room.input")
        await gui.type("just this")
        await gui.key("Return")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "just this")

        # File → Quit (shown with its Ctrl+Q), by the keyboard: QUIT reaches the others, exit status 0.
        assert state["menu"]["File"] == [["Quit", "Ctrl+Q"]]
        await gui.key("alt+f")
        await gui.wait_for(lambda s: s["menu_posted"])
        await gui.key("q")
        assert (await alice.expect("QUIT")).params == ("Quit: Leaving",)
        assert await gui.exit_status() == 0
        assert gui.stderr.read_text() == ""
    await alice.aclose()
