"""How good the tuner is: TPE against random search at equal budget, and against a grid.

``test_tpe_beats_random_search_at_equal_budget`` (on the simulator, about 30 s): on the
CPU profile's concurrency space (four models' ``concurrent_limit`` x
``max_concurrent_tasks``: 768 configurations) with the ``code-completion`` suite, from a
cold start (every limit 1), 15 trials, 7 seeds: TPE finds the best configuration any of
the 14 searches found in at least 2 more seeds than random search does (the seeded run:
7 of 7 against 4 of 7) and its mean best is higher. Were "tpe" replaced by random
sampling, both would find it equally often and the test fails.

``test_tpe_reaches_the_grid_optimum_and_beats_random``, on the embedded profile's space
(concurrent_limit x n_threads x max_concurrent_tasks: 32 configurations, small enough
that random search does as well as TPE):

- the configuration TPE picks within 20 trials is within 5 % of the grid optimum in
  parallel throughput, and beats the starting configuration (issue 5);
- over >= 5 seeds, TPE's median best is at least random search's (same budget, seeds);
- the simulator's pick (and the best of its top 3, what ``--verify-backend`` re-runs)
  lands within 5 % of the engine's grid optimum (issue 4).

The engine is chosen with ``ORCHBENCH_TUNER_BENCH``: ``fake`` (default: the FACTS.md hand
measurement as a landscape, seconds), ``sim`` (the simulator, seconds), or ``embedded``
(the real engine: the grid's 32 configurations are measured once, about 5-10 minutes):

    ORCHBENCH_TUNER_BENCH=embedded .venv/bin/pytest tests/benchmarks/test_tuner_quality.py -s

Every configuration is measured once (the grid) and the searches replay those numbers,
so the samplers are compared on the same measurements and a picked configuration is
judged by its grid value. Results: printed (``-s``) and written to
``tuner-quality-<engine>-<start>.json`` in ``$ORCHBENCH_BENCH_OUT`` (default: the test's
temporary folder; a test never writes into the checkout).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import pytest

from orchbench import load_profile
from orchbench.bench.workload import load_suite
from orchbench.profiles import write_atomic
from orchbench.tune import (
    SearchSpace,
    StudySpec,
    apply_params,
    make_evaluator,
    parse_objective,
    ranked_trials,
    run_study,
)
from orchbench.tune._study import distinct_outcomes

SEEDS = (0, 1, 2, 3, 4)
BUDGET = 20
SUITE = "code-completion"
COLD_START = {
    "models.gemma3-270m.concurrent_limit": 1,
    "models.gemma3-270m.n_threads": 1,
    "settings.max_concurrent_tasks": 1,
}


def _evaluator(engine: str, profile):
    if engine == "fake":
        sys.path.insert(0, str(Path(__file__).parents[1] / "tune"))
        from tune_fakes import FakeEvaluator

        return FakeEvaluator()
    return make_evaluator(engine, load_suite(SUITE), profile=profile)


class ReplayEvaluator:
    """Measures each configuration once and replays the numbers to every later search."""

    def __init__(self, inner, space: SearchSpace) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.space = space
        self.cache: dict[tuple, dict] = {}

    def key(self, profile) -> tuple:
        return tuple(sorted(self.space.values_of(profile).items()))

    def evaluate(self, profile, repeat: int = 0):
        key = self.key(profile)
        if key not in self.cache:
            self.cache[key] = dict(self.inner.evaluate(profile, repeat))
        return self.cache[key]

    def close(self) -> None:
        self.inner.close()


def _search(profile, space, evaluator, sampler: str, seed: int, trials: int, tmp: Path):
    spec = StudySpec(
        objectives=(parse_objective("throughput"),),
        trials=trials,
        seed=seed,
        sampler=sampler,
        study_name=f"{sampler}-{seed}",
        storage=str(tmp / f"{evaluator.backend}-{sampler}-{seed}.log"),
    )
    study = run_study(profile, space, evaluator, spec)
    return ranked_trials(study, spec.objectives), study


def _trials_to_reach(study, threshold: float) -> int | None:
    """How many trials the search needed until its best was at least ``threshold``."""
    for i, trial in enumerate(sorted(study.trials, key=lambda t: t.number), start=1):
        if trial.value is not None and trial.value >= threshold:
            return i
    return None


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


@pytest.fixture(scope="module")
def measured():
    """The engine's measurements, shared by both starting points (the grid runs once)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    engine = os.environ.get("ORCHBENCH_TUNER_BENCH", "fake")
    profile = load_profile("embedded-gemma")
    space = SearchSpace.from_profile(profile, slots=False)  # instances: the 32 configurations
    evaluator = ReplayEvaluator(_evaluator(engine, profile), space)
    yield engine, evaluator
    evaluator.close()


@pytest.mark.slow
@pytest.mark.parametrize("start_from", ["profile", "cold"])
def test_tpe_reaches_the_grid_optimum_and_beats_random(tmp_path, start_from, measured):
    """``profile`` starts from the shipped embedded profile, ``cold`` from 1 x 1 thread."""
    engine, evaluator = measured
    profile = load_profile("embedded-gemma")
    space = evaluator.space
    if start_from == "cold":
        profile = apply_params(profile, COLD_START)
    grid, _ = _search(profile, space, evaluator, "grid", 0, space.size() + 1, tmp_path)
    value = {_key(t.params): t.value for t in grid}
    optimum = grid[0].value
    start = value[_key(space.values_of(profile))]
    picked: dict[str, list[float]] = {"tpe": [], "random": []}
    needed: dict[str, list[int | None]] = {"tpe": [], "random": []}
    for sampler in picked:
        for seed in SEEDS:
            ranked, study = _search(profile, space, evaluator, sampler, seed, BUDGET, tmp_path)
            picked[sampler].append(value[_key(ranked[0].params)])
            needed[sampler].append(_trials_to_reach(study, 0.95 * optimum))
    sim = ReplayEvaluator(_evaluator("sim", profile), space)
    sim_ranked, _ = _search(profile, space, sim, "grid", 0, space.size() + 1, tmp_path)
    sim_pick = value[_key(sim_ranked[0].params)]
    sim_top3 = max(value[_key(t.params)] for t in distinct_outcomes(sim_ranked, 3))
    report = {
        "engine": engine,
        "start_from": start_from,
        "space_size": space.size(),
        "budget": BUDGET,
        "seeds": list(SEEDS),
        "grid_optimum_tasks_per_s": optimum,
        "grid_optimum": grid[0].params,
        "start_tasks_per_s": start,
        "tpe": picked["tpe"],
        "random": picked["random"],
        "tpe_median": statistics.median(picked["tpe"]),
        "random_median": statistics.median(picked["random"]),
        "trials_to_95pct": needed,
        "tpe_median_vs_optimum_pct": (statistics.median(picked["tpe"]) / optimum - 1) * 100,
        "sim_pick": sim_ranked[0].params,
        "sim_pick_vs_optimum_pct": (sim_pick / optimum - 1) * 100,
        "sim_top3_verified_vs_optimum_pct": (sim_top3 / optimum - 1) * 100,
    }
    print(json.dumps(report, indent=2))
    out = Path(os.environ.get("ORCHBENCH_BENCH_OUT", tmp_path))
    out = out / f"tuner-quality-{engine}-{start_from}.json"
    write_atomic(out, json.dumps(report, indent=2) + "\n")
    assert report["tpe_median"] >= 0.95 * optimum
    assert report["tpe_median"] >= start
    assert report["tpe_median"] >= report["random_median"]


def _concurrency_space(profile) -> SearchSpace:
    params = SearchSpace.from_profile(profile).params
    return SearchSpace(
        tuple(p for p in params if p.name.endswith(("concurrent_limit", "max_concurrent_tasks")))
    )


@pytest.mark.slow
def test_tpe_beats_random_search_at_equal_budget(tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    profile = load_profile("cpu")
    space = _concurrency_space(profile)
    assert space.size() == 768
    profile = apply_params(profile, {p.name: 1 for p in space.params})  # a cold start
    # Ollama serves num_parallel per model: give it the space's largest client limit, so the
    # client limits searched here are what decides the concurrency.
    profile.server.num_parallel = max(max(p.choices) for p in space.params[:-1])
    sim = make_evaluator("sim", load_suite("code-completion"), profile=profile)
    evaluator = ReplayEvaluator(sim, space)
    best: dict[str, list[float]] = {"tpe": [], "random": []}
    try:
        for sampler, found in best.items():
            for seed in range(7):
                ranked, _ = _search(profile, space, evaluator, sampler, seed, 15, tmp_path)
                found.append(ranked[0].value)
    finally:
        evaluator.close()
    top = max(best["tpe"] + best["random"])
    hits = {sampler: sum(v >= top * (1 - 1e-9) for v in found) for sampler, found in best.items()}
    tpe, rnd = statistics.mean(best["tpe"]), statistics.mean(best["random"])
    print(json.dumps({"engine": "sim", **best, "hits": hits, "tpe_vs_random": tpe / rnd}))
    assert hits["tpe"] >= hits["random"] + 2, f"TPE found the best {top:.4f} no more often: {hits}"
    assert tpe > rnd, f"TPE's mean best {tpe:.4f} is not above random search's {rnd:.4f}"
