"""A whole tune with a fake engine: search, pick, verify, write NAME.tuned.toml."""

import pytest
from tune_fakes import FakeEvaluator, best_point, landscape

from orchbench import load_profile
from orchbench.errors import ConfigError, OrchbenchError
from orchbench.profiles import find_profile
from orchbench.tune import StudySpec, VerifyPlan, parse_constraint, parse_objective, tune
from orchbench.tune._space import Param, SearchSpace

LIMIT = "models.gemma3-270m.concurrent_limit"
THREADS = "models.gemma3-270m.n_threads"


def _instances() -> SearchSpace:
    """The instances-only space (32 points): the fake landscape's optimum is known there."""
    return SearchSpace.from_profile(load_profile("embedded-gemma"), slots=False)


def _spec(tmp_path, **kw):
    base = dict(
        objectives=(parse_objective("throughput"),),
        trials=12,
        seed=0,
        study_name="pipe",
        storage=str(tmp_path / "pipe.db"),
        sampler="grid",
    )
    base.update(kw)
    return StudySpec(**base)


def test_tune_writes_a_better_profile_with_provenance(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = find_profile("embedded-gemma").read_bytes()
    profile = load_profile("embedded-gemma")
    evaluator = FakeEvaluator()
    result = tune(
        profile,
        evaluator,
        _spec(tmp_path, trials=40),
        suite="smoke",
        space=_instances(),
        verification=VerifyPlan(repeat=3),
    )
    (lim, threads, _), best = best_point()
    assert result.picked.value == pytest.approx(best)
    assert result.baseline is not None and result.baseline.value < best
    assert result.verification is not None and result.verification.beats_original
    assert result.path == tmp_path / "profiles" / "embedded-gemma.tuned.toml"
    loaded = load_profile("embedded-gemma.tuned")
    running = min(
        loaded.models["gemma3-270m"].concurrent_limit, loaded.settings.max_concurrent_tasks
    )
    assert running == lim  # (4, 1, 3) ties with (3, 1, 3): 3 run at once either way
    assert loaded.models["gemma3-270m"].n_threads == threads
    table = loaded.tuned
    assert table["backend"] == "fake"
    assert table["suite"] == "smoke"
    assert table["objective"] == ["throughput"]
    assert table["best_value"] == pytest.approx(best)
    assert table["baseline_value"] == pytest.approx(result.baseline.value)
    assert table["trials"] == len(result.study.trials)
    assert table["study"] == "pipe" and table["seed"] == 0 and table["sampler"] == "grid"
    assert table["verify_gain_pct"] > 0 and table["verify_repeat"] == 3
    assert "machine" in table and "date" in table
    assert find_profile("embedded-gemma").read_bytes() == before
    assert profile.models["gemma3-270m"].concurrent_limit == 2  # the object is untouched too


def test_verification_with_several_candidates_keeps_the_real_winner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Mismatched(FakeEvaluator):
        """A 'simulator' that wrongly prefers 2 threads: the real engine must overrule it."""

        backend = "sim"

        def evaluate(self, profile, repeat=0):
            got = super().evaluate(profile, repeat)
            if profile.models["gemma3-270m"].n_threads == 2:
                got["tasks_per_s"] = float(got["tasks_per_s"]) * 3
            return got

    # limit x threads with total fixed at 4: 8 configurations, 4 of them with 2 threads
    total = Param("settings.max_concurrent_tasks", (4,))
    space = SearchSpace((Param(LIMIT, (1, 2, 3, 4)), Param(THREADS, (1, 2)), total))
    real = FakeEvaluator()
    result = tune(
        load_profile("embedded-gemma"),
        Mismatched(),
        _spec(tmp_path, trials=9),
        suite="smoke",
        space=space,
        verification=VerifyPlan(evaluator=real, repeat=3, top=6),
    )
    assert result.picked.params == {LIMIT: 3, THREADS: 1, total.name: 4}
    assert result.verification.backend == "fake"
    assert result.tuned.tuned["backend"] == "sim"
    assert result.tuned.tuned["verify_backend"] == "fake"
    assert any("really wins" in note for note in result.notes)


def test_pareto_pick(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    objectives = (parse_objective("throughput"), parse_objective("p95-latency"))
    spec = _spec(tmp_path, objectives=objectives, trials=16)
    first = tune(
        load_profile("embedded-gemma"),
        FakeEvaluator(),
        spec,
        suite="smoke",
        space=_instances(),
        write=False,
        verification=VerifyPlan(repeat=0),
    )
    assert len(first.ranked) >= 2
    second = tune(
        load_profile("embedded-gemma"),
        FakeEvaluator(),
        _spec(tmp_path, objectives=objectives, trials=1),
        suite="smoke",
        space=_instances(),
        pick=1,
        write=False,
        verification=VerifyPlan(repeat=0),
    )
    assert second.picked.params == second.ranked[1].params
    with pytest.raises(ConfigError, match="--pick 99"):
        tune(
            load_profile("embedded-gemma"),
            FakeEvaluator(),
            _spec(tmp_path, objectives=objectives, trials=1),
            suite="smoke",
            space=_instances(),
            pick=99,
            write=False,
        )


def test_nothing_feasible_says_so_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, trials=5, constraints=(parse_constraint("p95<1ms"),))
    with pytest.raises(OrchbenchError, match=r"no configuration met the constraints \(p95<1ms\)"):
        tune(
            load_profile("embedded-gemma"), FakeEvaluator(), spec, suite="smoke", space=_instances()
        )
    assert not (tmp_path / "profiles").exists()


def test_when_the_start_is_already_best_it_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Flat(FakeEvaluator):
        def evaluate(self, profile, repeat=0):
            got = super().evaluate(profile, repeat)
            start = profile.models["gemma3-270m"].concurrent_limit == 2
            got["tasks_per_s"] = (
                5.0 if start and profile.settings.max_concurrent_tasks == 2 else 1.0
            )
            return got

    evaluator = Flat()
    result = tune(
        load_profile("embedded-gemma"),
        evaluator,
        _spec(tmp_path, trials=3),
        suite="smoke",
        space=_instances(),
    )
    assert result.picked.params == result.baseline.params
    assert result.verification is None
    assert any("nothing better" in note for note in result.notes)
    assert load_profile("embedded-gemma.tuned").models["gemma3-270m"].concurrent_limit == 2


def test_a_configuration_lucky_once_does_not_win(tmp_path, monkeypatch):
    """On a noisy engine the finalists are re-measured: one lucky trial is not enough."""
    monkeypatch.chdir(tmp_path)
    _, best = best_point()

    class LuckyOnce(FakeEvaluator):
        """A stand-in engine on which 2 instances x 2 threads measured 3x too fast once."""

        def __init__(self):
            super().__init__()
            self.lucky_left = 1

        def evaluate(self, profile, repeat=0):
            got = super().evaluate(profile, repeat)
            model = profile.models["gemma3-270m"]
            if (model.concurrent_limit, model.n_threads) == (2, 2) and self.lucky_left:
                self.lucky_left -= 1
                got["tasks_per_s"] = float(got["tasks_per_s"]) * 3
            return got

    result = tune(
        load_profile("embedded-gemma"),
        LuckyOnce(),
        _spec(tmp_path, trials=40),
        suite="smoke",
        space=_instances(),
        verification=VerifyPlan(repeat=3),
    )
    search_best = result.ranked[0].params
    assert (search_best[LIMIT], search_best[THREADS]) == (2, 2)  # the lucky trial led
    picked = result.picked.params
    assert (picked[LIMIT], picked[THREADS]) != (2, 2)
    true = landscape(picked[LIMIT], picked[THREADS], picked["settings.max_concurrent_tasks"])
    assert true["tasks_per_s"] == pytest.approx(best)
    assert result.verification.rounds == 3
    assert len(result.verification.candidates) == 3
