"""Saved connection profiles: name, nick, server, port and TLS choices in a small JSON file in the
platform's config directory. Never a password: that is typed each time (or left empty).

The file is validated when read: a file that is unreadable, not JSON or not ours is ignored, and so
is each entry that is not a valid profile, with one logged line each, never a crash.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multichat_trio.protocol import is_valid_nick

from .userinput import ConnectTarget

log = logging.getLogger(__name__)

FILE_NAME = "profiles.json"
VERSION = 1
#: A profiles file bigger than this is not ours (a handful of profiles take a few hundred bytes).
MAX_BYTES = 256 * 1024
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    nick: str
    server: str
    port: int = 12345
    tls: bool = False
    tls_verify: bool = True

    def target(self, password: str = "") -> ConnectTarget:
        return ConnectTarget(self.nick, self.server, self.port, password, self.tls, self.tls_verify)


def config_dir(platform: str = sys.platform, env: Mapping[str, str] = os.environ, home: Path | None = None) -> Path:
    """`%APPDATA%\\MultiChat` on Windows, `~/Library/Application Support/MultiChat` on macOS,
    `$XDG_CONFIG_HOME/multichat` (default `~/.config/multichat`) elsewhere."""
    home = home or Path.home()
    if platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "MultiChat"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "MultiChat"
    xdg = env.get("XDG_CONFIG_HOME", "")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config") / "multichat"


def default_path() -> Path:
    return config_dir() / FILE_NAME


def load(path: Path | None = None) -> list[Profile]:
    """The saved profiles; [] when there are none or the file is not usable (logged)."""
    path = path or default_path()
    try:
        if path.stat().st_size > MAX_BYTES:
            log.warning("profiles: %s is larger than %d bytes, not a profiles file: ignored", path, MAX_BYTES)
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("profiles: cannot read %s (%s): ignored", path, exc)
        return []
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("profiles"), list):
        log.warning("profiles: %s is not a version %d profiles file: ignored", path, VERSION)
        return []
    profiles: list[Profile] = []
    for index, entry in enumerate(data["profiles"]):
        profile = _profile(entry)
        if profile is None:
            log.warning("profiles: entry %d of %s is not a valid profile: left out", index, path)
        elif any(p.name == profile.name for p in profiles):
            log.warning("profiles: entry %d of %s repeats the name %r: left out", index, path, profile.name)
        else:
            profiles.append(profile)
    return profiles


def save(profiles: Iterable[Profile], path: Path | None = None) -> None:
    """Write `profiles` (replacing the file at once, so a crash leaves the old one or the new one)."""
    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": VERSION, "profiles": [asdict(p) for p in profiles]}, indent=2)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    os.replace(partial, path)


def _profile(entry: Any) -> Profile | None:
    """The profile `entry` describes, or None; unknown keys (a password someone added) are dropped."""
    if not isinstance(entry, dict):
        return None
    name, nick, server = entry.get("name"), entry.get("nick"), entry.get("server")
    port, tls, verify = entry.get("port", 12345), entry.get("tls", False), entry.get("tls_verify", True)
    if not (isinstance(name, str) and 0 < len(name.strip()) <= MAX_NAME):
        return None
    if not (isinstance(nick, str) and is_valid_nick(nick)):
        return None
    if not (isinstance(server, str) and server.strip() and not any(c.isspace() for c in server.strip())):
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        return None
    if not isinstance(tls, bool) or not isinstance(verify, bool):
        return None
    return Profile(name.strip(), nick, server.strip(), port, tls, verify)
