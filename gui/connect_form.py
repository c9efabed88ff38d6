"""The connect form: a saved profile, Nickname, Server, Port, Password, TLS, and Connect, with mistakes
shown next to each field. A good connection is remembered as a profile (never its password)."""

from __future__ import annotations

import logging
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk

from . import profiles
from .profiles import Profile
from .userinput import ConnectTarget, validate_connect

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12345
#: Profiles kept at most: the newest first (the one connected to last is first).
MAX_PROFILES = 20


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
        profiles_path: Path | None = None,
    ) -> None:
        super().__init__(master, padding=24)
        self._on_connect = on_connect
        self._profiles_path = profiles_path
        self.profiles = profiles.load(profiles_path)
        self.on_change: Callable[[], None] = lambda: None
        self.columnconfigure(1, weight=1)
        ttk.Label(self, text="MultiChat", style="Title.TLabel").grid(row=0, column=0, columnspan=2, sticky="w")
        ttk.Label(self, text="Join the chat: pick a nickname and a server.").grid(
            row=1, column=0, columnspan=2, sticky="w", pady=(0, 12)
        )
        self.saved = ttk.Combobox(self, state="readonly", values=[p.name for p in self.profiles])
        if self.profiles:
            ttk.Label(self, text="Saved").grid(row=2, column=0, sticky="w", padx=(0, 10), pady=(4, 0))
            self.saved.grid(row=2, column=1, sticky="ew", pady=(4, 8))
            self.saved.bind("<<ComboboxSelected>>", lambda _e: self.use(self.profiles[self.saved.current()]))
        first = self.profiles[0] if self.profiles and not (nick or host or port) else None
        self.fields: dict[str, ttk.Entry] = {}
        self.errors: dict[str, ttk.Label] = {}
        rows = (
            ("nick", "Nickname", nick),
            ("host", "Server", host or DEFAULT_HOST),
            ("port", "Port", str(port or DEFAULT_PORT)),
            ("password", "Password", ""),
        )
        for index, (name, label, value) in enumerate(rows):
            row = 3 + 2 * index
            ttk.Label(self, text=label).grid(row=row, column=0, sticky="w", padx=(0, 10), pady=(4, 0))
            entry = ttk.Entry(self, width=28, show="•" if name == "password" else "")
            entry.insert(0, value)
            entry.grid(row=row, column=1, sticky="ew", pady=(4, 0))
            entry.bind("<Return>", self.submit)
            entry.bind("<KP_Enter>", self.submit)
            error = ttk.Label(self, text="", style="Error.TLabel", wraplength=320)
            error.grid(row=row + 1, column=1, sticky="w")
            self.fields[name], self.errors[name] = entry, error
        ttk.Label(self, text="only for a registered nickname (SASL)", style="Status.TLabel").grid(
            row=10, column=1, sticky="w"
        )
        self.tls = tk.BooleanVar(self, value=False)
        self.tls_verify = tk.BooleanVar(self, value=True)
        self.remember = tk.BooleanVar(self, value=True)
        options = ttk.Frame(self)
        options.grid(row=11, column=1, sticky="w", pady=(8, 0))
        ttk.Checkbutton(options, text="Encrypt (TLS)", variable=self.tls, command=self._tls_changed).pack(anchor="w")
        self.verify_box = ttk.Checkbutton(options, text="Check the server's certificate", variable=self.tls_verify)
        self.verify_box.pack(anchor="w", padx=(20, 0))
        ttk.Checkbutton(options, text="Remember this server", variable=self.remember).pack(anchor="w")
        self.button = ttk.Button(self, text="Connect", command=self.submit, default="active", style="Accent.TButton")
        self.button.grid(row=12, column=1, sticky="e", pady=(12, 0))
        self.status = ttk.Label(self, text="", style="Error.TLabel", wraplength=380)
        self.status.grid(row=13, column=0, columnspan=2, sticky="w", pady=(12, 0))
        if first is not None:
            self.saved.current(0)
            self.use(first)
        self._tls_changed()

    def use(self, profile: Profile) -> None:
        """Fill the form from a saved profile (the password stays empty: it is never saved)."""
        for name, value in (("nick", profile.nick), ("host", profile.server), ("port", str(profile.port))):
            self.fields[name].delete(0, "end")
            self.fields[name].insert(0, value)
        self.fields["password"].delete(0, "end")
        self.tls.set(profile.tls)
        self.tls_verify.set(profile.tls_verify)
        self._tls_changed()

    def _tls_changed(self) -> None:
        self.verify_box.state(["!disabled"] if self.tls.get() else ["disabled"])

    def value(self, name: str) -> str:
        return self.fields[name].get()

    def focus_first_empty(self) -> None:
        for name, entry in self.fields.items():
            if name != "password" and not entry.get().strip():
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
        checked = validate_connect(
            self.value("nick"),
            self.value("host"),
            self.value("port"),
            password=self.value("password"),
            tls=self.tls.get(),
            tls_verify=self.tls_verify.get(),
        )
        if isinstance(checked, dict):
            self.show_errors(checked)
        else:
            self.show_errors({})
            if self.remember.get():
                self._remember(checked)
            self._on_connect(checked)
        self.on_change()
        return "break"

    def _remember(self, target: ConnectTarget) -> None:
        """Save `target` as the first profile (named nick@server:port), replacing one of that name."""
        name = f"{target.nick}@{target.host}:{target.port}"
        profile = Profile(name, target.nick, target.host, target.port, target.tls, target.tls_verify)
        self.profiles = [profile, *(p for p in self.profiles if p.name != profile.name)][:MAX_PROFILES]
        try:
            profiles.save(self.profiles, self._profiles_path)
        except OSError as exc:  # an unwritable config directory costs the profile, never the connection
            log.warning("profiles: cannot save (%s)", exc)
