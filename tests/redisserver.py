"""A real redis-server for the cluster tests: the one CI starts (`MULTICHAT_TEST_REDIS`), or one of our own.

`.ci/run` installs redis-server and starts one on a loopback port with a temporary directory, and
exports its URL. Without that variable the tests start their own from the `redis-server` on PATH,
and skip only when there is none outside CI. A test that restarts Redis always runs its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import IN_CI

REDIS_ENV = "MULTICHAT_TEST_REDIS"


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        if IN_CI:
            pytest.fail("redis-server is not installed: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One redis-server process on a loopback port, without persistence unless asked."""

    def __init__(self, *, appendonly: bool = False) -> None:
        self.binary = redis_binary()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="multichat-redis-"))
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.dir)]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # a bounded poll for the port: the server says nothing else
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer within 10 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def shared_redis_url() -> tuple[str, RedisServer | None]:
    """CI's Redis, else one started here (the caller closes it)."""
    url = os.environ.get(REDIS_ENV)
    if url:
        return url, None
    server = RedisServer()
    server.start()
    return server.url, server
