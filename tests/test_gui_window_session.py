"""The real GUI under Xvfb, for what the session side changed: a dropped connection comes back by
itself (with back-off) and shows no line twice; `/join` typed in the room joins, it is not chat."""

from __future__ import annotations

from pathlib import Path

import trio

from multichat_trio.ircd.server import ChatServer

from .conftest import StartServer, test_config
from .ircclient import IrcClient
from .test_gui_window import open_gui, open_xvfb, pytestmark  # the same skip rule

__all__ = ["pytestmark"]


async def test_a_dropped_connection_comes_back_by_itself_without_duplicates(
    start_server: StartServer, nursery: trio.Nursery, tmp_path: Path
) -> None:
    db = str(tmp_path / "history.sqlite3")
    first = await start_server(db=db)
    port = first.port
    alice = await IrcClient.connect(port)
    await alice.register("alice")
    await alice.send("PRIVMSG #lobby :said before")
    await alice.sync()
    async with open_xvfb() as display, open_gui(display, tmp_path, "--nick", "iclal", "--port", str(port)) as gui:
        await gui.wait_for(lambda s: any("said before" in line for line in s["room"]["log"]))
        await alice.aclose()
        first.stop()
        await gui.wait_for(lambda s: "Trying again in" in s["room"]["banner"])
        await first.stopped.wait()
        second = ChatServer(test_config(port=port, db=db))
        await nursery.start(second.serve)
        state = await gui.wait_for(lambda s: s["room"]["input_enabled"] and s["room"]["users"] == ["iclal"])
        assert state["room"]["banner"] == ""
        assert sum("said before" in line for line in state["room"]["log"]) == 1
        bob = await IrcClient.connect(port)
        await bob.register("bob")
        await gui.wait_for(lambda s: s["room"]["users"] == ["bob", "iclal"])
        await bob.send("PRIVMSG #lobby :after the restart")
        state = await gui.wait_for(lambda s: any("after the restart" in line for line in s["room"]["log"]))
        assert sum("said before" in line for line in state["room"]["log"]) == 1
        main = await gui.window("MultiChat")
        gui.close_window(main)
        assert await gui.exit_status() == 0
        assert gui.stderr.read_text() == ""
        await bob.aclose()
        second.stop()


async def test_join_typed_in_the_room_joins_and_is_not_sent_as_chat(server: ChatServer, tmp_path: Path) -> None:
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    await alice.send("JOIN #other")
    await alice.expect("366")
    async with (
        open_xvfb() as display,
        open_gui(display, tmp_path, "--nick", "iclal", "--port", str(server.port)) as gui,
    ):
        await gui.wait_for(lambda s: s["room"]["users"] == ["alice", "iclal"] and s["focus"] == "room.input")
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.type("/join #other")
        await gui.key("Return")
        await alice.expect("JOIN", lambda m: (m.source or "").startswith("iclal!") and m.params[0] == "#other")
        await gui.type("/frobnicate now")
        await gui.key("Return")
        await gui.wait_for(lambda s: any("Unknown command /frobnicate" in line for line in s["room"]["log"]))
        seen = await alice.sync()
        assert not [m for m in seen if m.command == "PRIVMSG"]
        gui.close_window(main)
        assert await gui.exit_status() == 0
    await alice.aclose()
