"""Widgets shared by the room and the private windows: the read-only history and the input line."""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
import zlib
from collections.abc import Callable
from datetime import datetime
from tkinter import ttk

#: Colours of other people's nicknames (readable on white); each nick always gets the same one.
NICK_COLOURS = ("#b03060", "#2e7d32", "#6a1b9a", "#c75b00", "#00796b", "#8d6e00", "#ad1457", "#37474f")
OWN_COLOUR = "#1565c0"
INPUT_HISTORY = 100  # lines the Up key can recall
LOG_LINES = 2000  # lines a history view keeps before dropping the oldest


class ChatLog(ttk.Frame):
    """A scrolling, read-only history: time, nick, text, with own messages, joins and leaves, and
    server notices styled apart. It follows new lines only while the user is at the bottom."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.text = tk.Text(
            self, wrap="word", state="disabled", width=40, height=10, relief="flat", padx=6, pady=4, cursor="arrow"
        )
        scroll = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=scroll.set)
        scroll.pack(side="right", fill="y")
        self.text.pack(side="left", fill="both", expand=True)
        base = tkfont.nametofont("TkDefaultFont")
        self._bold = base.copy()
        self._bold.configure(weight="bold")
        self._italic = base.copy()
        self._italic.configure(slant="italic")
        self.text.configure(font=base, spacing1=2, spacing3=2)
        self.text.tag_configure("time", foreground="#8a8a8a")
        self.text.tag_configure("bold", font=self._bold)
        self.text.tag_configure("own", foreground=OWN_COLOUR)
        self.text.tag_configure("event", foreground="#707070", font=self._italic)
        self.text.tag_configure("notice", foreground="#8a5a00")
        self.text.tag_configure("error", foreground="#c62828")
        self.text.tag_configure("action", foreground="#6a1b9a")
        self.text.tag_configure("history", foreground="#9e9e9e")
        for index, colour in enumerate(NICK_COLOURS):
            self.text.tag_configure(f"nick{index}", foreground=colour)
        self.text.tag_configure("line", lmargin2=48)  # wrapped lines indent past the time

    def add(self, when: datetime | None, nick: str | None, text: str, style: str = "", *, own: bool = False) -> None:
        """Append one line. `nick` None means an event or notice line (`style` event/notice/error)."""
        at_bottom = self.text.yview()[1] >= 0.999
        stamp = (when.astimezone() if when else datetime.now()).strftime("%H:%M")
        self.text.configure(state="normal")
        start = self.text.index("end-1c")
        self.text.insert("end", stamp + "  ", ("time",))
        if nick is not None:
            colour = "own" if own else f"nick{zlib.crc32(nick.lower().encode()) % len(NICK_COLOURS)}"
            shown = f"* {nick} " if style == "action" else f"{nick}  "
            self.text.insert("end", shown, ("bold", "history" if style == "history" else colour))
        self.text.insert("end", text + "\n", (style,) if style else ())
        self.text.tag_add("line", start, "end-1c")
        excess = int(self.text.index("end-1c").split(".")[0]) - LOG_LINES
        if excess > 0:
            self.text.delete("1.0", f"{excess + 1}.0")
        self.text.configure(state="disabled")
        if at_bottom:
            self.text.see("end")

    def lines(self, last: int = 50) -> list[str]:
        """The last `last` lines as plain text (for the test hook)."""
        return self.text.get("1.0", "end-1c").splitlines()[-last:]


class InputLine(ttk.Entry):
    """One line of input: Enter hands the text to `on_submit`; Up and Down walk earlier lines."""

    def __init__(self, master: tk.Misc, on_submit: Callable[[str], None]) -> None:
        super().__init__(master)
        self._on_submit = on_submit
        self._history: list[str] = []
        self._position = 0
        self.bind("<Return>", self._submit)
        self.bind("<KP_Enter>", self._submit)
        self.bind("<Up>", lambda _e: self._recall(-1))
        self.bind("<Down>", lambda _e: self._recall(1))

    def _submit(self, _event: object) -> str:
        text = self.get()
        if text.strip():
            self._history = [*self._history[-(INPUT_HISTORY - 1) :], text]
        self._position = len(self._history)
        self.delete(0, "end")
        if text.strip():
            self._on_submit(text)
        return "break"

    def _recall(self, step: int) -> str:
        self._position = max(0, min(len(self._history), self._position + step))
        self.delete(0, "end")
        if self._position < len(self._history):
            self.insert(0, self._history[self._position])
        return "break"
