"""Fit a profile's limits to a machine with Optuna and write ``NAME.tuned.toml``.

>>> from orchbench.tune import SearchSpace, parse_constraint, parse_objective  # doctest: +SKIP
>>> space = SearchSpace.from_profile(load_profile("embedded"))               # doctest: +SKIP
>>> result = tune(profile, make_evaluator("sim", workload, profile=profile),  # doctest: +SKIP
...               StudySpec(objectives=(parse_objective("throughput"),)), suite="smoke")

Parts: :class:`SearchSpace` (what may change), :class:`Objective` / :class:`Constraint`
(what is optimised and what must hold), :class:`StudySpec` (sampler, trials, storage),
evaluators (how one candidate runs: a real engine or the simulator), :func:`tune` (search,
verify side by side, write the tuned profile).
"""

from orchbench.tune._evaluate import (
    EngineEvaluator,
    Evaluator,
    SimEvaluator,
    make_evaluator,
    measure,
)
from orchbench.tune._objective import (
    CONSTRAINT_METRICS,
    OBJECTIVES,
    Constraint,
    Objective,
    parse_constraint,
    parse_duration,
    parse_objective,
)
from orchbench.tune._pipeline import TuneResult, VerifyPlan, tune
from orchbench.tune._sampler import SAMPLERS, make_sampler
from orchbench.tune._space import SearchSpace, apply_params
from orchbench.tune._study import StudySpec, open_storage, ranked_trials, run_study
from orchbench.tune._verify import Verification, verify

__all__ = [
    "CONSTRAINT_METRICS",
    "OBJECTIVES",
    "SAMPLERS",
    "Constraint",
    "EngineEvaluator",
    "Evaluator",
    "Objective",
    "SearchSpace",
    "SimEvaluator",
    "StudySpec",
    "TuneResult",
    "Verification",
    "VerifyPlan",
    "apply_params",
    "make_evaluator",
    "make_sampler",
    "measure",
    "open_storage",
    "parse_constraint",
    "parse_duration",
    "parse_objective",
    "ranked_trials",
    "run_study",
    "tune",
    "verify",
]
