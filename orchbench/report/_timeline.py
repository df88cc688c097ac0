"""Figures along the run's clock: the per-lane timeline and utilisation over time.

The timeline is the picture of what the scheduler did: one lane per model (per host of a
fleet, labelled ``model @ host``; per engine instance where the engine reports one), each
attempt a thin queue-wait bar followed by a thick running bar, failures hatched and
crossed, retries and fallbacks drawn as arrows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchbench.report._canvas import model_colors, new_figure, title
from orchbench.report._run import RunData

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# A failed attempt the engine gave no duration for still gets a visible sliver.
MIN_BAR_FRACTION = 0.004
# Beyond this many rows, queue waits share rows (and may overlap) to keep the figure short.
MAX_ROWS = 60
SHORT_MODE = {"sequential": "seq", "parallel": "par"}


@dataclass
class _Bar:
    row: dict[str, Any]
    queued_at: float
    started: float
    duration: float | None
    y: float = 0.0

    @property
    def end(self) -> float:
        return self.started + (self.duration or 0.0)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _lane(row: dict[str, Any]) -> tuple[str, int | None]:
    instance = _number(row.get("instance"))
    host = row.get("host")
    name = f"{row['model']} @ {host}" if isinstance(host, str) and host else str(row["model"])
    return name, None if instance is None else int(instance)


def _lane_label(lane: tuple[str, int | None]) -> str:
    model, instance = lane
    return model if instance is None else f"{model} #{instance}"


def _pack(bars: list[_Bar], with_queue: bool = True) -> int:
    """Give each bar a sub-row where it overlaps no other bar; return the number of rows.

    ``with_queue`` keeps queue waits apart too; without it only running parts are kept
    apart (queue waits may then overlap), which keeps a long queue from making a
    hundred rows.
    """
    row_ends: list[float] = []
    for bar in sorted(bars, key=lambda b: (b.queued_at, b.started)):
        begin = bar.queued_at if with_queue else bar.started
        for i, end in enumerate(row_ends):
            if end <= begin + 1e-9:
                row_ends[i] = bar.end
                bar.y = i
                break
        else:
            bar.y = len(row_ends)
            row_ends.append(bar.end)
    return max(len(row_ends), 1)


def _layout(
    keys: list[tuple[str, int | None]], lanes: dict[tuple[str, int | None], list[_Bar]]
) -> tuple[list[float], float, bool]:
    """Place every bar; return each lane's centre, the total height, and whether queue
    waits got rows of their own (they do unless that would need more than MAX_ROWS)."""
    for with_queue in (True, False):
        ticks, offset = [], 0.0
        for key in keys:
            height = _pack(lanes[key], with_queue)
            for bar in lanes[key]:
                bar.y += offset
            ticks.append(offset + (height - 1) / 2)
            offset += height + 0.8
        if offset <= MAX_ROWS or not with_queue:
            return ticks, offset, with_queue
    raise AssertionError("the second pass always returns")


def _proxies(colors: dict[str, Any], models: list[str]) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=colors[m], label=m) for m in models]
    handles += [
        Patch(color="lightgray", label="queue wait"),
        Patch(facecolor="white", edgecolor="red", hatch="///", label="failed attempt"),
        Line2D([], [], color="purple", linestyle="--", label="fallback (other model)"),
        Line2D([], [], color="darkorange", linestyle="--", label="retry (same model)"),
    ]
    return handles


def timeline_figure(run: RunData, mode: str, repeat: int | None = None) -> Figure | None:
    """The timeline of one mode's run (its first repeat unless ``repeat`` is given).

    Time is seconds since the first task of that run was queued. ``None`` when the mode
    has no records.
    """
    records = run.records
    if records.empty:
        return None
    chosen = records[records["mode"] == mode]
    if repeat is None and "repeat" in chosen and not chosen.empty:
        repeat = int(chosen["repeat"].min())
    if repeat is not None and "repeat" in chosen:
        chosen = chosen[chosen["repeat"] == repeat]
    if chosen.empty:
        return None
    rows = chosen.to_dict("records")
    t0 = min(float(r["started_at"]) - float(r.get("queue_wait_s") or 0.0) for r in rows)
    bars = [
        _Bar(
            r,
            float(r["started_at"]) - float(r.get("queue_wait_s") or 0.0) - t0,
            float(r["started_at"]) - t0,
            _number(r.get("total_s")),
        )
        for r in rows
    ]
    span = max(max(b.end for b in bars), 1e-6)
    order = {m: i for i, m in enumerate(run.model_names())}
    lanes: dict[tuple[str, int | None], list[_Bar]] = {}
    for bar in bars:
        lanes.setdefault(_lane(bar.row), []).append(bar)
    keys = sorted(
        lanes,
        key=lambda k: (order.get(k[0].split(" @ ")[0], len(order)), k[0],
                       -1 if k[1] is None else k[1]),
    )  # fmt: skip
    ticks, offset, queue_rows = _layout(keys, lanes)
    labels = [_lane_label(key) for key in keys]
    fig = new_figure(12, max(3.2, 1.6 + 0.32 * offset))
    ax = fig.subplots()
    colors = model_colors(run)
    _draw_bars(ax, bars, colors, span)
    _draw_links(ax, bars)
    ax.set_yticks(ticks, labels)
    ax.set_ylim(offset - 0.5, -0.8)
    ax.set_xlim(0, span * 1.02)
    ax.set_xlabel("seconds since the first task was queued")
    ax.grid(axis="x", alpha=0.3)
    for y in _separators(keys, lanes):
        ax.axhline(y, color="gray", linewidth=0.6)
    used = [m for m in run.model_names() if any(k[0] == m for k in keys)]
    ax.legend(
        handles=_proxies(colors, used),
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0,
    )
    failed = sum(not bool(b.row["success"]) for b in bars)
    title(
        fig,
        run,
        f"Timeline — {mode}, repeat {repeat}: {len({b.row['task_id'] for b in bars})}"
        f" tasks, {len(bars)} attempts, {failed} failed"
        + ("" if queue_rows else " (queue waits overlap)"),
    )
    return fig


def _separators(keys: list[Any], lanes: dict[Any, list[_Bar]]) -> list[float]:
    tops = [min(b.y for b in lanes[k]) for k in keys[1:]]
    return [top - 0.9 for top in tops]


def _draw_bars(ax: Axes, bars: list[_Bar], colors: dict[str, Any], span: float) -> None:
    for bar in bars:
        if bar.started > bar.queued_at:
            ax.barh(
                bar.y,
                bar.started - bar.queued_at,
                left=bar.queued_at,
                height=0.3,
                color="lightgray",
            )
        ok = bool(bar.row["success"])
        width = bar.duration if bar.duration else span * MIN_BAR_FRACTION
        ax.barh(
            bar.y,
            width,
            left=bar.started,
            height=0.75,
            color=colors.get(bar.row["model"]),
            edgecolor="red" if not ok else "black",
            linewidth=1.2 if not ok else 0.4,
            hatch=None if ok else "///",
            alpha=0.55 if not ok else 0.9,
        )
        if not ok:
            ax.plot(bar.started + width, bar.y, marker="x", color="red", markersize=9, mew=2)
        if width > span * 0.06:
            ax.text(
                bar.started + width / 2,
                bar.y,
                str(bar.row.get("task_name") or bar.row["task_id"]),
                ha="center",
                va="center",
                fontsize=7,
                clip_on=True,
            )


def _draw_links(ax: Axes, bars: list[_Bar]) -> None:
    by_task: dict[Any, list[_Bar]] = {}
    for bar in bars:
        by_task.setdefault(bar.row["task_id"], []).append(bar)
    for attempts in by_task.values():
        attempts.sort(key=lambda b: int(b.row.get("attempt") or 0))
        for before, after in itertools.pairwise(attempts):
            colour = "darkorange" if before.row["model"] == after.row["model"] else "purple"
            ax.annotate(
                "",
                xy=(after.queued_at, after.y),
                xytext=(before.end, before.y),
                arrowprops={
                    "arrowstyle": "->",
                    "color": colour,
                    "linestyle": "--",
                    "linewidth": 1.3,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
            )


def _steps(starts: list[float], ends: list[float]) -> tuple[list[float], list[int]]:
    """A step function counting intervals open at each instant (for in-flight counts)."""
    # An interval that ends where another starts must not count twice: instants are
    # rounded to the millisecond (start and duration come from different clocks), ends
    # sort first, and zero-length intervals (failures with no duration) are dropped.
    pairs = [(round(s, 3), round(e, 3)) for s, e in zip(starts, ends, strict=True)]
    pairs = [(s, e) for s, e in pairs if e > s]
    events = sorted([(s, 1) for s, _ in pairs] + [(e, -1) for _, e in pairs])
    xs, ys, level = [0.0], [0], 0
    for x, delta in events:
        level += delta
        xs.append(x)
        ys.append(level)
    return xs, ys


def utilisation_figure(run: RunData) -> Figure | None:
    """Requests in flight per model (from the records), CPU and memory (and GPU) over time.

    Shaded bands mark which mode and repeat was running. ``None`` without records.
    """
    records = run.records
    if records.empty:
        return None
    frame = records.assign(
        queued_at=records["started_at"] - records["queue_wait_s"].fillna(0.0),
        ended_at=records["started_at"] + records.get("total_s", 0.0).fillna(0.0),
    )
    t0 = float(frame["queued_at"].min())
    resources = run.resources
    gpu = [
        c for c in ("gpu_util", "gpu_mem_used_gb") if c in resources and resources[c].notna().any()
    ]
    panels = 1 + (not resources.empty) + bool(gpu)
    fig = new_figure(12, 2.6 * panels + 1.0)
    axes = list(fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0])
    ax = axes[0]
    colors = model_colors(run)
    for model, group in frame.groupby("model", sort=False):
        xs, ys = _steps(list(group["started_at"] - t0), list(group["ended_at"] - t0))
        ax.step(xs, ys, where="post", color=colors.get(model), label=f"in flight: {model}")
    waiting = frame[frame["queue_wait_s"].fillna(0) > 0]
    xs, ys = _steps(list(waiting["queued_at"] - t0), list(waiting["started_at"] - t0))
    ax.step(xs, ys, where="post", color="gray", linestyle=":", label="queued (all models)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    ax.set_ylabel("requests")
    ax.set_title("Requests in flight per model (from the records)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    _shade_modes(ax, frame, t0)
    if not resources.empty:
        _resource_panel(axes[1], resources, t0)
    if gpu:
        _gpu_panel(axes[-1], resources, t0, gpu)
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds since the run started")
    title(fig, run, "Utilisation over time")
    return fig


def _shade_modes(ax: Axes, frame: pd.DataFrame, t0: float) -> None:
    group_keys = ["mode", "repeat"] if "repeat" in frame else ["mode"]
    for i, (key, group) in enumerate(frame.groupby(group_keys, sort=False)):
        mode, repeat = (key[0], key[1]) if len(group_keys) == 2 else (key[0], None)
        start, end = group["queued_at"].min() - t0, group["ended_at"].max() - t0
        ax.axvspan(start, end, color="tab:blue" if i % 2 else "tab:green", alpha=0.07)
        name = SHORT_MODE.get(str(mode), str(mode).removeprefix("model:"))
        text = name if repeat is None else f"{name} r{int(repeat)}"
        ax.text(
            (start + end) / 2,
            0.97,
            text,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=8,
            color="dimgray",
        )


def _relative_times(resources: pd.DataFrame, t0: float) -> pd.Series:
    # Samples carry wall-clock instants like the records; anything smaller than a
    # plausible epoch is already seconds since the start.
    times = resources["t"].astype(float)
    return times - t0 if times.median() > 1e9 else times


def _resource_panel(ax: Axes, resources: pd.DataFrame, t0: float) -> None:
    xs = _relative_times(resources, t0)
    if "cpu_percent" in resources:
        ax.plot(xs, resources["cpu_percent"], color="tab:red", label="CPU %")
    if "mem_percent" in resources:
        ax.plot(xs, resources["mem_percent"], color="tab:purple", label="memory %")
    ax.set_ylabel("percent")
    ax.set_ylim(0, 105)
    ax.set_title("CPU and memory (machine-wide samples)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _gpu_panel(ax: Axes, resources: pd.DataFrame, t0: float, columns: list[str]) -> None:
    xs = _relative_times(resources, t0)
    lines = []
    if "gpu_util" in columns:
        lines += ax.plot(xs, resources["gpu_util"], color="tab:green", label="GPU utilisation %")
        ax.set_ylabel("percent")
        ax.set_ylim(0, 105)
    if "gpu_mem_used_gb" in columns:
        # Memory in GB beside a percentage needs its own axis.
        twin = ax.twinx() if "gpu_util" in columns else ax
        lines += twin.plot(
            xs,
            resources["gpu_mem_used_gb"],
            color="tab:olive",
            linestyle="--",
            label="GPU memory used (GB)",
        )
        twin.set_ylabel("GB")
        twin.set_ylim(bottom=0)
    ax.set_title("GPU (nvidia-smi samples)")
    ax.legend(
        handles=lines, fontsize=8, loc="upper left", bbox_to_anchor=(1.06, 1.0), borderaxespad=0
    )
