"""records.csv and tasks.csv sit beside the JSON files and round-trip what results.load gives."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from orchbench import results
from orchbench.bench.runner import ModeRun
from orchbench.bench.session import BenchSession
from orchbench.bench.store import RunStore
from orchbench.bench.workload import workload_from_dict
from orchbench.config import Complexity, TaskType
from orchbench.profiles import load_profile
from orchbench.records import AttemptRecord, TaskResult, Timings
from orchbench.testing import FakeBackend


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workload = workload_from_dict(
        {
            "name": "csv",
            "prompt_style": "completion",
            "defaults": {"type": "coding"},
            "tasks": [{"name": n, "prompt": f'def {n}():\n    "a, b"'} for n in ("a", "b")],
        }
    )
    folder = tmp_path_factory.mktemp("runs") / "run"
    fake = FakeBackend(latency=0.001, text='    return "x,\\ny"\n', completion_tokens=4)
    BenchSession(
        load_profile("embedded"),
        "fake",
        workload,
        repeat=2,
        warmup=0,
        run_dir=folder,
        backend=fake,
        slos={"e2el_ms": 60000.0},
    ).run()
    return folder


@pytest.mark.parametrize(("jsonl", "csv", "loader"), [
    ("records.jsonl", "records.csv", results.load),
    ("tasks.jsonl", "tasks.csv", results.load_tasks),
])  # fmt: skip
def test_csv_round_trips_the_json_lines(run_dir, jsonl, csv, loader):
    assert (run_dir / jsonl).is_file() and (run_dir / csv).is_file()
    from_json = loader(run_dir)
    from_csv = pd.read_csv(run_dir / csv, keep_default_na=False, na_values=[""])
    assert list(from_csv.columns) == list(from_json.columns)
    assert len(from_csv) == len(from_json) == 2 * 2 * 2
    for column in from_json.columns:
        want = [_cell(v) for v in from_json[column]]
        assert [_cell(v) for v in from_csv[column]] == want, column


def _cell(value: object) -> object:
    """One cell compared across JSON and CSV: missing as None, numbers as floats."""
    if isinstance(value, list):
        return json.dumps(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 9)
    return str(value)


def test_tasks_say_whether_they_met_the_slos(run_dir):
    tasks = pd.read_csv(run_dir / "tasks.csv")
    assert tasks["slo_met"].all()  # a fake engine at 1 ms is well inside 60 s
    summary = results.summary(run_dir)
    assert summary["slo"] == {"e2el_ms": 60000.0}
    assert summary["modes"]["parallel"]["median"]["slo_attainment_pct"] == 100.0


def test_token_times_are_json_text_in_the_csv(tmp_path):
    timings = Timings(total_s=1.0, ttft_s=0.1, completion_tokens=3, token_times=[0.1, 0.15, 0.3])
    record = AttemptRecord(
        0, 1, "m", TaskType.CODING, Complexity.SIMPLE, "fake", 0.0, 0.0, True, timings=timings
    )
    result = TaskResult(0, TaskType.CODING, Complexity.SIMPLE, "p", "m", True, 1.0, timings=timings)
    RunStore(tmp_path).append_mode(
        ModeRun("parallel", 0, [result], [record], 1.0, task_names=["t"])
    )
    row = pd.read_csv(tmp_path / "records.csv").iloc[0]
    assert json.loads(row["token_times"]) == [0.1, 0.15, 0.3]
    task = pd.read_csv(tmp_path / "tasks.csv").iloc[0]
    assert task["tpot_s"] == pytest.approx(0.45)
