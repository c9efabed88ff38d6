"""Secrets kept in files of the server's own: generated once (random, readable by the owner only), then read.

The relay secret (`relay/secret.py`) and the monitor's login token (`web/login.py`) are kept this way,
so a default install has a secret rather than none.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class SecretError(ValueError):
    """The secret file cannot be read or written: the message says which and why."""


def load_or_create(path: Path, what: str = "relay secret") -> tuple[str, bool]:
    """The secret in `path`, or a new one written there; and whether it was created (`what` names it in errors)."""
    try:
        return read_secret(path, what), False
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secret + "\n")
    except FileExistsError:  # another process wrote it meanwhile: use theirs
        return read_secret(path, what), False
    except OSError as exc:
        raise SecretError(f"cannot write the {what} file {str(path)!r}: {exc.strerror or exc}") from exc
    return secret, True


def read_secret(path: Path, what: str = "relay secret") -> str:
    """The secret in `path`; `FileNotFoundError` if there is none, `SecretError` if it is unusable."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read the {what} file {str(path)!r}: {exc}") from exc
    if not secret or secret.startswith(":") or any(ch.isspace() or ord(ch) < 32 for ch in secret):
        raise SecretError(f"the {what} file {str(path)!r} holds no usable secret: it must be one word")
    return secret
