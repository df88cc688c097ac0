"""Performance tracking: what every attempt and task measured, and the reports built on it.

:class:`PerformanceTracker` keeps one :class:`~orchbench.records.AttemptRecord` per attempt
and one short row per finished task. :func:`performance_report` and
:func:`model_recommendations` turn them into JSON-able dicts whose keys are metric names
of :mod:`orchbench.metrics` (which defines each), among them:

- ``service_time_s``: the engine's measured ``total_s`` of successful attempts (queueing
  in orchbench's own queue is reported separately as ``mean_queue_s``);
- ``decode_rate``: completion tokens ÷ decode seconds, summed over successful attempts;
- ``utilisation``: seconds a model had requests in flight (summed per request) over
  ``span × concurrent_limit``, where span runs from the first attempt's start to the last
  one's end — 1.0 means every slot of the model was busy the whole time;
- ``mean_quality``: the final quality score of successful tasks.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from orchbench.config import ModelConfig
from orchbench.metrics import decode_rate_over, mean, percentile
from orchbench.records import AttemptRecord, TaskResult


class PerformanceTracker:
    """Attempt records, task results and busy time, appended as the scheduler runs."""

    def __init__(self) -> None:
        self.records: list[AttemptRecord] = []
        self.busy_s: list[float] = []
        """Per record, how long the attempt held its slot (same order as ``records``)."""
        self.tasks: list[TaskResult] = []

    def add_attempt(self, record: AttemptRecord, busy_s: float) -> None:
        """Keep one attempt; ``busy_s`` is how long it held its slot."""
        self.records.append(record)
        self.busy_s.append(busy_s)

    def add_result(self, result: TaskResult) -> None:
        """Keep one finished task."""
        self.tasks.append(result)

    def clear(self) -> None:
        """Forget everything measured so far."""
        self.records = []
        self.busy_s = []
        self.tasks = []


def _model_stats(
    records: list[AttemptRecord], busy_s: float, span: float, limit: int | None
) -> dict[str, Any]:
    ok = [r for r in records if r.success]
    times = [r.timings.total_s for r in ok if r.timings is not None]
    ttfts = [r.timings.ttft_s for r in ok if r.timings and r.timings.ttft_s is not None]
    tokens = sum(r.timings.completion_tokens or 0 for r in ok if r.timings)
    quality = [r.quality for r in ok if r.quality is not None]
    waits = [r.queue_wait_s for r in records]
    failed = len(records) - len(ok)
    utilisation = busy_s / (span * limit) if span > 0 and limit else None
    return {
        "attempts": len(records),
        "successes": len(ok),
        "failures": failed,
        "success_rate": len(ok) / len(records) if records else None,
        "failure_rate": failed / len(records) if records else None,
        "service_time_s": {
            "mean": mean(times),
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
        },
        "mean_ttft_s": mean(ttfts),
        "decode_rate": decode_rate_over(r.timings for r in ok),
        "completion_tokens": tokens,
        "mean_queue_s": mean(waits),
        "mean_quality": mean(quality),
        "busy_s": busy_s,
        "concurrent_limit": limit,
        "utilisation": utilisation,
    }


def performance_report(
    tracker: PerformanceTracker, models: Mapping[str, ModelConfig]
) -> dict[str, Any]:
    """Per model and per task type statistics of everything tracked; JSON-able.

    Keys: ``tasks`` (count, successes, failures, success_rate, mean_latency_s), ``span_s``,
    ``models`` (per model: attempts, success/failure counts and rates, service_time_s
    mean/p50/p95, mean_ttft_s, decode_rate, mean_queue_s, mean_quality, utilisation),
    ``quality_by_task_type`` (mean, count), ``distribution`` (task type → model → tasks).
    """
    by_model: dict[str, list[AttemptRecord]] = {}
    busy: dict[str, float] = {}
    for record, seconds in zip(tracker.records, tracker.busy_s, strict=True):
        by_model.setdefault(record.model, []).append(record)
        busy[record.model] = busy.get(record.model, 0.0) + seconds
    span = 0.0
    if tracker.records:
        first = min(r.started_at for r in tracker.records)
        last = max(r.started_at + s for r, s in zip(tracker.records, tracker.busy_s, strict=True))
        span = last - first
    per_model = {}
    for name, records in sorted(by_model.items()):
        limit = models[name].concurrent_limit if name in models else None
        per_model[name] = _model_stats(records, busy[name], span, limit)
    quality: dict[str, list[float]] = {}
    distribution: dict[str, dict[str, int]] = {}
    for row in tracker.tasks:
        task_type = row.task_type.value
        if row.success:
            quality.setdefault(task_type, []).append(row.quality_score)
        model = row.model_name if row.success and row.model_name else "(failed)"
        per_type = distribution.setdefault(task_type, {})
        per_type[model] = per_type.get(model, 0) + 1
    done = len(tracker.tasks)
    succeeded = sum(row.success for row in tracker.tasks)
    return {
        "tasks": {
            "count": done,
            "successes": succeeded,
            "failures": done - succeeded,
            "success_rate": succeeded / done if done else None,
            "mean_latency_s": mean([row.response_time for row in tracker.tasks]),
        },
        "span_s": span,
        "models": per_model,
        "quality_by_task_type": {
            t: {"mean": statistics.fmean(v), "count": len(v)} for t, v in sorted(quality.items())
        },
        "distribution": {t: dict(sorted(d.items())) for t, d in sorted(distribution.items())},
        **_hosts(tracker.records),
    }


def _hosts(records: list[AttemptRecord]) -> dict[str, Any]:
    # A fleet's hosts: attempts and failures sent to each (absent for a one-host profile).
    hosts: dict[str, dict[str, int]] = {}
    for record in records:
        if record.host:
            row = hosts.setdefault(record.host, {"attempts": 0, "failures": 0})
            row["attempts"] += 1
            row["failures"] += not record.success
    return {"hosts": dict(sorted(hosts.items()))} if hosts else {}


def model_recommendations(tracker: PerformanceTracker) -> dict[str, list[dict[str, Any]]]:
    """Per task type, the models that served it ranked by measured quality, then speed.

    Each entry: ``model``, ``tasks`` (successful tasks measured), ``mean_quality``,
    ``mean_service_s`` (engine time of the successful attempts), ``success_rate`` (of its
    attempts on that task type) and a one-line ``reason``. A model that never succeeded on
    a type is ranked last with quality 0.
    """
    attempts: dict[tuple[str, str], list[AttemptRecord]] = {}
    for record in tracker.records:
        attempts.setdefault((record.task_type.value, record.model), []).append(record)
    ranked: dict[str, list[dict[str, Any]]] = {}
    for (task_type, model), records in attempts.items():
        ok = [r for r in records if r.success]
        quality = mean([r.quality for r in ok if r.quality is not None])
        seconds = mean([r.timings.total_s for r in ok if r.timings is not None])
        ranked.setdefault(task_type, []).append(
            {
                "model": model,
                "tasks": len(ok),
                "mean_quality": quality,
                "mean_service_s": seconds,
                "success_rate": len(ok) / len(records),
            }
        )
    for entries in ranked.values():
        entries.sort(
            key=lambda e: (
                -(e["mean_quality"] or 0.0),
                e["mean_service_s"] if e["mean_service_s"] is not None else float("inf"),
                e["model"],
            )
        )
        for place, entry in enumerate(entries):
            entry["reason"] = _reason(place, entry, entries)
    return dict(sorted(ranked.items()))


def _reason(place: int, entry: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    if not entry["tasks"]:
        return f"never succeeded on this task type ({entry['success_rate']:.0%} of attempts)"
    quality = entry["mean_quality"] or 0.0
    seconds = entry["mean_service_s"]
    speed = f"{seconds:.2f}s mean service time" if seconds is not None else "speed unmeasured"
    if place == 0:
        lead = "best measured quality" if len(entries) > 1 else "only model measured"
        return f"{lead} ({quality:.2f}, {speed}, {entry['tasks']} tasks)"
    best = entries[0]
    if abs((best["mean_quality"] or 0.0) - quality) < 1e-9:
        return f"same quality as {best['model']} ({quality:.2f}) but slower ({speed})"
    return f"lower quality ({quality:.2f} vs {best['mean_quality'] or 0.0:.2f}); {speed}"
