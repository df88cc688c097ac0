"""`orchbench run --suite humaneval:N` on the bundled model prints pass@1 per model next to
its speed and stores it in summary.json (real model, real sandbox)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CELL = re.compile(r"\b([0-2])/2 = (\d+\.\d) %")


@pytest.mark.embedded
def test_humaneval_run_reports_pass_at_1_of_the_model_that_ran_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "orchbench", "run", "--profile", "embedded", "--suite",
               "humaneval:2", "--repeat", "1", "--out", str(tmp_path / "results")]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "measured on embedded" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ gemma3-270m ")]
    assert rows and all(CELL.search(line) for line in rows), done.stdout  # next to its speed
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    for mode in ("sequential", "parallel"):
        median = summary["modes"][mode]["median"]
        assert median["tested_tasks"] == 2 and 0 <= median["passed_tasks"] <= 2
        assert median["pass_at_1"] == median["passed_tasks"] / 2
        assert median["by_model"]["gemma3-270m"]["tested_tasks"] == 2
    tasks = [json.loads(line) for line in (run_dir / "tasks.jsonl").read_text().splitlines()]
    assert tasks and all(isinstance(t["tests_passed"], bool) for t in tasks)
    cell = CELL.search(rows[0])
    assert cell is not None
    passed = summary["modes"]["parallel"]["median"]["passed_tasks"]
    assert int(cell[1]) == passed  # the table prints what summary.json holds
