"""A real wheel, installed into a fresh venv and run from another directory, serves the monitor.

The wheel is built from a copy of the sources (the repository stays clean) without build isolation
when this venv's setuptools is new enough (`.[test]` installs it: offline), else by pip with
isolation. The fresh venv gets the wheel alone; a `.pth` line makes this venv's dependencies
importable there, without processing this venv's own `.pth` files (the repository's editable
install), so `multichat_trio` can only come from the wheel.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import trio

from .test_web import http_get

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "multichat_trio", "gui")
STEP_TIMEOUT = 120  # seconds for one build or install step (pip may have to fetch setuptools)


def _setuptools_can_build() -> bool:
    """True when this venv's setuptools understands our pyproject.toml (SPDX `license`: 77 and later)."""
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    except importlib.metadata.PackageNotFoundError:
        return False


#: For the fresh venv's programs: nothing on PYTHONPATH may bring in the repository's copy.
CLEAN_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


async def _run(*argv: str | Path, cwd: Path, check: bool = True, env: dict[str, str] = CLEAN_ENV) -> str:
    """Run a step to its end; its stdout and stderr together."""
    with trio.fail_after(STEP_TIMEOUT):
        result = await trio.run_process(
            [str(a) for a in argv], cwd=cwd, capture_stdout=True, capture_stderr=True, check=check, env=env
        )
    return result.stdout.decode() + result.stderr.decode()


async def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    offline = ["--no-build-isolation"] if _setuptools_can_build() else []
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", *offline, "-w", "dist", "."]
    output = await _run(*pip_wheel, cwd=source, env=dict(os.environ))
    assert [line for line in output.splitlines() if "Warning" in line] == []  # setuptools' (shown by -v)
    (wheel,) = (source / "dist").glob("multichat_trio-*.whl")
    return wheel


async def install_into_fresh_venv(wheel: Path, venv: Path) -> Path:
    """The venv's python, with the wheel installed and this venv's site-packages on its path."""
    await _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    await _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=venv)
    site_packages = await _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site_packages.strip()) / "_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


async def test_the_wheel_installed_elsewhere_serves_the_monitor_page_and_api(tmp_path: Path) -> None:
    wheel = await build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert {
        "multichat_trio/web/static/favicon.svg",
        "multichat_trio/web/static/monitor/index.html",
        "multichat_trio/web/static/monitor/monitor.js",
        "multichat_trio/web/static/chat/main.js",
        "multichat_trio/web/static/chat/irc.js",
    } <= set(names)
    assert "multichat_gui/__main__.py" in names and not any(name.startswith("gui/") for name in names)
    assert "multichat-gui = multichat_gui.__main__:main" in entry_points.split("[gui_scripts]")[1]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = await install_into_fresh_venv(wheel, tmp_path / "venv")
    where = await _run(
        python, "-c", "import multichat_trio, multichat_gui.app; print(multichat_trio.__file__)", cwd=elsewhere
    )  # the GUI's whole window code (theme, icon, sidebar...) imports from the wheel
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), where
    assert "No module named 'gui'" in await _run(python, "-c", "import gui", cwd=elsewhere, check=False)

    script = python.parent / ("multichat-trio.exe" if os.name == "nt" else "multichat-trio")
    http_port, ws_port = _free_ports(2)
    process = await trio.lowlevel.open_process(
        [str(script), "serve", "--port", "0", "--http-port", str(http_port), "--ws-port", str(ws_port), "--db", ""],
        cwd=elsewhere,
        env=CLEAN_ENV,
        stdout=subprocess.PIPE,  # its log (stderr) goes where pytest captures it
    )
    assert process.stdout is not None
    try:
        banner = b""
        with trio.fail_after(20):
            while (url := re.search(rb"web monitor: (http://\S+).*\n", banner)) is None:
                chunk = await process.stdout.receive_some(4096)
                assert chunk, f"serve exited before printing its banner: {banner!r}"
                banner += chunk
        assert url[1] == f"http://127.0.0.1:{http_port}/monitor".encode(), banner  # the URL it prints works
        assert f"web chat: http://127.0.0.1:{http_port}/\n".encode() in banner
        status, headers, page = await http_get(http_port, "/monitor")
        assert status == 200 and headers["content-type"].startswith("text/html") and b"/monitor/monitor.js" in page
        status, _, chat = await http_get(http_port, "/")
        assert status == 200 and b"/chat/main.js" in chat
        status, _, stats = await http_get(http_port, "/api/stats")
        assert status == 200 and json.loads(stats)["clients"] == 0
        if os.name == "nt":
            process.terminate()
        else:
            process.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            status = await process.wait()
        assert os.name == "nt" or status == 0
    finally:
        process.kill()
        await process.wait()


def _free_ports(count: int) -> list[int]:
    """Ports free a moment ago (the server is given them: `--http-port 0` would mean off)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()
