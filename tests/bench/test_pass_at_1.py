"""pass@1 per mode and per model, from a run mixing tested (HumanEval) and untested tasks.

The engine is the fake one (its answers are canned: one right, one wrong); the verdicts
come from the real sandbox running HumanEval's own tests. A fake engine is not measured,
so the tables print "n/a (sim)" until the summary is marked measured (as a real run's is).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from orchbench import results
from orchbench.bench.aggregate import pass_at_1, pass_at_1_text
from orchbench.bench.session import BenchSession
from orchbench.bench.table import render
from orchbench.bench.workload import load_suite
from orchbench.config import Complexity, TaskType
from orchbench.engine import GenerateRequest
from orchbench.profiles import profile_from_dict
from orchbench.records import TaskResult, TaskSpec
from orchbench.testing import FakeBackend

RIGHT = """    for i, a in enumerate(numbers):
        for b in numbers[i + 1:]:
            if abs(a - b) < threshold:
                return True
    return False
"""


def _answer(request: GenerateRequest) -> str:
    """Canned answers: HumanEval/0 solved, HumanEval/1 wrong, anything else plain text."""
    if "has_close_elements" in request.prompt:
        return RIGHT
    if "separate_paren_groups" in request.prompt:
        return "    return []\n"
    return "1. Plan it\n2. Build it\n3. Test it\n"


def _profile() -> Any:
    types = ["planning", "coding", "review", "testing", "documentation", "debugging"]
    return profile_from_dict(
        {
            "name": "duo",
            "hardware": {"name": "t", "kind": "cpu", "bandwidth_gbs": 10, "ram_gb": 8,
                         "cpu_cores": 2},
            "backend": {"kind": "fake"},
            "settings": {"max_concurrent_tasks": 2, "retry_attempts": 1},
            "models": {
                "small": {"task_types": types, "tier": "fast", "prompt_style": "completion"},
                "big": {"task_types": ["planning"], "tier": "powerful",
                        "prompt_style": "completion"},
            },
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    humaneval = load_suite("humaneval:2")
    plan = TaskSpec(TaskType.PLANNING, "Steps to ship a login page:\n", Complexity.SIMPLE,
                    max_tokens=16, name="plan", prompt_style="completion")  # fmt: skip
    workload = replace(humaneval, tasks=(*humaneval.tasks, plan))
    modes = ["sequential", "parallel", "model:small", "model:big"]
    out = tmp_path_factory.mktemp("runs")
    session = BenchSession(_profile(), "fake", workload, modes=modes, warmup=0, out=out,
                           backend=FakeBackend(text=_answer))  # fmt: skip
    result = session.run()
    assert result.run_dir is not None
    return result.run_dir


def _summary(run: Path, measured: bool = True) -> dict[str, Any]:
    summary = json.loads((run / "summary.json").read_text())
    return {**summary, "measured": measured}


def _text(summary: dict[str, Any]) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=250, color_system=None).print(render(summary))
    return buffer.getvalue()


def test_summary_counts_only_the_tested_tasks_per_mode_and_per_model(run: Path) -> None:
    summary = _summary(run)
    parallel = summary["modes"]["parallel"]["median"]
    assert parallel["tasks"] == 3
    assert (parallel["passed_tasks"], parallel["tested_tasks"]) == (1, 2)
    assert parallel["pass_at_1"] == pytest.approx(0.5)
    assert parallel["by_model"]["small"]["tested_tasks"] == 2
    assert parallel["by_model"]["big"]["pass_at_1"] is None  # it only planned
    for name in ("small", "big"):  # each model alone serves every task, the tested ones too
        alone = summary["models"][name]
        assert (alone["passed_tasks"], alone["tested_tasks"], alone["pass_at_1"]) == (1, 2, 0.5)


def test_tasks_files_carry_each_verdict_and_read_back(run: Path) -> None:
    rows = [json.loads(line) for line in (run / "tasks.jsonl").read_text().splitlines()]
    verdicts = {(r["mode"], r["task_name"]): r["tests_passed"] for r in rows}
    assert verdicts[("parallel", "HumanEval/0")] is True
    assert verdicts[("parallel", "HumanEval/1")] is False
    assert verdicts[("parallel", "plan")] is None
    with (run / "tasks.csv").open(newline="") as fh:
        cells = {(r["mode"], r["task_name"]): r["tests_passed"] for r in csv.DictReader(fh)}
    assert cells[("parallel", "HumanEval/0")] == "True" and cells[("parallel", "plan")] == ""
    frame = results.load_tasks(run)
    assert set(frame["tests_passed"].dropna()) == {True, False}


def test_an_older_run_without_verdicts_reads_back_as_none(run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.json").write_text((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (run / "tasks.jsonl").read_text().splitlines()]
    for row in rows:
        del row["tests_passed"]
    (old / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = results.load_tasks(old)
    assert len(frame) == len(rows) and frame["tests_passed"].isna().all()


def test_the_run_tables_show_pass_at_1_per_mode_and_per_model(run: Path) -> None:
    text = _text(_summary(run))
    lines = [line for line in text.splitlines() if "pass@1" in line or "1/2 = 50.0 %" in line]
    assert any(line.count("1/2 = 50.0 %") == 2 for line in lines), text  # both modes' row
    small = [line for line in text.splitlines() if line.startswith("│ small ")]
    assert len(small) == 2 and all("1/2 = 50.0 %" in line for line in small), text
    big = [line for line in text.splitlines() if line.startswith("│ big ")]
    assert len(big) == 2, text
    assert big[0].rstrip(" │").endswith("—"), text  # in the parallel run it only planned
    assert "1/2 = 50.0 %" in big[1], text  # alone, it answered the tested tasks too


def test_a_fake_or_simulated_run_shows_no_pass_at_1_number(run: Path) -> None:
    text = _text(_summary(run, measured=False))
    assert "pass@1" in text and "n/a (sim)" in text and "50.0 %" not in text


def test_a_run_without_tests_shows_no_pass_at_1() -> None:
    done = [TaskResult(i, TaskType.CODING, Complexity.SIMPLE, "p", "m", True, 1.0)
            for i in range(3)]  # fmt: skip
    stats = pass_at_1(done)
    assert stats == {"pass_at_1": None, "passed_tasks": 0, "tested_tasks": 0}
    assert pass_at_1_text(stats) == "—"
    assert pass_at_1_text({"pass_at_1": 0.5, "passed_tasks": 1.5, "tested_tasks": 3}) == (
        "1.5/3 = 50.0 %"
    )
