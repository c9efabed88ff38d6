"""Where the history database goes when `--db` is left at its default.

`multichat.sqlite3` in the current directory when the server may write there (SQLite needs to create
its `-wal` file beside the database), else in the platform's data directory, which is created:
`$XDG_DATA_HOME/multichat` or `~/.local/share/multichat` (Linux and other POSIX systems),
`~/Library/Application Support/MultiChat` (macOS), `%LOCALAPPDATA%\\MultiChat` (Windows).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .store import StoreError

#: The default of `--db`: a file name, placed by `resolve`.
DEFAULT_NAME = "multichat.sqlite3"


def resolve(db: str, *, cwd: Path | None = None) -> str:
    """`db` as given, except the default name: in `cwd` if writable, else in `data_dir()` (created).

    Raises `StoreError` when that directory cannot be created.
    """
    if db != DEFAULT_NAME:
        return db
    here = Path.cwd() if cwd is None else cwd
    if _writable(here):
        return str(here / DEFAULT_NAME)
    folder = data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the history directory {str(folder)!r}: {exc.strerror or exc}") from exc
    return str(folder / DEFAULT_NAME)


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
