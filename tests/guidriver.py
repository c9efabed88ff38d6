"""Driving the real GUI under Xvfb: our own X display, the GUI as a subprocess, xdotool, screenshots.

The GUI runs with MULTICHAT_GUI_STATE=1 (see gui/testhook.py) and prints its visible state as a
JSON line on each change: tests wait on those lines, never on sleeps. Closing goes through a real
WM_DELETE_WINDOW client message (what a window manager sends for the close button), sent with
libX11 through ctypes since there is no window manager under Xvfb.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from .conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 15
TOOLS = ("Xvfb", "xdotool", "import", "xprop")

State = dict[str, Any]


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@asynccontextmanager
async def open_xvfb(size: str = "1280x800x24") -> AsyncIterator[str]:
    """A private X display (`-displayfd` picks a free number and tells us once it is ready)."""
    read_fd, write_fd = os.pipe()
    process = await trio.lowlevel.open_process(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp", "-wr"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        async with trio.lowlevel.FdStream(read_fd) as pipe:
            number = b""
            with trio.fail_after(TIMEOUT):
                while not number.endswith(b"\n"):
                    chunk = await pipe.receive_some(64)
                    if not chunk:
                        raise RuntimeError("Xvfb exited before reporting its display")
                    number += chunk
        yield f":{int(number)}"
    finally:
        process.terminate()
        with trio.move_on_after(5) as waited:
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            await process.wait()


class Gui:
    """The GUI subprocess: its state lines on stdout, its stderr in a file, xdotool aimed at it."""

    def __init__(self, process: trio.Process, display: str, stderr: Path) -> None:
        self.process = process
        self.display = display
        self.stderr = stderr
        self.state: State = {}
        self._buffer = b""

    async def wait_for(self, predicate: Callable[[State], bool]) -> State:
        """Read state lines until one satisfies `predicate` (the current one counts)."""
        assert self.process.stdout is not None
        with _showing_state(self), trio.fail_after(TIMEOUT):
            while not (self.state and predicate(self.state)):
                while b"\n" not in self._buffer:
                    chunk = await self.process.stdout.receive_some(65536)
                    if not chunk:
                        raise AssertionError(f"GUI exited; stderr:\n{self.stderr.read_text()}")
                    self._buffer += chunk
                line, _, self._buffer = self._buffer.partition(b"\n")
                self.state = json.loads(line)
            return self.state

    async def xdo(self, *args: str) -> str:
        return await self.xdo_tool("xdotool", *args)

    async def xdo_tool(self, *argv: str) -> str:
        """Run an X tool (xdotool, xprop) on our display; its output."""
        env = {**os.environ, "DISPLAY": self.display}
        with trio.fail_after(TIMEOUT):
            done = await trio.run_process(list(argv), env=env, capture_stdout=True)
        return done.stdout.decode()

    async def window(self, name: str) -> int:
        """The X window (the toplevel wrapper, where WM_PROTOCOLS lives) whose title matches `name`."""
        found = (await self.xdo("search", "--sync", "--name", name)).split()
        assert len(found) == 1, found
        return int(found[0])

    async def type(self, text: str) -> None:
        await self.xdo("type", "--delay", "5", text)

    async def key(self, *keys: str) -> None:
        await self.xdo("key", *keys)

    async def double_click(self, box: list[int]) -> None:
        x, y, width, height = box
        await self.xdo("mousemove", str(x + width // 2), str(y + height // 2))
        await self.xdo("click", "--repeat", "2", "--delay", "40", "1")

    async def click(self, box: list[int]) -> None:
        x, y, width, height = box
        await self.xdo("mousemove", str(x + width // 2), str(y + height // 2), "click", "1")

    async def screenshot(self, path: Path, box: list[int] | None = None) -> Path:
        """`import` the whole screen, cropped to `box` ([x, y, w, h]) when given."""
        crop = ["-crop", "{2}x{3}+{0}+{1}".format(*box), "+repage"] if box else []
        with trio.fail_after(TIMEOUT):
            await trio.run_process(["import", "-display", self.display, "-window", "root", *crop, str(path)])
        return path

    def close_window(self, window: int) -> None:
        send_wm_delete(self.display, window)

    async def exit_status(self) -> int:
        with trio.fail_after(TIMEOUT):
            return await self.process.wait()


@contextmanager
def _showing_state(gui: Gui) -> Iterator[None]:
    """A wait that times out says what the GUI showed last (pytest prints it with the failure)."""
    try:
        yield
    except trio.TooSlowError:
        print("last state:", json.dumps(gui.state, ensure_ascii=False))
        raise


@asynccontextmanager
async def open_gui(display: str, tmp_path: Path, *args: str, **environ: str) -> AsyncIterator[Gui]:
    """The GUI with `args` on `display`; `environ` adds to its environment."""
    stderr = tmp_path / "gui-stderr.txt"
    env = {**os.environ, "DISPLAY": display, "MULTICHAT_GUI_STATE": "1", "PYTHONUNBUFFERED": "1", **environ}
    env.setdefault("MULTICHAT_GUI_THEME", "light")  # not the test machine's desktop setting
    with stderr.open("wb") as err:
        process = await trio.lowlevel.open_process(
            [sys.executable, str(ROOT / "tests" / "gui_main.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    gui = Gui(process, display, stderr)
    try:
        yield gui
    finally:
        if process.returncode is None:
            process.kill()
        with trio.move_on_after(5):
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


class _ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


def send_wm_delete(display: str, window: int) -> None:
    """Send `window` the WM_DELETE_WINDOW message a window manager sends when its close button is hit."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot open {display}"
    try:
        event = _XEvent()
        message = event.xclient
        message.type = 33  # ClientMessage
        message.send_event = 1
        message.display = connection
        message.window = window
        message.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
        message.format = 32
        message.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
        message.data[1] = 0  # CurrentTime
        assert x11.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
    finally:
        x11.XCloseDisplay(connection)  # flushes the event out


#: Marks a module of real-window tests: they skip without the tools, except under CI.
needs_display = pytest.mark.skipif(
    bool(missing_tools()) and not IN_CI,
    reason=f"needs {', '.join(missing_tools())} (Debian: xvfb xdotool imagemagick x11-utils)",
)
#: Set to a directory to keep the screenshots (docs/gui.png is made this way).
SCREENSHOTS = os.environ.get("MULTICHAT_GUI_SCREENSHOTS")


def in_log(text: str, log: list[str]) -> bool:
    return any(text in line for line in log)


def inside(inner: list[int] | None, outer: list[int] | None) -> bool:
    """True when box `inner` is visible and lies within box `outer`."""
    if not inner or not outer:
        return False
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return w > 0 and h > 0 and ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def outer(state: State) -> list[int]:
    """The main window's box with its menubar."""
    x, y, width, height = state["window"]
    return [x, y - state["menubar"][3], width, height + state["menubar"][3]]


async def keep(gui: Gui, tmp_path: Path, name: str, box: list[int] | None = None, *, publish: bool = True) -> None:
    """Take a screenshot; keep it in MULTICHAT_GUI_SCREENSHOTS too when set and `publish`."""
    shot = await gui.screenshot(tmp_path / name, box)
    assert shot.stat().st_size > 1000
    if SCREENSHOTS and publish:
        shutil.copy(shot, Path(SCREENSHOTS) / name)


#: Another X client: a plain Tk window titled "Elsewhere" that can take the focus from the GUI and
#: own the clipboard (X selections live as long as their owner does), like a user's other app.
ELSEWHERE = """
import sys, tkinter as tk
root = tk.Tk()
root.title("Elsewhere")
root.geometry("200x100+1100+700")
if sys.argv[1:]:
    root.clipboard_clear()
    root.clipboard_append(sys.argv[1])
root.update()
print("ready", flush=True)
root.mainloop()
"""


@asynccontextmanager
async def open_elsewhere(display: str, clipboard: str = "") -> AsyncIterator[int]:
    """Run the "Elsewhere" window (owning `clipboard` when given); yields its X window."""
    env = {**os.environ, "DISPLAY": display}
    args = [sys.executable, "-c", ELSEWHERE, *([clipboard] if clipboard else [])]
    process = await trio.lowlevel.open_process(args, env=env, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        with trio.fail_after(TIMEOUT):
            assert b"ready" in await process.stdout.receive_some(64)
            found = await trio.run_process(
                ["xdotool", "search", "--sync", "--name", "^Elsewhere$"], env=env, capture_stdout=True
            )
        yield int(found.stdout.split()[0])
    finally:
        process.kill()
        with trio.move_on_after(5):
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


async def xprop(gui: Gui, window: int, *names: str) -> str:
    """The X properties `names` of `window`, as xprop prints them."""
    return await gui.xdo_tool("xprop", "-id", str(window), *names)
