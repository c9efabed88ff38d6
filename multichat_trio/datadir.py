"""Where the server's own files go when their settings are left at the default names.

The history database (`multichat.sqlite3`) and the relay secret file go in the current directory when
the server may write there (SQLite needs to create its `-wal` file beside the database), else in the
platform's data directory, which is created: `$XDG_DATA_HOME/multichat` or `~/.local/share/multichat`
(Linux and other POSIX systems), `~/Library/Application Support/MultiChat` (macOS),
`%LOCALAPPDATA%\\MultiChat` (Windows). A reader (the relay) looks in the current directory first.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path


def place(name: str, *, cwd: Path | None = None) -> Path:
    """Where a new file called `name` goes: in `cwd` if writable, else in `data_dir()` (created).

    Raises `OSError` naming the directory when that cannot be created.
    """
    here = Path.cwd() if cwd is None else cwd
    if _writable(here):
        return here / name
    folder = data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the data directory {str(folder)!r}: {exc.strerror or exc}") from exc
    return folder / name


def find(name: str, *, cwd: Path | None = None) -> Path:
    """Where an existing file called `name` is: in `cwd` if it is there, else in `data_dir()`."""
    here = (Path.cwd() if cwd is None else cwd) / name
    return here if here.exists() else data_dir() / name


def data_dir(environ: Mapping[str, str] | None = None, platform: str | None = None, home: Path | None = None) -> Path:
    """The per-user data directory of MultiChat on `platform` (this one by default)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    if platform == "win32":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "MultiChat"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "MultiChat"
    xdg = environ.get("XDG_DATA_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share") / "multichat"


def _writable(folder: Path) -> bool:
    """Whether a file can be created in `folder`: tried, since `os.access` does not see Windows ACLs."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def own_file(setting: str, default_name: str) -> Path:
    """The file a setting names: as given, or for its default name the one already there (`find`), else
    where a new one goes (`place`)."""
    if setting != default_name:
        return Path(setting)
    existing = find(default_name)
    return existing if existing.exists() else place(default_name)
