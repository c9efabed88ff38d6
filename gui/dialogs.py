"""The paste confirmation: "Send 3 lines?" before a multi-line paste leaves the input line.

A small ttk dialog over the window it belongs to (inside the screen), modal to it: Enter sends,
Escape (or closing it) cancels and leaves the input line as it was.
"""

from __future__ import annotations

import contextlib
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from . import placement

PREVIEW_LINES = 4  # pasted lines shown in the dialog
PREVIEW_WIDTH = 60  # characters of each


class ConfirmPaste(tk.Toplevel):
    """Asks before sending `lines`; calls `on_send()` on Send, nothing on Cancel; destroys itself."""

    def __init__(self, master: tk.Misc, lines: list[str], on_send: Callable[[], None]) -> None:
        owner = master.winfo_toplevel()
        super().__init__(owner, class_=owner.winfo_class())
        self.withdraw()
        self._on_send = on_send
        self._origin = master  # gets the focus back
        self.question = f"Send {len(lines)} lines?"
        self.title(f"{self.question} — MultiChat")
        self.transient(owner)
        self.resizable(False, False)
        frame = ttk.Frame(self, padding=(18, 14))
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=self.question, style="Heading.TLabel").pack(anchor="w")
        shown = [line if len(line) <= PREVIEW_WIDTH else line[: PREVIEW_WIDTH - 1] + "…" for line in lines]
        if len(lines) > PREVIEW_LINES:
            shown = [*shown[: PREVIEW_LINES - 1], f"… and {len(lines) - PREVIEW_LINES + 1} more"]
        ttk.Label(frame, text="\n".join(shown), style="Status.TLabel", justify="left").pack(anchor="w", pady=(6, 12))
        buttons = ttk.Frame(frame)
        buttons.pack(anchor="e")
        ttk.Button(buttons, text="Cancel", command=self.cancel).pack(side="right")
        self.send_button = ttk.Button(buttons, text="Send", style="Accent.TButton", command=self.send)
        self.send_button.pack(side="right", padx=(0, 8))
        for key in ("<Return>", "<KP_Enter>"):
            self.bind(key, lambda _e: self.send())
        self.bind("<Escape>", lambda _e: self.cancel())
        self.protocol("WM_DELETE_WINDOW", self.cancel)
        self.update_idletasks()
        area = placement.work_area(owner)
        box = placement.centred(placement.box_of(owner), self.winfo_reqwidth(), self.winfo_reqheight(), area)
        self.geometry(f"+{box[0]}+{box[1]}")
        self.bind("<Map>", self._mapped)
        self.deiconify()

    def _mapped(self, event: tk.Event) -> None:
        """Once on screen: modal to the app (a local grab) with the focus on Send."""
        if event.widget is not self:
            return
        self.unbind("<Map>")
        with contextlib.suppress(tk.TclError):  # another app holds a grab: stay non-modal
            self.grab_set()
        self.send_button.focus_force()

    def send(self) -> None:
        self._close()
        self._on_send()

    def cancel(self) -> None:
        self._close()

    def _close(self) -> None:
        self.grab_release()
        self._origin.focus_force()
        self.destroy()
