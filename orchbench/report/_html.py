"""The self-contained HTML report of one run (``report.html`` in the run's folder).

Everything is inline (figures as base64 PNG, styles and the request table's script in the
page) so the file opens with no network. Model output is untrusted text: Jinja2's
autoescaping turns every value into text, never markup, and a Content-Security-Policy
allows no script but the request table's own (by its hash).
"""

from __future__ import annotations

import base64
import re
import webbrowser
from importlib import resources
from pathlib import Path
from typing import Any

from orchbench.profiles import write_atomic
from orchbench.report._figures import write_figures
from orchbench.report._requests import COLUMNS, SCRIPT, request_rows, script_hash
from orchbench.report._run import RunData, load_run
from orchbench.report._tables import (
    Table,
    breakdown_tables,
    fmt,
    summary_table,
    tables_from,
    with_pass_at_1,
)

# A cell that is a number, optionally with a min–max range after it: right-aligned.
NUMERIC = re.compile(r"[-+]?[\d.]+(e[-+]?\d+)?( \([-+\d.e]+–[-+\d.e]+\))?")

CAPTIONS = {
    "modes": "Sequential vs parallel: bars are medians over repeats, dots the repeats.",
    "timeline": "Timeline: one lane per model instance; grey is queue wait, colour is running; "
    "hatched bars failed, arrows show retries and fallbacks.",
    "latency": (
        "Service time per model (each attempt's time on the engine, queue wait excluded; the "
        "tables' latency counts from submission): its distribution, time to first token vs it."
    ),
    "tokens": "Time to first token and inter-token latency per model: the fraction of attempts "
    "(of gaps between tokens) at or below each value; ITL only where the engine streams.",
    "load": "Load curves, one dot per point of the concurrency or sweep run: achieved "
    "throughput against p50/p99 latency, and goodput (tasks meeting every SLO) against the "
    "offered load.",
    "utilisation": "Utilisation over time: requests in flight per model, CPU and memory samples.",
}


def _facts(run: RunData) -> list[tuple[str, str]]:
    summary = run.summary
    profile = summary.get("profile") or {}
    hardware = profile.get("hardware") or {}
    suite = summary.get("suite") or {}
    settings = profile.get("settings") or {}
    facts = [
        ("backend", f"{run.backend} ({'measured' if run.measured else 'SIMULATED, not measured'})"),
        ("machine", fmt(summary.get("machine") or "unknown")),
        ("profile", f"{profile.get('name', '?')} — {profile.get('description', '')}".rstrip(" —")),
        ("profile hardware", fmt(hardware) if hardware else "–"),
        (
            "models",
            fmt(
                {
                    n: f"{m.get('tier', '?')}, limit {m.get('concurrent_limit', '?')}"
                    for n, m in (profile.get("models") or {}).items()
                }
            ),
        ),
        ("settings", fmt(settings) if settings else "–"),
        (
            "suite",
            f"{suite.get('name', '?')} ({suite.get('tasks', '?')} tasks, "
            f"{suite.get('prompt_style', '?')} prompts)",
        ),
        ("repeats / warm-up", f"{summary.get('repeat', '?')} / {summary.get('warmup', '?')}"),
        ("model load (s)", fmt(summary.get("load_s"))),
        ("versions", fmt(summary.get("versions") or {})),
        ("folder", str(run.path)),
    ]
    return facts


def _speedup(summary: dict[str, Any]) -> str | None:
    from orchbench.bench.noise import noise_line
    from orchbench.bench.stats import Speedup

    speed = Speedup.from_summary(summary.get("speedup") or {})
    if speed is None:
        return None
    noisy = noise_line(summary)
    return f"{speed.text()}" + (f" — {noisy}" if noisy else "")


def _figures(paths: list[Path]) -> list[dict[str, str]]:
    figures = []
    for path in paths:
        if path.suffix != ".png":
            continue
        kind = path.stem.split("-", 1)[0]
        caption = CAPTIONS.get(kind, path.stem)
        if kind == "timeline":
            caption = f"{caption} Mode: {path.stem.split('-', 1)[1]}."
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append({"data": data, "caption": caption, "name": path.stem})
    return figures


def _task_groups(run: RunData) -> list[dict[str, Any]]:
    """The tasks of the first repeat of each mode (later repeats ran the same prompts)."""
    tasks = run.tasks
    if tasks.empty:
        return []
    groups = []
    for mode in run.mode_names():
        chosen = tasks[tasks["mode"] == mode] if "mode" in tasks else tasks
        if chosen.empty:
            continue
        if "repeat" in chosen:
            chosen = chosen[chosen["repeat"] == chosen["repeat"].min()]
        rows = [{k: fmt(v) for k, v in row.items()} for row in chosen.to_dict("records")]
        repeat = f", repeat {rows[0].get('repeat')}" if "repeat" in chosen else ""
        groups.append({"title": f"{mode}{repeat}", "rows": rows})
    return groups


def _alone_tables(summary: dict[str, Any]) -> list[Table]:
    """The "each model alone" table (``summary["models"]``), per-type breakdowns left out."""
    models = summary.get("models") or {}
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        return []
    flat = {n: {k: v for k, v in m.items() if not isinstance(v, dict)} for n, m in models.items()}
    return tables_from(
        with_pass_at_1(summary, flat), "Each model alone (its own mode: every task on that model)"
    )


def render_report(run: RunData, figure_paths: list[Path]) -> str:
    """The report page of ``run`` as a string (every value escaped)."""
    import jinja2

    template = resources.files("orchbench.report").joinpath("report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.tests["numeric"] = lambda cell: bool(NUMERIC.fullmatch(str(cell)))
    return env.from_string(template).render(
        run=run,
        summary=run.summary,
        facts=_facts(run),
        speedup=_speedup(run.summary),
        summary_table=summary_table(run.summary),
        figures=_figures(figure_paths),
        model_tables=breakdown_tables(run.summary)
        + _alone_tables(run.summary)
        + tables_from(run.summary.get("performance_report") or {}, "Performance report"),
        recommendation_tables=tables_from(
            run.summary.get("recommendations") or {}, "Ranked per task type"
        ),
        task_groups=_task_groups(run),
        request_columns=COLUMNS,
        request_rows=request_rows(run),
        request_script=SCRIPT,
        script_hash=script_hash(),
    )


def write_report(run_dir: str | Path, open_browser: bool = False) -> Path:
    """Draw the figures and write ``<run_dir>/report.html`` atomically; return its path.

    With ``open_browser`` the page is opened in the default browser. Raises
    :class:`~orchbench.errors.ResultsError` when the folder is missing or corrupt.
    """
    run = load_run(run_dir)
    html = render_report(run, write_figures(run.path))
    path = run.path / "report.html"
    write_atomic(path, html)
    if open_browser:
        webbrowser.open(path.resolve().as_uri())
    return path
