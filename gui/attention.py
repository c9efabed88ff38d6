"""Getting noticed: a mention of our nick, and the taskbar's urgency hint while the app is not focused.

Tk has no portable call for urgency, so each platform gets its own: on X11 the ICCCM `UrgencyHint`
in the window's WM_HINTS (set with libX11 through ctypes; taskbars and window managers flash or
mark the window), on macOS `wm attributes -notify` (the Dock icon bounces), on Windows
`FlashWindowEx` (the taskbar button flashes until the window is brought forward). Where none of
these works, the bell still rings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import sys
import tkinter as tk
from functools import cache

from multichat_trio.protocol import casefold

_NICK_CHARS = r"A-Za-z0-9\[\]\\`_^{|}-"


def mentions(text: str, nick: str) -> bool:
    """True when `text` names `nick` as a word (IRC case rules: `[` is `{`, and so on)."""
    if not nick:
        return False
    pattern = rf"(?<![{_NICK_CHARS}]){re.escape(casefold(nick))}(?![{_NICK_CHARS}])"
    return re.search(pattern, casefold(text)) is not None


def set_urgent(window: tk.Wm, urgent: bool) -> bool:
    """Ask the taskbar to flag `window` (or stop); False where this platform offers no way."""
    system = window.tk.call("tk", "windowingsystem")
    try:
        if system == "x11":
            return _x11_urgency(window, urgent)
        if system == "aqua":
            window.wm_attributes("-notify", int(urgent))
            return True
        if system == "win32":
            return _win32_flash(window) if urgent else True  # the flash stops by itself on focus
    except (tk.TclError, OSError, ValueError):
        pass
    return False


@cache
def _libx11() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        x11 = ctypes.CDLL(name)
    except OSError:
        return None
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XGetWMHints.restype = ctypes.POINTER(XWMHints)
    x11.XGetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XSetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(XWMHints)]
    x11.XFree.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, *[ctypes.POINTER(ctypes.c_ulong)] * 2]
    x11.XQueryTree.argtypes += [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_uint)]
    x11.XGetDefault.restype = ctypes.c_char_p
    x11.XGetDefault.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    return x11


class XWMHints(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_long),
        ("input", ctypes.c_int),
        ("initial_state", ctypes.c_int),
        ("icon_pixmap", ctypes.c_ulong),
        ("icon_window", ctypes.c_ulong),
        ("icon_x", ctypes.c_int),
        ("icon_y", ctypes.c_int),
        ("icon_mask", ctypes.c_ulong),
        ("window_group", ctypes.c_ulong),
    ]


URGENCY_HINT = 1 << 8  # XUrgencyHint


def _x11_urgency(window: tk.Wm, urgent: bool) -> bool:
    """Set or clear UrgencyHint on the toplevel's wrapper (the window the window manager sees),
    through a short connection of our own: Tk keeps its Display to itself."""
    x11 = _libx11()
    if x11 is None:
        return False
    display = x11.XOpenDisplay(window.winfo_screen().encode())
    if not display:
        return False
    try:
        wrapper = _wrapper(x11, display, window.winfo_id())
        current = x11.XGetWMHints(display, wrapper)
        hints = XWMHints()
        if current:
            ctypes.memmove(ctypes.byref(hints), current, ctypes.sizeof(XWMHints))
            x11.XFree(current)
        hints.flags = (hints.flags | URGENCY_HINT) if urgent else (hints.flags & ~URGENCY_HINT)
        x11.XSetWMHints(display, wrapper, ctypes.byref(hints))
        return True
    finally:
        x11.XCloseDisplay(display)  # flushes the change out


def _wrapper(x11: ctypes.CDLL, display: int, inner: int) -> int:
    """Tk's wrapper window (which carries WM_HINTS): the parent of the toplevel's own window."""
    root, parent, children, count = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_void_p(), ctypes.c_uint()
    found = x11.XQueryTree(display, inner, *(ctypes.byref(v) for v in (root, parent, children, count)))
    if not found:
        raise OSError("XQueryTree failed")
    if children:
        x11.XFree(children)
    return parent.value


def xft_dpi(widget: tk.Misc) -> float | None:
    """The desktop's `Xft.dpi` resource (what GNOME, KDE and xrdb set for a HiDPI screen), if any."""
    x11 = _libx11() if widget.tk.call("tk", "windowingsystem") == "x11" else None
    if x11 is None:
        return None
    display = x11.XOpenDisplay(widget.winfo_screen().encode())
    if not display:
        return None
    try:
        value = x11.XGetDefault(display, b"Xft", b"dpi")
        return float(value) if value else None
    except ValueError:
        return None
    finally:
        x11.XCloseDisplay(display)


def _win32_flash(window: tk.Wm) -> bool:
    """Flash the taskbar button until the window comes to the front (FLASHW_TRAY | FLASHW_TIMERNOFG)."""

    class FlashInfo(ctypes.Structure):
        _fields_ = [
            ("cbSize", ctypes.c_uint),
            ("hwnd", ctypes.c_void_p),
            ("dwFlags", ctypes.c_uint),
            ("uCount", ctypes.c_uint),
            ("dwTimeout", ctypes.c_uint),
        ]

    info = FlashInfo(ctypes.sizeof(FlashInfo), int(window.wm_frame(), 16), 0x2 | 0xC, 0, 0)
    if sys.platform != "win32":
        return False
    ctypes.windll.user32.FlashWindowEx(ctypes.byref(info))  # type: ignore[attr-defined]
    return True
