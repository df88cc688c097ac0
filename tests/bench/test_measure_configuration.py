"""One measurement path: the bench session, the tuner's evaluators and the fidelity check all
run a configuration through ``orchbench.bench.runner.measure_configuration``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchbench.bench import runner
from orchbench.bench.session import BenchSession
from orchbench.calibrate._fidelity import CheckConfig, check_fidelity
from orchbench.sim import Calibration
from orchbench.testing import FakeBackend
from orchbench.tune._evaluate import EngineEvaluator, SimEvaluator


@pytest.fixture
def calls(monkeypatch) -> list[dict[str, Any]]:
    """Every call of measure_configuration (it still runs: the spy delegates)."""
    seen: list[dict[str, Any]] = []
    real = runner.measure_configuration

    async def spy(profile, backend, workload, mode="parallel", **kwargs):
        seen.append({"backend": backend.name, "mode": mode, **kwargs})
        return await real(profile, backend, workload, mode, **kwargs)

    monkeypatch.setattr(runner, "measure_configuration", spy)
    return seen


def test_warm_up_loads_first_so_the_makespan_excludes_load_time(duo_profile, tiny_workload):
    fake = FakeBackend(latency=0.001, load_s=2.5)
    run = asyncio.run(
        runner.measure_configuration(duo_profile, fake, tiny_workload, "parallel", warmup_tasks=1)
    )
    assert set(fake.warmed) == {"small", "big"}
    assert run.load_s == {"small": 2.5, "big": 2.5}
    assert len(run.results) == len(tiny_workload.tasks) and run.wall_s > 0
    assert len(fake.calls) == len(tiny_workload.tasks) + 1  # one untimed warm-up task


def test_the_bench_session_measures_through_it(calls, duo_profile, tiny_workload):
    BenchSession(duo_profile, "fake", tiny_workload, repeat=2, backend=FakeBackend()).run()
    assert [c["mode"] for c in calls] == ["sequential", "parallel"] * 2
    assert all(c["warmup"] is False for c in calls)  # warmed up once, before the first mode


def test_the_tuners_evaluators_measure_through_it(calls, duo_profile, tiny_workload):
    engine = EngineEvaluator("fake", tiny_workload, profile=duo_profile)
    try:
        engine.evaluate(duo_profile)
    finally:
        engine.close()
    SimEvaluator(tiny_workload).evaluate(duo_profile)
    assert [(c["backend"], c["mode"]) for c in calls] == [("fake", "parallel"), ("sim", "parallel")]
    assert all(c.get("warmup", True) for c in calls)


def test_the_fidelity_check_measures_through_it(calls, duo_profile, tiny_workload):
    check_fidelity(
        duo_profile,
        lambda: FakeBackend(latency=0.001, completion_tokens=5),
        tiny_workload.tasks,
        Calibration(),
        [CheckConfig(1, 1, 1)],
        repeats=1,
    )
    assert [c["backend"] for c in calls] == ["fake", "sim"]
