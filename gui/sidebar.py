"""The sidebar: every conversation (the server's, the channels, the private ones) with its unread
count; emphasised while a mention or a private message is unread, greyed once we are out of a channel."""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk

from . import theme


@dataclass(frozen=True, slots=True)
class Entry:
    """One row: `key` is the model's (casefolded) name, `label` what is shown."""

    key: str
    label: str
    unread: int
    alert: bool
    gone: bool
    private: bool


class Sidebar(ttk.Frame):
    """A Treeview of conversations; selecting one (click, or `step` from Ctrl+Up/Down/Tab) calls `on_select(key)`."""

    def __init__(self, master: tk.Misc, on_select: Callable[[str], None], on_menu: Callable[[str, int, int], None]):
        super().__init__(master)
        self._on_select = on_select
        self._on_menu = on_menu
        ttk.Label(self, text="Chats", style="Heading.TLabel").pack(side="top", anchor="w", padx=(2, 0))
        card = ttk.Frame(self, style="Card.TFrame", padding=2)
        card.pack(side="top", fill="both", expand=True, pady=(4, 0))
        self.tree = ttk.Treeview(card, columns=("unread",), show="tree", selectmode="browse", takefocus=False)
        self.tree.configure(style="Sidebar.Treeview")
        self.tree.column("#0", width=100, stretch=True)
        self.tree.column("unread", width=28, stretch=False, anchor="e")
        self.tree.pack(fill="both", expand=True)
        self.entries: list[Entry] = []
        self.current = ""
        base = tkfont.nametofont("TkDefaultFont")
        self._bold = base.copy()
        self._bold.configure(weight="bold")
        self.tree.bind("<<TreeviewSelect>>", self._selected)
        self.tree.bind(context_button(self), self._menu)
        self.bind("<<ThemeChanged>>", lambda _e: self.after_idle(self._recolour), add="+")
        self._recolour()

    def _recolour(self) -> None:
        colours = theme.palette(self)
        self.tree.tag_configure("alert", font=self._bold, foreground=colours.own)
        self.tree.tag_configure("unread", font=self._bold)
        self.tree.tag_configure("gone", foreground=colours.muted)

    def show(self, entries: list[Entry], current: str) -> None:
        """Show `entries` in this order, with `current` selected."""
        self.entries, self.current = entries, current
        keep = {f"c:{e.key}" for e in entries}
        for item in self.tree.get_children():
            if item not in keep:
                self.tree.delete(item)
        for index, entry in enumerate(entries):
            item = f"c:{entry.key}"
            tags = ("gone",) if entry.gone else ("alert",) if entry.alert else ("unread",) if entry.unread else ()
            values = (str(entry.unread) if entry.unread else "",)
            if self.tree.exists(item):
                self.tree.item(item, text=entry.label, values=values, tags=tags)
                self.tree.move(item, "", index)
            else:
                self.tree.insert("", index, iid=item, text=entry.label, values=values, tags=tags)
        if self.tree.selection() != (f"c:{current}",) and self.tree.exists(f"c:{current}"):
            self.tree.selection_set(f"c:{current}")
            self.tree.see(f"c:{current}")

    def step(self, by: int) -> None:
        """Select the conversation `by` rows after the current one (wrapping round); private ones,
        which are windows of their own, are left out."""
        keys = [e.key for e in self.entries if not e.private]
        if keys:
            here = keys.index(self.current) if self.current in keys else 0
            self._on_select(keys[(here + by) % len(keys)])

    def box(self, key: str) -> list[int] | None:
        """The row of `key` on the screen ([x, y, width, height]), for the test hook."""
        found = self.tree.bbox(f"c:{key}") if self.tree.exists(f"c:{key}") else ""
        if not found or not self.tree.winfo_ismapped():
            return None
        x, y, width, height = found
        return [self.tree.winfo_rootx() + x, self.tree.winfo_rooty() + y, width, height]

    def _selected(self, _event: object) -> None:
        chosen = self.tree.selection()
        if chosen and chosen[0][2:] != self.current:
            self._on_select(chosen[0][2:])

    def _menu(self, event: tk.Event) -> None:
        item = self.tree.identify_row(event.y)
        if item:
            self._on_menu(item[2:], event.x_root, event.y_root)


def context_button(widget: tk.Misc) -> str:
    """The mouse button of a context menu: the right one (Button-2 on macOS, Button-3 elsewhere)."""
    return "<Button-2>" if widget.tk.call("tk", "windowingsystem") == "aqua" else "<Button-3>"
