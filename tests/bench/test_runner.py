"""Modes shape the profile as promised; aggregates and speedup are computed correctly."""

import asyncio

import pytest

from orchbench.bench.runner import (
    ModeRun,
    aggregate,
    modes_for,
    profile_for_mode,
    run_mode,
    speedup,
)
from orchbench.config import Complexity, TaskType
from orchbench.errors import ConfigError
from orchbench.records import AttemptRecord, TaskResult, Timings
from orchbench.testing import FakeBackend


def test_sequential_copy_has_global_limit_one_and_leaves_the_original(duo_profile):
    sequential = profile_for_mode(duo_profile, "sequential")
    assert sequential.settings.max_concurrent_tasks == 1
    assert duo_profile.settings.max_concurrent_tasks == 3
    parallel = profile_for_mode(duo_profile, "parallel")
    assert parallel == duo_profile and parallel is not duo_profile


def test_model_mode_routes_every_type_to_that_model_alone(duo_profile):
    alone = profile_for_mode(duo_profile, "model:big")
    assert list(alone.models) == ["big"]
    assert set(alone.models["big"].task_types) == set(TaskType)
    assert all(route.primary == ["big"] and not route.fallback for route in alone.routing.values())
    assert set(alone.routing) == set(TaskType)


def test_bad_modes_name_the_valid_ones(duo_profile):
    with pytest.raises(ConfigError, match="model:small"):
        profile_for_mode(duo_profile, "turbo")
    with pytest.raises(ConfigError, match="no model 'huge'"):
        profile_for_mode(duo_profile, "model:huge")
    with pytest.raises(ConfigError, match="compare, models, all"):
        modes_for(duo_profile, "some")
    assert modes_for(duo_profile, "all") == ["sequential", "parallel", "model:small", "model:big"]


def test_sequential_runs_one_at_a_time_and_parallel_overlaps(duo_profile, tiny_workload):
    fake = FakeBackend(latency=0.01)
    sequential = asyncio.run(run_mode(duo_profile, fake, tiny_workload, "sequential"))
    assert fake.max_in_flight_total == 1
    assert len(sequential.results) == len(tiny_workload.tasks)
    assert sequential.task_names == ["c1", "c2", "r1", "p1", "p2", "p3"]
    fake = FakeBackend(latency=0.01)
    events = []
    parallel = asyncio.run(
        run_mode(duo_profile, fake, tiny_workload, "parallel", repeat=2, listener=events.append)
    )
    assert fake.max_in_flight_total > 1
    assert fake.max_in_flight["big"] == 1
    assert parallel.repeat == 2
    assert sum(e.kind == "finished" for e in events) == len(tiny_workload.tasks)
    assert [r.success for r in parallel.results] == [True] * 6
    assert parallel.aggregates["tasks"] == 6


def test_model_mode_uses_only_that_model(duo_profile, tiny_workload):
    fake = FakeBackend(latency=0.0)
    run = asyncio.run(run_mode(duo_profile, fake, tiny_workload, "model:small"))
    assert {c.model for c in fake.calls} == {"small"}
    assert {r.model_name for r in run.results} == {"small"}


def _result(task_id, task_type, seconds, success=True, quality=1.0):
    return TaskResult(
        task_id, task_type, Complexity.SIMPLE, "p", "m", success, seconds, quality_score=quality
    )


def _record(task_id, tokens, ttft, queue):
    return AttemptRecord(
        task_id,
        1,
        "m",
        TaskType.CODING,
        Complexity.SIMPLE,
        "fake",
        0.0,
        queue,
        True,
        timings=Timings(total_s=1.0, ttft_s=ttft, completion_tokens=tokens, completion_s=0.5),
    )


def test_aggregate_by_hand():
    results = [
        _result(0, TaskType.CODING, 1.0),
        _result(1, TaskType.CODING, 3.0, quality=0.5),
        _result(2, TaskType.REVIEW, 2.0, success=False, quality=0.9),
    ]
    records = [_record(0, 10, 0.1, 0.0), _record(1, 30, 0.3, 1.0)]
    agg = aggregate(results, records, wall_s=4.0)
    assert agg["tasks"] == 3 and agg["failures"] == 1
    assert agg["tasks_per_s"] == pytest.approx(0.75)
    assert agg["completion_tokens"] == 40 and agg["tokens_per_s"] == pytest.approx(10.0)
    assert agg["p50_latency_s"] == pytest.approx(2.0)
    assert agg["p95_latency_s"] == pytest.approx(2.9)
    assert agg["mean_ttft_s"] == pytest.approx(0.2)
    assert agg["mean_queue_s"] == pytest.approx(0.5)
    assert agg["mean_quality"] == pytest.approx(0.5)  # the failed task counts 0
    assert agg["per_type_s"] == {"coding": 2.0, "review": 2.0}


def test_speedup_per_repeat():
    def run(mode, repeat, wall):
        return ModeRun(mode, repeat, [], [], wall)

    stats = speedup(
        [run("sequential", 0, 6.0), run("sequential", 1, 4.0)],
        [run("parallel", 0, 3.0), run("parallel", 1, 4.0)],
    )
    assert stats["values"] == [2.0, 1.0]
    assert (stats["median"], stats["min"], stats["max"]) == (1.5, 1.0, 2.0)
    assert speedup([], [])["median"] is None
