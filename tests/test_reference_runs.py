"""The reference runs in ``results/reference/`` (behind the README's figures) stay usable.

Each folder loads with :mod:`orchbench.results`, names the engine that produced it, and
``orchbench compare`` accepts it against another. Skipped while the folder holds no run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench import results
from orchbench.cli import main

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"
RUNS = sorted(p for p in REFERENCE.iterdir() if p.is_dir()) if REFERENCE.is_dir() else []
needs_runs = pytest.mark.skipif(not RUNS, reason="results/reference/ holds no run yet")


@needs_runs
@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_a_reference_run_loads_and_names_its_engine(run: Path):
    summary = results.summary(run)
    assert summary["status"] == "complete", f"{run.name} is marked {summary['status']!r}"
    assert isinstance(summary.get("backend"), str) and summary["backend"], f"{run.name}: no engine"
    assert isinstance(summary.get("measured"), bool), f"{run.name}: measured or not is unsaid"
    attempts = results.load(run)
    assert len(attempts) > 0
    assert set(attempts["backend"]) == {summary["backend"]}


@needs_runs
@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_compare_accepts_a_reference_run(run: Path, capsys: pytest.CaptureFixture[str]):
    other = RUNS[0] if len(RUNS) == 1 or run != RUNS[0] else RUNS[1]
    assert main(["compare", str(run), str(other)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert run.name in out
