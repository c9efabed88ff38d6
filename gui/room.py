"""The room window's content: history, input line, user list, and a banner for connection trouble."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from multichat_trio.protocol import casefold

from . import theme
from .widgets import ChatLog, InputLine


class RoomView(ttk.Frame):
    """`#lobby`: double-click a name to talk in private; the banner offers Reconnect after a drop."""

    def __init__(
        self,
        master: tk.Misc,
        on_send: Callable[[str], None],
        on_open_private: Callable[[str], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        super().__init__(master, padding=(6, 6, 6, 6))
        self._on_open_private = on_open_private
        self.banner = ttk.Frame(self, style="Banner.TFrame", padding=(8, 6))
        self.banner_text = ttk.Label(self.banner, text="", style="Banner.TLabel", wraplength=420)
        self.banner_text.pack(side="left", fill="x", expand=True)
        self.reconnect = ttk.Button(self.banner, text="Reconnect", command=on_reconnect)
        self.reconnect.pack(side="right", padx=(8, 0))
        self.input = InputLine(self, on_send)
        self.input.pack(side="bottom", fill="x", pady=(6, 0))
        self.body = ttk.PanedWindow(self, orient="horizontal")
        self.body.pack(side="top", fill="both", expand=True)
        self.log = ChatLog(self.body)
        side = ttk.Frame(self.body)
        self.users_label = ttk.Label(side, text="Users", style="Heading.TLabel")
        self.users_label.pack(side="top", anchor="w", padx=(6, 0))
        card = ttk.Frame(side, style="Card.TFrame", padding=2)
        card.pack(side="top", fill="both", expand=True, padx=(6, 0), pady=(4, 0))
        self.users = tk.Listbox(card, width=16, activestyle="none", relief="flat", exportselection=False)
        self.users.pack(fill="both", expand=True)
        self.users.bind("<Double-Button-1>", self._double_click)
        self.users.bind("<Return>", self._double_click)
        self.body.add(self.log, weight=4)
        self.body.add(side, weight=1)
        self.names: list[str] = []
        self._own = ""
        self.bind("<<ThemeChanged>>", lambda _e: self.after_idle(self._recolour), add="+")  # ttk widgets get it
        self._recolour()

    def set_users(self, names: tuple[str, ...], own: str) -> None:
        """Show `names` (already sorted); our own name in our colour, relayed `*names` in grey."""
        self.names, self._own = list(names), own
        colours = theme.palette(self)
        self.users.delete(0, "end")
        for index, name in enumerate(names):
            self.users.insert("end", name)
            if casefold(name) == casefold(own):
                self.users.itemconfigure(index, foreground=colours.own)
            elif name.startswith("*"):
                self.users.itemconfigure(index, foreground=colours.muted)
        self.users_label.configure(text=f"Users ({len(names)})")

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
        self.set_users(tuple(self.names), self._own)

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
            self.set_users((), "")

    def _double_click(self, event: tk.Event) -> None:
        index = self.users.nearest(event.y) if event.type == tk.EventType.ButtonPress else self.users.index("active")
        if 0 <= index < len(self.names):
            self._on_open_private(self.names[index])
