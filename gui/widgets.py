"""Widgets shared by the room and the private windows: the read-only history and the input line."""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
import zlib
from collections.abc import Callable
from datetime import datetime
from tkinter import ttk

from . import theme
from .dialogs import ConfirmPaste

INPUT_HISTORY = 100  # lines the Up key can recall
LOG_LINES = 2000  # lines a history view keeps before dropping the oldest
CONTROL = 0x4  # the Control bit of a Tk event's state: Ctrl+Up/Down switch conversations instead


class ChatLog(ttk.Frame):
    """A scrolling, read-only history: time, nick, text, with own messages, joins and leaves, and
    server notices styled apart.

    It follows new lines until the user scrolls up; then it stays put and a "new messages below"
    button counts what arrived and jumps back down. Following is the user's choice, not a guess
    from the view after each insert (that guess failed during a long replay or while a banner
    resized the log): only the user's own scrolling turns it off, and reaching the bottom again
    turns it back on.
    """

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master, style="Card.TFrame", padding=2)
        self.text = tk.Text(
            self, wrap="word", state="disabled", width=40, height=10, relief="flat", padx=8, pady=6, cursor="arrow"
        )
        self.scroll = ttk.Scrollbar(self, orient="vertical", command=self._scrollbar)
        self.text.configure(yscrollcommand=self.scroll.set)
        self.scroll.pack(side="right", fill="y")
        self.text.pack(side="left", fill="both", expand=True)
        self.following = True
        self.unseen = 0
        self.hint = ttk.Button(self, style="Accent.TButton", command=self.follow, takefocus=False)
        base = tkfont.nametofont("TkDefaultFont")
        self._bold = base.copy()
        self._bold.configure(weight="bold")
        self._italic = base.copy()
        self._italic.configure(slant="italic")
        self.text.configure(font=base, spacing1=2, spacing3=2)
        self.text.tag_configure("bold", font=self._bold)
        self.text.tag_configure("event", font=self._italic)
        self.text.tag_configure("line", lmargin2=48)  # wrapped lines indent past the time
        self.text.tag_configure("marker", justify="center", font=self._bold, spacing1=6, spacing3=6)
        self._recolour()
        for sequence in ("<MouseWheel>", "<Button-4>", "<Button-5>", "<KeyRelease>", "<B1-Motion>"):
            self.text.bind(sequence, lambda _e: self.after_idle(self._user_scrolled), add="+")
        self.text.bind("<Configure>", lambda _e: self._pin(), add="+")
        self.bind("<<ThemeChanged>>", lambda _e: self.after_idle(self._recolour), add="+")

    def _recolour(self) -> None:
        """Tag colours from the current theme's palette (the theme sets the text's own background)."""
        colours = theme.palette(self)
        self.text.configure(
            background=colours.text_bg,
            foreground=colours.text_fg,
            selectbackground=colours.select_bg,
            inactiveselectbackground=colours.select_bg,
            highlightthickness=0,
            borderwidth=0,
        )
        for tag, colour in (
            ("time", colours.muted),
            ("own", colours.own),
            ("event", colours.event),
            ("notice", colours.notice),
            ("error", colours.error),
            ("action", colours.action),
            ("history", colours.history),
        ):
            self.text.tag_configure(tag, foreground=colour)
        self.text.tag_configure("mention", background=colours.mention_bg)
        self.text.tag_configure("marker", foreground=colours.error)
        for index, colour in enumerate(colours.nicks):
            self.text.tag_configure(f"nick{index}", foreground=colour)

    def add(
        self,
        when: datetime | None,
        nick: str | None,
        text: str,
        style: str = "",
        *,
        own: bool = False,
        mention: bool = False,
    ) -> None:
        """Append one line. `nick` None means an event or notice line (`style` event/notice/error)."""
        self.text.configure(state="normal")
        self._insert(when, nick, text, style, own=own, mention=mention)
        self._trim()
        self.text.configure(state="disabled")
        if self.following:
            self.text.see("end")
        else:
            self.unseen += 1
            self._show_hint()

    def show(self, lines: list[tuple[datetime | None, str | None, str, str, bool, bool]], marker: int | None) -> None:
        """Show exactly `lines` (when, nick, text, style, own, mention), with a "new messages" line
        before index `marker`: a conversation switched to, or one whose lines changed in the middle."""
        top = self.text.yview()[0]
        self.text.configure(state="normal")
        self.text.delete("1.0", "end")
        for index, (when, nick, text, style, own, mention) in enumerate(lines):
            if index == marker:
                self.text.insert("end", "── new messages ──\n", ("marker",))
            self._insert(when, nick, text, style, own=own, mention=mention)
        self._trim()
        self.text.configure(state="disabled")
        if self.following:
            self.text.see("end")
        else:
            self.text.yview_moveto(top)

    def _insert(
        self, when: datetime | None, nick: str | None, text: str, style: str, *, own: bool, mention: bool
    ) -> None:
        stamp = (when.astimezone() if when else datetime.now()).strftime("%H:%M")
        start = self.text.index("end-1c")
        self.text.insert("end", stamp + "  ", ("time",))
        if nick is not None:
            colour = "own" if own else f"nick{zlib.crc32(nick.lower().encode()) % len(theme.LIGHT.nicks)}"
            shown = f"* {nick} " if style == "action" else f"{nick}  "
            self.text.insert("end", shown, ("bold", "history" if style == "history" else colour))
        self.text.insert("end", text + "\n", (style,) if style else ())
        self.text.tag_add("line", start, "end-1c")
        if mention:
            self.text.tag_add("mention", start, "end-1c")

    def _trim(self) -> None:
        excess = int(self.text.index("end-1c").split(".")[0]) - LOG_LINES
        if excess > 0:
            self.text.delete("1.0", f"{excess + 1}.0")

    def follow(self) -> None:
        """Jump to the newest line and follow from now on (the hint's button; after a reconnect)."""
        self.following, self.unseen = True, 0
        self.hint.place_forget()
        self.text.see("end")

    def show_marker(self) -> None:
        """Bring the "new messages" line into view; follow only if the newest line is still in view."""
        if self.text.tag_ranges("marker"):
            self.text.see("marker.first")
            self.after_idle(self._user_scrolled)

    def at_bottom(self) -> bool:
        """True when the last line is on screen."""
        self.text.update_idletasks()
        return self.text.dlineinfo("end-1c") is not None

    def _scrollbar(self, *args: str) -> None:
        self.text.yview(*args)
        self.after_idle(self._user_scrolled)

    def _user_scrolled(self) -> None:
        """The user moved the view: follow again once they are back at the bottom, else stay put."""
        if self.at_bottom():
            if not self.following or self.unseen:
                self.follow()
        else:
            self.following = False

    def _pin(self) -> None:
        """The log changed size (a banner came or went, the window was resized): keep following."""
        if self.following:
            self.text.see("end")

    def _show_hint(self) -> None:
        self.hint.configure(text=f"↓  {self.unseen} new message{'s' if self.unseen != 1 else ''} below")
        self.hint.place(relx=0.5, rely=1.0, anchor="s", y=-10)
        self.hint.lift()

    def lines(self, last: int = 50) -> list[str]:
        """The last `last` lines as plain text (for the test hook)."""
        return self.text.get("1.0", "end-1c").splitlines()[-last:]


class InputLine(ttk.Entry):
    """One line of input: Enter hands the text to `on_submit`; Up and Down walk earlier lines; Tab
    completes the word before the cursor from `completions()` (the channel's nicks), again for the next."""

    def __init__(self, master: tk.Misc, on_submit: Callable[[str], None]) -> None:
        super().__init__(master)
        self._on_submit = on_submit
        self._history: list[str] = []
        self._position = 0
        self.bind("<Return>", self._submit)
        self.bind("<KP_Enter>", self._submit)
        self.bind("<Up>", lambda e: None if e.state & CONTROL else self._recall(-1))
        self.bind("<Down>", lambda e: None if e.state & CONTROL else self._recall(1))
        self.bind("<<Paste>>", self._paste)
        self.bind("<Tab>", self._complete)
        self.dialog: ConfirmPaste | None = None  # an open paste confirmation
        self.completions: Callable[[], list[str]] = list
        self._cycle: tuple[str, list[str], int] | None = None  # (typed prefix, candidates, index shown)

    def _complete(self, _event: object) -> str | None:
        """Tab: the next nick starting with the word before the cursor (`nick: ` at the line's start)."""
        before = self.get()[: self.index("insert")]
        if self._cycle is not None and before.endswith(self._cycle[0]):
            done, candidates, shown = self._cycle
            start, shown = len(before) - len(done), (shown + 1) % len(candidates)
        else:
            start = len(before) - len(before.split(" ")[-1])
            word = before[start:].lower()
            candidates = [nick for nick in self.completions() if word and nick.lower().startswith(word)]
            shown = 0
            if not candidates:
                self._cycle = None
                return "break" if word else None  # nothing typed: Tab moves the focus as usual
        done = candidates[shown] + (": " if start == 0 else " ")
        self._cycle = (done, candidates, shown)
        self.delete(start, len(before))
        self.insert(start, done)
        self.icursor(start + len(done))
        return "break"

    def _paste(self, _event: object) -> str | None:
        """A paste of several lines asks "Send N lines?" first; one line is pasted as usual."""
        try:
            pasted = self.clipboard_get()
        except tk.TclError:
            return None  # nothing (or no text) on the clipboard
        if "\n" not in pasted.strip("\r\n") or str(self.cget("state")) == "disabled":
            if pasted.strip("\r\n") != pasted:
                self._replace_selection(pasted.strip("\r\n"))
                return "break"
            return None  # Tk's own paste
        before, after = self._around_selection()
        text = before + pasted + after
        lines = [line for line in text.splitlines() if line.strip()]

        def send() -> None:
            self.dialog = None
            self.delete(0, "end")
            self._on_submit(text)

        self.dialog = ConfirmPaste(self, lines, send)
        self.dialog.bind("<Destroy>", lambda e: self._dialog_gone(e), add="+")
        return "break"

    def _dialog_gone(self, event: tk.Event) -> None:
        if self.dialog is not None and event.widget is self.dialog:
            self.dialog = None

    def _around_selection(self) -> tuple[str, str]:
        """The text before and after the insertion point, a selection (which a paste replaces) left out."""
        text = self.get()
        if self.selection_present():
            return text[: self.index("sel.first")], text[self.index("sel.last") :]
        cursor = self.index("insert")
        return text[:cursor], text[cursor:]

    def _replace_selection(self, text: str) -> None:
        if self.selection_present():
            self.delete("sel.first", "sel.last")
        self.insert("insert", text)

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
