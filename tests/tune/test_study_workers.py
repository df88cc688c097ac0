"""The rules of several workers on one study, on an in-memory storage (no processes)."""

from __future__ import annotations

import sys

import optuna
import pytest
from optuna.trial import TrialState

from orchbench.cli._tune_workers import helper_argv
from orchbench.tune._storage import driver_url, open_storage, storage_label
from orchbench.tune._workers import (
    TargetMet,
    WorkerIdentity,
    Yield,
    round_target,
    should_finish,
    trials_per_worker,
    wait_for_turn,
)

DIST = optuna.distributions.IntDistribution(0, 99)


def _study() -> optuna.Study:
    storage = optuna.storages.InMemoryStorage()
    return optuna.create_study(study_name="w", storage=storage)


def _add(study: optuna.Study, state: TrialState, x: int, **attrs) -> None:
    values = 1.0 if state == TrialState.COMPLETE else None
    study.add_trial(optuna.trial.create_trial(
        state=state, params={"x": x}, distributions={"x": DIST}, value=values, user_attrs=attrs,
    ))  # fmt: skip


def _running(study: optuna.Study) -> optuna.Trial:
    """A new running trial, as a worker's next ``ask`` makes it."""
    trial_id = study._storage.create_new_trial(study._study_id)
    return optuna.Trial(study, trial_id)


def test_the_round_target_is_set_once_and_adopted_by_later_workers():
    study = _study()
    assert round_target(study, 5) == 5
    _add(study, TrialState.COMPLETE, 1)
    assert round_target(study, 20) == 5  # joining a round in progress: its target
    for x in range(2, 6):
        _add(study, TrialState.COMPLETE, x)
    assert round_target(study, 3) == 8  # the round was done: a new one


def test_a_trial_waits_while_earlier_running_trials_fill_the_target():
    study = _study()
    _add(study, TrialState.COMPLETE, 1)
    first, second = _running(study), _running(study)
    wait_for_turn(first, 2, tidy=lambda: None)  # 1 complete + 0 ahead < 2: go
    looks = []

    def tidy() -> None:  # the first trial completes while the second waits
        looks.append(1)
        if len(looks) == 2:
            study.tell(first, 1.0)

    with pytest.raises(TargetMet):
        wait_for_turn(second, 2, tidy=tidy, poll_s=0)
    assert len(looks) == 2  # it waited for the first, then found the target met


def test_a_fresh_trial_steps_aside_for_a_queued_one():
    study = _study()
    trial = _running(study)
    study.enqueue_trial({"x": 7})
    with pytest.raises(Yield):
        wait_for_turn(trial, 5, tidy=lambda: None)


def test_the_worker_of_the_last_complete_trial_writes_the_result():
    study = _study()
    me = WorkerIdentity("here", 1, 0.0, "w0", "sim")
    other = WorkerIdentity("there", 2, 0.0, "w1", "sim")
    _add(study, TrialState.COMPLETE, 1, **other.attrs())
    _add(study, TrialState.COMPLETE, 2, **me.attrs())
    assert should_finish(study, me, 2) and not should_finish(study, other, 2)
    assert should_finish(study, me, None)  # a search bounded by time only
    assert should_finish(study, me, 5)  # not met, nobody else at it: write what there is
    running = _running(study)
    for key, value in other.attrs().items():
        running.set_user_attr(key, value)
    assert not should_finish(study, me, 5)  # target not met, another worker still at it
    assert trials_per_worker(study) == {"w0": 1, "w1": 1}


def test_helpers_get_the_same_options_and_their_own_index():
    argv = ["tune", "--profile", "embedded", "--workers", "3", "--trials", "9", "--force"]
    command = helper_argv(argv, "s", "results/tuning/s.db", 2)
    assert command[:3] == [sys.executable, "-m", "orchbench"]
    assert "--workers" not in command and "--force" not in command
    assert command[3:] == ["tune", "--profile", "embedded", "--trials", "9", "--study", "s",
                           "--storage", "results/tuning/s.db", "--worker-index", "2"]  # fmt: skip
    assert "--workers=3" not in helper_argv(["tune", "--workers=3"], "s", "x", 1)


def test_postgres_urls_get_an_installed_driver_and_are_shown_redacted():
    assert driver_url("postgresql://u:pw@h/db").startswith("postgresql+psycopg")
    assert driver_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"
    assert storage_label("postgresql://u:pw@h:5432/db", "s") == "postgresql://***@h:5432/db"
    assert storage_label(None, "s") == "results/tuning/s.db"


def test_an_unreachable_postgres_is_one_redacted_config_error():
    from orchbench.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        open_storage("postgresql://u:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value) and "cannot be opened" in str(info.value)


def test_a_trial_that_sampled_a_point_being_measured_waits_for_it():
    from orchbench.tune._workers import wait_for_twin

    study = _study()
    earlier, later = _running(study), _running(study)
    earlier.suggest_int("x", 0, 99)
    params = dict(study._storage.get_trial(earlier._trial_id).params)
    looks = []

    def tidy() -> None:
        looks.append(1)
        if len(looks) == 3:
            study.tell(earlier, 1.0)

    wait_for_twin(earlier, params, tidy=lambda: None)  # never waits for a later twin
    wait_for_twin(later, params, tidy=tidy, poll_s=0)
    assert len(looks) == 3  # it waited until the earlier trial was done


def test_a_trial_waits_while_an_earlier_one_is_still_choosing_its_point():
    from orchbench.tune._workers import wait_for_twin

    study = _study()
    earlier, later = _running(study), _running(study)
    earlier.suggest_int("x", 0, 99)  # one parameter stored, more to come
    later.suggest_int("x", 0, 99)
    params = dict(study._storage.get_trial(later._trial_id).params)
    looks = []

    def tidy() -> None:
        looks.append(1)
        if len(looks) == 3:  # the earlier trial has chosen a point of its own
            earlier.suggest_int("y", 0, 99)
            wait_for_twin(earlier, {"x": -1}, tidy=lambda: None)

    wait_for_twin(later, {**params, "y": 1000}, tidy=tidy, poll_s=0)
    assert len(looks) == 3  # it looked again until the earlier one had chosen
