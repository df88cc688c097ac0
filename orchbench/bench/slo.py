"""Service-level objectives (``--slo ttft_ms=500``) and goodput, in vLLM's names.

An SLO bounds one per-task quantity, in milliseconds:

- ``ttft_ms``: time to first token of the attempt that answered;
- ``tpot_ms``: its time per output token after the first (:func:`orchbench.metrics.tpot`);
- ``itl_ms``: its mean inter-token latency (from the engine's per-token times);
- ``e2el_ms``: the task's end-to-end latency, submission to result, queue included.

A task meets the SLOs when it succeeded and every bounded quantity was measured and is
at most its bound; goodput is the tasks that did ÷ the mode's total time.

>>> parse_slos(["ttft_ms=500", "e2el_ms=30000"])
{'ttft_ms': 500.0, 'e2el_ms': 30000.0}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from orchbench.bench.aggregate import inter_token_latencies, tpot
from orchbench.errors import ConfigError
from orchbench.metrics import mean
from orchbench.records import TaskResult

SLO_NAMES = ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms")
"""Every SLO a run accepts."""

Slos = Mapping[str, float]


def parse_slos(texts: Sequence[str]) -> dict[str, float]:
    """``["ttft_ms=500", ...]`` as ``{"ttft_ms": 500.0}``; a bad one is a :class:`ConfigError`."""
    slos: dict[str, float] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or name not in SLO_NAMES:
            raise ConfigError(
                f"--slo {text!r} is not valid; write NAME=MILLISECONDS with NAME one of "
                f"{', '.join(SLO_NAMES)} (e.g. --slo ttft_ms=500)"
            )
        try:
            bound = float(value)
        except ValueError:
            bound = math.nan
        if not math.isfinite(bound) or bound <= 0:
            raise ConfigError(
                f"--slo {text!r}: {value.strip()!r} is not a positive number of milliseconds"
            )
        if name in slos:
            raise ConfigError(f"--slo {name} is given twice; give each SLO once")
        slos[name] = bound
    return slos


def task_values_ms(result: TaskResult) -> dict[str, float | None]:
    """The task's value of each SLO quantity in milliseconds (``None``: not measured)."""
    timings = result.timings
    gaps = inter_token_latencies(timings)
    per_token = tpot(timings)
    itl = mean(gaps)
    return {
        "ttft_ms": None if timings is None or timings.ttft_s is None else timings.ttft_s * 1e3,
        "tpot_ms": None if per_token is None else per_token * 1e3,
        "itl_ms": None if itl is None else itl * 1e3,
        "e2el_ms": result.response_time * 1e3,
    }


def meets(result: TaskResult, slos: Slos) -> bool:
    """Whether ``result`` succeeded and met every SLO (an unmeasured value does not)."""
    if not result.success:
        return False
    values = task_values_ms(result)
    return all((got := values[name]) is not None and got <= bound for name, bound in slos.items())


def slo_aggregates(results: Sequence[TaskResult], wall_s: float, slos: Slos) -> dict[str, Any]:
    """``goodput`` (tasks/s meeting every SLO) and ``slo_attainment_pct``; empty without SLOs."""
    if not slos:
        return {}
    met = sum(1 for r in results if meets(r, slos))
    return {
        "goodput": met / wall_s if wall_s > 0 else None,
        "slo_attainment_pct": 100.0 * met / len(results) if results else None,
    }


def point_rate(point: Mapping[str, Any]) -> float | None:
    """A load point's rate in tasks/s: the rate offered, else the rate asked for, else the
    throughput it achieved (the synchronous and the all-at-once points of a sweep)."""
    for key in ("offered_rate", "rate", "tasks_per_s"):
        value = point.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def best_rate_meeting(
    points: Sequence[Mapping[str, Any]], *, target_pct: float = 100.0
) -> float | None:
    """The highest rate (:func:`point_rate`) among load ``points`` whose
    ``slo_attainment_pct`` reaches ``target_pct`` — by default every task met every SLO;
    ``None`` when no point does or the points carry no attainment."""
    rates = [
        rate
        for p in points
        if isinstance(p.get("slo_attainment_pct"), int | float)
        and p["slo_attainment_pct"] >= target_pct
        and (rate := point_rate(p)) is not None
    ]
    return max(rates) if rates else None


def apply_slos(run: Any, slos: Slos) -> None:
    """Add goodput and attainment to a mode run's aggregates and to each of its load
    points (``run.points``, their tasks named by ``run.task_points``); nothing without SLOs."""
    if not slos:
        return
    run.aggregates.update(slo_aggregates(run.results, run.wall_s, slos))
    labels = list(getattr(run, "task_points", None) or [])
    for entry in getattr(run, "points", None) or []:
        mine = [r for r, label in zip(run.results, labels, strict=False) if label == entry["point"]]
        entry.update(slo_aggregates(mine, entry.get("total_s") or 0.0, slos))
