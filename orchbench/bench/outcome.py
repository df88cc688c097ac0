"""What a benchmark run gives back: per-mode numbers, the speedup, and per-model stats.

:class:`BenchResult` is what the ``bench_run`` fixture returns, so a suite file can
assert service levels::

    def test_gate(bench_run):
        assert bench_run.speedup.low >= 1.2     # the 95 % interval's lower bound
        assert bench_run.p95_latency_s < 30
        assert bench_run.parallel.failures == 0
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchbench.bench.aggregate import pass_at_1
from orchbench.bench.runner import MODEL_PREFIX, ModeRun
from orchbench.bench.stats import Speedup
from orchbench.metrics import decode_rate_over, mean, median_of_repeats


@dataclass
class ModeSummary:
    """One mode over all repeats: ``runs`` and the median of each aggregate.

    Every aggregate is an attribute (``total_s``, ``tasks_per_s``, ``tokens_per_s``,
    ``p50_latency_s``, ``p95_latency_s``, ``mean_ttft_s``, ``mean_quality``,
    ``failures``, ``per_type_s``...), the median over repeats.
    """

    mode: str
    runs: list[ModeRun]
    median: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: look them up among the aggregates.
        median = self.__dict__.get("median", {})
        if name in median:
            return median[name]
        raise AttributeError(f"mode {self.__dict__.get('mode')!r} has no aggregate {name!r}")


@dataclass(repr=False)
class BenchResult:
    """A finished (or stopped) benchmark run of one workload on one profile."""

    summary: dict[str, Any]
    runs: Mapping[str, Sequence[ModeRun]]
    run_dir: Path | None = None

    def __repr__(self) -> str:
        # Short on purpose: pytest prints it when a service-level assert fails.
        speed = self.speedup
        return (
            f"BenchResult(suite={self.summary['suite']['name']!r}, "
            f"backend={self.summary['backend']!r}, status={self.status!r}, "
            f"speedup={'n/a' if speed is None else f'{speed:.2f}'})"
        )

    @property
    def status(self) -> str:
        """``"complete"``, ``"degraded"`` (a model failed its warm-up), ``"failed"`` (too
        many tasks failed, or no model loaded) or ``"partial"`` (interrupted); see
        :mod:`orchbench.bench.session`."""
        return self.summary["status"]

    def mode(self, name: str) -> ModeSummary:
        """The :class:`ModeSummary` of mode ``name`` (KeyError if it did not run)."""
        runs = list(self.runs.get(name) or [])
        if not runs:
            raise KeyError(f"mode {name!r} did not run; modes run: {', '.join(self.modes)}")
        return ModeSummary(name, runs, median_of_repeats([r.aggregates for r in runs]))

    @property
    def modes(self) -> list[str]:
        """The modes that ran, in order."""
        return [m for m, runs in self.runs.items() if runs]

    @property
    def sequential(self) -> ModeSummary:
        """The sequential mode (one task at a time)."""
        return self.mode("sequential")

    @property
    def parallel(self) -> ModeSummary:
        """The parallel mode (the profile's limits)."""
        return self.mode("parallel")

    @property
    def speedup(self) -> Speedup | None:
        """Sequential total time / parallel total time over the paired repeats.

        A :class:`~orchbench.bench.stats.Speedup`: compares like a float (the geometric
        mean of the pairs) and has ``.low`` / ``.high``, its 95 % confidence interval.
        """
        return Speedup.from_summary(self.summary["speedup"])

    @property
    def speedup_min(self) -> float | None:
        """The smallest speedup over repeats."""
        return self.summary["speedup"]["min"]

    @property
    def speedup_max(self) -> float | None:
        """The largest speedup over repeats."""
        return self.summary["speedup"]["max"]

    @property
    def p95_latency_s(self) -> float | None:
        """Parallel mode's p95 task latency (median over repeats)."""
        return self.parallel.p95_latency_s

    @property
    def p50_latency_s(self) -> float | None:
        """Parallel mode's median task latency (median over repeats)."""
        return self.parallel.p50_latency_s

    @property
    def mean_quality(self) -> float | None:
        """Parallel mode's mean quality (median over repeats)."""
        return self.parallel.mean_quality

    @property
    def failures(self) -> int:
        """Failed tasks over every mode run."""
        return sum(r.aggregates["failures"] for runs in self.runs.values() for r in runs)

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        """Per-model stats from the ``model:<name>`` modes (see :func:`model_stats`)."""
        return self.summary.get("models", {})


def model_stats(runs: Mapping[str, Sequence[ModeRun]]) -> dict[str, dict[str, Any]]:
    """The "Model Performance" table: each model alone, over all its repeats.

    Per model (names from :mod:`orchbench.metrics`): ``tasks``, ``failures``,
    ``mean_service_s`` (mean engine time per successful request, queueing excluded),
    ``mean_ttft_s``, ``decode_rate`` (completion tokens ÷ decode seconds),
    ``mean_quality`` (failed tasks count 0), ``pass_at_1`` with ``passed_tasks`` and
    ``tested_tasks`` (tasks with tests only, pooled over repeats), ``per_type_quality``,
    and ``best_types``:
    the task types where it scored highest among the models (ties go to the faster one);
    with a single model, the types where it scored its best.
    """
    stats: dict[str, dict[str, Any]] = {}
    for mode, mode_runs in runs.items():
        if not mode.startswith(MODEL_PREFIX) or not mode_runs:
            continue
        name = mode.removeprefix(MODEL_PREFIX)
        results = [r for run in mode_runs for r in run.results]
        timings = [
            rec.timings
            for run in mode_runs
            for rec in run.records
            if rec.success and rec.timings is not None
        ]
        per_type: dict[str, list[float]] = {}
        per_type_s: dict[str, list[float]] = {}
        for result in results:
            key = result.task_type.value
            per_type.setdefault(key, []).append(result.quality_score if result.success else 0.0)
            per_type_s.setdefault(key, []).append(result.response_time)
        stats[name] = {
            "tasks": len(results),
            "failures": sum(1 for r in results if not r.success),
            "mean_service_s": mean([t.total_s for t in timings]),
            "mean_ttft_s": mean([t.ttft_s for t in timings if t.ttft_s is not None]),
            "decode_rate": decode_rate_over(timings),
            "mean_quality": mean([r.quality_score if r.success else 0.0 for r in results]),
            **pass_at_1(results),
            "per_type_quality": {k: statistics.fmean(v) for k, v in per_type.items()},
            "per_type_s": {k: statistics.fmean(v) for k, v in per_type_s.items()},
            "best_types": [],
        }
    _fill_best_types(stats)
    return stats


def _fill_best_types(stats: dict[str, dict[str, Any]]) -> None:
    if len(stats) == 1:
        only = next(iter(stats.values()))
        scores = only["per_type_quality"]
        top = max(scores.values(), default=None)
        only["best_types"] = [t for t, q in scores.items() if q == top]
        return
    types = dict.fromkeys(t for s in stats.values() for t in s["per_type_quality"])
    for task_type in types:
        contenders = [
            (s["per_type_quality"][task_type], -s["per_type_s"][task_type], name)
            for name, s in stats.items()
            if task_type in s["per_type_quality"]
        ]
        winner = max(contenders)[2]
        stats[winner]["best_types"].append(task_type)
