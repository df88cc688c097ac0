"""Run-vs-run comparison: metrics side by side, their change, noise, and CI gate rules.

The first run is the baseline. A change is *beyond noise* (significant) when an exact
two-sided Mann–Whitney U test on the two runs' per-repeat values gives p ≤ 0.05
(:func:`orchbench.bench.stats.compare_samples`); it needs at least 4 repeats on each side
(3 vs 3 can never reach 0.05): with fewer the verdict is "too few repeats to tell"
(``None``). A run the noise guard marked ``noisy`` is flagged (:attr:`Comparison.noisy`):
its numbers may measure the machine's other load rather than the code.

A ``--fail-on`` rule is ``METRIC OP THRESHOLD``: ``throughput<-5%`` breaks when any run's
throughput changed by less than −5 % against the baseline; ``p95_latency_s>0.5`` (no
``%``) compares the absolute change, in the metric's own unit.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchbench.bench.stats import Test, compare_samples
from orchbench.engine import is_measured
from orchbench.errors import ConfigError, ResultsError
from orchbench.metrics import METRICS as VOCABULARY
from orchbench.metrics import MODE_METRICS

METRICS = tuple(
    (key, VOCABULARY[key].header, bool(VOCABULARY[key].higher_is_better))
    for key in MODE_METRICS
    if key != "mean_queue_s"
)
"""(key, header, higher is better) of each compared metric, from :mod:`orchbench.metrics`."""
ALIASES = {
    "throughput": "parallel.tokens_per_s",
    "speedup": "speedup",
    "latency": "parallel.p95_latency_s",
    "p95": "parallel.p95_latency_s",
    "p50": "parallel.p50_latency_s",
    "ttft": "parallel.mean_ttft_s",
    "quality": "parallel.mean_quality",
    "total": "parallel.total_s",
}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
RULE = re.compile(r"^\s*([A-Za-z_][\w.:-]*)\s*(<=|>=|<|>)\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class RunInfo:
    """Who produced a run: its folder, machine, profile and backend."""

    path: Path
    label: str
    machine: str
    profile: str
    backend: str
    measured: bool
    noisy: str | None = None
    """Why the noise guard marked the run noisy; None for a quiet (or unchecked) run."""


@dataclass(frozen=True)
class MetricRow:
    """One metric across the runs; ``changes_pct``/``beyond_noise``/``tests`` are against the
    first run (``None`` for the baseline itself, a missing value, or a change from zero);
    ``beyond_noise`` is True (significant), False (no significant difference) or None (too
    few repeats to tell)."""

    metric: str
    label: str
    higher_is_better: bool
    values: tuple[float | None, ...]
    changes_pct: tuple[float | None, ...]
    beyond_noise: tuple[bool | None, ...]
    tests: tuple[Test | None, ...] = ()

    def verdict(self, i: int) -> str:
        """``"significant (p = 0.008)"``, ``"no significant difference"`` or ``"too few
        repeats to tell"`` for run ``i`` against the baseline (``"–"`` for the baseline)."""
        test = self.tests[i] if i < len(self.tests) else None
        if test is None:
            return "–"
        if test.verdict == "significant":
            return f"significant (p = {test.p_value:.3f})"
        return test.verdict


@dataclass(frozen=True)
class Rule:
    """A parsed ``--fail-on`` rule: the metric, the operator, the threshold and its kind."""

    text: str
    metric: str
    op: str
    threshold: float
    percent: bool


@dataclass(frozen=True)
class RuleOutcome:
    """A rule checked against one run: ``broken`` with a message that says why."""

    rule: Rule
    run: str
    broken: bool
    message: str


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_runs`: runs, metric rows, and every rule outcome."""

    runs: tuple[RunInfo, ...]
    rows: tuple[MetricRow, ...]
    outcomes: tuple[RuleOutcome, ...] = ()

    @property
    def broken(self) -> list[RuleOutcome]:
        """The rule outcomes that failed; empty when the gate passes."""
        return [o for o in self.outcomes if o.broken]

    @property
    def ok(self) -> bool:
        """True when no ``--fail-on`` rule is broken."""
        return not self.broken

    @property
    def noisy(self) -> list[RunInfo]:
        """The runs the noise guard marked noisy."""
        return [r for r in self.runs if r.noisy]

    def row(self, metric: str) -> MetricRow:
        """The row of ``metric`` (full name like ``parallel.tokens_per_s`` or an alias)."""
        name = resolve_metric(metric, [r.metric for r in self.rows])
        return next(r for r in self.rows if r.metric == name)


def resolve_metric(name: str, known: Sequence[str]) -> str:
    """Map a rule's metric (alias, bare aggregate key or ``mode.key``) to a row's name."""
    candidates = [ALIASES.get(name, name), f"parallel.{name}"]
    for candidate in candidates:
        if candidate in known:
            return candidate
    raise ConfigError(
        f"--fail-on: unknown metric {name!r}; valid metrics: "
        f"{', '.join([*sorted(ALIASES), *known])}"
    )


def parse_rule(text: str) -> Rule:
    """Parse ``"throughput<-5%"``; raise :class:`ConfigError` saying the valid form."""
    match = RULE.match(text)
    if match is None:
        raise ConfigError(
            f"--fail-on {text!r}: expected METRIC OP THRESHOLD, e.g. 'throughput<-5%' "
            "(change in percent) or 'p95_latency_s>0.5' (absolute change); "
            f"OP is one of {', '.join(OPERATORS)}"
        )
    metric, op, number, percent = match.groups()
    return Rule(text.strip(), metric, op, float(number), bool(percent))


def _run_info(path: Path, summary: dict[str, Any]) -> RunInfo:
    machine = summary.get("machine") or {}
    parts = [str(machine.get(k)) for k in ("hostname", "cpu", "gpu") if machine.get(k)]
    profile = summary.get("profile") or {}
    noise = summary.get("noise") or {}
    noisy = "; ".join(noise.get("reasons") or ["noisy"]) if noise.get("noisy") else None
    return RunInfo(
        path,
        path.name,
        " · ".join(parts) or "unknown machine",
        str(profile.get("name", "?")) if isinstance(profile, dict) else str(profile),
        str(summary.get("backend", "unknown")),
        is_measured(summary),
        noisy,
    )


def _series(summary: dict[str, Any], metric: str) -> tuple[float | None, list[float]]:
    """The metric's headline value (median over repeats) and its per-repeat values."""
    if metric == "speedup":
        speedup = summary.get("speedup") or {}
        return _num(speedup.get("estimate", speedup.get("median"))), [
            v for v in map(_num, speedup.get("values") or []) if v is not None
        ]
    mode, key = metric.rsplit(".", 1)
    block = (summary.get("modes") or {}).get(mode) or {}
    repeats = [_num(r.get(key)) for r in block.get("runs") or []]
    return _num((block.get("median") or {}).get(key)), [v for v in repeats if v is not None]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _test(base: list[float], other: list[float]) -> Test:
    return compare_samples(base, other)


def _change_pct(base: float | None, value: float | None) -> float | None:
    if base is None or value is None:
        return None
    if base == 0:
        return 0.0 if value == 0 else None
    return (value - base) / abs(base) * 100.0


def _metric_names(summaries: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    modes: list[str] = []
    for summary in summaries:
        modes += [m for m in (summary.get("modes") or {}) if m not in modes]
    modes.sort(key=lambda m: (m != "sequential", m != "parallel", m))
    names = [("speedup", VOCABULARY["speedup"].header, True)]
    names += [
        (f"{mode}.{key}", f"{mode}: {label}", better)
        for mode in modes
        for key, label, better in METRICS
    ]
    return names


def _check(rule: Rule, row: MetricRow, runs: Sequence[RunInfo]) -> list[RuleOutcome]:
    outcomes = []
    base = row.values[0]
    for i in range(1, len(runs)):
        value = row.values[i]
        change = (
            row.changes_pct[i]
            if rule.percent
            else (None if base is None or value is None else value - base)
        )
        unit = "%" if rule.percent else ""
        if change is None:
            why = (
                "is missing"
                if base is None or value is None
                else "changed from 0 (use an absolute threshold)"
            )
            outcomes.append(
                RuleOutcome(
                    rule, runs[i].label, True, f"{rule.text}: {row.metric} {why} in {runs[i].label}"
                )
            )
            continue
        broken = OPERATORS[rule.op](change, rule.threshold)
        message = (
            f"{rule.text}: {row.metric} {base:g} → {value:g} "
            f"(change {change:+.2f}{unit}) in {runs[i].label}: {'BROKEN' if broken else 'ok'}"
        )
        outcomes.append(RuleOutcome(rule, runs[i].label, broken, message))
    return outcomes


def compare_runs(paths: Iterable[str | Path], fail_on: Iterable[str] = ()) -> Comparison:
    """Compare results folders; the first is the baseline. Rules are checked on every other run.

    Raises :class:`ResultsError` for a missing or corrupt folder and :class:`ConfigError`
    for a malformed rule or an unknown metric (both before any comparison is made).
    """
    from orchbench.report._run import load_summary

    folders = [Path(p) for p in paths]
    if len(folders) < 2:
        raise ResultsError(f"compare needs at least two results folders, got {len(folders)}")
    rules = [parse_rule(text) for text in fail_on]
    summaries = [load_summary(folder) for folder in folders]
    runs = tuple(_run_info(f, s) for f, s in zip(folders, summaries, strict=True))
    rows = []
    for metric, label, better in _metric_names(summaries):
        series = [_series(s, metric) for s in summaries]
        values = tuple(v for v, _ in series)
        changes = (None, *(_change_pct(values[0], v) for v in values[1:]))
        tests = (None, *(_test(series[0][1], r) for _, r in series[1:]))
        noise = tuple(t.significant if t else None for t in tests)
        rows.append(MetricRow(metric, label, better, values, changes, noise, tests))
    known = [r.metric for r in rows]
    outcomes = []
    for rule in rules:
        name = resolve_metric(rule.metric, known)
        outcomes += _check(rule, next(r for r in rows if r.metric == name), runs)
    return Comparison(runs, tuple(rows), tuple(outcomes))
