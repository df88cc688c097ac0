"""Benchmarks: workloads (suites), the sequential-vs-parallel runner, the results store,
and the pytest plugin that drives them.

Names load on first use, so the pytest plugin (imported by every pytest session through
its entry point) costs nothing until a benchmark fixture is asked for.

>>> from orchbench.bench import load_suite, BenchSession      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchbench.bench.aggregate import aggregate
    from orchbench.bench.outcome import BenchResult, ModeSummary
    from orchbench.bench.runner import ModeRun, measure_configuration, run_mode
    from orchbench.bench.session import BenchObserver, BenchSession
    from orchbench.bench.workload import Workload, load_suite

_LAZY = {
    "BenchObserver": "orchbench.bench.session",
    "BenchResult": "orchbench.bench.outcome",
    "BenchSession": "orchbench.bench.session",
    "ModeRun": "orchbench.bench.runner",
    "ModeSummary": "orchbench.bench.outcome",
    "Workload": "orchbench.bench.workload",
    "aggregate": "orchbench.bench.aggregate",
    "load_suite": "orchbench.bench.workload",
    "measure_configuration": "orchbench.bench.runner",
    "run_mode": "orchbench.bench.runner",
}

__all__ = [
    "BenchObserver",
    "BenchResult",
    "BenchSession",
    "ModeRun",
    "ModeSummary",
    "Workload",
    "aggregate",
    "load_suite",
    "measure_configuration",
    "run_mode",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
