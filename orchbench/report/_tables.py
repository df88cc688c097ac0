"""Turn the summary's nested JSON (performance report, recommendations, aggregates)
into plain tables of strings that the HTML page and the terminal can both show."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from orchbench.bench.aggregate import pass_at_1_text
from orchbench.engine import is_measured
from orchbench.metrics import METRICS as VOCABULARY
from orchbench.report._compare import METRICS

EXTRA_KEYS = (
    "p90_latency_s",
    "p99_latency_s",
    "p50_ttft_s",
    "p99_ttft_s",
    "mean_tpot_s",
    "p99_tpot_s",
    "mean_itl_s",
    "p99_itl_s",
    "goodput",
    "slo_attainment_pct",
)
"""Aggregates the report's summary table adds where the run has them (SLOs, streaming)."""
BREAKDOWN_KEYS = (
    "tasks",
    "tasks_per_s",
    "tokens_per_s",
    "p50_ttft_s",
    "p99_ttft_s",
    "mean_tpot_s",
    "mean_itl_s",
    "p50_latency_s",
    "p90_latency_s",
    "p99_latency_s",
    "p99_service_s",
)
"""The columns of the per-model and per-task-type tables."""


@dataclass(frozen=True)
class Table:
    """A titled table whose cells are already formatted strings."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def fmt(value: Any) -> str:
    """A cell: floats to 4 significant digits, lists joined, ``None`` as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    return str(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _is_records(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, dict) for v in obj.values())


def _is_grouped(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and any(obj.values())
        and all(isinstance(v, list) and all(isinstance(x, dict) for x in v) for v in obj.values())
    )


def tables_from(obj: Any, title: str) -> list[Table]:
    """Tables for any JSON value, recursively.

    A dict of dicts (e.g. model → statistics) becomes one row per key; a dict of lists of
    dicts (e.g. task type → ranked models) one table with the key as first column; a list
    of dicts one row each; the scalars of a dict a key/value table.
    """
    if _is_records(obj):
        columns = _columns(list(obj.values()))
        rows = [[str(k), *(fmt(v.get(c)) for c in columns)] for k, v in obj.items()]
        return [Table(title, ["", *columns], rows)]
    if _is_grouped(obj):
        columns = _columns([x for v in obj.values() for x in v])
        rows = [[str(k), *(fmt(x.get(c)) for c in columns)] for k, v in obj.items() for x in v]
        return [Table(title, ["", *columns], rows)]
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        columns = _columns(obj)
        return [Table(title, columns, [[fmt(r.get(c)) for c in columns] for r in obj])]
    if not isinstance(obj, dict):
        return [Table(title, ["value"], [[fmt(obj)]])]
    scalars = [[str(k), fmt(v)] for k, v in obj.items() if not isinstance(v, dict | list)]
    tables = [Table(title, ["", "value"], scalars)] if scalars else []
    for key, value in obj.items():
        if isinstance(value, dict | list) and value:
            tables += tables_from(value, f"{title} · {key}")
    return tables


def summary_table(summary: dict[str, Any]) -> Table:
    """Each aggregate per mode: the median over repeats and, with repeats, their min–max."""
    modes = summary.get("modes") or {}
    names = sorted(modes, key=lambda m: (m != "sequential", m != "parallel", m))
    rows = []
    present = {
        k for m in modes.values() for k, v in (m.get("median") or {}).items() if v is not None
    }
    extra = [(k, VOCABULARY[k].header, None) for k in EXTRA_KEYS if k in present]
    for key, label, _ in [*METRICS, *extra]:
        row = [label]
        for mode in names:
            median = (modes[mode].get("median") or {}).get(key)
            values = [r.get(key) for r in modes[mode].get("runs") or [] if r.get(key) is not None]
            cell = fmt(median)
            if len(values) > 1:
                cell += f" ({fmt(min(values))}–{fmt(max(values))})"
            row.append(cell)
        rows.append(row)
    medians = [modes[m].get("median") or {} for m in names]
    if any(m.get("tested_tasks") for m in medians):  # a run with tests: pass@1 per mode
        rows.append([VOCABULARY["pass_at_1"].label, *(_pass(summary, m) for m in medians)])
    return Table(
        "Aggregates per mode (median over repeats, min–max in brackets)", ["metric", *names], rows
    )


def _pass(summary: dict[str, Any], stats: dict[str, Any] | None) -> str:
    """pass@1 as ``"6/164 = 3.7 %"`` ("–" untested; "n/a (sim)" for a simulated answer)."""
    if not is_measured(summary):
        return "n/a (sim)"
    text = pass_at_1_text(stats or {})
    return "–" if text == "—" else text


def with_pass_at_1(summary: dict[str, Any], rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``rows`` (name → stats) with pass@1 as one text cell each and its two counts dropped,
    when any row counted a task with tests; else without the three keys."""
    keys = ("pass_at_1", "passed_tasks", "tested_tasks")
    tested = any(stats.get("tested_tasks") for stats in rows.values())
    out = {}
    for name, stats in rows.items():
        rest = {k: v for k, v in stats.items() if k not in keys}
        out[name] = {**rest, "pass_at_1": _pass(summary, stats)} if tested else rest
    return out


def breakdown_tables(summary: dict[str, Any], mode: str = "parallel") -> list[Table]:
    """``mode``'s medians per model and per task type (``by_model``, ``by_task_type``)."""
    median = ((summary.get("modes") or {}).get(mode) or {}).get("median") or {}
    tables = []
    for key, what in (("by_model", "model"), ("by_task_type", "task type")):
        groups = median.get(key) or {}
        if not isinstance(groups, dict) or not groups:
            continue
        columns = [VOCABULARY[k].header for k in BREAKDOWN_KEYS]
        stats_of = {n: v for n, v in groups.items() if isinstance(v, dict)}
        tested = any(v.get("tested_tasks") for v in stats_of.values())
        rows = [
            [str(name), *(fmt(stats.get(k)) for k in BREAKDOWN_KEYS)]
            + ([_pass(summary, stats)] if tested else [])
            for name, stats in stats_of.items()
        ]
        columns += [VOCABULARY["pass_at_1"].label] if tested else []
        tables.append(
            Table(f"{mode.capitalize()} per {what} (median over repeats)", ["", *columns], rows)
        )
    return tables
