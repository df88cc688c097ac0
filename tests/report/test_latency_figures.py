"""TTFT/ITL distributions and the load curves are drawn from what the run stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench.report._latency import load_figure, tokens_figure
from orchbench.report._run import load_run


def _rewrite(path: Path, change) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(row)) + "\n" for row in rows))


def test_ttft_and_itl_distributions_per_model(run_small: Path):
    fig = tokens_figure(load_run(run_small))
    assert fig is not None
    ax_ttft, ax_itl = fig.axes
    assert ax_ttft.has_data() and len(ax_ttft.lines) == 2  # one CDF per model
    assert not ax_itl.lines  # the fake run streamed no per-token times: nothing invented
    assert "no per-token times" in " ".join(t.get_text() for t in ax_itl.texts)
    assert "SIMULATED" in fig.get_suptitle()

    def stream(row):
        return {**row, "token_times": [0.1, 0.15, 0.25, 0.3]}

    _rewrite(run_small / "records.jsonl", stream)
    ax_itl = tokens_figure(load_run(run_small)).axes[1]
    assert len(ax_itl.lines) == 2
    xs = ax_itl.lines[0].get_xdata()
    assert (min(xs), max(xs)) == pytest.approx((50.0, 100.0))  # gaps of 50 and 100 ms


def _points(slo: bool) -> list[dict]:
    return [
        {"mode": "parallel", "point": f"r={r}", "kind": "sweep", "rate": r, "offered_rate": r,
         "tasks_per_s": min(r, 2.0), "p50_latency_s": 1.0 + r, "p99_latency_s": 2.0 + r,
         **({"goodput": 2.0 - abs(r - 2.0)} if slo else {})}
        for r in (1.0, 2.0, 3.0)
    ]  # fmt: skip


def test_load_curves_from_the_sweep_points(run_small: Path):
    summary_path = run_small / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert load_figure(load_run(run_small)) is None  # a batch run has no points
    summary.update(points=_points(slo=True), slo={"e2el_ms": 5000.0}, slo_best_rate=2.0)
    summary["load"] = {"kind": "sweep"}
    summary_path.write_text(json.dumps(summary))
    fig = load_figure(load_run(run_small))
    assert fig is not None
    curve, good = fig.axes
    assert [list(line.get_xdata()) for line in curve.lines] == [[1.0, 2.0, 2.0]] * 2
    assert list(good.lines[0].get_ydata()) == [1.0, 2.0, 1.0]  # goodput per rate
    assert "Goodput" in good.get_title() and "offered rate" in good.get_xlabel()
    assert any("best rate 2" in t.get_text() for t in good.get_legend().get_texts())

    summary.update(points=_points(slo=False), slo={})
    summary_path.write_text(json.dumps(summary))
    good = load_figure(load_run(run_small)).axes[1]
    assert "no --slo" in good.get_title()
    assert list(good.lines[0].get_ydata()) == [1.0, 2.0, 2.0]  # throughput instead


def test_a_concurrency_run_is_drawn_against_tasks_in_flight(run_small: Path):
    summary_path = run_small / "summary.json"
    summary = json.loads(summary_path.read_text())
    points = [
        {"mode": "parallel", "point": f"c={c}", "kind": "concurrency", "concurrency": c,
         "rate": None, "offered_rate": None, "tasks_per_s": 0.5 * c, "p50_latency_s": 1.0,
         "p99_latency_s": 2.0}
        for c in (1, 2, 4)
    ]  # fmt: skip
    summary.update(points=points, load={"kind": "concurrency"})
    summary_path.write_text(json.dumps(summary))
    good = load_figure(load_run(run_small)).axes[1]
    assert list(good.lines[0].get_xdata()) == [1.0, 2.0, 4.0]
    assert "concurrency" in good.get_xlabel()
