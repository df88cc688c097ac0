"""Run aggregates against hand-computed cases: distributions, TPOT, ITL, per model and type."""

from __future__ import annotations

import pytest

from orchbench.bench.aggregate import (
    aggregate,
    distribution,
    distributions,
    inter_token_latencies,
    tpot,
)
from orchbench.config import Complexity, TaskType
from orchbench.metrics import METRICS, median_of_repeats
from orchbench.records import AttemptRecord, TaskResult, Timings


def _result(task_id: int, model: str, task_type: TaskType, latency: float) -> TaskResult:
    return TaskResult(
        task_id, task_type, Complexity.SIMPLE, "p", model, True, latency, quality_score=1.0
    )


def _record(task_id: int, model: str, task_type: TaskType, timings: Timings) -> AttemptRecord:
    return AttemptRecord(
        task_id, 1, model, task_type, Complexity.SIMPLE, "fake", 0.0, 0.0, True, timings=timings
    )


def test_distribution_is_mean_and_four_percentiles_by_hand():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    stats = distribution("latency", values)
    assert stats == {
        "mean_latency_s": pytest.approx(3.0),
        "p50_latency_s": pytest.approx(3.0),
        "p90_latency_s": pytest.approx(4.6),  # rank 3.6: 4 + 0.6 × (5 − 4)
        "p95_latency_s": pytest.approx(4.8),
        "p99_latency_s": pytest.approx(4.96),
    }
    assert all(value is None for value in distribution("ttft", []).values())
    assert set(stats) <= set(METRICS)


def test_tpot_is_decode_time_over_tokens_after_the_first():
    assert tpot(Timings(total_s=2.0, ttft_s=0.5, completion_tokens=4)) == pytest.approx(0.5)
    assert tpot(Timings(total_s=2.0, ttft_s=0.5, completion_tokens=1)) is None
    assert tpot(Timings(total_s=2.0, ttft_s=None, completion_tokens=9)) is None
    assert tpot(None) is None


def test_itl_is_the_gaps_between_token_times():
    timings = Timings(total_s=1.0, token_times=[0.2, 0.3, 0.6, 0.65])
    assert inter_token_latencies(timings) == pytest.approx([0.1, 0.3, 0.05])
    assert inter_token_latencies(Timings(total_s=1.0)) == []
    assert inter_token_latencies(Timings(total_s=1.0, token_times=[0.2])) == []


def _run():
    results = [
        _result(0, "a", TaskType.CODING, 1.0),
        _result(1, "a", TaskType.REVIEW, 2.0),
        _result(2, "b", TaskType.CODING, 4.0),
    ]
    records = [
        _record(
            0,
            "a",
            TaskType.CODING,
            Timings(1.0, ttft_s=0.1, completion_tokens=10, token_times=[0.1, 0.2, 0.4]),
        ),
        _record(1, "a", TaskType.REVIEW, Timings(2.0, ttft_s=0.5, completion_tokens=4)),
        _record(2, "b", TaskType.CODING, Timings(3.0, ttft_s=1.0, completion_tokens=5)),
    ]
    return results, records


def test_overall_per_model_and_per_type_by_hand():
    results, records = _run()
    agg = aggregate(results, records, wall_s=5.0)
    assert agg["mean_ttft_s"] == pytest.approx((0.1 + 0.5 + 1.0) / 3)
    assert agg["p50_ttft_s"] == pytest.approx(0.5)
    assert agg["mean_tpot_s"] == pytest.approx((0.1 + 0.5 + 0.5) / 3)  # 0.9/9, 1.5/3, 2/4
    assert agg["mean_itl_s"] == pytest.approx(0.15)  # gaps 0.1 and 0.2, only task 0 streams
    assert agg["p99_latency_s"] == pytest.approx(2.0 + 0.98 * 2.0)
    assert agg["mean_service_s"] == pytest.approx(2.0)
    a = agg["by_model"]["a"]
    assert (a["tasks"], a["completion_tokens"]) == (2, 14)
    assert a["tasks_per_s"] == pytest.approx(0.4) and a["tokens_per_s"] == pytest.approx(2.8)
    assert a["mean_latency_s"] == pytest.approx(1.5) and a["p50_ttft_s"] == pytest.approx(0.3)
    assert agg["by_model"]["b"]["mean_itl_s"] is None  # b did not stream: no ITL, no guess
    coding = agg["by_task_type"]["coding"]
    assert coding["tasks"] == 2 and coding["mean_latency_s"] == pytest.approx(2.5)
    assert set(agg) <= set(METRICS)


def test_per_model_tables_take_the_median_over_repeats():
    results, records = _run()
    one = aggregate(results, records, wall_s=5.0)
    two = aggregate(results, records, wall_s=10.0)
    merged = median_of_repeats([one, two])
    assert merged["by_model"]["a"]["tasks_per_s"] == pytest.approx(0.3)


def test_service_time_counts_successful_attempts_only():
    results, records = _run()
    records[2].success = False
    assert distributions(results, records)["mean_service_s"] == pytest.approx(1.5)
