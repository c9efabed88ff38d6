"""The main window's content: the sidebar of conversations, the topic bar, the history of the
conversation shown, its member list, the input line, and a banner for connection trouble."""

from __future__ import annotations

import contextlib
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from tkinter import ttk

from multichat_trio.protocol import casefold

from . import theme
from .events import Member
from .sidebar import Sidebar, context_button
from .widgets import ChatLog, InputLine

OPERATOR = "~&@"  # prefixes that may op, voice, kick and ban


def member_actions(member: Member, *, operator: bool) -> list[tuple[str, str]]:
    """A member's context menu as (label, command typed): for everyone Private message and Whois;
    for a channel operator also op/voice (or their removal), kick and ban."""
    nick = member.nick
    actions = [("Private message", f"/query {nick}"), ("Whois", f"/whois {nick}")]
    if operator:
        actions += [
            ("Take op", f"/deop {nick}") if "@" in member.prefixes else ("Give op", f"/op {nick}"),
            ("Take voice", f"/devoice {nick}") if "+" in member.prefixes else ("Give voice", f"/voice {nick}"),
            ("Kick", f"/kick {nick}"),
            ("Ban", f"/ban {nick}"),
        ]
    return actions


def elide(text: str, font: tkfont.Font, width: int) -> str:
    """`text` on one line, cut with "…" to fit `width` pixels."""
    text = " ".join(text.split())
    if font.measure(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.measure(text[:middle] + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


class RoomView(ttk.Frame):
    """Double-click a member to talk in private, right-click (or the Menu key) for more; the banner
    offers Reconnect after a drop."""

    def __init__(
        self,
        master: tk.Misc,
        on_send: Callable[[str], None],
        on_open_private: Callable[[str], None],
        on_reconnect: Callable[[], None],
        on_select: Callable[[str], None] = lambda _key: None,
        on_member_menu: Callable[[str, int, int], None] = lambda _nick, _x, _y: None,
        on_conversation_menu: Callable[[str, int, int], None] = lambda _key, _x, _y: None,
    ) -> None:
        super().__init__(master, padding=(6, 6, 6, 6))
        self._on_open_private = on_open_private
        self._on_member_menu = on_member_menu
        self.banner = ttk.Frame(self, style="Banner.TFrame", padding=(8, 6))
        self.banner_text = ttk.Label(self.banner, text="", style="Banner.TLabel", wraplength=420)
        self.banner_text.pack(side="left", fill="x", expand=True)
        self.reconnect = ttk.Button(self.banner, text="Reconnect", command=on_reconnect)
        self.reconnect.pack(side="right", padx=(8, 0))
        self.input = InputLine(self, on_send)
        self.input.pack(side="bottom", fill="x", pady=(6, 0))
        self.body = ttk.PanedWindow(self, orient="horizontal")
        self.body.pack(side="top", fill="both", expand=True)
        self.sidebar = Sidebar(self.body, on_select, on_conversation_menu)
        centre = ttk.Frame(self.body)
        self.topic_full = ""
        header = ttk.Frame(centre)
        header.pack(side="top", fill="x")
        self.heading = ttk.Label(header, text="", style="Heading.TLabel", padding=(2, 0, 8, 0))
        self.heading.pack(side="left")
        self.topic = ttk.Label(header, text="", style="Topic.TLabel", padding=(0, 0, 4, 0), width=1)
        self.topic.pack(side="left", fill="x", expand=True)
        self.topic.bind("<Configure>", lambda _e: self._show_topic(), add="+")
        self.topic.bind("<Enter>", lambda _e: self._tooltip(True))
        self.topic.bind("<Leave>", lambda _e: self._tooltip(False))
        self.tip: tk.Toplevel | None = None
        self.log = ChatLog(centre)
        self.log.pack(side="top", fill="both", expand=True, pady=(4, 0))
        self.side = ttk.Frame(self.body)
        self.users_label = ttk.Label(self.side, text="Members", style="Heading.TLabel")
        self.users_label.pack(side="top", anchor="w", padx=(6, 0))
        card = ttk.Frame(self.side, style="Card.TFrame", padding=2)
        card.pack(side="top", fill="both", expand=True, padx=(6, 0), pady=(4, 0))
        self.users = tk.Listbox(card, width=14, activestyle="none", relief="flat", exportselection=False)
        self.users.pack(fill="both", expand=True)
        self.users.bind("<Double-Button-1>", self._double_click)
        self.users.bind("<Return>", self._double_click)
        self.users.bind(context_button(self), self._context_click)
        for key in ("<KeyPress-Menu>", "<KeyPress-App>", "<Shift-F10>"):
            with contextlib.suppress(tk.TclError):  # a keysym this platform's Tk does not know
                self.users.bind(key, self._context_key)
        self.body.add(self.sidebar, weight=1)
        self.body.add(centre, weight=5)
        self.body.add(self.side, weight=1)
        self.names: list[str] = []  # the nicks, in the order shown
        self.members: list[Member] = []
        self.own = ""
        self.away: set[str] = set()
        self.bind("<<ThemeChanged>>", lambda _e: self.after_idle(self._recolour), add="+")  # ttk widgets get it
        self._recolour()

    def set_members(self, members: list[Member], own: str, away: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Show `members` in order with their highest prefix; our name in our colour, away members
        and relayed `*names` in grey. An empty list hides the column (the server's conversation)."""
        self.members, self.names, self.own, self.away = list(members), [m.nick for m in members], own, set(away)
        colours = theme.palette(self)
        self.users.delete(0, "end")
        for index, member in enumerate(members):
            self.users.insert("end", member.label)
            if casefold(member.nick) == casefold(own):
                self.users.itemconfigure(index, foreground=colours.own)
            elif member.nick.startswith("*") or casefold(member.nick) in self.away:
                self.users.itemconfigure(index, foreground=colours.muted)
        self.users_label.configure(text=f"Members ({len(members)})")

    def set_users(self, names: tuple[str, ...], own: str) -> None:
        self.set_members([Member(name) for name in names], own)

    def set_topic(self, name: str, topic: str) -> None:
        """The header: the conversation's name, then its topic on one line (all of it on hover)."""
        self.heading.configure(text=name)
        self.topic_full = topic
        self._show_topic()

    def _show_topic(self) -> None:
        font = tkfont.nametofont(str(self.topic.cget("font") or "TkDefaultFont"))
        width = max(40, self.topic.winfo_width() - 8)
        self.topic.configure(text=elide(self.topic_full, font, width) if self.topic_full else "")

    def _tooltip(self, show: bool) -> None:
        """The whole topic, wrapped, while the pointer is on an elided topic bar."""
        if self.tip is not None:
            self.tip.destroy()
            self.tip = None
        if show and self.topic_full and str(self.topic.cget("text")).endswith("…"):
            self.tip = tk.Toplevel(self, class_=self.winfo_toplevel().winfo_class())
            self.tip.wm_overrideredirect(True)
            label = ttk.Label(self.tip, text=self.topic_full, wraplength=max(200, self.topic.winfo_width()))
            label.configure(style="Tip.TLabel", padding=(8, 6))
            label.pack()
            x, y = self.topic.winfo_rootx(), self.topic.winfo_rooty() + self.topic.winfo_height()
            self.tip.wm_geometry(f"+{x}+{y}")

    def _recolour(self) -> None:
        colours = theme.palette(self)
        self.users.configure(
            background=colours.text_bg,
            foreground=colours.text_fg,
            selectbackground=colours.select_bg,
            selectforeground=colours.text_fg,
            highlightthickness=0,
            borderwidth=6,  # flat, in the background colour: a margin around the names
        )
        self.set_members(self.members, self.own, self.away)

    def show_banner(self, text: str, *, reconnect: bool) -> None:
        self.banner_text.configure(text=text)
        if reconnect:
            self.reconnect.pack(side="right", padx=(8, 0))
        else:
            self.reconnect.pack_forget()
        self.banner.pack(side="top", fill="x", pady=(0, 6), before=self.body)

    def hide_banner(self) -> None:
        self.banner.pack_forget()

    def set_connected(self, connected: bool) -> None:
        self.input.configure(state="normal" if connected else "disabled")
        if connected:
            self.hide_banner()
            self.input.focus_set()
        else:
            self.set_members([], "")

    def _double_click(self, event: tk.Event) -> None:
        index = self.users.nearest(event.y) if event.type == tk.EventType.ButtonPress else self.users.index("active")
        if 0 <= index < len(self.names):
            self._on_open_private(self.names[index])

    def _context_click(self, event: tk.Event) -> None:
        index = self.users.nearest(event.y)
        if 0 <= index < len(self.names):
            self.users.selection_clear(0, "end")
            self.users.selection_set(index)
            self.users.activate(index)
            self._on_member_menu(self.names[index], event.x_root, event.y_root)

    def _context_key(self, _event: tk.Event) -> str:
        index = self.users.index("active")
        if 0 <= index < len(self.names) and (box := self.users.bbox(index)):
            x, y = self.users.winfo_rootx() + box[0] + 10, self.users.winfo_rooty() + box[1] + box[3]
            self._on_member_menu(self.names[index], x, y)
        return "break"
