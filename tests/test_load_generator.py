"""The load generator's choices that decide what a benchmark measures (benchmarks/load.py)."""

from __future__ import annotations

import importlib.util
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
