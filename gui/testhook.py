"""Test-only introspection: with MULTICHAT_GUI_STATE=1 the app prints its visible state as one JSON
line on stdout whenever it changes, so a test driving the real windows (Xvfb + xdotool) can wait
on what the user would see instead of sleeping. Off by default; docs/gui.md describes the fields.
"""

from __future__ import annotations

import json
import os
import tkinter as tk
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ChatApp

ENV = "MULTICHAT_GUI_STATE"


def install(app: ChatApp) -> None:
    """Report `app`'s state on every change, when the environment asks for it."""
    if os.environ.get(ENV) == "1":
        reporter = StateReporter(app)
        app.on_change = reporter.schedule
        app.root.bind_all("<Configure>", lambda _e: reporter.schedule(), add="+")
        app.root.bind_all("<FocusIn>", lambda _e: reporter.schedule(), add="+")


class StateReporter:
    def __init__(self, app: ChatApp) -> None:
        self.app = app
        self._pending = False
        self._last = ""

    def schedule(self) -> None:
        """Coalesce a burst of changes into one report once Tk is idle."""
        if not self._pending:
            self._pending = True
            self.app.root.after_idle(self._report)

    def _report(self) -> None:
        self._pending = False
        self.app.root.update_idletasks()
        line = json.dumps(self.state(), sort_keys=True, ensure_ascii=False)
        if line != self._last:
            self._last = line
            print(line, flush=True)

    def state(self) -> dict[str, Any]:
        app, room, form = self.app, self.app.room, self.app.form
        roles: dict[str, tk.Misc] = {f"form.{name}": entry for name, entry in form.fields.items()}
        roles |= {"room.input": room.input, "room.users": room.users}
        roles |= {f"private:{w.peer}": w.input for w in app.privates.values()}
        focused = app.root.focus_get()
        return {
            "screen": app.screen,
            "title": app.root.title(),
            "window": _box(app.root),
            "focus": next((role for role, widget in roles.items() if widget is focused), None),
            "form": {
                "errors": {name: label.cget("text") for name, label in form.errors.items() if label.cget("text")},
                "status": form.status.cget("text"),
            },
            "room": {
                "users": room.names,
                "log": room.log.lines(),
                "banner": room.banner_text.cget("text") if room.banner.winfo_ismapped() else "",
                "input_enabled": str(room.input.cget("state")) == "normal",
                "input": _box(room.input),
                "reconnect": _box(room.reconnect),
                "user_list": _box(room.users),
                "user_boxes": {name: box for i, name in enumerate(room.names) if (box := _item_box(room.users, i))},
            },
            "private": {
                w.peer: {"title": w.title(), "unread": w.unread, "log": w.log.lines(), "window": _box(w)}
                for w in app.privates.values()
            },
        }


def _box(widget: tk.Misc) -> list[int] | None:
    """[x, y, width, height] on the screen, or None when not mapped."""
    if not widget.winfo_ismapped():
        return None
    return [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]


def _item_box(listbox: tk.Listbox, index: int) -> list[int] | None:
    box = listbox.bbox(index)
    if not box or not listbox.winfo_ismapped():
        return None
    x, y, width, height = box
    return [listbox.winfo_rootx() + x, listbox.winfo_rooty() + y, width, height]
