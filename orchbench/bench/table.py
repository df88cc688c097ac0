"""The run's tables for a terminal: the "Expected results" table per mode, the speedup
line, and the "Model Performance" table, all built from a ``summary.json`` dict.
A run with tasks that have tests (HumanEval) also shows pass@1 (``6/164 = 3.7 %``) per
mode, per model next to its speed, and in the "Model Performance" table.

Every table says which backend produced it, and a simulated run says so in capitals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from orchbench.bench.aggregate import pass_at_1_text
from orchbench.bench.machine import describe
from orchbench.bench.noise import noise_line
from orchbench.bench.stats import Speedup
from orchbench.engine import is_measured
from orchbench.metrics import METRICS, MODE_METRICS


def provenance(summary: dict[str, Any]) -> str:
    """``"measured on embedded · AMD EPYC, 2 cores, 24 GB RAM"`` or ``"SIMULATED (sim) · ..."``."""
    backend = summary.get("backend", "?")
    head = f"measured on {backend}" if is_measured(summary) else f"SIMULATED ({backend})"
    if is_measured(summary):
        parts = [head, describe(summary.get("machine") or {})]
    else:
        # A simulation describes the profile's hardware, not the machine it ran on.
        hardware = (summary.get("profile") or {}).get("hardware") or {}
        parts = [head, f"modelled hardware: {hardware.get('name', '?')}"]
    repeat = summary.get("repeat")
    if repeat:
        parts.append(f"median of {repeat} repeat{'s' if repeat != 1 else ''}")
    status = summary.get("status")
    if status == "degraded":
        gone = summary.get("unavailable_models") or {}
        parts.append(f"DEGRADED: without {', '.join(gone) or 'some models'} (failed to load)")
    elif status != "complete":
        parts.append(f"{str(status).upper()}: {summary.get('stopped') or 'not finished'}")
    return " · ".join(parts)


def _s(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _q(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _n(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


_FORMATS: dict[str, Callable[[float | None], str]] = {
    "total_s": _s,
    "tasks_per_s": _rate,
    "tokens_per_s": _rate,
    "p50_latency_s": _s,
    "p95_latency_s": _s,
    "mean_ttft_s": _s,
    "mean_queue_s": _s,
    "mean_quality": _q,
    "failures": _n,
    "p99_latency_s": _s,
    "p99_ttft_s": _s,
    "mean_tpot_s": _s,
    "mean_itl_s": _s,
    "goodput": _rate,
    "slo_attainment_pct": lambda v: "—" if v is None else f"{v:.1f} %",
}
_EXTRA = ("p99_latency_s", "p99_ttft_s", "mean_tpot_s", "mean_itl_s")
_SLO_ROWS = ("goodput", "slo_attainment_pct")
"""Shown only when the run had SLOs."""
_ROWS = tuple((METRICS[key].label, key, _FORMATS[key]) for key in (*MODE_METRICS, *_EXTRA))
"""(label, key, format) of each row: labels and keys from :mod:`orchbench.metrics`."""
_MODEL_COLUMNS = ("mean_service_s", "mean_ttft_s", "decode_rate", "mean_quality", "failures")


def mode_table(summary: dict[str, Any], modes: list[str] | None = None) -> Table | None:
    """Metrics down, modes across (default: sequential and parallel); ``None`` if none ran."""
    all_modes = summary.get("modes", {})
    chosen = [m for m in (modes or ["sequential", "parallel"]) if m in all_modes]
    if not chosen:
        return None
    suite = summary.get("suite", {}).get("name", "?")
    profile = summary.get("profile", {}).get("name", "?")
    tasks = summary.get("suite", {}).get("tasks")
    table = Table(title=f"{suite} on {profile}: {tasks} tasks per mode", title_justify="left")
    table.add_column("Metric")  # rows are metric labels
    for mode in chosen:
        table.add_column(mode.capitalize(), justify="right")
    medians = [all_modes[m]["median"] for m in chosen]
    simulated = not is_measured(summary)
    for label, key, fmt in _ROWS:
        if simulated and key == "mean_quality":
            # A simulated answer is placeholder text: its score says nothing.
            table.add_row(label, *("n/a (sim)" for _ in medians))
        else:
            table.add_row(label, *(fmt(m.get(key)) for m in medians))
        if key == "mean_quality" and _tested(medians):
            cells = ("n/a (sim)" if simulated else pass_at_1_text(m) for m in medians)
            table.add_row(METRICS["pass_at_1"].label, *cells)
    if summary.get("slo"):
        for key in _SLO_ROWS:
            table.add_row(METRICS[key].label, *(_FORMATS[key](m.get(key)) for m in medians))
    types = dict.fromkeys(t for m in medians for t in (m.get("per_type_s") or {}))
    for task_type in types:
        table.add_row(
            f"{task_type} ({METRICS['mean_latency_s'].label.lower()})",
            *(_s((m.get("per_type_s") or {}).get(task_type)) for m in medians),
        )
    hosts = dict.fromkeys(h for m in medians for h in (m.get("per_host_requests") or {}))
    for host in hosts:  # a fleet: where the requests went
        table.add_row(
            f"{METRICS['per_host_requests'].label.lower()} {host}",
            *(_n((m.get("per_host_requests") or {}).get(host, 0)) for m in medians),
        )
    return table


def speedup_line(summary: dict[str, Any]) -> Text | None:
    """``Speedup parallel vs sequential: 1.21× [1.12, 1.30] (95 % CI, 3 pairs; ...)``,
    then ``NOISY: ...`` when the noise guard flagged the run."""
    block = summary.get("speedup") or {}
    if block.get("withheld"):
        return Text(f"Speedup parallel vs sequential: not reported: {block['withheld']}")
    speed = Speedup.from_summary(block)
    if speed is None:
        return None
    text = Text("Speedup parallel vs sequential: ", style="bold")
    head, _, rest = speed.text().partition(" ")
    text.append(head, style="bold green" if speed > 1 else "bold")
    text.append(f" {rest.removesuffix(')')}; total time sequential / parallel)")
    if not is_measured(summary):
        text.append("  SIMULATED", style="bold yellow")
    noisy = noise_line(summary)
    if noisy:
        text.append(f"  {noisy}", style="bold red")
    return text


_LATENCY_COLUMNS = (
    "p50_ttft_s",
    "p99_ttft_s",
    "mean_tpot_s",
    "mean_itl_s",
    "p50_latency_s",
    "p99_latency_s",
    "tasks_per_s",
    "tokens_per_s",
)


def latency_table(summary: dict[str, Any], mode: str = "parallel") -> Table | None:
    """Percentiles of one mode: overall, per model, per task type; ``None`` if it did not run."""
    median = (summary.get("modes", {}).get(mode) or {}).get("median")
    if not median:
        return None
    table = Table(title=f"Latency percentiles ({mode}, median of repeats)", title_justify="left")
    table.add_column("", no_wrap=True)  # overall, then model names, then task types
    for key in _LATENCY_COLUMNS:
        table.add_column(METRICS[key].label, justify="right")
    groups = [{"all tasks": median}, median.get("by_model"), median.get("by_task_type")]
    tested = _tested([stats for group in groups for stats in (group or {}).values()])
    if tested:  # next to speed: pass@1 of each model (and task type) on its tested tasks
        table.add_column(METRICS["pass_at_1"].label, justify="right", no_wrap=True)
    for group in groups:
        for name, stats in (group or {}).items():
            cells = [_FORMATS.get(k, _s)(stats.get(k)) for k in _LATENCY_COLUMNS]
            if tested:
                cells.append(pass_at_1_text(stats) if is_measured(summary) else "n/a (sim)")
            table.add_row(name, *cells)
        table.add_section()
    return table


def model_table(summary: dict[str, Any]) -> Table | None:
    """The "Model Performance" table (each model alone); ``None`` when no model mode ran."""
    models = summary.get("models") or {}
    if not models:
        return None
    table = Table(title="Model Performance (each model alone)", title_justify="left")
    table.add_column("Model", no_wrap=True)
    for key in _MODEL_COLUMNS:
        table.add_column(METRICS[key].label, justify="right")
    tested = _tested(list(models.values()))
    if tested:
        table.add_column(METRICS["pass_at_1"].label, justify="right", no_wrap=True)
    table.add_column(METRICS["best_types"].label)
    measured = is_measured(summary)
    for name, stats in models.items():
        cells = [
            _s(stats.get("mean_service_s")),
            _s(stats.get("mean_ttft_s")),
            _rate(stats.get("decode_rate")),
            _q(stats.get("mean_quality")) if measured else "n/a (sim)",
            _n(stats.get("failures")),
        ]
        if tested:
            cells.append(pass_at_1_text(stats) if measured else "n/a (sim)")
        table.add_row(name, *cells, ", ".join(stats.get("best_types") or []) or "—")
    return table


def _tested(groups: list[dict[str, Any]]) -> bool:
    """Whether any of these aggregates counted a task with tests (pass@1 is shown then)."""
    return any((stats or {}).get("tested_tasks") for stats in groups)


_POINT_COLUMNS = ("tasks_per_s", "tokens_per_s", "p50_latency_s", "p95_latency_s",
                  "p99_latency_s", "mean_ttft_s", "failures")  # fmt: skip


def points_table(summary: dict[str, Any]) -> Table | None:
    """One row per mode and point of a concurrency or sweep run (``summary["points"]``)."""
    points = summary.get("points") or []
    if not points:
        return None
    kind = (summary.get("load") or {}).get("kind", "?")
    table = Table(title=f"--load {kind}: one row per point (median of repeats)",
                  title_justify="left")  # fmt: skip
    table.add_column("Mode", no_wrap=True)
    table.add_column("Point", no_wrap=True)
    columns = (*_POINT_COLUMNS, *(_SLO_ROWS if summary.get("slo") else ()))
    offered = any(entry.get("offered_rate") is not None for entry in points)
    keys = ("offered_rate", *columns) if offered else columns
    for key in keys:
        table.add_column(METRICS[key].label, justify="right")
    formats = {**_FORMATS, "offered_rate": _rate}
    for entry in points:
        table.add_row(entry["mode"], entry["point"], *(formats[k](entry.get(k)) for k in keys))
    return table


def workflow_line(summary: dict[str, Any]) -> Text | None:
    """``Workflow: 3 features · makespan ... · critical path ... · ideal ...`` for a suite
    whose tasks wait for others (``summary["workflow"]``, see :mod:`orchbench.bench.workflow`)."""
    section = summary.get("workflow") or {}
    base = section.get("sequential") or section.get("parallel")
    if not base:
        return None
    spans = " / ".join(
        f"{mode} {_s(section[mode].get('makespan_s'))}"
        for mode in ("sequential", "parallel")
        if mode in section
    )
    text = Text("Workflow: ", style="bold")
    text.append(f"{base.get('features')} features · makespan {spans} · critical path ")
    chain = " → ".join(base.get("critical_path") or [])
    text.append(f"{_s(base.get('critical_path_s'))} ({chain})")
    keys = ("ideal_speedup", "branch_factor", "feature_factor")
    ideal, branch, feature = (base.get(k) for k in keys)
    if ideal and branch and feature:
        text.append(
            f" · ideal speedup {ideal:.2f}× = branches {branch:.2f}× × features {feature:.2f}×"
        )
    if section.get("measured_speedup"):
        text.append(f" · measured {section['measured_speedup']:.2f}×")
    if not is_measured(summary):
        text.append("  SIMULATED", style="bold yellow")
    return text


def render(summary: dict[str, Any]) -> Group:
    """Everything worth printing for one run, as one renderable.

    Each table is followed by the line saying what produced it (a line of its own, so it
    never wraps to the table's width).
    """
    origin = Text(provenance(summary), style="dim" if is_measured(summary) else "yellow")
    parts: list[Any] = []
    table = mode_table(summary)
    if table is not None:
        parts += [table, origin]
    line = speedup_line(summary)
    if line is not None:
        parts.append(line)
    flow = workflow_line(summary)
    if flow is not None:
        parts.append(flow)
    points = points_table(summary)
    if points is not None:
        parts += [points, origin]
    if summary.get("slo") and summary.get("points"):
        best = summary.get("slo_best_rate")
        found = "no point met them" if best is None else f"{best:.3g} tasks/s"
        slos = ", ".join(f"{k}={v:g}" for k, v in summary["slo"].items())
        parts.append(Text(f"{METRICS['slo_best_rate'].label} ({slos}): {found}", style="bold"))
    latency = latency_table(summary)
    if latency is not None:
        parts += [latency, origin]
    models = model_table(summary)
    if models is not None:
        parts += [models, origin]
    if not parts:
        parts.append(Text(f"no mode finished ({provenance(summary)})", style="yellow"))
    return Group(*parts)


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print :func:`render` of ``summary`` to ``console`` (stdout by default)."""
    (console or Console()).print(render(summary))
