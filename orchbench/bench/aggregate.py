"""Reduce one mode run (its results and attempt records) to the numbers a person compares.

Every key is defined in :mod:`orchbench.metrics`; :data:`AGGREGATE_KEYS` lists them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from orchbench.metrics import mean, output_tokens_per_s, percentile
from orchbench.records import AttemptRecord, TaskResult

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
    "failures",
    "per_type_s",
    "per_host_requests",
)


def aggregate(
    results: Sequence[TaskResult], records: Sequence[AttemptRecord], wall_s: float
) -> dict[str, Any]:
    """The numbers of one mode run (see ``AGGREGATE_KEYS``; defined in :mod:`orchbench.metrics`).

    Latency is each task's ``response_time`` (queueing and retries included); tokens count
    every completion token the engine produced, retries included, since that is the work
    the hardware did; quality averages over all tasks with a failed task counting 0.
    """
    latencies = [r.response_time for r in results]
    tokens = sum((rec.timings.completion_tokens or 0) for rec in records if rec.timings)
    ttfts = [
        rec.timings.ttft_s for rec in records if rec.timings and rec.timings.ttft_s is not None
    ]
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
        "p50_latency_s": percentile(latencies, 50),
        "p95_latency_s": percentile(latencies, 95),
        "mean_ttft_s": mean(ttfts),
        "mean_queue_s": mean([rec.queue_wait_s for rec in records]),
        "mean_quality": mean([r.quality_score if r.success else 0.0 for r in results]),
        "failures": sum(1 for r in results if not r.success),
        "per_type_s": {k: statistics.fmean(v) for k, v in per_type.items()},
        **hosts,
    }
