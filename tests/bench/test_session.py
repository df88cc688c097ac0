"""A benchmark session warms up, alternates modes, and leaves a readable results folder,
marked partial when it is interrupted."""

import json

import pytest

from orchbench.bench.session import BenchObserver, BenchSession
from orchbench.errors import ConfigError
from orchbench.testing import FakeBackend


class RecordingObserver(BenchObserver):
    def __init__(self):
        self.modes = []
        self.finished = []

    def mode_started(self, mode, repeat, n_tasks):
        self.modes.append((mode, repeat))

    def run_finished(self, result):
        self.finished.append(result.status)


def test_modes_alternate_and_warmup_comes_first(duo_profile, tiny_workload, tmp_path):
    fake = FakeBackend(latency=0.001, load_s=1.5)
    observer = RecordingObserver()
    session = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        repeat=2,
        warmup=2,
        out=tmp_path,
        backend=fake,
        observer=observer,
    )
    result = session.run()
    assert observer.modes == [
        ("warmup", 0),
        ("sequential", 0),
        ("parallel", 0),
        ("sequential", 1),
        ("parallel", 1),
    ]
    assert observer.finished == ["complete"]
    assert set(fake.warmed) == {"small", "big"}
    assert result.summary["load_s"] == {"small": 1.5, "big": 1.5}
    # 2 warm-up tasks + 6 tasks x 2 modes x 2 repeats reached the engine
    assert len(fake.calls) == 2 + 6 * 2 * 2
    assert not fake.closed  # a backend we were given is the caller's to close
    assert result.speedup is not None and len(result.summary["speedup"]["values"]) == 2
    assert result.sequential.tasks == 6
    assert result.p95_latency_s == result.parallel.p95_latency_s
    assert result.run_dir.parent == tmp_path


def test_summary_has_the_documented_fields(duo_profile, tiny_workload, tmp_path):
    result = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        warmup=0,
        run_dir=tmp_path / "r",
        backend=FakeBackend(),
        modes=["sequential", "parallel", "model:big"],
    ).run()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    for key in (
        "schema",
        "status",
        "orchbench_version",
        "started_at",
        "finished_at",
        "machine",
        "versions",
        "profile",
        "backend",
        "measured",
        "suite",
        "repeat",
        "warmup",
        "modes",
        "speedup",
        "performance_report",
        "recommendations",
        "models",
    ):
        assert key in summary, key
    assert summary["status"] == "complete" and summary["measured"] is False  # a fake engine
    assert summary["suite"] == {
        "name": "tiny",
        "tasks": 6,
        "prompt_style": "completion",
        "source": None,
    }
    assert set(summary["modes"]) == {"sequential", "parallel", "model:big"}
    assert summary["modes"]["parallel"]["median"]["tasks"] == 6
    assert list(summary["models"]) == ["big"]
    assert summary["models"]["big"]["best_types"]
    assert result.models == summary["models"]


def test_sim_is_marked_not_measured(duo_profile, tiny_workload):
    session = BenchSession(duo_profile, "sim", tiny_workload, backend=FakeBackend())
    assert session.measured is False
    assert session.store is None


def test_unknown_mode_fails_before_any_work(duo_profile, tiny_workload):
    with pytest.raises(ConfigError, match="turbo"):
        BenchSession(duo_profile, "fake", tiny_workload, modes=["turbo"], backend=FakeBackend())


def test_interrupted_run_leaves_a_partial_readable_result(duo_profile, tiny_workload, tmp_path):
    from orchbench import results

    def interrupt_in_parallel_mode(request, index):
        # the warm-up and sequential mode pass; Ctrl-C arrives during the parallel mode
        return KeyboardInterrupt if len(fake.calls) >= 1 + 6 else None

    fake = FakeBackend(failures=interrupt_in_parallel_mode)
    observer = RecordingObserver()
    session = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        warmup=1,
        run_dir=tmp_path,
        backend=fake,
        observer=observer,
    )
    with pytest.raises(KeyboardInterrupt):
        session.run()
    summary = results.summary(tmp_path)
    assert summary["status"] == "partial"
    assert "interrupted" in summary["stopped"]
    assert list(summary["modes"]) == ["sequential"]
    assert observer.finished == ["partial"]
    tasks = results.load_tasks(tmp_path)
    assert set(tasks["mode"]) == {"sequential"} and len(tasks) == 6
