"""The one vocabulary of metrics: every number orchbench prints or stores, defined once.

Each :class:`Metric` has the ``name`` it is stored under (``summary.json``, the library's
``get_performance_report()``), the ``label`` tables print, a ``unit`` and a
``definition``. Every table header is one of them (``tests/test_metrics.py``), and
``docs/metrics.md`` lists them all.

The arithmetic lives here too, once: :func:`percentile` (linear interpolation),
:func:`output_tokens_per_s` (completion tokens of a mode ÷ its wall time),
:func:`decode_rate` (completion tokens ÷ decode seconds) and :func:`median_of_repeats`
(the key-by-key median of several runs' aggregates).

>>> METRICS["p95_latency_s"].label
'Latency p95'
>>> percentile([1.0, 2.0, 3.0, 4.0], 50)
2.5
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from orchbench.records import Timings


@dataclass(frozen=True)
class Metric:
    """One metric: stored ``name``, printed ``label``, ``unit`` and what it means."""

    name: str
    label: str
    unit: str
    definition: str
    higher_is_better: bool | None = None
    """Which way is better (``None``: neither, e.g. a count of tasks)."""

    @property
    def header(self) -> str:
        """The label with its unit, for tables of raw numbers: ``"Latency p95 (s)"``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


_LATENCY = (
    "latency: seconds from a task's submission to its result, queue wait and retries included"
)
_SERVICE = "service time: seconds of one attempt on the engine, from request sent to answer"

_ALL: tuple[Metric, ...] = (
    # Per mode run (summary.json "modes", the terminal table, compare, the tuner).
    Metric(
        "total_s",
        "Total time",
        "s",
        "wall time of a mode: its whole workload, submitted "
        "at once, from the first submission to the last result (the makespan)",
        False,
    ),
    Metric("tasks", "Tasks", "tasks", "tasks in a mode run (or served by a model)"),
    Metric("tasks_per_s", "Tasks / s", "tasks/s", "tasks of a mode ÷ its total time", True),
    Metric(
        "offered_rate",
        "Offered tasks / s",
        "tasks/s",
        "arrival rate a --load rate run or a sweep's rate point asked for (tasks/s achieved: "
        "tasks_per_s)",
    ),
    Metric(
        "completion_tokens",
        "Completion tokens",
        "tokens",
        "completion tokens the engine produced in a mode, retries included",
    ),
    Metric(
        "tokens_per_s",
        "Output tokens / s",
        "tokens/s",
        "output tokens/s: completion tokens of a mode ÷ its total time",
        True,
    ),
    Metric("p50_latency_s", "Latency p50", "s", f"median task {_LATENCY}", False),
    Metric("p95_latency_s", "Latency p95", "s", f"95th percentile task {_LATENCY}", False),
    Metric(
        "mean_ttft_s",
        "Mean TTFT",
        "s",
        "mean over attempts of the engine's time to first token (TTFT): request sent to "
        "first token, engine load and queue included",
        False,
    ),
    Metric(
        "mean_queue_s",
        "Mean queue wait",
        "s",
        "mean over attempts of the time waited in orchbench's queue for a slot",
        False,
    ),
    Metric(
        "mean_quality",
        "Mean quality",
        "0–1",
        "mean quality score over tasks, a failed task counting 0",
        True,
    ),
    Metric("failures", "Failures", "", "tasks (or attempts) that ended without an answer", False),
    Metric(
        "pass_at_1",
        "pass@1",
        "0–1",
        "tasks whose own tests all passed ÷ tasks with tests (tasks without tests left out, "
        "a task with tests but no answer counting as failed); null without tested tasks",
        True,
    ),
    Metric("passed_tasks", "Tests passed", "tasks", "tasks with tests that passed all of them"),
    Metric("tested_tasks", "Tested tasks", "tasks", "tasks that had tests of their own"),
    Metric(
        "per_type_s", "Mean latency per task type", "s", f"per task type, mean {_LATENCY}", False
    ),
    Metric(
        "per_host_requests",
        "Requests on host",
        "requests",
        "per host of a fleet (a model's deployments), the attempts sent to it, retries included",
    ),
    Metric(
        "speedup",
        "Speedup",
        "×",
        "sequential total time ÷ parallel total time, per repeat (median, min, max)",
        True,
    ),
    # Per model (the "Model Performance" table, summary.json "models").
    Metric("mean_service_s", "Service time", "s", f"mean {_SERVICE}, successful attempts", False),
    Metric(
        "decode_rate",
        "Decode rate",
        "tokens/s",
        "completion tokens ÷ decode seconds, summed over successful attempts",
        True,
    ),
    Metric(
        "per_type_quality",
        "Quality per task type",
        "0–1",
        "per task type, mean quality score, a failed task counting 0",
        True,
    ),
    Metric("best_types", "Best at", "", "task types where the model scored highest"),
    # The library's get_performance_report() and get_model_recommendations().
    Metric("count", "Count", "tasks", "tasks finished"),
    Metric("successes", "Successes", "", "tasks (or attempts) that succeeded"),
    Metric("success_rate", "Success rate", "0–1", "successes ÷ tasks (or attempts)", True),
    Metric("failure_rate", "Failure rate", "0–1", "failed attempts ÷ attempts", False),
    Metric("attempts", "Attempts", "", "requests sent to the engine, retries included"),
    Metric("mean_latency_s", "Mean latency", "s", f"mean task {_LATENCY}", False),
    Metric("span_s", "Span", "s", "first attempt's start to last attempt's end", None),
    Metric(
        "service_time_s",
        "Service time (mean, p50, p95)",
        "s",
        f"{_SERVICE}, successful attempts: mean, p50, p95",
        False,
    ),
    Metric("mean", "Mean", "", "arithmetic mean"),
    Metric("p50", "p50", "", "50th percentile (linear interpolation)"),
    Metric("p95", "p95", "", "95th percentile (linear interpolation)"),
    Metric(
        "busy_s", "Busy time", "s", "seconds the model had requests in flight, summed per request"
    ),
    Metric(
        "concurrent_limit",
        "Concurrent limit",
        "requests",
        "the most requests the scheduler sends the model at once",
    ),
    Metric(
        "utilisation",
        "Utilisation",
        "0–1",
        "busy time ÷ (span × concurrent limit): 1.0 is every slot busy all the time",
    ),
    Metric("models", "Models", "", "per model statistics"),
    Metric(
        "quality_by_task_type",
        "Quality by task type",
        "0–1",
        "per task type, mean quality of successful tasks and their count",
    ),
    Metric("distribution", "Distribution", "tasks", "per task type, tasks served by each model"),
    Metric("p90", "p90", "", "90th percentile (linear interpolation)"),
    Metric("p99", "p99", "", "99th percentile (linear interpolation)"),
    # Per model and per task type inside a mode run's aggregates.
    Metric(
        "by_model",
        "By model",
        "",
        "per model: its tasks (the model that answered), their latency and the TTFT, ITL, "
        "TPOT and service time of its attempts",
    ),
    Metric(
        "by_task_type",
        "By task type",
        "",
        "per task type: its tasks, their latency and the TTFT, ITL, TPOT and service time of "
        "their attempts",
    ),
    # Service-level objectives (``--slo``).
    Metric(
        "goodput",
        "Goodput",
        "tasks/s",
        "tasks that met every SLO ÷ the mode's total time (a failed task meets none)",
        True,
    ),
    Metric(
        "slo_attainment_pct",
        "SLO attainment",
        "%",
        "share of tasks that met every SLO, in percent",
        True,
    ),
    Metric(
        "slo_best_rate",
        "Best rate meeting the SLOs",
        "tasks/s",
        "the highest rate of a --load sweep (or concurrency) point at which every task met "
        "every SLO: its offered rate, else its throughput",
        True,
    ),
    Metric(
        "slo_met",
        "SLO met",
        "",
        "whether a task met every SLO: its latency, and its answering attempt's TTFT, TPOT "
        "and mean ITL (an unmeasured value does not meet its SLO)",
    ),
)

DISTRIBUTIONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "ttft": ("TTFT", "time to first token of an attempt: request sent to first token"),
        "itl": (
            "ITL",
            "inter-token latency: gap between consecutive completion tokens, from the "
            "engine's per-token times (pooled over attempts; none where it does not stream)",
        ),
        "tpot": (
            "TPOT",
            "time per output token after the first, per attempt: "
            "(service time − TTFT) ÷ (completion tokens − 1)",
        ),
        "latency": ("Latency", _LATENCY),
        "service": ("Service time", _SERVICE),
    }
)
"""Per-request quantities summarised as mean and percentiles (``<stat>_<base>_s``)."""

DISTRIBUTION_STATS = ("mean", "p50", "p90", "p95", "p99")
"""The statistics of each distribution: the mean and these percentiles."""


def distribution_key(base: str, stat: str) -> str:
    """The stored name of one statistic of one distribution: ``p99_ttft_s``."""
    return f"{stat}_{base}_s"


def _distribution_metrics() -> tuple[Metric, ...]:
    named = {m.name for m in _ALL}
    made = []
    for base, (label, meaning) in DISTRIBUTIONS.items():
        for stat in DISTRIBUTION_STATS:
            name = distribution_key(base, stat)
            if name in named:
                continue
            if stat == "mean":
                made.append(Metric(name, f"Mean {label}", "s", f"mean {meaning}", False))
            else:
                made.append(Metric(name, f"{label} {stat}", "s", f"{stat} of {meaning}", False))
    return tuple(made)


_ALL = _ALL + _distribution_metrics()

METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in _ALL})
"""Every metric, by stored name (read-only)."""

MODE_METRICS = (
    "total_s",
    "tasks_per_s",
    "tokens_per_s",
    "p50_latency_s",
    "p95_latency_s",
    "mean_ttft_s",
    "mean_queue_s",
    "mean_quality",
    "failures",
)
"""The per-mode metrics every run table shows, in order."""

STRUCTURE_HEADERS = frozenset({"", "Metric", "metric", "Model", "model", "value", "reason"})
"""Table headers that name rows or the thing measured, not a metric."""


def is_metric_header(header: str) -> bool:
    """Whether ``header`` is a metric's name, label or header, or a structural column."""
    if header in STRUCTURE_HEADERS:
        return True
    return any(header in (m.name, m.label, m.header) for m in _ALL)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation, ``None`` when empty.

    The one percentile of the project (NumPy's default, "linear").

    >>> percentile([1.0, 2.0, 3.0], 95)
    2.9
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, ``None`` when empty."""
    return statistics.fmean(values) if values else None


def output_tokens_per_s(completion_tokens: int, wall_s: float) -> float | None:
    """Output tokens/s: completion tokens of a mode ÷ its wall time (``None`` for no time)."""
    return completion_tokens / wall_s if wall_s > 0 else None


def decode_rate(completion_tokens: int | None, decode_s: float | None) -> float | None:
    """Decode rate: completion tokens ÷ decode seconds (``None`` when either is unmeasured)."""
    if not completion_tokens or not decode_s:
        return None
    return completion_tokens / decode_s


def decode_rate_over(timings: Iterable[Timings | None]) -> float | None:
    """Decode rate of several requests: their completion tokens ÷ their decode seconds,
    summed over the requests that measured both (``None`` when none did)."""
    measured = [t for t in timings if t and t.completion_tokens and t.completion_s]
    tokens = sum(t.completion_tokens or 0 for t in measured)
    return decode_rate(tokens, sum(t.completion_s or 0.0 for t in measured))


def median_of_repeats(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Key-by-key median of several runs' aggregates: the one median over repeats.

    Keys are every run's keys in first-seen order; a key missing (or not a number) in
    some runs takes the median of the runs that have it, ``None`` when none has. A nested
    table (``per_type_s``) gets the median of each of its keys. Counts stay integers where
    the median is a whole number.

    >>> median_of_repeats([{"total_s": 1.0, "failures": 0}, {"total_s": 3.0, "failures": 0}])
    {'total_s': 2.0, 'failures': 0}
    """
    keys = dict.fromkeys(k for run in runs for k in run)
    merged: dict[str, Any] = {}
    for key in keys:
        present = [run[key] for run in runs if key in run]
        if present and all(isinstance(v, Mapping) for v in present):
            merged[key] = median_of_repeats(present)
            continue
        values = [v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
        middle: Any = statistics.median(values) if values else None
        if values and all(isinstance(v, int) for v in values):
            middle = int(middle) if float(middle).is_integer() else middle
        merged[key] = middle
    return merged


def markdown() -> str:
    """The metric list as Markdown (what ``docs/metrics.md`` holds under its heading)."""
    rows = ["| name | label | unit | definition |", "|---|---|---|---|"]
    rows += [f"| `{m.name}` | {m.label} | {m.unit or '–'} | {m.definition} |" for m in _ALL]
    return "\n".join(rows) + "\n"
