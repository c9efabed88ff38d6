"""The main window's conversations under Xvfb (see tests/guidriver.py): the sidebar's unread counts
and switching, the "new messages" marker, the topic bar, the member list's context menu (as the
channel's operator), Tab completion, and the channel browser."""

from __future__ import annotations

from pathlib import Path

from multichat_trio.ircd.server import ChatServer

from .guidriver import Gui, State, in_log, keep, needs_display, open_gui, open_xvfb, outer
from .ircclient import IrcClient

pytestmark = needs_display
MARKER = "── new messages ──"


def entry(state: State, key: str) -> dict:
    return next((e for e in state["room"]["sidebar"] if e["key"] == key), {})


async def choose(gui: Gui, nick: str, label: str) -> None:
    """Right-click `nick` in the member list and pick `label` from its context menu."""
    state = await gui.wait_for(lambda s: nick in s["room"]["user_boxes"])
    x, y, width, height = state["room"]["user_boxes"][nick]
    await gui.xdo("mousemove", str(x + width // 2), str(y + height // 2), "click", "3")
    state = await gui.wait_for(lambda s: s["popup"] is not None and label in s["popup"])
    await gui.click(state["popup"][label])
    await gui.wait_for(lambda s: s["popup"] is None)


async def test_channels_in_the_sidebar_unread_marker_topic_and_operator_menu(
    server: ChatServer, tmp_path: Path
) -> None:
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    await alice.send("JOIN #lobby")
    async with (
        open_xvfb() as display,
        open_gui(display, tmp_path, "--nick", "iclal", "--port", str(server.port)) as gui,
    ):
        await gui.wait_for(lambda s: s["room"]["current"] == "#lobby" and s["room"]["users"] == ["alice", "iclal"])
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "room.input")

        # /join shows the new channel; we made it, so we operate it.
        await gui.type("/join #dev")
        await gui.key("Return")
        state = await gui.wait_for(lambda s: s["room"]["current"] == "#dev" and s["room"]["members"] == ["@iclal"])
        assert [e["key"] for e in state["room"]["sidebar"]] == ["", "#dev", "#lobby"]
        await alice.send("JOIN #dev")
        await gui.wait_for(lambda s: s["room"]["members"] == ["@iclal", "alice"])

        # Lines in a channel not shown count in the sidebar; a mention makes it stand out.
        await alice.send("PRIVMSG #lobby :first unread", "PRIVMSG #lobby :second unread")
        state = await gui.wait_for(lambda s: entry(s, "#lobby").get("unread") == 2)
        assert not entry(state, "#lobby")["alert"] and not in_log("first unread", state["room"]["log"])
        await alice.send("PRIVMSG #lobby :iclal: are you there?")
        await gui.wait_for(lambda s: entry(s, "#lobby")["unread"] == 3 and entry(s, "#lobby")["alert"])

        # Tab completes a member's nick.
        await gui.type("al")
        await gui.key("Tab")
        await gui.wait_for(lambda s: s["room"]["input_text"] == "alice: ")
        await gui.key("ctrl+a", "BackSpace")  # ttk.Entry: Ctrl+A goes to the start; clear the line
        await gui.key("End", "shift+Home", "BackSpace")
        await gui.wait_for(lambda s: s["room"]["input_text"] == "")

        # The context menu, as the channel's operator: op alice (MODE), who then sets the topic.
        await choose(gui, "alice", "Give op")
        mode = await alice.expect("MODE")
        assert mode.params == ("#dev", "+o", "alice")
        await gui.wait_for(lambda s: s["room"]["members"] == ["@alice", "@iclal"])
        topic = "Planning the 2.0 release: the GUI, the relay, and the history store, with notes from everyone"
        await alice.send(f"TOPIC #dev :{topic}")
        state = await gui.wait_for(lambda s: s["room"]["topic_full"] == topic)
        assert state["room"]["topic"].startswith("Planning the 2.0") and state["room"]["topic"].endswith("…")
        x, y, width, height = state["room"]["topic_bar"]
        await gui.xdo("mousemove", str(x + width // 2), str(y + height // 2))  # hovering shows all of it
        state = await gui.wait_for(lambda s: s["room"]["topic_tip"] is not None)
        await gui.xdo("mousemove", "5", str(y + 200))
        await gui.wait_for(lambda s: s["room"]["topic_tip"] is None)

        # A PM, then the screenshot: two channels, an unread count, the topic, members with @.
        await alice.send("PRIVMSG #dev :I pushed the sidebar branch, reviews welcome")
        await gui.click(state["room"]["input"])
        await gui.wait_for(lambda s: s["focus"] == "room.input")
        await gui.type("Looking now. Does it keep the unread counts across reconnects?")
        await gui.key("Return")
        await gui.wait_for(lambda s: in_log("Looking now", s["room"]["log"]))
        await alice.expect("PRIVMSG", lambda m: "Looking now" in m.params[-1])
        await alice.send("PRIVMSG #dev :It does: the model outlives the session")
        await gui.wait_for(lambda s: in_log("outlives the session", s["room"]["log"]))
        await alice.send("PRIVMSG iclal :got a minute after the meeting?")
        state = await gui.wait_for(lambda s: in_log("got a minute", s["private"].get("alice", {}).get("log", [])))
        both = [0, 0, sum(state["private"]["alice"]["window"][0::2]), sum(outer(state)[1::2])]
        await keep(gui, tmp_path, "gui.png", both)
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "room.input")
        await gui.key("alt+v")
        await gui.wait_for(lambda s: s["menu_posted"])
        await gui.key("d")
        await gui.wait_for(lambda s: s["theme"] == "dark" and not s["menu_posted"])
        await keep(gui, tmp_path, "gui-dark.png", both)

        # Whois from the menu: the answer in the channel it was asked in.
        await choose(gui, "alice", "Whois")
        state = await gui.wait_for(lambda s: in_log("alice is alice!", s["room"]["log"]))
        assert state["room"]["current"] == "#dev"

        # Kick from the menu.
        await choose(gui, "alice", "Kick")
        kick = await alice.expect("KICK")
        assert kick.params[:2] == ("#dev", "alice")
        await gui.wait_for(lambda s: s["room"]["members"] == ["@iclal"])

        # Ctrl+Down switches to #lobby: its count clears, and the marker sits before the first unread line.
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.key("ctrl+Down")
        state = await gui.wait_for(lambda s: s["room"]["current"] == "#lobby")
        assert entry(state, "#lobby")["unread"] == 0 and not entry(state, "#lobby")["alert"]
        log = state["room"]["log"]
        marker = log.index(MARKER)
        assert "first unread" in log[marker + 1] and not any("unread" in line for line in log[:marker])
        assert state["title"].startswith("#lobby — iclal")

        # A click on #dev goes back; no marker there (all was read).
        state = await gui.wait_for(lambda s: "#dev" in s["room"]["sidebar_boxes"])
        await gui.click(state["room"]["sidebar_boxes"]["#dev"])
        state = await gui.wait_for(lambda s: s["room"]["current"] == "#dev")
        assert MARKER not in state["room"]["log"] and state["room"]["topic_full"] == topic
        await gui.key("ctrl+Tab")  # the next channel, past the last one back to the server's
        await gui.wait_for(lambda s: s["room"]["current"] == "#lobby")
        await gui.key("ctrl+Tab")
        await gui.wait_for(lambda s: s["room"]["current"] == "" and s["title"].startswith("127.0.0.1"))
    await alice.aclose()


async def test_the_channel_browser_lists_filters_and_joins(server: ChatServer, tmp_path: Path) -> None:
    alice = await IrcClient.connect(server.port)
    await alice.register("alice")
    await alice.send("JOIN #books", "TOPIC #books :What we are reading", "JOIN #bikes")
    await alice.expect("JOIN", lambda m: m.params[0] == "#bikes")
    async with (
        open_xvfb() as display,
        open_gui(display, tmp_path, "--nick", "iclal", "--port", str(server.port)) as gui,
    ):
        await gui.wait_for(lambda s: s["room"]["current"] == "#lobby")
        main = await gui.window("MultiChat")
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "room.input")

        # View → Channels… opens the browser with the server's list.
        await gui.key("alt+v")
        await gui.wait_for(lambda s: s["menu_posted"])
        await gui.key("c")
        state = await gui.wait_for(lambda s: s["browser"] is not None and len(s["browser"]["rows"]) >= 3)
        assert ["#books", 1, "What we are reading"] in state["browser"]["rows"]
        await keep(gui, tmp_path, "gui-channels.png", state["browser"]["window"], publish=False)

        # The filter narrows it; a double-click joins.
        browser = await gui.window("^Channels")
        await gui.xdo("windowfocus", "--sync", str(browser))
        await gui.wait_for(lambda s: s["focus"] == "browser.filter")
        await gui.type("boo")
        state = await gui.wait_for(lambda s: [r[0] for r in s["browser"]["rows"]] == ["#books"])
        await gui.double_click(state["browser"]["row_boxes"]["#books"])
        state = await gui.wait_for(lambda s: s["room"]["current"] == "#books" and s["browser"] is None)
        assert state["room"]["topic_full"] == "What we are reading"

        # /list opens it again; the field joins (or creates) a channel by name.
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.type("/list")
        await gui.key("Return")
        state = await gui.wait_for(lambda s: s["browser"] is not None and s["browser"]["rows"])
        await gui.click(state["browser"]["name"])
        await gui.wait_for(lambda s: s["focus"] == "browser.name")
        await gui.key("End")
        await gui.type("fresh")
        await gui.key("Return")
        state = await gui.wait_for(lambda s: s["room"]["current"] == "#fresh" and s["browser"] is None)
        assert [e["key"] for e in state["room"]["sidebar"]] == ["", "#books", "#fresh", "#lobby"]

        # /part leaves it: the sidebar drops it and the first channel we are in is shown.
        await gui.xdo("windowfocus", "--sync", str(main))
        await gui.wait_for(lambda s: s["focus"] == "room.input")
        await gui.type("/part")
        await gui.key("Return")
        state = await gui.wait_for(lambda s: s["room"]["current"] == "#books")
        assert [e["key"] for e in state["room"]["sidebar"]] == ["", "#books", "#lobby"]
    await alice.aclose()
