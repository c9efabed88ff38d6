"""The controller and the guest-mode glue: trio runs inside Tk's main loop, on Tk's thread.

`run_app` starts trio with `trio.lowlevel.start_guest_run` right before `root.mainloop()`. Closing
the window (or Ctrl+Q, or `/quit`) cancels trio's root scope; the session says QUIT on its way out;
trio's `done_callback` then destroys the root, which ends `mainloop()`. No thread of our own, no
polling. `ChatApp` is the session's listener: it turns session events into window updates, and
Tk handlers stay thin, handing work to the session's non-blocking methods or a bounded channel.
"""

from __future__ import annotations

import signal
import sys
import tkinter as tk
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import trio

from multichat_trio.protocol import casefold

from . import attention, icon, placement, theme
from .backoff import Backoff
from .browser import ChannelBrowser
from .connect_form import ConnectForm
from .events import (
    ChannelList,
    ChatMessage,
    ConversationOpened,
    Disconnected,
    Membership,
    NotDelivered,
    Registered,
    ServerNotice,
    SessionEvent,
    WhoisReply,
)
from .model import SERVER, ChatModel, Conversation, Line
from .private import PrivateWindow
from .room import OPERATOR, RoomView, member_actions
from .session import ChatSession
from .sidebar import Entry
from .userinput import ConnectTarget, Join, QuitChat, parse_input
from .widgets import ChatLog

PRIVATE_SIZE = (440, 320)  # a private window's size at 96 DPI


class ChatApp:
    """One main window (connect form, then the room) and a private window per person."""

    def __init__(
        self, root: tk.Tk, *, nick: str = "", host: str = "", port: int = 0, autoconnect: bool = False
    ) -> None:
        self.root = root
        self.form = ConnectForm(root, self._request_connect, nick=nick, host=host, port=port)
        self.room = RoomView(
            root,
            self._send_from_room,
            self.open_private,
            self._reconnect,
            on_select=self.switch_to,
            on_member_menu=self._member_menu,
            on_conversation_menu=self._conversation_menu,
        )
        self.room.input.completions = self._nicks_here
        self.privates: dict[str, PrivateWindow] = {}
        self.browser: ChannelBrowser | None = None
        self.popup: tk.Menu | None = None  # the open context menu
        self.current = SERVER  # the model's key of the conversation the main area shows
        self._shown: list[Line] = []  # the lines the log shows, as the model held them
        self._marker: Line | None = None  # the first line that was unread when the conversation was opened
        self._switch_on_join: set[str] = set()  # channels the user asked to join: shown once joined
        self.session: ChatSession | None = None
        self.target: ConnectTarget | None = None
        self.model = ChatModel()  # outlives sessions: a reconnect catches up from what it holds
        self.backoff = Backoff()
        self.screen = "form"
        self.on_change: Callable[[], None] = lambda: None  # the test hook's entry point
        self._autoconnect = autoconnect
        self._quit_reason = "Leaving"
        self._root_scope = trio.CancelScope()
        self._requests_in, self._requests = trio.open_memory_channel[ConnectTarget](1)
        self.form.on_change = self.changed
        self.scale = 1.0  # run_app sets the HiDPI factor
        self.unread = 0  # private messages and mentions that came while the app was not focused
        self.urgent: set[tk.Wm] = set()  # windows whose taskbar entry asks for attention
        self.bells = 0
        self.icons: list[tk.PhotoImage] = []  # the window icon's images, kept alive
        self.dark = tk.BooleanVar(root, value=theme.palette(root).dark)
        self.menu = self._build_menu()
        root.protocol("WM_DELETE_WINDOW", self.quit)
        root.bind_all("<Control-q>", lambda _e: self.quit())
        root.bind_all("<FocusIn>", lambda _e: self._focused(), add="+")
        for sequence, step in (("<Control-Tab>", 1), ("<Control-Down>", 1), ("<Control-Up>", -1)):
            root.bind(sequence, lambda _e, by=step: self._step(by))  # the main window's widgets, before "all"
        if root.tk.call("tk", "windowingsystem") == "aqua":
            root.createcommand("tk::mac::Quit", self.quit)  # Cmd+Q and the application menu's Quit
        self._show_form()

    def _build_menu(self) -> tk.Menu:
        """File → Quit (Ctrl+Q; ⌘Q on macOS) and View → Dark theme; every way of quitting ends in `quit`."""
        menubar = tk.Menu(self.root, tearoff=False)
        file = tk.Menu(menubar, tearoff=False)
        mac = self.root.tk.call("tk", "windowingsystem") == "aqua"
        file.add_command(label="Quit", underline=0, accelerator="Command-Q" if mac else "Ctrl+Q", command=self.quit)
        menubar.add_cascade(label="File", underline=0, menu=file)
        view = tk.Menu(menubar, tearoff=False)
        view.add_command(label="Channels…", underline=0, command=self.browse)
        view.add_checkbutton(label="Dark theme", underline=0, variable=self.dark, command=self._toggle_theme)
        menubar.add_cascade(label="View", underline=0, menu=view)
        self.root.configure(menu=menubar)
        return menubar

    def _toggle_theme(self) -> None:
        theme.apply(self.root, dark=self.dark.get())
        self.changed()

    # --- trio side -------------------------------------------------------------------------------

    async def main(self) -> None:
        """Trio's root task: run one session per connect request until the app is closed."""
        with self._root_scope:
            async with trio.open_nursery() as nursery:
                if sys.platform != "win32":
                    nursery.start_soon(self._quit_on_signals)
                if self._autoconnect:
                    self.form.submit()
                target = await self._requests.receive()
                while True:
                    target = await self._run_session(target)

    async def _run_session(self, target: ConnectTarget) -> ConnectTarget:
        """One session; then the next target: the next request, or after a drop from the room the
        same target once the back-off delay has passed (Reconnect, clicked meanwhile, goes at once)."""
        if self.target is None or (target.host, target.port) != (self.target.host, self.target.port):
            self.model = ChatModel()
        self.target = target
        self.session = ChatSession(target, self, model=self.model)
        self.session.quit_reason = self._quit_reason
        await self.session.run()
        outcome = self.session.outcome
        if outcome is None or not outcome.can_reconnect or self.screen != "room":
            return await self._requests.receive()
        delay = self.backoff.next_delay(self.session.uptime)
        self.room.show_banner(f"{outcome.text} Trying again in {delay:.0f} s…", reconnect=True)
        self.changed()
        with trio.move_on_after(delay):
            return await self._requests.receive()
        return replace(target, nick=self.session.nick)

    async def _quit_on_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                self.quit()

    def quit(self, reason: str = "Leaving") -> None:
        """Leave cleanly: cancel trio's root scope; the session says QUIT; then the window closes."""
        self._quit_reason = reason or "Leaving"
        if self.session is not None:
            self.session.quit_reason = self._quit_reason
        self._root_scope.cancel()

    # --- what the windows ask for ------------------------------------------------------------------

    def _request_connect(self, target: ConnectTarget) -> None:
        try:
            self._requests_in.send_nowait(target)
        except trio.WouldBlock:
            return  # a connection attempt is already on its way
        self.form.set_busy(True, f"Connecting to {target.host}:{target.port}…")
        self.changed()

    def _reconnect(self) -> None:
        if self.target is not None:
            nick = self.session.nick if self.session else self.target.nick
            self.room.show_banner("Reconnecting…", reconnect=False)
            self._request_connect(replace(self.target, nick=nick))

    def _send_from_room(self, text: str) -> None:
        self._send(self._conversation().name, text, None)

    def _send_private(self, peer: str, text: str) -> None:
        self._send(peer, text, self.privates[casefold(peer)].log)

    def _send(self, target: str, text: str, log: ChatLog | None) -> None:
        """What was typed in the conversation `target` (a PM window's `log`, else the main area)."""
        command = parse_input(text)
        if command is None:
            return
        if isinstance(command, QuitChat):
            self.quit(command.reason)
            return
        if isinstance(command, Join):
            self._switch_on_join = {casefold(channel) for channel in command.channels}
        error = self.session.perform(target, command) if self.session else "Not connected."
        if error and log is not None:
            log.add(None, None, error, "error")
        elif error:
            self.model.note(self.current, error, "error")
        self.render()
        self.changed()

    def type_here(self, command: str) -> None:
        """Carry out `command` as if typed in the main area (the context menus, the channel browser)."""
        self._send_from_room(command)

    def switch_to(self, key: str) -> None:
        """Show conversation `key` in the main area (a private one: raise its window) and mark it read."""
        conversation = self.model.conversations.get(key)
        if conversation is None:
            return
        if conversation.kind == "private":
            self.open_private(conversation.name)
            self.render()
            return
        marker = conversation.marker
        self._marker = conversation.lines[marker] if marker is not None else None
        self.model.focus(conversation.name)
        self.current = key
        self._shown = []
        self.room.log.following = True
        self.render()
        self.room.log.follow()
        self.room.log.show_marker()
        self.changed()

    def _step(self, by: int) -> str | None:
        if self.screen != "room":
            return None
        self.room.sidebar.step(by)
        return "break"

    def browse(self) -> None:
        """View → Channels…: open the channel browser and ask the server for its list."""
        if self.browser is None or not self.browser.winfo_exists():
            self.browser = ChannelBrowser(self.root, self._join_from_browser, self.browse, self.scale)
        self.browser.lift()
        self.type_here("/list")

    def _join_from_browser(self, name: str) -> None:
        self.type_here(f"/join {name}")

    def _nicks_here(self) -> list[str]:
        conversation = self._conversation()
        own = casefold(self.session.nick) if self.session else ""
        if conversation.kind == "channel":
            return [m.nick for m in conversation.member_list() if casefold(m.nick) != own]
        return []

    def _member_menu(self, nick: str, x: int, y: int) -> None:
        """Right-click (or the Menu key) on a member: their actions, each typed as a command."""
        conversation = self._conversation()
        member = conversation.members.get(casefold(nick))
        own = conversation.members.get(casefold(self.session.nick)) if self.session else None
        if member is None:
            return
        operator = own is not None and any(mark in own.prefixes for mark in OPERATOR)
        actions = member_actions(member, operator=operator)
        self._popup([(label, lambda c=command: self.type_here(c)) for label, command in actions], x, y)

    def _conversation_menu(self, key: str, x: int, y: int) -> None:
        """Right-click on a conversation in the sidebar: leave it, or close it once left."""
        conversation = self.model.conversations.get(key)
        if conversation is None or conversation.kind == "server":
            return
        if conversation.kind == "channel" and conversation.joined:
            self._popup([(f"Leave {conversation.name}", lambda: self._send(conversation.name, "/part", None))], x, y)
        else:
            self._popup([("Close", lambda: self._close_conversation(key))], x, y)

    def _close_conversation(self, key: str) -> None:
        if (window := self.privates.pop(key, None)) is not None:
            window.destroy()
        self.model.close(key)
        self.render()
        self.changed()

    def _popup(self, entries: list[tuple[str, Callable[[], None]]], x: int, y: int) -> None:
        if self.popup is not None:
            self.popup.destroy()
        self.popup = tk.Menu(self.root, tearoff=False)
        for label, command in entries:
            self.popup.add_command(label=label, command=command)
        self.popup.bind("<Unmap>", lambda _e: self.changed(), add="+")
        try:
            self.popup.tk_popup(x, y)
        finally:
            self.popup.grab_release()
        self.changed()

    def open_private(self, nick: str) -> None:
        """Double-click on a name: open (or raise) the private window for `nick`."""
        if self.session is None or casefold(nick) == casefold(self.session.nick):
            return
        self._private(nick).bring_forward()
        if (conversation := self.model.get(nick)) is not None:
            conversation.mark_read()
        self.render()
        self.changed()

    def _private(self, peer: str) -> PrivateWindow:
        window = self.privates.get(casefold(peer))
        if window is None:
            window = PrivateWindow(self.root, peer, self._send_private, self._private_closed)
            width, height = (round(side * self.scale) for side in PRIVATE_SIZE)
            cascade = 28 * (len(self.privates) % 6)
            box = placement.beside(placement.box_of(self.root), width, height, placement.work_area(self.root), cascade)
            window.geometry(placement.geometry(box))
            window.bind("<FocusIn>", lambda _e, w=window: self._private_focused(w), add="+")
            self.privates[casefold(peer)] = window
        return window

    def _private_focused(self, window: PrivateWindow) -> None:
        if (conversation := self.model.get(window.peer)) is not None and conversation.unread:
            conversation.mark_read()
            self.render()
        self.changed()

    def _private_closed(self, peer: str) -> None:
        self.privates.pop(casefold(peer), None)
        self.changed()

    # --- what the session tells us (the model has recorded it already) -----------------------------

    def session_event(self, event: SessionEvent) -> None:
        match event:
            case Registered(nick):
                self._show_room()
                self.room.set_connected(True)
                for window in self.privates.values():
                    window.set_connected(True)
                where = f"{self.target.host}:{self.target.port}" if self.target else "the server"
                if self.current != SERVER:  # the model said it in the server's conversation
                    self.model.note(self.current, f"Connected to {where} as {nick}.", "info")
                self.render()
                self.room.log.follow()  # whatever came before, the newest lines are in view
            case Membership(action="join", own=True, channel=channel):
                if casefold(channel) in self._switch_on_join or self.current == SERVER:
                    self._switch_on_join.discard(casefold(channel))
                    self.switch_to(casefold(channel))
            case Membership(action="nick" | "quit"):
                self._membership(event)
            case ChatMessage():
                self._message(event)
            case NotDelivered(target, text):
                if window := self.privates.get(casefold(target)):
                    window.log.add(None, None, text, "error")
            case ServerNotice(text, error, target) if casefold(target) in self.privates:
                self.privates[casefold(target)].log.add(None, None, text, "error" if error else "notice")
            case WhoisReply(nick, lines, where) if casefold(where or nick) in self.privates:
                for line in lines:  # asked in (or, when unknown, about) a private conversation
                    self.privates[casefold(where or nick)].log.add(None, None, line, "notice")
            case ChannelList(rows):
                if self.browser is None or not self.browser.winfo_exists():
                    self.browser = ChannelBrowser(self.root, self._join_from_browser, self.browse, self.scale)
                self.browser.show(rows)
            case ConversationOpened(nick):
                self.open_private(nick)
            case Disconnected():
                self._disconnected(event)
        self.render()
        self.changed()

    def _conversation(self) -> Conversation:
        """The conversation the main area shows (when that one is gone, the first channel we are in)."""
        conversation = self.model.conversations.get(self.current)
        if conversation is None or conversation.kind == "private":  # parted, or a new model: a channel we are in
            joined = [c for c in self._ordered() if c.kind == "channel" and c.joined]
            conversation = joined[0] if joined else self.model.open(SERVER, "server")
            self.current, self._shown, self._marker = casefold(conversation.name), [], None
            self.model.focus(conversation.name)
        return conversation

    def render(self) -> None:
        """Bring the main area up to date with the model: sidebar, topic, members, the log's new lines."""
        conversation = self._conversation()
        self.room.sidebar.show([self._entry(c) for c in self._ordered()], self.current)
        channel = conversation.kind == "channel"
        self.room.set_topic(self._entry(conversation).label, conversation.topic if channel else "")
        members = conversation.member_list() if channel else []
        own, away = (self.session.nick if self.session else ""), set(self.model.away_nicks)
        if (members, own, away) != (self.room.members, self.room.own, self.room.away):  # keeps its scroll
            self.room.set_members(members, own, away)
        self._update_log(conversation.lines)
        self._retitle()

    def _update_log(self, lines: list[Line]) -> None:
        """Append the lines after the last one shown; redraw when a line came before it (history)."""
        shown = self._shown
        last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i] is shown[-1]), None) if shown else None
        if last is not None and lines[: last + 1] == shown[len(shown) - last - 1 :]:
            for line in lines[last + 1 :]:  # only new lines at the end (the oldest may have gone)
                self.room.log.add(*_cells(line)[:4], own=line.own, mention=line.mention)
        else:
            marker = next((i for i, line in enumerate(lines) if line is self._marker), None)
            self.room.log.show([_cells(line) for line in lines], marker)
        self._shown = list(lines)

    def _ordered(self) -> list[Conversation]:
        """The server's first, then the channels, then private conversations, each by name."""
        rank = {"server": 0, "channel": 1, "private": 2}
        return sorted(self.model.conversations.values(), key=lambda c: (rank[c.kind], casefold(c.name)))

    def _entry(self, conversation: Conversation) -> Entry:
        key = casefold(conversation.name)
        label = self._server_name() if conversation.kind == "server" else conversation.name
        gone = conversation.kind == "channel" and not conversation.joined
        unread = 0 if key == self.current else conversation.unread
        return Entry(key, label, unread, conversation.alert and bool(unread), gone, conversation.kind == "private")

    def _server_name(self) -> str:
        return self.target.host if self.target else "Server"

    def _message(self, event: ChatMessage) -> None:
        nick = self.session.nick if self.session else ""
        mention = not event.own and not event.private and attention.mentions(event.text, nick)
        window = None
        if event.private:
            window = self._private(event.peer)
            if not event.own:
                window.mark_unread()
            if window.has_focus() and (conversation := self.model.get(event.peer)) is not None:
                conversation.mark_read()
            style = "action" if event.action else "history" if event.history else "notice" if event.notice else ""
            window.log.add(event.time, event.sender, event.text, style, own=event.own)
        if (mention or (event.private and not event.own)) and not event.history:
            self._call_attention(window or self.root)

    def _call_attention(self, window: tk.Wm) -> None:
        """A PM or a mention while the app is not focused: count it, flag the taskbar, ring the bell."""
        if str(self.root.tk.call("focus", "-displayof", self.root)):
            return  # one of our windows has the focus: the user sees it
        self.unread += 1
        window.update_idletasks()  # a new window is mapped first: Tk sets its own WM hints then
        if attention.set_urgent(window, True):
            self.urgent.add(window)
        self.root.bell()
        self.bells += 1

    def _focused(self) -> None:
        """The user is back: the count and the taskbar flags have done their job."""
        if self.unread or self.urgent:
            self.unread = 0
            for window in self.urgent:
                if window.winfo_exists():
                    attention.set_urgent(window, False)
            self.urgent.clear()
            self._retitle()
            self.changed()

    def _membership(self, event: Membership) -> None:
        """A quit or a rename: the private window with that person says so (the model has the rest)."""
        why = f" ({event.reason})" if event.reason else ""
        if event.action == "quit" and (window := self.privates.get(casefold(event.nick))):
            window.log.add(event.time, None, f"{event.nick} left the chat{why}", "event")
        elif event.action == "nick" and (window := self.privates.pop(casefold(event.nick), None)) is not None:
            window.rename(event.new_nick)
            self.privates[casefold(event.new_nick)] = window
            window.log.add(event.time, None, f"{event.nick} is now known as {event.new_nick}", "event")

    def _disconnected(self, event: Disconnected) -> None:
        if event.kind == "quit":
            return
        if self.screen == "form" or not event.can_reconnect:
            self._show_form()
            self.form.set_busy(False)
            if event.kind in ("nick_in_use", "bad_nick"):
                self.form.show_errors({"nick": event.text})
            else:
                self.form.show_errors({}, status=event.text)
            return
        self.room.set_connected(False)
        for window in self.privates.values():
            window.set_connected(False)
            window.log.add(None, None, "Disconnected.", "error")
        if self.current != SERVER:  # the model said it in the server's conversation
            self.model.note(self.current, event.text, "error")
        self.room.show_banner(event.text, reconnect=True)

    # --- screens -----------------------------------------------------------------------------------

    def _show_form(self) -> None:
        self.room.pack_forget()
        self.form.pack(fill="both", expand=True)
        self.form.focus_first_empty()
        self.screen = "form"
        self._retitle()

    def _show_room(self) -> None:
        if self.screen != "room":
            self.form.pack_forget()
            self.room.pack(fill="both", expand=True)
            self.form.set_busy(False)
            self.screen = "room"

    def _retitle(self) -> None:
        if self.screen == "room" and self.session is not None:
            count = f"({self.unread}) " if self.unread else ""
            shown = self._entry(self._conversation()).label
            self.root.title(f"{count}{shown} — {self.session.nick} — MultiChat")
        else:
            self.root.title("MultiChat — connect")

    def changed(self) -> None:
        self.on_change()


def _cells(line: Line) -> tuple[Any, str | None, str, str, bool, bool]:
    """A model line as the log shows it: (time, nick, text, style, own, mention)."""
    style = {"action": "action", "notice": "notice", "event": "event", "info": "notice", "error": "error"}
    shown = "history" if line.kind == "message" and line.history else style.get(line.kind, "")
    return line.time, line.sender, line.text, shown, line.own, line.mention


def run_app(app_factory: Callable[[tk.Tk], ChatApp]) -> int:
    """Create the root, start trio as Tk's guest, run Tk's main loop; 0 once closed cleanly."""
    theme.make_dpi_aware()
    # Tk makes the class "Multichat" (title case); every window of ours gets it, so taskbars group them.
    root = tk.Tk(className="MultiChat")
    factor = theme.scale(root, attention.xft_dpi(root))  # before any font is used
    theme.apply(root, dark=theme.prefers_dark())
    images = icon.install(root)
    root.geometry(f"{round(720 * factor)}x{round(480 * factor)}")  # the window manager places it
    root.minsize(round(360 * factor), round(260 * factor))
    app = app_factory(root)
    app.scale, app.icons = factor, images
    done: list[Any] = []  # trio's outcome.Outcome of app.main

    def done_callback(result: Any) -> None:
        done.append(result)
        root.destroy()

    trio.lowlevel.start_guest_run(
        app.main,
        run_sync_soon_threadsafe=lambda fn: root.after(0, fn),
        run_sync_soon_not_threadsafe=lambda fn: root.after(0, fn),
        done_callback=done_callback,
    )
    root.mainloop()
    if done:
        done[0].unwrap()
    return 0
