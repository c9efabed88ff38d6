"""The window icon, drawn in code (a blue speech bubble with three dots) and encoded as PNG, so the
wheel needs no image file and every size is crisp."""

from __future__ import annotations

import base64
import struct
import tkinter as tk
import zlib

BUBBLE = (47, 96, 216)  # Sun Valley's accent blue
DOTS = (255, 255, 255)
SAMPLES = 5  # per pixel side on an edge, for smooth edges


def _in_bubble(x: float, y: float) -> bool:
    """The bubble in unit coordinates: a rounded rectangle with a tail at the bottom left."""
    left, top, right, bottom, radius = 0.06, 0.10, 0.94, 0.72, 0.17
    cx, cy = min(max(x, left + radius), right - radius), min(max(y, top + radius), bottom - radius)
    if (x - cx) ** 2 + (y - cy) ** 2 <= radius**2:
        return True
    # the tail: a triangle below the body, from (0.22, 0.70) down to (0.18, 0.93) and back to (0.46, 0.70)
    if 0.70 <= y <= 0.93:
        t = (y - 0.70) / 0.23
        return 0.22 - 0.04 * t <= x <= 0.46 - 0.28 * t
    return False


def _in_dot(x: float, y: float) -> bool:
    return any((x - cx) ** 2 + (y - 0.41) ** 2 <= 0.068**2 for cx in (0.29, 0.50, 0.71))


def _coverage(x0: float, y0: float, side: float, samples: int) -> tuple[int, int]:
    """How many of `samples`² points of the square at (x0, y0) fall in the bubble, and in a dot."""
    bubble = dots = 0
    for sy in range(samples):
        for sx in range(samples):
            x, y = x0 + (sx + 0.5) * side / samples, y0 + (sy + 0.5) * side / samples
            if _in_bubble(x, y):
                bubble += 1
                dots += _in_dot(x, y)
    return bubble, dots


def pixels(size: int) -> list[list[tuple[int, int, int, int]]]:
    """RGBA rows of the icon at `size` by `size`; only pixels on an edge are supersampled."""
    rows = []
    side = 1.0 / size
    for py in range(size):
        row = []
        for px in range(size):
            samples = 2
            bubble, dots = _coverage(px * side, py * side, side, samples)
            if 0 < bubble < samples * samples or 0 < dots < bubble:
                samples = SAMPLES
                bubble, dots = _coverage(px * side, py * side, side, samples)
            mix = dots / bubble if bubble else 0.0
            colour = tuple(round(b + (d - b) * mix) for b, d in zip(BUBBLE, DOTS, strict=True))
            row.append((*colour, round(255 * bubble / (samples * samples))))
        rows.append(row)
    return rows


def png(rows: list[list[tuple[int, int, int, int]]]) -> bytes:
    """A minimal RGBA PNG (8 bits per channel, no filtering) of `rows`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\0" + bytes(channel for pixel in row for channel in pixel) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def install(root: tk.Tk) -> list[tk.PhotoImage]:
    """Set the icon of every window of the app (`iconphoto` with default=True); keep the result alive."""
    images = [tk.PhotoImage(master=root, data=base64.b64encode(png(pixels(size)))) for size in (48, 32, 16)]
    root.iconphoto(True, *images)
    return images
