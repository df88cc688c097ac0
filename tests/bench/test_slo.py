"""SLO parsing and goodput against hand-computed cases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orchbench.bench.slo import apply_slos, best_rate_meeting, meets, parse_slos, slo_aggregates
from orchbench.config import Complexity, TaskType
from orchbench.errors import ConfigError
from orchbench.records import TaskResult, Timings


def _task(latency: float, ttft: float | None, tokens: int = 11, success: bool = True):
    timings = Timings(total_s=latency, ttft_s=ttft, completion_tokens=tokens)
    return TaskResult(
        0, TaskType.CODING, Complexity.SIMPLE, "p", "m", success, latency, timings=timings
    )


def test_parse_slos_in_vllm_names():
    assert parse_slos(["ttft_ms=500", "tpot_ms=50", "itl_ms=40", "e2el_ms=3e4"]) == {
        "ttft_ms": 500.0,
        "tpot_ms": 50.0,
        "itl_ms": 40.0,
        "e2el_ms": 30000.0,
    }
    assert parse_slos([]) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ttft=500", "NAME one of ttft_ms, tpot_ms, itl_ms, e2el_ms"),
        ("ttft_ms", "write NAME=MILLISECONDS"),
        ("ttft_ms=fast", "'fast' is not a positive number"),
        ("ttft_ms=-1", "'-1' is not a positive number"),
        ("ttft_ms=nan", "'nan' is not a positive number"),
    ],
)
def test_a_bad_slo_names_the_flag_and_what_is_valid(text, expected):
    with pytest.raises(ConfigError, match="--slo") as caught:
        parse_slos([text])
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_an_slo_given_twice_is_refused():
    with pytest.raises(ConfigError, match="given twice"):
        parse_slos(["ttft_ms=1", "ttft_ms=2"])


def test_meets_every_slo_or_none():
    slos = {"ttft_ms": 500.0, "tpot_ms": 50.0, "e2el_ms": 2000.0}
    # TPOT = (1.4 − 0.4) / 10 = 100 ms: too slow.
    assert not meets(_task(1.4, 0.4), slos)
    assert meets(_task(0.9, 0.4), slos)  # TPOT 50 ms: at the bound counts as met
    assert not meets(_task(0.9, 0.6), slos)  # TTFT over
    assert not meets(_task(0.9, None), slos)  # TTFT unmeasured: not met
    assert not meets(_task(0.9, 0.4, success=False), slos)
    assert not meets(_task(0.9, 0.4), {"itl_ms": 1000.0})  # no per-token times: not met


def test_goodput_and_attainment_by_hand():
    tasks = [_task(0.9, 0.4), _task(0.9, 0.6), _task(0.5, 0.1), _task(3.0, 0.1)]
    agg = slo_aggregates(tasks, 4.0, {"ttft_ms": 500.0, "e2el_ms": 2000.0})
    assert agg == {"goodput": pytest.approx(0.5), "slo_attainment_pct": pytest.approx(50.0)}
    assert slo_aggregates(tasks, 4.0, {}) == {}


def test_best_rate_is_the_highest_that_meets_every_slo():
    points = [
        {"rate": 1.0, "slo_attainment_pct": 100.0},
        {"rate": 2.0, "slo_attainment_pct": 100.0},
        {"rate": 4.0, "slo_attainment_pct": 80.0},
    ]
    assert best_rate_meeting(points) == 2.0
    assert best_rate_meeting(points, target_pct=75.0) == 4.0
    assert best_rate_meeting([{"rate": 1.0}]) is None
    # The synchronous and all-at-once points of a sweep have no rate: their throughput counts.
    sync = {"rate": None, "tasks_per_s": 0.5, "slo_attainment_pct": 100.0}
    assert best_rate_meeting([sync, {"offered_rate": 3.0, "slo_attainment_pct": 90.0}]) == 0.5


def test_slos_apply_to_the_run_and_to_each_load_point():
    fast, slow = _task(0.5, 0.1), _task(3.0, 0.1)
    run = SimpleNamespace(
        results=[fast, slow, fast, fast],
        wall_s=4.0,
        aggregates={},
        task_points=["r=1", "r=1", "r=2", "r=2"],
        points=[{"point": "r=1", "total_s": 2.0}, {"point": "r=2", "total_s": 1.0}],
    )
    apply_slos(run, {"e2el_ms": 1000.0})
    assert run.aggregates == {"goodput": 0.75, "slo_attainment_pct": 75.0}
    assert run.points[0] | {} == {"point": "r=1", "total_s": 2.0, "goodput": 0.5,
                                  "slo_attainment_pct": 50.0}  # fmt: skip
    assert run.points[1]["goodput"] == 2.0 and run.points[1]["slo_attainment_pct"] == 100.0
    untouched = SimpleNamespace(results=[fast], wall_s=1.0, aggregates={})
    apply_slos(untouched, {})
    assert untouched.aggregates == {}
