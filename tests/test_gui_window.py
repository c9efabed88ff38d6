"""The real GUI under Xvfb (see tests/guidriver.py): connect, chat, private windows, resize, close."""

from __future__ import annotations

from pathlib import Path

from multichat_trio.ircd.server import ChatServer

from .guidriver import in_log, inside, keep, needs_display, open_gui, open_xvfb, outer
from .ircclient import IrcClient

pytestmark = needs_display


async def test_chat_private_messages_and_clean_close(server: ChatServer, tmp_path: Path) -> None:
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    async with open_xvfb() as display, open_gui(display, tmp_path, "--port", str(server.port)) as gui:
        await gui.wait_for(lambda s: s["screen"] == "form" and s["focus"] == "form.nick")
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        # Bad input is shown next to the field, before any connection.
        await gui.type("9lives")
        await gui.key("Return")
        state = await gui.wait_for(lambda s: "nick" in s["form"]["errors"])
        assert state["screen"] == "form" and server.hub.user_count == 1
        await gui.key("--repeat", "10", "BackSpace")
        await gui.type("iclal")
        await gui.key("Return")
        await gui.wait_for(lambda s: s["screen"] == "room" and s["room"]["users"] == ["alice", "iclal"])
        assert (await alice.expect("JOIN")).source.startswith("iclal!")  # type: ignore[union-attr]

        # A line typed in the room reaches the others; Up recalls it.
        await gui.type("hello from the window")
        await gui.key("Return")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "hello from the window")
        await gui.key("Up", "Return")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "hello from the window")
        await gui.wait_for(lambda s: sum("iclal  hello from the window" in x for x in s["room"]["log"]) == 2)
        await gui.type("/me waves")
        await gui.key("Return")
        assert (await alice.expect("PRIVMSG")).params == ("#lobby", "\x01ACTION waves\x01")
        await gui.wait_for(lambda s: in_log("* iclal waves", s["room"]["log"]))

        # An incoming PM opens its window by itself, marked unread since the room has the focus.
        await alice.send("PRIVMSG iclal :psst, iclal")
        state = await gui.wait_for(lambda s: in_log("psst, iclal", s["private"].get("alice", {}).get("log", [])))
        assert state["private"]["alice"]["unread"] and state["focus"] == "room.input"
        assert state["private"]["alice"]["title"].startswith("(new) alice")
        gui.close_window(await gui.window("alice"))  # closing a PM window closes only that window
        await gui.wait_for(lambda s: not s["private"])

        # Double-clicking a name opens a PM window with the focus in it; a second time raises the same one.
        carol = await IrcClient.connect(server.port)
        await carol.register("carol")
        state = await gui.wait_for(lambda s: "carol" in s["room"]["user_boxes"])
        await gui.double_click(state["room"]["user_boxes"]["carol"])
        await gui.wait_for(lambda s: s["focus"] == "private:carol")
        await gui.type("hi carol")
        await gui.key("Return")
        assert (await carol.expect("PRIVMSG")).params == ("carol", "hi carol")
        await gui.click(state["room"]["input"])
        await gui.wait_for(lambda s: s["focus"] == "room.input")
        await gui.double_click(state["room"]["user_boxes"]["carol"])
        state = await gui.wait_for(lambda s: s["focus"] == "private:carol")
        assert list(state["private"]) == ["carol"]
        assert await gui.window("carol") > 0  # exactly one X window is titled with carol
        await gui.wait_for(lambda s: in_log("iclal  hi carol", s["private"]["carol"]["log"]))
        await carol.send("PRIVMSG iclal :hey, nice window")
        await gui.wait_for(lambda s: in_log("carol  hey, nice window", s["private"]["carol"]["log"]))
        await alice.send("PRIVMSG #lobby :welcome iclal!")
        state = await gui.wait_for(lambda s: in_log("alice  welcome iclal!", s["room"]["log"]))
        both = [0, 0, sum(state["private"]["carol"]["window"][0::2]), sum(outer(state)[1::2])]
        await keep(gui, tmp_path, "gui-room.png", both, publish=False)

        # A PM to someone who left shows the server's error in that window.
        await carol.send("QUIT :bye")
        await gui.wait_for(lambda s: s["room"]["users"] == ["alice", "iclal"])
        await gui.type("still there?")
        await gui.key("Return")
        await gui.wait_for(lambda s: in_log("carol is not online", s["private"]["carol"]["log"]))

        # At a small size the input line and the user list stay inside the window.
        await gui.xdo("windowsize", str(main), "480", "360")
        state = await gui.wait_for(lambda s: s["window"][2] == 480 and s["window"][3] + s["menubar"][3] == 360)
        assert inside(state["room"]["input"], state["window"]) and inside(state["room"]["user_list"], state["window"])
        assert state["room"]["input"][2] > 300
        await keep(gui, tmp_path, "gui-small.png", outer(state))

        # View → Dark theme, by the keyboard: every window turns dark.
        await gui.xdo("windowsize", str(main), "720", str(both[3]))
        await gui.wait_for(lambda s: s["window"][2] == 720)
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: (s["focus"] or "").startswith("room."))
        await gui.key("alt+v")
        await gui.wait_for(lambda s: s["menu_posted"])
        await gui.key("d")
        state = await gui.wait_for(lambda s: s["theme"] == "dark" and not s["menu_posted"])
        await keep(gui, tmp_path, "gui-room-dark.png", both, publish=False)

        # The close button: QUIT reaches the others and the process exits 0 without a word on stderr.
        gui.close_window(main)
        quit_line = await alice.expect("QUIT", lambda m: (m.source or "").startswith("iclal!"))
        assert quit_line.params == ("Quit: Leaving",)
        assert await gui.exit_status() == 0
        assert gui.stderr.read_text() == ""
    await alice.aclose()
    await carol.aclose()


async def test_nick_in_use_then_disconnect_and_reconnect(server: ChatServer, tmp_path: Path) -> None:
    bob = await IrcClient.connect(server.port)
    await bob.register("bob")
    async with open_xvfb() as display, open_gui(display, tmp_path, "--nick", "bob", "--port", str(server.port)) as gui:
        state = await gui.wait_for(lambda s: "already taken" in s["form"]["errors"].get("nick", ""))
        assert state["screen"] == "form"
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "form.nick")
        await gui.key("--repeat", "5", "BackSpace")
        await gui.type("bobby")
        await gui.key("Return")
        await gui.wait_for(lambda s: s["screen"] == "room" and s["room"]["users"] == ["bob", "bobby"])
        server.stop()
        state = await gui.wait_for(lambda s: "shutting down" in s["room"]["banner"])
        assert not state["room"]["input_enabled"] and state["room"]["users"] == []
        await server.stopped.wait()
        await gui.click(state["room"]["reconnect"])
        state = await gui.wait_for(lambda s: "Cannot connect" in s["room"]["banner"])
        assert "Is the server running" in state["room"]["banner"] and state["room"]["reconnect"]
        await keep(gui, tmp_path, "gui-disconnected.png", state["window"], publish=False)
        gui.close_window(main)
        assert await gui.exit_status() == 0
        assert gui.stderr.read_text() == ""
    await bob.aclose()
