"""The channel browser (`/list`, View → Channels…): the server's channels with their users and
topic, a filter, and a field to join (or create) a channel by name."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from . import placement
from .events import ChannelRow

SIZE = (520, 380)  # at 96 DPI


class ChannelBrowser(tk.Toplevel):
    """Double-click a row or press Enter on it to join; `on_join(name)` types `/join name`;
    `on_refresh()` asks the server for the list again."""

    def __init__(
        self, owner: tk.Misc, on_join: Callable[[str], None], on_refresh: Callable[[], None], scale: float = 1.0
    ) -> None:
        super().__init__(owner, class_=owner.winfo_class())
        self.withdraw()
        self._on_join = on_join
        self.rows: tuple[ChannelRow, ...] = ()
        self.title("Channels — MultiChat")
        self.transient(owner)
        frame = ttk.Frame(self, padding=12)
        frame.pack(fill="both", expand=True)
        top = ttk.Frame(frame)
        top.pack(side="top", fill="x")
        ttk.Label(top, text="Filter").pack(side="left")
        self.filter = ttk.Entry(top)
        self.filter.pack(side="left", fill="x", expand=True, padx=(8, 8))
        self.filter.bind("<KeyRelease>", lambda _e: self._fill())
        self.filter.bind("<Return>", lambda _e: self._join_selected())
        self.filter.bind("<Down>", lambda _e: self._focus_rows())
        ttk.Button(top, text="Refresh", command=on_refresh).pack(side="right")
        bottom = ttk.Frame(frame)
        bottom.pack(side="bottom", fill="x", pady=(10, 0))
        ttk.Label(bottom, text="Join or create").pack(side="left")
        self.name = ttk.Entry(bottom)
        self.name.pack(side="left", fill="x", expand=True, padx=(8, 8))
        self.name.insert(0, "#")
        self.name.bind("<Return>", lambda _e: self._join_named())
        self.join_button = ttk.Button(bottom, text="Join", style="Accent.TButton", command=self._join_named)
        self.join_button.pack(side="right")
        self.status = ttk.Label(frame, text="Asking the server…", style="Status.TLabel")
        self.status.pack(side="bottom", anchor="w", pady=(6, 0))
        self.table = ttk.Treeview(frame, columns=("users", "topic"), selectmode="browse", height=8)
        self.table.configure(style="Sidebar.Treeview")  # rows without an expander
        self.table.heading("#0", text="Channel", anchor="w")
        self.table.heading("users", text="Users", anchor="center")
        self.table.heading("topic", text="Topic", anchor="w")
        self.table.column("#0", width=round(130 * scale), stretch=False)
        self.table.column("users", width=round(64 * scale), stretch=False, anchor="center")
        self.table.column("topic", width=round(260 * scale), stretch=True)
        self.table.pack(side="top", fill="both", expand=True, pady=(10, 0))
        self.table.bind("<Double-Button-1>", lambda _e: self._join_selected())
        self.table.bind("<Return>", lambda _e: self._join_selected())
        self.bind("<Escape>", lambda _e: self.destroy())
        width, height = (round(side * scale) for side in SIZE)
        box = placement.centred(placement.box_of(owner), width, height, placement.work_area(owner))
        self.geometry(placement.geometry(box))
        self.deiconify()
        self.filter.focus_set()

    def show(self, rows: tuple[ChannelRow, ...]) -> None:
        """The server's answer: busiest channels first."""
        self.rows = tuple(sorted(rows, key=lambda row: (-row.users, row.name.lower())))
        self._fill()

    def visible(self) -> list[ChannelRow]:
        wanted = self.filter.get().strip().lower()
        return [r for r in self.rows if not wanted or wanted in r.name.lower() or wanted in r.topic.lower()]

    def _fill(self) -> None:
        self.table.delete(*self.table.get_children())
        shown = self.visible()
        for row in shown:
            self.table.insert("", "end", iid=row.name, text=row.name, values=(row.users, " ".join(row.topic.split())))
        if shown:
            self.table.selection_set(shown[0].name)
        self.status.configure(text=f"{len(shown)} of {len(self.rows)} channels" if self.rows else "No channels yet")

    def row_box(self, name: str) -> list[int] | None:
        found = self.table.bbox(name) if self.table.exists(name) else ""
        if not found or not self.table.winfo_ismapped():
            return None
        x, y, width, height = found
        return [self.table.winfo_rootx() + x, self.table.winfo_rooty() + y, width, height]

    def _focus_rows(self) -> None:
        self.table.focus_set()
        if chosen := self.table.selection():
            self.table.focus(chosen[0])

    def _join_selected(self) -> None:
        if chosen := self.table.selection():
            self._join(chosen[0])

    def _join_named(self) -> None:
        if self.name.get().strip("# "):
            self._join(self.name.get().strip())

    def _join(self, name: str) -> None:
        self._on_join(name)
        self.destroy()
