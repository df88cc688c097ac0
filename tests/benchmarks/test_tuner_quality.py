"""How good the tuner is: TPE (≤ 20 trials) and random search against an exhaustive grid.

The issue's goals, on the embedded profile's space (concurrent_limit x n_threads x
max_concurrent_tasks):

- the configuration TPE picks within 20 trials is within 5 % of the grid optimum in
  parallel throughput, and beats the profile's starting configuration;
- over >= 5 seeds, TPE's median best is at least random search's (same budget, same seeds).

The engine is chosen with ``ORCHBENCH_TUNER_BENCH``: ``fake`` (default, the FACTS.md
landscape, seconds), ``sim`` (the simulator on the ``code-completion`` suite, a few
minutes), or ``embedded`` (the real engine: run it by hand, it takes about an hour):

    ORCHBENCH_TUNER_BENCH=sim .venv/bin/pytest tests/benchmarks/test_tuner_quality.py -m slow -s

Every configuration is scored by its grid value (the reference run), so a picked
configuration is judged by the same measurement whatever sampler found it. The numbers
are printed and written to ``results/tuning/tuner-quality-<engine>-<start>.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import pytest

from orchbench import load_profile
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

SEEDS = (0, 1, 2, 3, 4)
BUDGET = 20
SUITE = "code-completion"


def _evaluator(engine: str, profile):
    if engine == "fake":
        sys.path.insert(0, str(Path(__file__).parents[1] / "tune"))
        from tune_fakes import FakeEvaluator

        return FakeEvaluator()
    from orchbench.bench.workload import load_suite

    return make_evaluator(engine, load_suite(SUITE), profile=profile)


def _search(profile, space, evaluator, sampler: str, seed: int, trials: int, tmp: Path):
    spec = StudySpec(
        objectives=(parse_objective("throughput"),),
        trials=trials,
        seed=seed,
        sampler=sampler,
        study_name=f"{sampler}-{seed}",
        storage=str(tmp / f"{sampler}-{seed}.log"),
    )
    study = run_study(profile, space, evaluator, spec)
    return ranked_trials(study, spec.objectives), study


def _trials_to_reach(study, threshold: float) -> int | None:
    """How many trials the search needed until its best was at least ``threshold``."""
    for i, trial in enumerate(sorted(study.trials, key=lambda t: t.number), start=1):
        if trial.value is not None and trial.value >= threshold:
            return i
    return None


COLD_START = {
    "models.gemma3-270m.concurrent_limit": 1,
    "models.gemma3-270m.n_threads": 1,
    "settings.max_concurrent_tasks": 1,
}


@pytest.mark.slow
@pytest.mark.parametrize("start_from", ["profile", "cold"])
def test_tpe_reaches_the_grid_optimum_and_beats_random(tmp_path, start_from):
    """``profile`` starts from the shipped embedded profile, ``cold`` from 1 x 1 thread."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    engine = os.environ.get("ORCHBENCH_TUNER_BENCH", "fake")
    profile = load_profile("embedded")
    space = SearchSpace.from_profile(profile)
    if start_from == "cold":
        profile = apply_params(profile, COLD_START)
    evaluator = _evaluator(engine, profile)
    try:
        grid, _ = _search(profile, space, evaluator, "grid", 0, space.size() + 1, tmp_path)
        value = {tuple(sorted(t.params.items())): t.value for t in grid}
        optimum = grid[0].value
        start = value[tuple(sorted(space.values_of(profile).items()))]
        picked: dict[str, list[float]] = {"tpe": [], "random": []}
        needed: dict[str, list[int | None]] = {"tpe": [], "random": []}
        for sampler in picked:
            for seed in SEEDS:
                ranked, study = _search(profile, space, evaluator, sampler, seed, BUDGET, tmp_path)
                picked[sampler].append(value[tuple(sorted(ranked[0].params.items()))])
                needed[sampler].append(_trials_to_reach(study, 0.95 * optimum))
    finally:
        evaluator.close()
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
    }
    print(json.dumps(report, indent=2))
    out = Path("results") / "tuning" / f"tuner-quality-{engine}-{start_from}.json"
    write_atomic(out, json.dumps(report, indent=2) + "\n")
    assert report["tpe_median"] >= 0.95 * optimum
    assert report["tpe_median"] >= start
    assert report["tpe_median"] >= report["random_median"]
