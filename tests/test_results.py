"""A results folder round-trips through pandas; a broken one is a clear ResultsError."""

import pytest

from orchbench import results
from orchbench.bench.session import BenchSession
from orchbench.bench.workload import workload_from_dict
from orchbench.errors import ResultsError
from orchbench.profiles import load_profile
from orchbench.testing import FakeBackend


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workload = workload_from_dict(
        {
            "name": "rt",
            "prompt_style": "completion",
            "defaults": {"type": "coding"},
            "tasks": [{"name": n, "prompt": f"def {n}():"} for n in ("a", "b", "c")],
        }
    )
    folder = tmp_path_factory.mktemp("runs") / "run"
    fake = FakeBackend(latency=0.001, text="    return 1\n", completion_tokens=4)
    BenchSession(
        load_profile("embedded"),
        "fake",
        workload,
        repeat=2,
        warmup=0,
        run_dir=folder,
        backend=fake,
        sample_interval_s=0.01,
    ).run()
    return folder


def test_records_load_as_a_dataframe(run_dir):
    df = results.load(run_dir)
    assert len(df) == 3 * 2 * 2  # tasks x modes x repeats, one attempt each
    for column in (
        "mode",
        "repeat",
        "task_name",
        "model",
        "backend",
        "total_s",
        "ttft_s",
        "completion_tokens",
        "queue_wait_s",
        "success",
    ):
        assert column in df.columns, column
    assert set(df["mode"]) == {"sequential", "parallel"}
    assert set(df["task_name"]) == {"a", "b", "c"}
    assert df["completion_tokens"].sum() == 4 * 12
    assert (df["backend"] == "fake").all()


def test_tasks_and_summary_agree(run_dir):
    tasks = results.load_tasks(run_dir)
    summary = results.summary(run_dir / "summary.json")  # a file inside the folder works too
    assert len(tasks) == 12
    per_mode = tasks.groupby(["mode", "repeat"]).size()
    assert (per_mode == 3).all()
    assert summary["status"] == "complete"
    assert summary["modes"]["parallel"]["median"]["completion_tokens"] == 12
    assert tasks.loc[0, "text"] == "    return 1\n"


def test_resources_load(run_dir):
    frame = results.load_resources(run_dir)
    assert list(frame.columns)[:2] == ["t", "cpu_percent"] or frame.empty


def test_missing_and_corrupt_folders_are_named(tmp_path, run_dir):
    with pytest.raises(ResultsError, match="does not exist"):
        results.load(tmp_path / "nope")
    with pytest.raises(ResultsError, match=r"summary\.json is missing"):
        results.summary(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text('{"schema": 1, "status": "complete"}')
    with pytest.raises(ResultsError, match=r"records\.jsonl is missing"):
        results.load(broken)
    (broken / "records.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ResultsError, match="line 2 is corrupt"):
        results.load(broken)
    (broken / "summary.json").write_text("{")
    with pytest.raises(ResultsError, match="corrupt JSON"):
        results.summary(broken)
    (broken / "summary.json").write_text("[1]")
    with pytest.raises(ResultsError, match="not an orchbench summary"):
        results.summary(broken)


def test_a_partial_run_without_rows_loads_empty(tmp_path):
    (tmp_path / "summary.json").write_text('{"schema": 1, "status": "partial"}')
    assert results.load(tmp_path).empty
    assert results.load_tasks(tmp_path).empty
