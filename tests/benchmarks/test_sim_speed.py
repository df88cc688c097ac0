"""How fast the simulator runs the real scheduler: 10,000 mixed-load tasks on the RTX 4090.

A benchmark, not a unit test: it records the wall time (pytest-benchmark) and asserts
only that every task got its result. The issue's goal is under 5 s of wall time.
"""

from __future__ import annotations

import pytest

from orchbench.bench.runner import run_mode
from orchbench.bench.workload import load_suite
from orchbench.profiles import load_profile
from orchbench.sim import SimBackend, run_virtual


@pytest.mark.slow
def test_ten_thousand_mixed_tasks_on_rtx4090(benchmark):
    profile = load_profile("rtx4090")
    workload = load_suite("mixed-load").scaled(10_000)

    def simulate():
        return run_virtual(run_mode(profile, SimBackend(profile), workload, "parallel"))

    run = benchmark.pedantic(simulate, rounds=1, iterations=1)
    assert len(run.results) == 10_000
    benchmark.extra_info["virtual_s"] = run.wall_s
    benchmark.extra_info["failures"] = run.aggregates["failures"]
