"""Performance report and recommendations from hand-made attempt records."""

from __future__ import annotations

import json

import pytest

from orchbench.config import Complexity, ModelConfig, TaskType
from orchbench.records import AttemptRecord, TaskResult, Timings
from orchbench.scheduler._tracker import (
    PerformanceTracker,
    model_recommendations,
    performance_report,
)


def record(model, start, seconds, *, ok=True, quality=None, task_type=TaskType.CODING, wait=0.0):
    timings = Timings(total_s=seconds, ttft_s=seconds / 10, completion_tokens=10,
                      completion_s=seconds) if ok else None  # fmt: skip
    return AttemptRecord(
        task_id=0, attempt=1, model=model, task_type=task_type, complexity=Complexity.MEDIUM,
        backend="fake", started_at=start, queue_wait_s=wait, success=ok,
        error=None if ok else "BackendError: x", timings=timings, quality=quality,
    )  # fmt: skip


def result(model, ok=True, quality=1.0, task_type=TaskType.CODING):
    return TaskResult(0, task_type, Complexity.MEDIUM, "p", model if ok else None, ok, 1.0,
                      quality_score=quality if ok else 0.0)  # fmt: skip


MODELS = {
    "a": ModelConfig(name="a", task_types=[TaskType.CODING], tier="fast", concurrent_limit=2),
    "b": ModelConfig(name="b", task_types=[TaskType.CODING], tier="powerful"),
}


@pytest.fixture
def tracker():
    t = PerformanceTracker()
    t.add_attempt(record("a", 100.0, 1.0, quality=0.5), 1.0)
    t.add_attempt(record("a", 100.0, 3.0, quality=0.7), 3.0)
    t.add_attempt(record("a", 101.0, 2.0, ok=False), 2.0)
    t.add_attempt(record("b", 100.0, 4.0, quality=0.9), 4.0)
    for r in (result("a", quality=0.5), result("a", quality=0.7), result("b", quality=0.9),
              result(None, ok=False)):  # fmt: skip
        t.add_result(r)
    return t


def test_report_per_model_numbers(tracker):
    report = performance_report(tracker, MODELS)
    json.dumps(report)
    a = report["models"]["a"]
    assert (a["attempts"], a["successes"], a["failures"]) == (3, 2, 1)
    assert a["success_rate"] == pytest.approx(2 / 3)
    assert a["service_time_s"]["mean"] == 2.0
    assert a["service_time_s"]["p50"] == 2.0
    assert a["service_time_s"]["p95"] == pytest.approx(2.9)
    assert a["mean_ttft_s"] == pytest.approx(0.2)
    assert a["decode_rate"] == pytest.approx(20 / 4.0)
    # span 100..104 s; a held 6 slot-seconds of 2 slots x 4 s
    assert report["span_s"] == 4.0
    assert a["utilisation"] == pytest.approx(6 / 8)
    assert report["models"]["b"]["utilisation"] == pytest.approx(1.0)


def test_report_task_level_numbers(tracker):
    report = performance_report(tracker, MODELS)
    assert report["tasks"]["count"] == 4 and report["tasks"]["failures"] == 1
    assert report["quality_by_task_type"]["coding"] == {"mean": pytest.approx(0.7), "count": 3}
    assert report["distribution"]["coding"] == {"(failed)": 1, "a": 2, "b": 1}


def test_report_of_nothing_is_empty_but_valid():
    report = performance_report(PerformanceTracker(), MODELS)
    assert report["tasks"]["count"] == 0 and report["models"] == {}
    json.dumps(report)


def test_recommendations_rank_by_quality_then_speed(tracker):
    tracker.add_attempt(record("c", 100.0, 0.5, quality=0.9), 0.5)
    ranked = model_recommendations(tracker)["coding"]
    assert [e["model"] for e in ranked] == ["c", "b", "a"]
    assert ranked[0]["reason"].startswith("best measured quality")
    assert "same quality as c" in ranked[1]["reason"]
    assert "lower quality" in ranked[2]["reason"]
    assert ranked[2]["success_rate"] == pytest.approx(2 / 3)


def test_a_model_that_never_succeeded_ranks_last():
    t = PerformanceTracker()
    t.add_attempt(record("a", 0.0, 1.0, ok=False), 1.0)
    t.add_attempt(record("b", 0.0, 1.0, quality=0.1), 1.0)
    ranked = model_recommendations(t)["coding"]
    assert [e["model"] for e in ranked] == ["b", "a"]
    assert ranked[1]["reason"].startswith("never succeeded")


def test_clear_forgets_everything(tracker):
    tracker.clear()
    assert tracker.records == [] and tracker.tasks == [] and tracker.busy_s == []
