"""The room follows new messages (real windows under Xvfb, see tests/guidriver.py): at the bottom after
a long replay and after a reconnect, still while the user reads further up, with a button to jump down."""

from __future__ import annotations

from pathlib import Path

from .conftest import StartServer
from .guidriver import in_log, keep, needs_display, open_gui, open_xvfb
from .ircclient import IrcClient

pytestmark = needs_display
REPLAYED = 50  # the server's default replay: more lines than the room shows at once


async def test_the_room_follows_new_lines_after_a_replay_a_scroll_up_and_a_reconnect(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = await start_server(db=":memory:", flood_rate=0, flood_burst=0)
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    await alice.send(*(f"PRIVMSG #lobby :earlier line {n}" for n in range(REPLAYED)))
    await alice.sync()
    async with (
        open_xvfb() as display,
        open_gui(display, tmp_path, "--nick", "iclal", "--port", str(server.port)) as gui,
    ):
        # A newcomer sees the end of the replay, then each live line as it comes.
        await gui.wait_for(
            lambda s: s["room"]["users"] == ["alice", "iclal"] and in_log(f"line {REPLAYED - 1}", s["room"]["log"])
        )
        await alice.send("PRIVMSG #lobby :live after the replay")
        state = await gui.wait_for(lambda s: in_log("live after the replay", s["room"]["log"]))
        assert in_log(f"earlier line {REPLAYED - 1}", state["room"]["log"])
        assert state["room"]["view"]["at_bottom"] and state["room"]["view"]["hint"] is None

        # Reading further up: new lines do not move the view; a button counts them and jumps down.
        x, y, width, height = state["room"]["view"]["box"]
        await gui.xdo("mousemove", str(x + width // 2), str(y + height // 2))
        await gui.xdo("click", "--repeat", "5", "4")  # the wheel, up
        await gui.wait_for(lambda s: not s["room"]["view"]["following"] and not s["room"]["view"]["at_bottom"])
        await alice.send("PRIVMSG #lobby :while you read", "PRIVMSG #lobby :and another")
        state = await gui.wait_for(lambda s: s["room"]["view"]["unseen"] == 2)
        assert not state["room"]["view"]["at_bottom"] and state["room"]["view"]["hint"]
        await keep(gui, tmp_path, "gui-new-below.png", state["window"], publish=False)
        await gui.click(state["room"]["view"]["hint"])
        state = await gui.wait_for(lambda s: s["room"]["view"]["at_bottom"] and s["room"]["view"]["hint"] is None)
        await alice.send("PRIVMSG #lobby :followed again")
        state = await gui.wait_for(lambda s: in_log("followed again", s["room"]["log"]))
        assert state["room"]["view"]["at_bottom"]

        # A dropped connection shows its banner; after Reconnect the newest lines are in view.
        port = server.port
        server.stop()
        state = await gui.wait_for(lambda s: "shutting down" in s["room"]["banner"])
        await server.stopped.wait()
        await alice.aclose()
        server = await start_server(port=port, flood_rate=0, flood_burst=0)
        bob = await IrcClient.connect(server.port)
        await bob.register("bob")
        await gui.click(state["room"]["reconnect"])
        await gui.wait_for(lambda s: s["room"]["users"] == ["bob", "iclal"] and not s["room"]["banner"])
        await bob.send("PRIVMSG #lobby :welcome back")
        state = await gui.wait_for(lambda s: in_log("welcome back", s["room"]["log"]))
        assert state["room"]["view"]["at_bottom"] and state["room"]["view"]["following"]

        # Ctrl+Q quits the orderly way: QUIT reaches the others, exit status 0.
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.key("ctrl+q")
        assert (await bob.expect("QUIT")).params == ("Quit: Leaving",)
        assert await gui.exit_status() == 0
        assert gui.stderr.read_text() == ""
    await bob.aclose()
