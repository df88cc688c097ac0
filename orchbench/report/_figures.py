"""Figures of one run from its records and summary: sequential vs parallel, latency;
and :func:`write_figures`, which draws them all (with the timeline and utilisation).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.metrics import METRICS
from orchbench.report._canvas import model_colors, new_figure, save, slug, title
from orchbench.report._latency import load_figure, tokens_figure
from orchbench.report._run import RunData, load_run
from orchbench.report._timeline import timeline_figure, utilisation_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# (line style, marker) per mode; other modes get the last entry.
MODE_STYLES: dict[str, tuple[Any, str]] = {
    "sequential": ("-", "o"),
    "parallel": ("--", "s"),
    "": (":", "^"),
}


def _short(mode: str) -> str:
    return f"{mode.removeprefix('model:')} alone" if mode.startswith("model:") else mode


def _mode_runs(run: RunData, mode: str) -> list[dict[str, Any]]:
    return list((run.summary.get("modes", {}).get(mode) or {}).get("runs") or [])


def _bars_with_points(ax: Axes, labels: list[str], per_label: list[list[float]]) -> None:
    """A bar at each label's median with every repeat drawn as a dot, and min–max whiskers."""
    import numpy as np

    for i, values in enumerate(per_label):
        if not values:
            continue
        arr = np.asarray(values, dtype=float)
        median = float(np.median(arr))
        ax.bar(i, median, color="tab:blue" if labels[i] == "parallel" else "tab:gray", alpha=0.6)
        ax.errorbar(
            i, median, yerr=[[median - arr.min()], [arr.max() - median]], color="black", capsize=4
        )
        ax.scatter(np.full(arr.shape, i), arr, color="black", s=14, zorder=3)
    crowded = len(labels) > 2
    ax.set_xticks(
        range(len(labels)),
        [_short(label) for label in labels],
        rotation=30 if crowded else 0,
        ha="right" if crowded else "center",
        fontsize=8 if crowded else None,
    )


def modes_figure(run: RunData) -> Figure | None:
    """Sequential vs parallel (and single-model modes): total time, throughput, per type time.

    Bars are medians over repeats; dots are the repeats; whiskers their min–max.
    ``None`` when the summary holds no mode aggregates.
    """
    import numpy as np

    modes = [m for m in run.mode_names() if _mode_runs(run, m)]
    if not modes:
        return None
    fig = new_figure(13, 4.4)
    ax_total, ax_tput, ax_type = fig.subplots(1, 3, width_ratios=[1, 1, 2])
    runs = {m: _mode_runs(run, m) for m in modes}
    _bars_with_points(ax_total, modes, [[r["total_s"] for r in runs[m]] for m in modes])
    ax_total.set_ylabel("seconds")
    ax_total.set_title("Total time (lower is better)")
    has_tokens = any(r.get("completion_tokens") for m in modes for r in runs[m])
    key = "tokens_per_s" if has_tokens else "tasks_per_s"
    _bars_with_points(ax_tput, modes, [[r[key] for r in runs[m]] for m in modes])
    ax_tput.set_ylabel(METRICS[key].header)
    ax_tput.set_title("Throughput (higher is better)")
    # Per type, only the comparison the run is about: nine bars per type are unreadable.
    compared = [m for m in run.main_modes() if m in runs]
    types = sorted({t for m in compared for r in runs[m] for t in (r.get("per_type_s") or {})})
    width = 0.8 / len(compared)
    for j, mode in enumerate(compared):
        xs = np.arange(len(types)) + (j - (len(compared) - 1) / 2) * width
        values = [
            [r["per_type_s"][t] for r in runs[mode] if t in r.get("per_type_s", {})] for t in types
        ]
        medians = [float(np.median(v)) if v else 0.0 for v in values]
        ax_type.bar(xs, medians, width, label=mode, alpha=0.75)
        for x, v in zip(xs, values, strict=True):
            ax_type.scatter([x] * len(v), v, color="black", s=10, zorder=3)
    ax_type.set_xticks(range(len(types)), types, rotation=20, ha="right")
    ax_type.set_ylabel(METRICS["per_type_s"].header)
    ax_type.set_title("Per task type (dots: repeats)")
    ax_type.legend(fontsize=8)
    speedup = run.summary.get("speedup") or {}
    head = "Sequential vs parallel"
    if speedup.get("median") is not None:
        head += (
            f" — speedup {speedup['median']:.2f}× "
            f"(min {speedup.get('min', speedup['median']):.2f}, "
            f"max {speedup.get('max', speedup['median']):.2f}, "
            f"{len(speedup.get('values') or [])} repeats)"
        )
    title(fig, run, head)
    return fig


def _latency_legend(
    fig: Figure, colors: dict[str, Any], models: list[str], modes: list[str]
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=colors[m], label=m) for m in models]
    for mode in modes:
        style, marker = MODE_STYLES.get(mode, MODE_STYLES[""])
        handles.append(Line2D([], [], color="black", linestyle=style, marker=marker, label=mode))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)


def latency_figure(run: RunData) -> Figure | None:
    """Per model: CDF of successful attempts' service time (time on the engine, queue wait
    excluded), and time to first token vs service time.

    Colour is the model, line style and marker the mode (sequential and parallel where
    the run has them).
    """
    import numpy as np

    records = run.records
    if records.empty or "total_s" not in records:
        return None
    modes = run.main_modes()
    ok = records[
        records["success"].astype(bool) & records["total_s"].notna() & records["mode"].isin(modes)
    ]
    if ok.empty:
        return None
    colors = model_colors(run)
    fig = new_figure(12.5, 4.6)
    ax_cdf, ax_ttft = fig.subplots(1, 2)
    for (model, mode), group in ok.groupby(["model", "mode"], sort=False):
        style, marker = MODE_STYLES.get(str(mode), MODE_STYLES[""])
        values = np.sort(group["total_s"].to_numpy(dtype=float))
        ys = np.arange(1, len(values) + 1) / len(values)
        ax_cdf.step(values, ys, where="post", color=colors.get(model), linestyle=style)
        if "ttft_s" in group and group["ttft_s"].notna().any():
            ax_ttft.scatter(
                group["total_s"], group["ttft_s"], color=colors.get(model), s=22, alpha=0.8,
                marker=marker,
            )  # fmt: skip
    # Each attempt's time on the engine: service time, not the table's latency (which
    # counts the queue wait from submission); the labels say so.
    ax_cdf.set_xlabel("service time of an attempt (s)")
    ax_cdf.set_ylabel("fraction of attempts ≤ x")
    ax_cdf.set_ylim(0, 1.02)
    ax_cdf.set_title("Service time distribution per model (successful attempts)")
    ax_cdf.grid(alpha=0.3)
    ax_ttft.set_xlabel("service time of an attempt (s)")
    ax_ttft.set_ylabel("time to first token (s)")
    ax_ttft.set_title("Time to first token vs service time")
    ax_ttft.grid(alpha=0.3)
    if not ax_ttft.has_data():
        ax_ttft.text(
            0.5, 0.5, "the engine reported no time to first token",
            ha="center", va="center", transform=ax_ttft.transAxes,
        )  # fmt: skip
    used = [m for m in run.model_names() if m in set(ok["model"])]
    _latency_legend(fig, colors, used, [m for m in modes if m in set(ok["mode"])])
    title(fig, run, "Service time per model (time on the engine, queue wait excluded)")
    return fig


def write_figures(run_dir: str | Path) -> list[Path]:
    """Draw every figure of the run at ``run_dir`` into ``<run_dir>/figures/`` (PNG and SVG).

    Returns the files written: ``modes``, ``timeline-<mode>`` (first repeat of sequential
    and parallel, or of every mode when the run has neither), ``latency``, ``tokens`` (TTFT
    and ITL distributions), ``load`` (the curves of a concurrency or sweep run) and
    ``utilisation``; a figure with no data to draw is left out.
    Raises :class:`~orchbench.errors.ResultsError` when the folder is missing or corrupt.
    """
    run = load_run(run_dir)
    out_dir = run.path / "figures"
    figures: list[tuple[str, Figure | None]] = [("modes", modes_figure(run))]
    figures += [(f"timeline-{slug(m)}", timeline_figure(run, m)) for m in run.main_modes()]
    figures += [("latency", latency_figure(run)), ("tokens", tokens_figure(run))]
    figures += [("load", load_figure(run)), ("utilisation", utilisation_figure(run))]
    written: list[Path] = []
    for stem, fig in figures:
        if fig is not None:
            written += save(fig, out_dir, stem)
    return written
