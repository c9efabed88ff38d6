"""The connect form: Nickname, Server, Port and Connect, with mistakes shown next to each field."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from .userinput import ConnectTarget, validate_connect

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12345


class ConnectForm(ttk.Frame):
    """Checks the fields before connecting; Enter in any field (or the button) calls `on_connect`."""

    def __init__(
        self,
        master: tk.Misc,
        on_connect: Callable[[ConnectTarget], None],
        *,
        nick: str = "",
        host: str = "",
        port: int = 0,
    ) -> None:
        super().__init__(master, padding=24)
        self._on_connect = on_connect
        self.on_change: Callable[[], None] = lambda: None
        self.columnconfigure(1, weight=1)
        ttk.Label(self, text="MultiChat", style="Title.TLabel").grid(row=0, column=0, columnspan=2, sticky="w")
        ttk.Label(self, text="Join the chat: pick a nickname and a server.").grid(
            row=1, column=0, columnspan=2, sticky="w", pady=(0, 12)
        )
        self.fields: dict[str, ttk.Entry] = {}
        self.errors: dict[str, ttk.Label] = {}
        rows = (
            ("nick", "Nickname", nick),
            ("host", "Server", host or DEFAULT_HOST),
            ("port", "Port", str(port or DEFAULT_PORT)),
        )
        for index, (name, label, value) in enumerate(rows):
            row = 2 + 2 * index
            ttk.Label(self, text=label).grid(row=row, column=0, sticky="w", padx=(0, 10), pady=(4, 0))
            entry = ttk.Entry(self, width=28)
            entry.insert(0, value)
            entry.grid(row=row, column=1, sticky="ew", pady=(4, 0))
            entry.bind("<Return>", self.submit)
            entry.bind("<KP_Enter>", self.submit)
            error = ttk.Label(self, text="", style="Error.TLabel", wraplength=320)
            error.grid(row=row + 1, column=1, sticky="w")
            self.fields[name], self.errors[name] = entry, error
        self.button = ttk.Button(self, text="Connect", command=self.submit, default="active")
        self.button.grid(row=8, column=1, sticky="e", pady=(12, 0))
        self.status = ttk.Label(self, text="", style="Error.TLabel", wraplength=380)
        self.status.grid(row=9, column=0, columnspan=2, sticky="w", pady=(12, 0))

    def value(self, name: str) -> str:
        return self.fields[name].get()

    def focus_first_empty(self) -> None:
        for entry in self.fields.values():
            if not entry.get().strip():
                entry.focus_set()
                return
        self.fields["nick"].focus_set()

    def show_errors(self, errors: dict[str, str], status: str = "") -> None:
        """Show `errors` by field (and `status` under the button); clear the others."""
        for name, label in self.errors.items():
            label.configure(text=errors.get(name, ""))
        self.status.configure(text=status, style="Error.TLabel")
        for name in self.fields:
            if name in errors:
                self.fields[name].focus_set()
                self.fields[name].select_range(0, "end")
                break

    def set_busy(self, busy: bool, status: str = "") -> None:
        self.button.configure(state="disabled" if busy else "normal")
        self.status.configure(text=status, style="Status.TLabel" if busy else "Error.TLabel")

    def submit(self, _event: object = None) -> str:
        checked = validate_connect(self.value("nick"), self.value("host"), self.value("port"))
        if isinstance(checked, dict):
            self.show_errors(checked)
        else:
            self.show_errors({})
            self._on_connect(checked)
        self.on_change()
        return "break"
