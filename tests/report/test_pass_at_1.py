"""The HTML report shows pass@1 per mode and per model, escaped like everything else.

The run is the committed fake run (tests/data/run-small) with canned pass@1 aggregates
and hostile model names put into its summary: logic and escaping, nothing measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchbench.report._html import render_report
from orchbench.report._run import load_run
from orchbench.report._tables import summary_table

HOSTILE = "<script>alert('pass')</script>"
TESTED = {"pass_at_1": 0.5, "passed_tasks": 1, "tested_tasks": 2}
UNTESTED = {"pass_at_1": None, "passed_tasks": 0, "tested_tasks": 0}


def _canned(run: Path, *, measured: bool = True) -> dict[str, Any]:
    path = run / "summary.json"
    summary = json.loads(path.read_text())
    parallel = summary["modes"]["parallel"]["median"]
    parallel.update(TESTED)
    parallel["by_model"] = {HOSTILE: {"tasks": 2, **TESTED}, "plain": {"tasks": 1, **UNTESTED}}
    summary["models"] = {
        HOSTILE: {"tasks": 3, "mean_quality": 0.6, **TESTED},
        "plain": {"tasks": 3, "mean_quality": 0.4, **UNTESTED},
    }
    summary.update(backend="embedded" if measured else "sim", measured=measured)
    path.write_text(json.dumps(summary))
    return summary


def test_pass_at_1_shows_per_mode_per_model_and_alone(run_small: Path) -> None:
    _canned(run_small)
    html = render_report(load_run(run_small), [])
    assert html.count("1/2 = 50.0 %") == 3  # the mode row, parallel per model, alone
    assert "pass@1" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;pass&#39;)" in html
    assert html.lower().count("<script") == 1  # the request table's own


def test_the_mode_row_is_there_only_when_a_mode_had_tests(run_small: Path) -> None:
    summary = _canned(run_small)
    rows = {row[0]: row[1:] for row in summary_table(summary).rows}
    assert rows["pass@1"] == ["–", "1/2 = 50.0 %"]  # sequential untested in this canned run
    summary["modes"]["parallel"]["median"].update(UNTESTED)
    assert "pass@1" not in {row[0] for row in summary_table(summary).rows}


def test_a_simulated_run_shows_no_pass_at_1_number(run_small: Path) -> None:
    _canned(run_small, measured=False)
    html = render_report(load_run(run_small), [])
    assert "50.0 %" not in html and "n/a (sim)" in html


def test_the_request_table_says_per_task_whether_its_tests_passed(run_small: Path) -> None:
    from orchbench.report._requests import COLUMNS, request_rows

    column = [key for key, _header in COLUMNS].index("tests")
    old = request_rows(load_run(run_small))  # written before the verdict existed
    assert old and all(row[column]["text"] == "–" for row in old)
    path = run_small / "tasks.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["tests_passed"] = [True, False, None][i % 3]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cells = [row[column]["text"] for row in request_rows(load_run(run_small))]
    assert cells[:3] == ["yes", "no", "–"]
