"""Figures of the latency metrics peers report: TTFT and ITL distributions per model, and
the load curves of a concurrency or sweep run (throughput vs latency, goodput vs rate).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchbench.metrics import METRICS
from orchbench.report._canvas import model_colors, new_figure, title
from orchbench.report._run import RunData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _gaps(value: Any) -> list[float]:
    """Inter-token gaps of one record's ``token_times`` (a list, or JSON text from a CSV)."""
    from orchbench.bench.aggregate import inter_token_latencies
    from orchbench.records import Timings

    times = json.loads(value) if isinstance(value, str) else value
    if not isinstance(times, list):
        return []
    return inter_token_latencies(Timings(total_s=0.0, token_times=[float(t) for t in times]))


def _cdf(ax: Axes, values: list[float], color: Any, label: str) -> None:
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=float))
    ys = np.arange(1, len(ordered) + 1) / len(ordered)
    ax.step(ordered * 1000, ys, where="post", color=color, label=label)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def tokens_figure(run: RunData) -> Figure | None:
    """Per model, the distribution (CDF) of TTFT and of inter-token latency over the run's
    main modes; ``None`` when the engine measured neither."""
    records = run.records
    if records.empty or "ttft_s" not in records:
        return None
    chosen = records[records["mode"].isin(run.main_modes())]
    has_ttft = chosen["ttft_s"].notna().any()
    itl = {
        str(model): [g for value in group.get("token_times", []) for g in _gaps(value)]
        for model, group in chosen.groupby("model", sort=False)
    }
    if not has_ttft and not any(itl.values()):
        return None
    colors = model_colors(run)
    fig = new_figure(12.5, 4.4)
    ax_ttft, ax_itl = fig.subplots(1, 2)
    for model, group in chosen.groupby("model", sort=False):
        ttft = group["ttft_s"].dropna().astype(float).tolist()
        if ttft:
            _cdf(ax_ttft, ttft, colors.get(model), str(model))
        if itl.get(str(model)):
            _cdf(ax_itl, itl[str(model)], colors.get(model), str(model))
    for ax, name, what in ((ax_ttft, "ttft", "attempts"), (ax_itl, "itl", "token gaps")):
        ax.set_xlabel(f"{METRICS[f'mean_{name}_s'].label.removeprefix('Mean ')} (ms)")
        ax.set_ylabel(f"fraction of {what} ≤ x")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    ax_ttft.set_title("Time to first token per model")
    ax_itl.set_title("Inter-token latency per model (engine's per-token times)")
    if ax_ttft.has_data():
        ax_ttft.legend(fontsize=8)
    else:
        _empty(ax_ttft, "the engine reported no time to first token")
    if ax_itl.has_data():
        ax_itl.legend(fontsize=8)
    else:
        _empty(ax_itl, "the engine recorded no per-token times")
    title(fig, run, "TTFT and ITL distributions (" + ", ".join(run.main_modes()) + ")")
    return fig


def _x(point: dict[str, Any]) -> float | None:
    """Where a point sits on the load axis: its concurrency in a concurrency run, else its
    rate (offered, else achieved: a sweep's synchronous and all-at-once points)."""
    from orchbench.bench.slo import point_rate

    if point.get("kind") == "concurrency" and isinstance(point.get("concurrency"), int | float):
        return float(point["concurrency"])
    return point_rate(point)


def load_figure(run: RunData) -> Figure | None:
    """A concurrency or sweep run (``summary["points"]``): achieved throughput vs latency
    (p50 and p99), and goodput (or throughput, without SLOs) vs the offered load."""
    points = [p for p in run.summary.get("points") or [] if _x(p) is not None]
    if len(points) < 2:
        return None
    fig = new_figure(12.5, 4.4)
    ax_curve, ax_good = fig.subplots(1, 2)
    slo = bool(run.summary.get("slo"))
    by_rate = any(p.get("kind") != "concurrency" for p in points)
    for mode in dict.fromkeys(str(p.get("mode")) for p in points):
        mine = sorted((p for p in points if str(p.get("mode")) == mode), key=lambda p: _x(p) or 0)
        tput = [p.get("tasks_per_s") for p in mine]
        for key, style in (("p50_latency_s", "-o"), ("p99_latency_s", "--s")):
            ax_curve.plot(tput, [p.get(key) for p in mine], style, label=f"{mode} {key[:3]}")
        ys = [p.get("goodput" if slo else "tasks_per_s") for p in mine]
        ax_good.plot([_x(p) for p in mine], ys, "-o", label=mode)
    ax_curve.set_xlabel(METRICS["tasks_per_s"].header)
    ax_curve.set_ylabel("latency (s)")
    ax_curve.set_title("Throughput vs latency (one dot per point)")
    ax_good.set_xlabel("offered rate (tasks/s)" if by_rate else "concurrency (tasks in flight)")
    ax_good.set_ylabel(METRICS["goodput" if slo else "tasks_per_s"].header)
    ax_good.set_title(
        "Goodput vs load (tasks meeting every SLO)" if slo else "Throughput vs load (no --slo)"
    )
    best = run.summary.get("slo_best_rate")
    if slo and isinstance(best, int | float):
        ax_good.axvline(best, color="tab:green", linestyle=":", label=f"best rate {best:.3g}")
    for ax in (ax_curve, ax_good):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    kind = (run.summary.get("load") or {}).get("kind", "load")
    title(fig, run, f"--load {kind}: {len(points)} points")
    return fig
