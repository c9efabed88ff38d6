"""Where a new window goes: beside the main window when it fits, always inside the screen's work area.

Pure geometry (boxes are (x, y, width, height) in screen pixels), so the rules are unit-tested;
`work_area` asks Tk for the area.
"""

from __future__ import annotations

import tkinter as tk

Box = tuple[int, int, int, int]
GAP = 12  # pixels between the main window and a window placed beside it
FRAME = (8, 32)  # room left for a window manager's borders and title bar, which Tk's sizes leave out


def clamp(x: int, y: int, width: int, height: int, area: Box) -> tuple[int, int, int, int]:
    """The box moved (and, if it must, shrunk) so that it lies inside `area` with its frame."""
    ax, ay, aw, ah = area
    width = min(width, aw - FRAME[0])
    height = min(height, ah - FRAME[1])
    x = max(ax, min(x, ax + aw - width - FRAME[0]))
    y = max(ay, min(y, ay + ah - height - FRAME[1]))
    return x, y, width, height


def beside(main: Box, width: int, height: int, area: Box, cascade: int = 0) -> tuple[int, int, int, int]:
    """A box for a new `width` by `height` window: right of `main` if it fits there, else left of it,
    else over it; `cascade` steps it down and right so that several stay apart; inside `area`."""
    mx, my, mw, _ = main
    ax, _, aw, _ = area
    x, y = mx + mw + GAP + FRAME[0] + cascade, my + cascade
    if x + width + FRAME[0] > ax + aw:
        x = mx - GAP - FRAME[0] - width - cascade
        if x < ax:
            x = mx + (mw - width) // 2 + cascade
    return clamp(x, y, width, height, area)


def centred(over: Box, width: int, height: int, area: Box) -> tuple[int, int, int, int]:
    """A box for a dialog over the window `over`, inside `area`."""
    ox, oy, ow, oh = over
    return clamp(ox + (ow - width) // 2, oy + (oh - height) // 3, width, height, area)


def work_area(widget: tk.Misc) -> Box:
    """The screen's usable area. Tk knows the screen's size; `wm maxsize` is smaller where the
    platform keeps room for its taskbar or menu bar (Windows, macOS), so the smaller of the two."""
    width, height = widget.winfo_screenwidth(), widget.winfo_screenheight()
    max_width, max_height = widget.winfo_toplevel().wm_maxsize()
    return 0, 0, min(width, max_width + FRAME[0]), min(height, max_height + FRAME[1])


def box_of(window: tk.Misc) -> Box:
    window.update_idletasks()
    return window.winfo_rootx(), window.winfo_rooty(), window.winfo_width(), window.winfo_height()


def geometry(box: tuple[int, int, int, int]) -> str:
    x, y, width, height = box
    return f"{width}x{height}+{x}+{y}"
