"""Two worker processes share one study through its storage (Optuna's distributed mode).

They share one round of ``--trials``: the study ends with exactly that many complete trials,
each saying which process measured it."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

WORKER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path
    sys.path.insert(0, {here!r})
    from tune_fakes import FakeEvaluator
    from orchbench import load_profile
    from orchbench.tune import SearchSpace, StudySpec, parse_objective, run_study

    class Meeting(FakeEvaluator):
        # waits, at its first trial, until the test saw both workers in the study

        def evaluate(self, profile, repeat=0):
            if not self.calls:
                ready = Path({marks!r}) / f"ready-{{sys.argv[1]}}"
                ready.write_text("")
                while not (Path({marks!r}) / "go").exists():
                    time.sleep(0.01)
            return super().evaluate(profile, repeat)

    profile = load_profile("embedded")
    spec = StudySpec(objectives=(parse_objective("throughput"),), trials=6, seed=int(sys.argv[1]),
                     study_name="shared", storage={storage!r}, sampler="random")
    run_study(profile, SearchSpace.from_profile(profile), Meeting(), spec)
    """
)


@pytest.mark.parametrize("storage_name", ["shared.db", "shared.journal"])
def test_two_workers_add_up_in_one_study(tmp_path, storage_name):
    storage = str(tmp_path / storage_name)
    marks = tmp_path / "marks"
    marks.mkdir()
    code = WORKER.format(here=str(Path(__file__).parent), storage=storage, marks=str(marks))
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(seed)], stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]
    # Both join one round: each waits at its first trial until both have one (else a
    # worker arriving after the round ended would rightly start a round of its own).
    deadline = time.monotonic() + 120
    while not all((marks / f"ready-{seed}").exists() for seed in (1, 2)):
        assert time.monotonic() < deadline, "the workers never both started a trial"
        assert all(w.poll() is None for w in workers), "a worker ended early"
        time.sleep(0.01)
    (marks / "go").write_text("")
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    for worker, err in zip(workers, errors, strict=True):
        assert worker.returncode == 0, err[-2000:]
    from orchbench.tune import open_storage

    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6  # the round's target, not 6 per worker
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert {t.user_attrs["pid"] for t in complete} <= {w.pid for w in workers}
    for t in complete:
        assert t.user_attrs["engine"] == "fake" and t.user_attrs["hostname"]
