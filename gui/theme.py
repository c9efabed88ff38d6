"""The look: Sun Valley (sv-ttk) in light or dark, the colours of our own text on each, HiDPI scaling.

sv-ttk styles the ttk widgets (and, through `tk_setPalette`, the classic Text and Listbox); the
palettes here colour what the theme cannot know about: nicknames, notices, mentions, the banner.
Light or dark follows `MULTICHAT_GUI_THEME`, then `GTK_THEME`, then the system (darkdetect reads
Windows' and macOS' setting, and GNOME's on Linux); the View menu switches at any time.
"""

from __future__ import annotations

import os
import sys
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Mapping
from dataclasses import dataclass
from tkinter import ttk

import darkdetect
import sv_ttk


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours for one theme; `nicks` are readable on `text_bg`, each nick always gets the same one."""

    dark: bool
    text_bg: str
    text_fg: str
    select_bg: str
    muted: str
    own: str
    event: str
    notice: str
    error: str
    action: str
    history: str
    mention_bg: str
    banner_bg: str
    banner_fg: str
    nicks: tuple[str, ...]


LIGHT = Palette(
    dark=False,
    text_bg="#ffffff",
    text_fg="#1c1c1c",
    select_bg="#cfe0fc",
    muted="#8a8a8a",
    own="#1565c0",
    event="#707070",
    notice="#8a5a00",
    error="#c62828",
    action="#6a1b9a",
    history="#9e9e9e",
    mention_bg="#fff1b8",
    banner_bg="#fff4ce",
    banner_fg="#5d4200",
    nicks=("#b03060", "#2e7d32", "#6a1b9a", "#c75b00", "#00796b", "#8d6e00", "#ad1457", "#37474f"),
)
DARK = Palette(
    dark=True,
    text_bg="#232323",
    text_fg="#ececec",
    select_bg="#2f4f86",
    muted="#8c8c8c",
    own="#6cb6ff",
    event="#9a9a9a",
    notice="#e0b35a",
    error="#ff7070",
    action="#cf9ff0",
    history="#7d7d7d",
    mention_bg="#4d4015",
    banner_bg="#4a3b0c",
    banner_fg="#ffe7a3",
    nicks=("#f48fb1", "#81c784", "#ce93d8", "#ffb74d", "#4dd0e1", "#e6c14a", "#f06292", "#b0bec5"),
)


def prefers_dark(environ: Mapping[str, str] = os.environ) -> bool:
    """The dark look when asked for (`MULTICHAT_GUI_THEME=dark`, a `GTK_THEME` like `Adwaita:dark`)
    or, without either, when the system is in dark mode."""
    choice = environ.get("MULTICHAT_GUI_THEME", "").strip().lower()
    if choice in ("dark", "light"):
        return choice == "dark"
    gtk = environ.get("GTK_THEME", "").strip().lower()
    if gtk:
        return gtk.endswith(":dark") or "-dark" in gtk
    try:
        return darkdetect.isDark() is True
    except Exception:  # a platform darkdetect cannot read: light
        return False


def palette(widget: tk.Misc) -> Palette:
    return DARK if ttk.Style(widget).theme_use() == "sun-valley-dark" else LIGHT


def apply(root: tk.Tk, *, dark: bool) -> None:
    """Switch every window to the light or dark theme (ttk sends <<ThemeChanged>> to each widget)."""
    sv_ttk.set_theme("dark" if dark else "light", root)
    _fonts_in_points(root)
    colours = DARK if dark else LIGHT
    style = ttk.Style(root)
    style.configure("Title.TLabel", font="SunValleySubtitleFont")
    style.configure("Heading.TLabel", font="SunValleyBodyStrongFont")
    style.configure("Error.TLabel", foreground=colours.error)
    style.configure("Status.TLabel", foreground=colours.muted)
    style.configure("Banner.TFrame", background=colours.banner_bg)
    style.configure("Banner.TLabel", background=colours.banner_bg, foreground=colours.banner_fg)
    style.configure("Topic.TLabel", foreground=colours.muted)
    # The sidebar: no expander (conversations have no children), roomier rows.
    style.layout(
        "Sidebar.Treeview.Item",
        [("Treeitem.padding", {"sticky": "nswe", "children": [("Treeitem.text", {"sticky": "nswe"})]})],
    )
    style.configure("Sidebar.Treeview", rowheight=round(float(root.tk.call("tk", "scaling")) * 21))
    style.configure("Sidebar.Treeview.Item", padding=(6, 0, 0, 0))
    style.configure("Tip.TLabel", background=colours.text_bg, foreground=colours.text_fg)
    root.configure(background=style.lookup("TFrame", "background"))


def _fonts_in_points(root: tk.Tk) -> None:
    """sv-ttk sizes its fonts in pixels, which `tk scaling` leaves alone: give them in points
    (at 96 DPI the same size) so they grow on a HiDPI screen. Without Windows' Segoe UI Variable,
    use the desktop's default family, bold where sv-ttk wants a semibold one."""
    fallback = tkfont.nametofont("TkDefaultFont", root).actual("family")
    for name in tkfont.names(root):
        if name.startswith("SunValley"):
            font = tkfont.nametofont(name, root)
            size = int(font.cget("size"))
            if size < 0:
                font.configure(size=round(-size * 72 / 96))
            if font.cget("family") not in tkfont.families(root):  # no Segoe UI Variable: the desktop's font
                strong = any(word in name for word in ("Strong", "Subtitle", "Title", "Display"))
                font.configure(family=fallback, weight="bold" if strong else "normal")


def dpi_override(environ: Mapping[str, str], xft_dpi: float | None) -> float | None:
    """The screen's DPI when something says it better than the X server does: `MULTICHAT_GUI_SCALE`
    (a factor), the desktop's `Xft.dpi`, or `GDK_SCALE` (a factor). None: keep Tk's own."""
    for name, unit in (("MULTICHAT_GUI_SCALE", 96.0), ("Xft.dpi", 1.0), ("GDK_SCALE", 96.0)):
        raw = str(xft_dpi or "") if name == "Xft.dpi" else environ.get(name, "")
        try:
            value = float(raw) * unit
        except ValueError:
            continue
        if 48 <= value <= 480:
            return value
    return None


def scale(root: tk.Tk, xft_dpi: float | None = None) -> float:
    """Set `tk scaling` from the screen's DPI (fonts and ttk follow); the factor for sizes given in
    pixels, in quarter steps (1.0 up to about 110 DPI). Windows needs `make_dpi_aware()` first."""
    dpi = dpi_override(os.environ, xft_dpi)
    if dpi is not None and root.tk.call("tk", "windowingsystem") == "x11":
        root.tk.call("tk", "scaling", dpi / 72.0)
    return max(1.0, round(float(root.tk.call("tk", "scaling")) * 72.0 / 96.0 * 4) / 4)  # 100%, 125%, 150%...


def make_dpi_aware() -> None:
    """On Windows, ask for real pixels instead of a blurry bitmap stretch; Tk then reads the DPI."""
    if sys.platform == "win32":
        import ctypes

        try:
            ctypes.windll.shcore.SetProcessDpiAwareness(1)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            ctypes.windll.user32.SetProcessDPIAware()  # type: ignore[attr-defined]
