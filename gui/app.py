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
    TopicChanged,
    UsersChanged,
    WhoisReply,
)
from .model import ChatModel
from .private import PrivateWindow
from .room import RoomView
from .session import ChatSession
from .userinput import ConnectTarget, QuitChat, parse_input
from .widgets import ChatLog

DEFAULT_CHANNEL = "#lobby"
PRIVATE_SIZE = (440, 320)  # a private window's size at 96 DPI


class ChatApp:
    """One main window (connect form, then the room) and a private window per person."""

    def __init__(
        self, root: tk.Tk, *, nick: str = "", host: str = "", port: int = 0, autoconnect: bool = False
    ) -> None:
        self.root = root
        self.form = ConnectForm(root, self._request_connect, nick=nick, host=host, port=port)
        self.room = RoomView(root, self._send_from_room, self.open_private, self._reconnect)
        self.privates: dict[str, PrivateWindow] = {}
        self.session: ChatSession | None = None
        self.target: ConnectTarget | None = None
        self.model = ChatModel()  # outlives sessions: a reconnect catches up from what it holds
        self.backoff = Backoff()
        self.channel = DEFAULT_CHANNEL
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
        self._send(self.channel, text, self.room.log)

    def _send_private(self, peer: str, text: str) -> None:
        self._send(peer, text, self.privates[casefold(peer)].log)

    def _send(self, target: str, text: str, log: ChatLog) -> None:
        command = parse_input(text)
        if command is None:
            return
        if isinstance(command, QuitChat):
            self.quit(command.reason)
            return
        error = self.session.perform(target, command) if self.session else "Not connected."
        if error:
            log.add(None, None, error, "error")
        self.changed()

    def open_private(self, nick: str) -> None:
        """Double-click on a name: open (or raise) the private window for `nick`."""
        if self.session is None or casefold(nick) == casefold(self.session.nick):
            return
        self._private(nick).bring_forward()
        self.changed()

    def _private(self, peer: str) -> PrivateWindow:
        window = self.privates.get(casefold(peer))
        if window is None:
            window = PrivateWindow(self.root, peer, self._send_private, self._private_closed)
            width, height = (round(side * self.scale) for side in PRIVATE_SIZE)
            cascade = 28 * (len(self.privates) % 6)
            box = placement.beside(placement.box_of(self.root), width, height, placement.work_area(self.root), cascade)
            window.geometry(placement.geometry(box))
            window.bind("<FocusIn>", lambda _e: self.changed(), add="+")
            self.privates[casefold(peer)] = window
        return window

    def _private_closed(self, peer: str) -> None:
        self.privates.pop(casefold(peer), None)
        self.changed()

    # --- what the session tells us -----------------------------------------------------------------

    def session_event(self, event: SessionEvent) -> None:
        match event:
            case Registered(nick):
                self._show_room()
                self.room.set_connected(True)
                for window in self.privates.values():
                    window.set_connected(True)
                where = f"{self.target.host}:{self.target.port}" if self.target else "the server"
                self.room.log.add(None, None, f"Connected to {where} as {nick}.", "notice")
                self.room.log.follow()  # whatever came before, the newest lines are in view
            case UsersChanged(channel, users) if casefold(channel) == casefold(self.channel):
                self.room.set_users(users, self.session.nick if self.session else "")
            case Membership():
                self._membership(event)
            case ChatMessage():
                self._message(event)
            case NotDelivered(target, text):
                window = self.privates.get(casefold(target))
                (window.log if window else self.room.log).add(None, None, text, "error")
            case ServerNotice(text, error):
                self.room.log.add(None, None, text, "error" if error else "notice")
            case TopicChanged(channel, topic, setter):  # until the windows show the model's conversations
                said = f"{setter} set the topic of {channel}" if setter else f"Topic of {channel}"
                self.room.log.add(None, None, f"{said}: {topic}" if topic else f"No topic in {channel}", "notice")
            case WhoisReply(_, lines):
                for line in lines:
                    self.room.log.add(None, None, line, "notice")
            case ChannelList(rows):
                for row in rows:
                    self.room.log.add(None, None, f"{row.name} ({row.users}): {row.topic}", "notice")
            case ConversationOpened(nick):
                self.open_private(nick)
            case Disconnected():
                self._disconnected(event)
        self._retitle()
        self.changed()

    def _message(self, event: ChatMessage) -> None:
        log, window = self.room.log, None
        nick = self.session.nick if self.session else ""
        mention = not event.own and not event.private and attention.mentions(event.text, nick)
        if event.private:
            window = self._private(event.peer)
            if not event.own:
                window.mark_unread()
            log = window.log
        style = "action" if event.action else "history" if event.history else "notice" if event.notice else ""
        log.add(event.time, event.sender, event.text, style, own=event.own, mention=mention)
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
        log, who = self.room.log, "You" if event.own else event.nick
        if event.action == "join":
            if event.own:
                self.channel = event.channel
            log.add(event.time, None, f"{who} joined {event.channel}", "event")
        elif event.action in ("part", "kick"):
            how = f"{'were' if event.own else 'was'} kicked from" if event.action == "kick" else "left"
            log.add(event.time, None, f"{who} {how} {event.channel}" + _why(event.reason), "event")
        elif event.action == "quit":
            log.add(event.time, None, f"{who} left the chat" + _why(event.reason), "event")
            if window := self.privates.get(casefold(event.nick)):
                window.log.add(event.time, None, f"{event.nick} left the chat" + _why(event.reason), "event")
        elif event.action == "nick":
            verb = "are" if event.own else "is"
            log.add(event.time, None, f"{who} {verb} now known as {event.new_nick}", "event")
            window = self.privates.pop(casefold(event.nick), None)
            if window is not None:
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
        self.room.log.add(None, None, event.text, "error")
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
            self.root.title(f"{count}{self.channel} — {self.session.nick} — MultiChat")
        else:
            self.root.title("MultiChat — connect")

    def changed(self) -> None:
        self.on_change()


def _why(reason: str) -> str:
    return f" ({reason})" if reason else ""


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
