"""Test-only introspection: with MULTICHAT_GUI_STATE=1 the app prints its visible state as one JSON
line on stdout whenever it changes, so a test driving the real windows (Xvfb + xdotool) can wait
on what the user would see instead of sleeping. Off by default; docs/gui.md describes the fields.
"""

from __future__ import annotations

import json
import os
import tkinter as tk
from typing import TYPE_CHECKING, Any

from . import theme

if TYPE_CHECKING:
    from .app import ChatApp
    from .widgets import ChatLog

ENV = "MULTICHAT_GUI_STATE"


def install(app: ChatApp) -> None:
    """Report `app`'s state on every change, when the environment asks for it."""
    if os.environ.get(ENV) == "1":
        reporter = StateReporter(app)
        app.on_change = reporter.schedule
        app.root.bind_all("<Configure>", lambda _e: reporter.schedule(), add="+")
        for sequence in ("<FocusIn>", "<FocusOut>", "<ButtonRelease>", "<KeyRelease>", "<Map>", "<Unmap>", "<Leave>"):
            app.root.bind_all(sequence, lambda _e: reporter.schedule(), add="+")


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
        roles |= {"room.input": room.input, "room.users": room.users, "room.sidebar": room.sidebar.tree}
        browser = app.browser if app.browser is not None and app.browser.winfo_exists() else None
        if browser is not None:
            roles |= {"browser.filter": browser.filter, "browser.table": browser.table, "browser.name": browser.name}
        roles |= {f"private:{w.peer}": w.input for w in app.privates.values()}
        inputs = [room.input, *(w.input for w in app.privates.values())]
        dialog = next((i.dialog for i in inputs if i.dialog is not None and i.dialog.winfo_exists()), None)
        if dialog is not None:
            roles["dialog.send"] = dialog.send_button
        focused = str(app.root.tk.call("focus"))
        menubar = f".#{str(app.menu).lstrip('.')}"  # the menubar Tk shows is a clone of app.menu
        return {
            "screen": app.screen,
            "title": app.root.title(),
            "window": _box(app.root),
            "menubar": _path_box(app.root, menubar),
            "menu": _menu_entries(app.menu),
            "menu_posted": _posted(app.root, menubar),
            "theme": "dark" if theme.palette(app.root).dark else "light",
            "scaling": round(float(app.root.tk.call("tk", "scaling")), 3),
            "classes": sorted({app.root.winfo_class(), *(w.winfo_class() for w in app.privates.values())}),
            "unread": app.unread,
            "urgent": sorted("main" if w is app.root else f"private:{getattr(w, 'peer', '?')}" for w in app.urgent),
            "bells": app.bells,
            "dialog": None if dialog is None else {"question": dialog.question, "window": _box(dialog)},
            "focus": next((role for role, widget in roles.items() if str(widget) == focused), None),
            "form": {
                "errors": {name: label.cget("text") for name, label in form.errors.items() if label.cget("text")},
                "status": form.status.cget("text"),
                "fields": {name: entry.get() for name, entry in form.fields.items() if name != "password"},
                "tls": form.tls.get(),
                "tls_verify": form.tls_verify.get(),
            },
            "room": {
                "users": sorted(room.names, key=str.lower),
                "members": [member.label for member in room.members],
                "current": app.current,
                "topic": room.topic.cget("text"),
                "topic_full": room.topic_full,
                "topic_bar": _box(room.topic),
                "topic_tip": _box(room.tip) if room.tip is not None and room.tip.winfo_exists() else None,
                "sidebar": [
                    {"key": e.key, "label": e.label, "unread": e.unread, "alert": e.alert, "gone": e.gone}
                    for e in room.sidebar.entries
                ],
                "sidebar_boxes": {e.key: box for e in room.sidebar.entries if (box := room.sidebar.box(e.key))},
                "marker": room.log.text.index("marker.first") if room.log.text.tag_ranges("marker") else None,
                "log": room.log.lines(),
                "view": _view(room.log),
                "banner": room.banner_text.cget("text") if room.banner.winfo_ismapped() else "",
                "input_enabled": str(room.input.cget("state")) == "normal",
                "input_text": room.input.get(),
                "input": _box(room.input),
                "reconnect": _box(room.reconnect),
                "user_list": _box(room.users),
                "user_boxes": {name: box for i, name in enumerate(room.names) if (box := _item_box(room.users, i))},
            },
            "popup": _popup(app.popup),
            "browser": None
            if browser is None
            else {
                "rows": [[r.name, r.users, r.topic] for r in browser.visible()],
                "row_boxes": {r.name: box for r in browser.visible() if (box := browser.row_box(r.name))},
                "window": _box(browser),
                "name": _box(browser.name),
                "status": browser.status.cget("text"),
            },
            "private": {
                w.peer: {"title": w.title(), "unread": w.unread, "log": w.log.lines(), "window": _box(w)}
                for w in app.privates.values()
            },
        }


def _popup(menu: tk.Menu | None) -> dict[str, list[int]] | None:
    """An open context menu: each entry's box on the screen."""
    if menu is None or not menu.winfo_exists() or not menu.winfo_ismapped():
        return None
    last = int(menu.index("end") or 0)
    tops = [int(menu.yposition(i)) for i in range(last + 1)] + [menu.winfo_height()]
    x, y, width = menu.winfo_rootx(), menu.winfo_rooty(), menu.winfo_width()
    return {menu.entrycget(i, "label"): [x, y + tops[i], width, tops[i + 1] - tops[i]] for i in range(last + 1)}


def _view(log: ChatLog) -> dict[str, Any]:
    """What the history view shows: its bottom or not, following or not, the "new messages" button."""
    return {
        "at_bottom": log.winfo_ismapped() and log.at_bottom(),
        "following": log.following,
        "unseen": log.unseen,
        "hint": _box(log.hint),
        "box": _box(log.text),
    }


def _menu_entries(menu: tk.Menu) -> dict[str, list[list[str]]]:
    """Each cascade's entries as [label, accelerator]."""
    entries: dict[str, list[list[str]]] = {}
    for index in range(int(menu.index("end") or 0) + 1):
        sub = menu.nametowidget(menu.entrycget(index, "menu"))
        labels = [sub.entrycget(i, "label") for i in range(int(sub.index("end") or 0) + 1)]
        entries[menu.entrycget(index, "label")] = [
            [label, sub.entrycget(i, "accelerator")] for i, label in enumerate(labels)
        ]
    return entries


def _posted(root: tk.Misc, menubar: str) -> bool:
    """True while one of the menubar's menus is open (its clone, a child of the menubar's, is mapped)."""
    call = root.tk.call
    if not int(call("winfo", "exists", menubar)):
        return False
    return any(int(call("winfo", "ismapped", child)) for child in call("winfo", "children", menubar))


def _path_box(root: tk.Misc, path: str) -> list[int] | None:
    """Like `_box`, for a Tk window that has no tkinter object (the menubar's clone)."""
    call = root.tk.call
    if not int(call("winfo", "exists", path)) or not int(call("winfo", "ismapped", path)):
        return None
    return [int(call("winfo", what, path)) for what in ("rootx", "rooty", "width", "height")]


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
