"""The drawing ground every report figure shares: a figure, colours, titles, saving.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas attached,
never through ``pyplot``: no global figure registry, no interactive backend, nothing
chosen at import time. Each figure is written as PNG and SVG, each file atomically.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.profiles import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from orchbench.report._run import RunData

FORMATS = ("png", "svg")


def new_figure(width: float, height: float) -> Figure:
    """A figure that renders with Agg and belongs to no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)  # this figure's backend only; pyplot's global choice is untouched
    return fig


def model_colors(run: RunData) -> dict[str, Any]:
    """One stable colour per model, in the profile's order, shared by every figure of a run."""
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors  # type: ignore[attr-defined]
    return {name: palette[i % len(palette)] for i, name in enumerate(run.model_names())}


def title(fig: Figure, run: RunData, text: str) -> None:
    """Set the figure's title; the second line always names the backend (and SIMULATED)."""
    colour = "black" if run.measured else "firebrick"
    fig.suptitle(f"{text}\n{run.label} · {run.stamp}", fontsize=11, color=colour)


def slug(text: str) -> str:
    """A file-name-safe form of a mode name (``model:qwen2.5`` → ``model-qwen2.5``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "figure"


def save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.svg`` into ``out_dir``, each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt)
        write_atomic(path, buffer.getvalue())
        paths.append(path)
    return paths
