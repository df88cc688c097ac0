"""A whole tune: search, pick, verify, write ``NAME.tuned.toml``.

:func:`tune` is what ``orchbench tune`` calls; it takes evaluators rather than engine
names so that tests (and other tools) can drive it with any engine, a fake included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.config import Profile
from orchbench.errors import ConfigError, OrchbenchError
from orchbench.tune._evaluate import Evaluator
from orchbench.tune._space import SearchSpace, apply_params
from orchbench.tune._storage import storage_label
from orchbench.tune._study import (
    StudySpec,
    baseline_trial,
    distinct_outcomes,
    longest_prompt_tokens,
    ranked_trials,
    run_study,
)
from orchbench.tune._verify import Verification, verify
from orchbench.tune._write import (
    build_tuned_profile,
    machine_description,
    refuse_to_replace,
    tuned_path,
    write_tuned,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


FINALISTS = 3
"""How many of the search's best configurations are re-measured before one is chosen."""


@dataclass(frozen=True, slots=True)
class VerifyPlan:
    """How to check the search's pick: on which engine and suite, how often, how many.

    The search's best ``top`` distinct configurations (the finalists) are re-run
    ``repeat`` times each, alternating with the original, and the best median wins: a
    configuration that was lucky once does not win on its single trial, and with another
    ``evaluator`` this is the simulator-to-engine step. ``repeat`` 0 skips verification.
    """

    evaluator: Evaluator | None = None
    """``None``: the search's own evaluator."""
    suite: str | None = None
    repeat: int = 3
    top: int = FINALISTS
    on_run: Callable[[str, int, float], None] | None = None


@dataclass(slots=True)
class TuneResult:
    """What a tune found and wrote."""

    study: optuna.Study
    space: SearchSpace
    ranked: list[FrozenTrial]
    """Best feasible configurations, best first (the Pareto set for several objectives)."""
    picked: FrozenTrial
    """The trial whose configuration was written (after verification, if any)."""
    baseline: FrozenTrial | None
    verification: Verification | None
    tuned: Profile
    path: Path | None
    notes: list[str] = field(default_factory=list)


def tune(
    profile: Profile,
    evaluator: Evaluator,
    spec: StudySpec,
    *,
    suite: str,
    source: str | Path | None = None,
    pick: int = 0,
    verification: VerifyPlan | None = None,
    out: str | Path | None = None,
    write: bool = True,
    force: bool = False,
    space: SearchSpace | None = None,
) -> TuneResult:
    """Search ``profile``'s space with ``evaluator``, verify, and write the tuned profile.

    ``source`` is the name or path the profile was loaded from (where the tuned file
    goes, see :func:`~orchbench.tune._write.tuned_path`); ``pick`` indexes the ranked
    (Pareto) configurations. The original profile object and file are never modified; an
    existing tuned profile is replaced only with ``force`` (checked before the search
    starts, and again when writing). Raises :class:`OrchbenchError` when no trial met the
    constraints.
    """
    if space is None:
        longest = spec.longest_prompt_tokens
        if longest is None:
            longest = longest_prompt_tokens(evaluator)
        space = SearchSpace.from_profile(profile, longest_prompt_tokens=longest)
    if not space.params:
        raise ConfigError(f"profile {profile.name!r} leaves nothing to tune (every range is 1)")
    target = tuned_path(source or profile.name, profile.name, out) if write else None
    if target is not None:
        refuse_to_replace(target, force=force)
    study = run_study(profile, space, evaluator, spec)
    ranked = ranked_trials(study, spec.objectives)
    if not ranked:
        raise OrchbenchError(_nothing_feasible(study, spec))
    if not 0 <= pick < len(ranked):
        raise ConfigError(
            f"--pick {pick}: there are {len(ranked)} best configurations (0..{len(ranked) - 1})"
        )
    baseline = baseline_trial(study, space.values_of(profile))
    picked = ranked[pick]
    notes: list[str] = []
    checked: Verification | None = None
    plan = verification or VerifyPlan()
    candidates = distinct_outcomes(ranked[pick:], max(1, plan.top))
    same_engine = plan.evaluator is None
    if baseline is not None and candidates[0].params == baseline.params and same_engine:
        notes.append(
            "the search found nothing better than the profile's own configuration: "
            "the tuned profile keeps its values (nothing to verify)"
        )
    elif plan.repeat > 0:
        checked = verify(
            plan.evaluator or evaluator,
            profile,
            [apply_params(profile, t.params) for t in candidates],
            spec.objectives[0],
            repeat=plan.repeat,
            suite=plan.suite or suite,
            on_run=plan.on_run,
        )
        if checked.winner != 0:
            notes.append(
                f"on {checked.backend}, candidate {checked.winner + 1} of {len(candidates)} beat "
                f"the search's pick (trial {picked.number}); keeping the one that really wins"
            )
        picked = candidates[checked.winner]
        notes.append(checked.summary())
    provenance = _provenance(profile, study, spec, suite, evaluator, picked, baseline, checked)
    tuned = build_tuned_profile(profile, picked.params, provenance)
    path = write_tuned(tuned, target, force=force) if target is not None else None
    return TuneResult(study, space, ranked, picked, baseline, checked, tuned, path, notes)


def _nothing_feasible(study: optuna.Study, spec: StudySpec) -> str:
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    wanted = ", ".join(c.text for c in spec.constraints) or "none"
    return (
        f"no configuration met the constraints ({wanted}): {len(done)} trials completed, all "
        f"infeasible, {len(failed)} failed; relax a --constraint or run more --trials "
        f"(study {spec.study_name!r} keeps every trial)"
    )


def _provenance(
    profile: Profile,
    study: optuna.Study,
    spec: StudySpec,
    suite: str,
    evaluator: Evaluator,
    picked: FrozenTrial,
    baseline: FrozenTrial | None,
    checked: Verification | None,
) -> Mapping[str, Any]:
    from optuna.trial import TrialState

    from orchbench import __version__

    first = spec.objectives[0]
    table: dict[str, Any] = {
        "orchbench_version": __version__,
        "machine": machine_description(profile),
        "backend": evaluator.backend,
        "suite": suite,
        "objective": [o.name for o in spec.objectives],
        "direction": [o.direction for o in spec.objectives],
        "constraints": [c.text for c in spec.constraints],
        "best_value": picked.values[0],
        "baseline_value": baseline.values[0] if baseline and baseline.values else None,
        "metric": first.metric,
        "trials": len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
        "trial": picked.number,
        "study": spec.study_name,
        "storage": storage_label(spec.storage, spec.study_name),
        "sampler": spec.sampler,
        "seed": spec.seed,
        "repeat": spec.repeat,
    }
    if checked is not None:
        table.update(checked.provenance())
    return table
