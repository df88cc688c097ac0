"""Which Optuna sampler a tune uses, and with which settings.

TPE: multivariate (it models the parameters jointly, which matters here because client
limits, ``num_parallel`` and the contexts interact through memory), a few random
startup trials, and ``constant_liar`` so that parallel workers sharing a study do not
all try the same configuration while the first one is still running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchbench.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from orchbench.tune._space import SearchSpace

SAMPLERS = ("tpe", "random", "grid")
TPE_STARTUP_TRIALS = 5
"""Random trials before TPE models the results (budgets here are tens of trials)."""


def make_sampler(kind: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    """The sampler called ``kind`` (tpe, random or grid), seeded for reproducibility."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=TPE_STARTUP_TRIALS,
            multivariate=True,
            constant_liar=True,
        )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    raise ConfigError(f"--sampler: unknown sampler {kind!r}; valid samplers: {', '.join(SAMPLERS)}")
