"""Reduce one mode run (its results and attempt records) to the numbers a person compares.

Every key is defined in :mod:`orchbench.metrics`; :data:`AGGREGATE_KEYS` lists them.
Overall, per model (``by_model``) and per task type (``by_task_type``) a run gets the
distributions peers report — TTFT, ITL, TPOT, latency and service time, each as mean,
p50, p90, p95, p99 — with request and output token throughput.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchbench.metrics import (
    DISTRIBUTION_STATS,
    distribution_key,
    mean,
    output_tokens_per_s,
    percentile,
)
from orchbench.records import AttemptRecord, TaskResult, Timings

AGGREGATE_KEYS = (
    "total_s",
    "tasks",
    "tasks_per_s",
    "completion_tokens",
    "tokens_per_s",
    "p50_latency_s",
    "p95_latency_s",
    "mean_ttft_s",
    "mean_queue_s",
    "mean_quality",
    "pass_at_1",
    "passed_tasks",
    "tested_tasks",
    "failures",
    "per_type_s",
    "by_model",
    "by_task_type",
    "per_host_requests",
)


def distribution(base: str, values: Sequence[float]) -> dict[str, float | None]:
    """The mean and percentiles of ``values`` under their stored names (``None`` when empty).

    >>> distribution("ttft", [1.0, 2.0, 3.0])["p90_ttft_s"]
    2.8
    """
    stats: dict[str, float | None] = {distribution_key(base, "mean"): mean(values)}
    for stat in DISTRIBUTION_STATS[1:]:
        stats[distribution_key(base, stat)] = percentile(values, float(stat[1:]))
    return stats


def tpot(timings: Timings | None) -> float | None:
    """Time per output token after the first: (service time − TTFT) ÷ (tokens − 1).

    ``None`` without a measured TTFT or with fewer than two completion tokens.

    >>> tpot(Timings(total_s=1.1, ttft_s=0.1, completion_tokens=11))
    0.1
    """
    if timings is None or timings.ttft_s is None or (timings.completion_tokens or 0) < 2:
        return None
    return max(0.0, timings.total_s - timings.ttft_s) / ((timings.completion_tokens or 0) - 1)


def inter_token_latencies(timings: Timings | None) -> list[float]:
    """The gaps between consecutive per-token times (empty where the engine did not stream)."""
    times = timings.token_times if timings else None
    if not times:
        return []
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def distributions(
    results: Sequence[TaskResult], records: Sequence[AttemptRecord]
) -> dict[str, float | None]:
    """TTFT, ITL, TPOT (over attempts), latency (over tasks) and service time (over
    successful attempts), each as mean, p50, p90, p95, p99."""
    timed = [rec.timings for rec in records if rec.timings is not None]
    ttfts = [t.ttft_s for t in timed if t.ttft_s is not None]
    tpots = [v for t in timed if (v := tpot(t)) is not None]
    itls = [gap for t in timed for gap in inter_token_latencies(t)]
    service = [rec.timings.total_s for rec in records if rec.success and rec.timings is not None]
    return {
        **distribution("ttft", ttfts),
        **distribution("itl", itls),
        **distribution("tpot", tpots),
        **distribution("latency", [r.response_time for r in results]),
        **distribution("service", service),
    }


def pass_at_1(results: Sequence[TaskResult]) -> dict[str, Any]:
    """``pass_at_1`` (passed ÷ tested, ``None`` with no tested task), ``passed_tasks`` and
    ``tested_tasks`` over the results that have a tests verdict (``tests_passed``).

    >>> from orchbench.config import Complexity, TaskType
    >>> done = [TaskResult(i, TaskType.CODING, Complexity.SIMPLE, "p", "m", True, 1.0,
    ...                    tests_passed=v) for i, v in enumerate([True, False, None])]
    >>> pass_at_1(done)
    {'pass_at_1': 0.5, 'passed_tasks': 1, 'tested_tasks': 2}
    """
    verdicts = [r.tests_passed for r in results if r.tests_passed is not None]
    passed = sum(1 for v in verdicts if v)
    return {
        "pass_at_1": passed / len(verdicts) if verdicts else None,
        "passed_tasks": passed,
        "tested_tasks": len(verdicts),
    }


def pass_at_1_text(stats: Mapping[str, Any]) -> str:
    """``"6/164 = 3.7 %"`` from a dict with :func:`pass_at_1`'s keys; ``"—"`` when untested.

    >>> pass_at_1_text({"pass_at_1": 6 / 164, "passed_tasks": 6, "tested_tasks": 164})
    '6/164 = 3.7 %'
    """
    rate, passed, tested = (stats.get(k) for k in ("pass_at_1", "passed_tasks", "tested_tasks"))
    if rate is None or not tested:
        return "—"
    return f"{_count(passed)}/{_count(tested)} = {rate * 100:.1f} %"


def _count(value: float | None) -> str:
    # A median over an even number of repeats can fall between two whole counts.
    value = value or 0
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _tokens(records: Sequence[AttemptRecord]) -> int:
    return sum((rec.timings.completion_tokens or 0) for rec in records if rec.timings)


def _group(
    results: Sequence[TaskResult],
    records: Sequence[AttemptRecord],
    wall_s: float,
    result_key: Callable[[TaskResult], str | None],
    record_key: Callable[[AttemptRecord], str | None],
) -> dict[str, dict[str, Any]]:
    keys = dict.fromkeys(
        k for k in [*map(result_key, results), *map(record_key, records)] if k is not None
    )
    groups: dict[str, dict[str, Any]] = {}
    for key in keys:
        mine = [r for r in results if result_key(r) == key]
        attempts = [rec for rec in records if record_key(rec) == key]
        tokens = _tokens(attempts)
        groups[key] = {
            "tasks": len(mine),
            "tasks_per_s": len(mine) / wall_s if wall_s > 0 else None,
            "completion_tokens": tokens,
            "tokens_per_s": output_tokens_per_s(tokens, wall_s),
            **pass_at_1(mine),
            **distributions(mine, attempts),
        }
    return groups


def aggregate(
    results: Sequence[TaskResult], records: Sequence[AttemptRecord], wall_s: float
) -> dict[str, Any]:
    """The numbers of one mode run (see ``AGGREGATE_KEYS``; defined in :mod:`orchbench.metrics`).

    Latency is each task's ``response_time`` (queueing and retries included); tokens count
    every completion token the engine produced, retries included, since that is the work
    the hardware did; quality averages over all tasks with a failed task counting 0;
    pass@1 counts only the tasks that have tests (:func:`pass_at_1`). A model's tasks are
    those it answered; its attempts every request sent to it.
    """
    latencies = [r.response_time for r in results]
    tokens = _tokens(records)
    per_type: dict[str, list[float]] = {}
    for result in results:
        per_type.setdefault(result.task_type.value, []).append(result.response_time)
    per_host: dict[str, int] = {}
    for rec in records:
        if rec.host:
            per_host[rec.host] = per_host.get(rec.host, 0) + 1
    hosts = {"per_host_requests": per_host} if per_host else {}  # only a fleet has hosts
    return {
        "total_s": wall_s,
        "tasks": len(results),
        "tasks_per_s": len(results) / wall_s if wall_s > 0 else None,
        "completion_tokens": tokens,
        "tokens_per_s": output_tokens_per_s(tokens, wall_s),
        **distributions(results, records),
        "p50_latency_s": percentile(latencies, 50),
        "p95_latency_s": percentile(latencies, 95),
        "mean_queue_s": mean([rec.queue_wait_s for rec in records]),
        "mean_quality": mean([r.quality_score if r.success else 0.0 for r in results]),
        **pass_at_1(results),
        "failures": sum(1 for r in results if not r.success),
        "per_type_s": {k: statistics.fmean(v) for k, v in per_type.items()},
        "by_model": _group(results, records, wall_s, lambda r: r.model_name, lambda rec: rec.model),
        "by_task_type": _group(
            results,
            records,
            wall_s,
            lambda r: r.task_type.value,
            lambda rec: rec.task_type.value,
        ),
        **hosts,
    }
