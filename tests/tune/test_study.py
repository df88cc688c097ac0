"""The Optuna study: baseline first, resume, constraints, storage, ranking."""

import optuna
import pytest
from optuna.trial import TrialState
from tune_fakes import FakeEvaluator, best_point

from orchbench import load_profile
from orchbench.errors import ConfigError
from orchbench.tune import (
    SearchSpace,
    StudySpec,
    open_storage,
    parse_constraint,
    parse_objective,
    ranked_trials,
    run_study,
)


def _spec(tmp_path, **kw):
    base = dict(
        objectives=(parse_objective("throughput"),),
        trials=3,
        seed=1,
        study_name="t",
        storage=str(tmp_path / "study.db"),
    )
    base.update(kw)
    return StudySpec(**base)


def _run(tmp_path, evaluator=None, **kw):
    profile = load_profile("embedded-gemma")
    space = SearchSpace.from_profile(profile, slots=False)  # the fake landscape's 32 points
    study = run_study(profile, space, evaluator or FakeEvaluator(), _spec(tmp_path, **kw))
    return profile, space, study


def test_first_trial_is_the_profiles_own_config(tmp_path):
    profile, space, study = _run(tmp_path)
    first = study.trials[0]
    assert first.params == space.values_of(profile)
    assert first.user_attrs["baseline"] is True
    assert first.user_attrs["aggregates"]["tasks_per_s"] == pytest.approx(first.value)
    assert "per_type_s" not in first.user_attrs["aggregates"]


def test_resume_adds_trials_to_the_stored_study(tmp_path):
    _run(tmp_path, trials=3)
    _, _, study = _run(tmp_path, trials=3)
    assert len(study.trials) == 6
    # the baseline was enqueued once, not again on resume
    assert sum(bool(t.user_attrs.get("baseline")) for t in study.trials) == 1


def test_an_interrupted_tune_resumes_where_it_stopped(tmp_path):
    class Interrupted(FakeEvaluator):
        def evaluate(self, profile, repeat=0):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().evaluate(profile, repeat)

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, Interrupted(), trials=5)
    _, _, study = _run(tmp_path, trials=3)
    states = [t.state for t in study.trials]
    assert states[:2] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert states[2] == TrialState.FAIL  # the interrupted trial is kept, marked failed
    assert states[3:] == [TrialState.COMPLETE] * 3


def test_repeat_takes_the_median(tmp_path):
    evaluator = FakeEvaluator(noise={0: 0.0, 1: 0.5, 2: -0.1})
    profile, _, study = _run(tmp_path, evaluator, trials=1, repeat=3)
    assert len(evaluator.calls) == 3
    (trial,) = study.trials
    # runs: 1.0x, 1.5x, 0.9x the landscape: the median is the unscaled one
    clean = FakeEvaluator().evaluate(profile)["tasks_per_s"]
    assert trial.value == pytest.approx(clean)
    assert trial.user_attrs["repeat"] == 3


def test_infeasible_trials_are_kept_and_marked(tmp_path):
    # 12 tasks x 48 tokens in 7 s or less: only configurations above 82 tok/s qualify
    constraint = parse_constraint("makespan<=7s")
    _, _, study = _run(tmp_path, trials=12, constraints=(constraint,), sampler="random")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 12
    infeasible = [t for t in complete if not t.user_attrs["feasible"]]
    feasible = [t for t in complete if t.user_attrs["feasible"]]
    assert infeasible and feasible
    for t in infeasible:
        assert t.constraints["makespan<=7s"] > 0
        assert t.user_attrs["aggregates"]["total_s"] > 7.0
    for t in feasible:
        assert t.constraints["makespan<=7s"] == 0.0
    ranked = ranked_trials(study, (parse_objective("throughput"),))
    assert {t.number for t in ranked} <= {t.number for t in feasible}


def test_a_config_measured_before_is_reused_not_rerun(tmp_path):
    evaluator = FakeEvaluator()
    _, space, study = _run(tmp_path, evaluator, trials=40, sampler="random")
    assert len(study.trials) == 40
    assert len(evaluator.calls) <= space.size()
    assert any("reused_from" in t.user_attrs for t in study.trials)


def space_size():
    return SearchSpace.from_profile(load_profile("embedded-gemma"), slots=False).size()


def test_grid_finds_the_optimum_and_stops(tmp_path):
    _, space, study = _run(tmp_path, trials=200, sampler="grid")
    assert len(study.trials) <= space.size() + 1
    (lim, threads, _), best = best_point()
    top = ranked_trials(study, (parse_objective("throughput"),))[0]
    assert top.value == pytest.approx(best)
    assert top.params["models.gemma3-270m.concurrent_limit"] == lim
    assert top.params["models.gemma3-270m.n_threads"] == threads


def test_directions_follow_the_objectives(tmp_path):
    objectives = (parse_objective("throughput"), parse_objective("p95-latency"))
    _, _, study = _run(tmp_path, objectives=objectives, trials=8, study_name="multi")
    assert study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    front = ranked_trials(study, objectives)
    assert front
    # the Pareto set: ordered by throughput, no member beaten on both objectives by another
    values = [t.values for t in front]
    assert values == sorted(values, key=lambda v: -v[0])
    for a in values:
        assert not any(b[0] > a[0] and b[1] < a[1] for b in values)


def test_makespan_is_minimised(tmp_path):
    _, _, study = _run(tmp_path, objectives=(parse_objective("makespan"),), trials=10)
    ranked = ranked_trials(study, (parse_objective("makespan"),))
    assert ranked[0].value == min(t.value for t in study.trials if t.value is not None)


def test_unknown_sampler_and_missing_budget_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="tpe, random, grid"):
        _run(tmp_path, sampler="bayes")
    with pytest.raises(ConfigError, match="--trials"):
        _run(tmp_path, trials=None, timeout_s=None)


def test_changed_directions_on_an_existing_study_is_a_config_error(tmp_path):
    _run(tmp_path, trials=1)
    with pytest.raises(ConfigError, match="--study 't'"):
        _run(tmp_path, trials=1, objectives=(parse_objective("makespan"),))


@pytest.mark.parametrize(
    "url",
    [
        "nosuchdb://x/y",
        "sqlite:////nonexistent-dir-for-orchbench/sub/x.db",
        "postgresql+nosuchdriver://u:p@127.0.0.1:1/db",
    ],
)
def test_storage_that_cannot_be_opened_is_a_config_error(url):
    with pytest.raises(ConfigError, match="cannot be opened") as info:
        open_storage(url)
    assert "sqlite:///" in str(info.value)  # says what would be valid


def test_journal_file_storage(tmp_path):
    _run(tmp_path, trials=2, storage=str(tmp_path / "study.log"))
    _, _, study = _run(tmp_path, trials=2, storage=str(tmp_path / "study.log"))
    assert len(study.trials) == 4
    assert (tmp_path / "study.log").stat().st_size > 0


def test_a_timeout_alone_bounds_the_search(tmp_path):
    _, _, study = _run(tmp_path, trials=None, timeout_s=0.3)
    assert len(study.trials) >= 1  # Optuna finishes the trial running when time is up
