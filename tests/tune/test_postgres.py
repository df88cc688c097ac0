"""Distributed tuning on a real PostgreSQL server (the throwaway cluster of conftest.py).

Workers are real ``orchbench tune`` processes on the simulator engine (fast trials; the
storage, heartbeats, retries and the turn rule are what is under test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from orchbench.errors import ConfigError
from orchbench.tune import open_storage
from orchbench.tune._storage import fail_dead_trials

CHECKOUT = Path(__file__).resolve().parents[2]


def _tune(storage: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "orchbench", "tune", "--profile", "embedded", "--backend", "sim",
        "--suite", "smoke", "--storage", storage, "--study", "shared", "--heartbeat", "1",
        "--verify-repeat", "0", *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(CHECKOUT), "COLUMNS": "300"}


def _study(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="shared", storage=open_storage(storage))


def _kill_mid_trial(victim: subprocess.Popen[bytes], storage: str, target: int) -> int:
    """SIGKILL ``victim`` while one of its trials is RUNNING, after it completed one
    (frozen first, so that the trial cannot finish between the look and the kill); the
    killed trial's number."""
    opened = open_storage(storage)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and victim.poll() is None:
        try:
            study = optuna.load_study(study_name="shared", storage=opened)
        except KeyError:  # the study is not created yet
            continue
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        complete = len(done)
        if not any(t.user_attrs.get("pid") == victim.pid for t in done):
            continue  # let it measure one first
        mine = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.user_attrs.get("pid") == victim.pid and t.params
        ]
        if mine and complete <= target - 4:
            victim.send_signal(signal.SIGSTOP)
            still = study._storage.get_trial(mine[0]._trial_id)
            if still.state == TrialState.RUNNING:
                victim.kill()
                victim.wait()
                return mine[0].number
            victim.send_signal(signal.SIGCONT)
    pytest.fail("the second worker never had a trial running to kill")


def test_two_workers_one_killed_mid_trial(postgres_db, tmp_path):
    target = 14
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    common = dict(env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    survivor = subprocess.Popen(
        _tune(postgres_db, "--trials", str(target), "--seed", "1"), cwd=tmp_path / "a", **common
    )
    victim = subprocess.Popen(
        _tune(postgres_db, "--trials", str(target), "--seed", "2"),
        cwd=tmp_path / "b",
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        killed = _kill_mid_trial(victim, postgres_db, target)
        _, err = survivor.communicate(timeout=180)
    finally:
        for p in (survivor, victim):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert survivor.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    study = _study(postgres_db)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == target  # exactly, not one more per worker
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    dead = next(t for t in trials if t.number == killed)
    assert dead.state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert [t.state for t in retried] == [TrialState.COMPLETE]
    assert dead.params.items() <= retried[0].params.items()  # what it had sampled, again
    fresh = [t for t in complete if "reused_from" not in t.user_attrs]
    measured = [tuple(sorted(t.params.items())) for t in fresh]
    assert len(measured) == len(set(measured)), "a configuration was measured twice"
    pids = {t.user_attrs["pid"] for t in complete}
    assert pids == {survivor.pid, victim.pid}  # both measured, each trial says who
    for t in complete:
        assert t.user_attrs["hostname"] and t.user_attrs["engine"] == "sim"
        assert t.user_attrs["worker"] == f"{t.user_attrs['hostname']}:{t.user_attrs['pid']}"
    assert (tmp_path / "a" / "profiles" / "embedded.tuned.toml").is_file()  # written once
    assert not (tmp_path / "b" / "profiles").exists()


def test_workers_flag_runs_local_workers_on_one_postgres_study(postgres_db, tmp_path):
    args = _tune(postgres_db, "--trials", "10", "--workers", "2")
    done = subprocess.run(args, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    study = _study(postgres_db)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(complete) == 10
    assert {t.user_attrs["worker"] for t in complete} <= {"w0", "w1"}
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    assert "(2 workers)" in done.stderr
    assert (tmp_path / "profiles" / "embedded.tuned.toml").is_file()
    tuned = (tmp_path / "profiles" / "embedded.tuned.toml").read_text()
    assert "postgresql://***@127.0.0.1" in tuned  # the storage, credentials masked


def test_a_silent_trial_of_another_machine_is_failed_by_heartbeat_and_retried(postgres_db):
    import sqlalchemy

    storage = open_storage(postgres_db, heartbeat_s=1)
    study = optuna.create_study(study_name="shared", storage=storage)
    trial_id = storage.create_new_trial(study._study_id)
    storage.set_trial_param(trial_id, "x", 3, optuna.distributions.IntDistribution(0, 9))
    storage.set_trial_user_attr(trial_id, "hostname", "another-machine")
    storage.record_heartbeat(trial_id)
    with storage.engine.begin() as conn:  # its last heartbeat an hour ago
        conn.execute(sqlalchemy.text(
            "UPDATE trial_heartbeats SET heartbeat = heartbeat - interval '1 hour'"
        ))  # fmt: skip
    assert fail_dead_trials(study, "this-machine") == [0]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].params == {"x": 3}
    assert "hostname" not in trials[1].user_attrs  # the retry is nobody's yet


def test_credentials_in_a_postgres_url_are_never_shown(postgres_url):
    base = postgres_url.replace("postgresql://orchbench@", "postgresql://orchbench:s3cret@")
    with pytest.raises(ConfigError) as info:
        open_storage(base.rsplit("/", 1)[0] + "/no_such_database")
    assert "s3cret" not in str(info.value)
    assert "postgresql://***@127.0.0.1" in str(info.value)
