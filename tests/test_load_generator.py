"""The load generator's choices that decide what a benchmark measures (benchmarks/load.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
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


def test_the_floor_serves_the_generator_every_message() -> None:
    """benchmarks/floor.py, the trio floor compare.py can run beside the servers, does what the rows need."""
    benchmarks = Path(__file__).parent.parent / "benchmarks"
    floor_argv = [sys.executable, str(benchmarks / "floor.py"), "--port", "0"]
    with subprocess.Popen(floor_argv, stdout=subprocess.PIPE) as floor:
        try:
            assert floor.stdout is not None
            port = int(floor.stdout.readline())  # printed once it listens
            argv = [sys.executable, str(benchmarks / "load.py"), "--port", str(port), "--clients", "6"]
            argv += ["--senders", "2", "--messages", "20", "--rate", "200", "--timeout", "30"]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
            result = json.loads(done.stdout.splitlines()[-1])
            assert result["joined"] == 6 and result["deliveries"] == result["expected"] == 2 * 20 * 5
        finally:
            floor.terminate()
