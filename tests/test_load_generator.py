"""The load generator's choices that decide what a benchmark measures (benchmarks/load.py)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("resource")  # the generator is POSIX-only (it raises its open-file limit)
_SPEC = importlib.util.spec_from_file_location(
    "multichat_benchmark_load", Path(__file__).parent.parent / "benchmarks" / "load.py"
)
assert _SPEC is not None and _SPEC.loader is not None
load = importlib.util.module_from_spec(_SPEC)
sys.modules["multichat_benchmark_load"] = load  # its dataclasses look their module up there
_SPEC.loader.exec_module(load)


def test_probes_are_spread_over_the_roster_with_the_first_joiner_among_them() -> None:
    """Not the first four to join: a server delivering in join order would have its probes served first."""
    assert load.spread(list(range(495)), 4) == [0, 123, 246, 369]
    assert load.spread(list(range(3)), 4) == [0, 1, 2]
    assert load.spread(list(range(10)), 0) == []


BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.fixture(params=[[], ["--plain"]], ids=["trio", "plain"])
def floor_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """benchmarks/floor.py (on trio, then on a bare selectors loop) running on a free port of 127.0.0.1."""
    with subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "floor.py"), "--port", "0", *request.param], stdout=subprocess.PIPE
    ) as floor:
        try:
            assert floor.stdout is not None
            yield int(floor.stdout.readline())  # printed once it listens
        finally:
            floor.terminate()


def test_the_floor_serves_the_generator_every_message(floor_port: int) -> None:
    """benchmarks/floor.py, the floor compare.py can run beside the servers, does what the rows need."""
    argv = [sys.executable, str(BENCHMARKS / "load.py"), "--port", str(floor_port), "--clients", "6"]
    argv += ["--senders", "2", "--messages", "20", "--rate", "200", "--timeout", "30"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["joined"] == 6 and result["deliveries"] == result["expected"] == 2 * 20 * 5


def test_the_floor_closes_a_connection_whose_line_never_ends(floor_port: int) -> None:
    """Its one bound: an unfinished line of over 8 KiB is not held, the connection is closed."""
    with socket.create_connection(("127.0.0.1", floor_port), timeout=30) as sock:
        sock.sendall(b"PRIVMSG #x :" + b"x" * 9000)
        assert sock.recv(100) == b""
