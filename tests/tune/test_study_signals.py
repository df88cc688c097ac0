"""SIGINT/SIGTERM during a tune: no traceback, exit 130/143, trial failed, study resumable;
a resumed study fails the running trials of workers that died (issue 13, item 4)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tune_fakes import FakeEvaluator

from orchbench import load_profile
from orchbench.tune import SearchSpace, StudySpec, open_storage, parse_objective, run_study
from orchbench.tune._interrupt import Interrupted, StopSignals

CHECKOUT = Path(__file__).resolve().parents[2]


def _spec(storage: str, **kw) -> StudySpec:
    base = dict(objectives=(parse_objective("throughput"),), trials=4, seed=1,
                study_name="sig", storage=storage)  # fmt: skip
    base.update(kw)
    return StudySpec(**base)


def _run(spec: StudySpec, evaluator=None) -> optuna.Study:
    profile = load_profile("embedded-gemma")
    space = SearchSpace.from_profile(profile, slots=False)
    return run_study(profile, space, evaluator or FakeEvaluator(), spec)


class SignalsItself(FakeEvaluator):
    """A fake engine that receives ``signum`` while its third trial measures."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum

    def evaluate(self, profile, repeat=0):
        if len(self.calls) == 2:
            os.kill(os.getpid(), self.signum)
        return super().evaluate(profile, repeat)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_measuring_fails_that_trial_and_resumes(tmp_path, signum, code):
    storage = str(tmp_path / "s.db")
    stop = StopSignals()
    with stop.installed(), pytest.raises(Interrupted) as info:
        _run(_spec(storage, stop=stop), SignalsItself(signum))
    assert info.value.exit_code == code
    assert signal.getsignal(signal.SIGTERM) is not stop._handle  # handlers restored
    states = [t.state for t in _run(_spec(storage, trials=0)).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    study = _run(_spec(storage, trials=4))  # the same command: the round completes
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_a_signal_in_optunas_bookkeeping_stops_after_the_trial(tmp_path):
    def signal_in_callback(study, trial):
        if trial.number == 1:
            os.kill(os.getpid(), signal.SIGINT)

    stop = StopSignals()
    spec = _spec(str(tmp_path / "s.journal"), stop=stop, callbacks=(signal_in_callback,))
    with stop.installed(), pytest.raises(Interrupted):
        _run(spec)
    study = _run(_spec(str(tmp_path / "s.journal"), trials=0))
    # no trial interrupted half-way, none left RUNNING: the search just ended after trial 1
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


@pytest.mark.parametrize("storage_name", ["s.db", "s.journal"])
def test_a_resumed_study_fails_and_retries_a_dead_workers_trial(tmp_path, storage_name):
    storage = str(tmp_path / storage_name)
    _run(_spec(storage, trials=2))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process of this machine that no longer exists
    study = optuna.load_study(study_name="sig", storage=open_storage(storage))
    params = study.trials[1].params
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=params, distributions=study.trials[1].distributions,
    ))  # fmt: skip
    trial_id = study.trials[-1]._trial_id
    study._storage.set_trial_state_values(trial_id, TrialState.RUNNING)  # as its worker did
    for key, value in {"hostname": socket.gethostname(), "pid": gone.pid}.items():
        study._storage.set_trial_user_attr(trial_id, key, value)
    study = _run(_spec(storage, trials=2))
    dead = study.trials[2]
    assert dead.state == TrialState.FAIL
    assert dead.user_attrs["error"] == "its worker died"
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == 2]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    assert retries[0].params == params
    assert not study.get_trials(states=(TrialState.RUNNING,))


def _wait_for_a_complete_trial(storage: str, process: subprocess.Popen[str]) -> None:
    opened = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if Path(storage).exists():
            opened = opened or open_storage(storage)
            try:
                study = optuna.load_study(study_name="cli", storage=opened)
            except KeyError:
                continue
            if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                return
        time.sleep(0.05)  # polling the study file, not waiting for a guess
    pytest.fail("the tune never completed a trial")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_cli_ends_cleanly_on_a_signal_and_the_same_command_resumes(tmp_path, signum, code):
    storage = str(tmp_path / "s.db")
    command = [
        sys.executable, "-m", "orchbench", "tune", "--profile", "embedded", "--backend", "sim",
        "--suite", "smoke", "--storage", storage, "--study", "cli", "--trials", "12",
        "--verify-repeat", "0",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT), "COLUMNS": "300"}
    tune = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for_a_complete_trial(storage, tune)
        tune.send_signal(signum)
        _, err = tune.communicate(timeout=120)
    finally:
        if tune.poll() is None:
            tune.kill()
            tune.communicate()
    assert tune.returncode == code, err[-2000:]
    assert "Traceback" not in err and "UnboundLocalError" not in err
    assert f"interrupted by {signal.Signals(signum).name}" in err
    study = optuna.load_study(study_name="cli", storage=open_storage(storage))
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert len(study.get_trials(states=(TrialState.FAIL,))) <= 1
    assert not (tmp_path / "profiles").exists()  # nothing half-written
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    study = optuna.load_study(study_name="cli", storage=open_storage(storage))
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 12
    assert (tmp_path / "profiles" / "embedded.tuned.toml").is_file()
