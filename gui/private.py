"""A private-message window: one per person, titled with their name, marked when something new
arrives while it is not focused."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from .widgets import ChatLog, InputLine


class PrivateWindow(tk.Toplevel):
    """Talks to `peer`; `on_send(peer, text)` carries a typed line; closing just hides the talk."""

    def __init__(
        self, master: tk.Misc, peer: str, on_send: Callable[[str, str], None], on_close: Callable[[str], None]
    ) -> None:
        super().__init__(master, class_=master.winfo_class())  # the main window's class: grouped with it
        self.peer = peer
        self.unread = False
        self._on_close = on_close
        self.minsize(260, 160)
        frame = ttk.Frame(self, padding=6)
        frame.pack(fill="both", expand=True)
        self.input = InputLine(frame, lambda text: on_send(self.peer, text))
        self.input.pack(side="bottom", fill="x", pady=(6, 0))
        self.log = ChatLog(frame)
        self.log.pack(side="top", fill="both", expand=True)
        self.protocol("WM_DELETE_WINDOW", self._close)
        self.bind("<FocusIn>", lambda _e: self.mark_read())
        self.bind("<Control-w>", lambda _e: self._close())
        self._retitle()

    def rename(self, peer: str) -> None:
        self.peer = peer
        self._retitle()

    def has_focus(self) -> bool:
        focused = self.focus_displayof()
        return focused is not None and focused.winfo_toplevel() is self

    def mark_unread(self) -> None:
        if not self.has_focus():
            self.unread = True
            self._retitle()

    def mark_read(self) -> None:
        if self.unread:
            self.unread = False
            self._retitle()

    def bring_forward(self) -> None:
        self.deiconify()
        self.lift()
        self.input.focus_force()
        self.mark_read()

    def set_connected(self, connected: bool) -> None:
        self.input.configure(state="normal" if connected else "disabled")

    def _retitle(self) -> None:
        self.title(f"{'(new) ' if self.unread else ''}{self.peer} — private — MultiChat")

    def _close(self) -> None:
        self._on_close(self.peer)
        self.destroy()
