"""Two worker processes share one study through its storage (Optuna's distributed mode).

They share one round of ``--trials``: the study ends with exactly that many complete trials,
each saying which process measured it."""

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from tune_fakes import FakeEvaluator
    from orchbench import load_profile
    from orchbench.tune import SearchSpace, StudySpec, parse_objective, run_study

    profile = load_profile("embedded")
    spec = StudySpec(objectives=(parse_objective("throughput"),), trials=6, seed=int(sys.argv[1]),
                     study_name="shared", storage={storage!r}, sampler="random")
    run_study(profile, SearchSpace.from_profile(profile), FakeEvaluator(), spec)
    """
)


@pytest.mark.parametrize("storage_name", ["shared.db", "shared.journal"])
def test_two_workers_add_up_in_one_study(tmp_path, storage_name):
    storage = str(tmp_path / storage_name)
    code = WORKER.format(here=str(Path(__file__).parent), storage=storage)
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(seed)], stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]
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
