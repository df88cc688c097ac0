"""The Optuna study: where it is stored, which sampler, and the trial function.

A study lives in any Optuna storage: by default ``results/tuning/<study>.db`` (SQLite), so
an interrupted tune resumes where it stopped, and any process that opens the same
storage and study name adds trials to it (Optuna's own distributed mode).

Each trial suggests a configuration, runs it ``repeat`` times and records the median
aggregates in ``user_attrs["aggregates"]``; every constraint becomes an Optuna constraint
(``trial.set_constraint``), so an infeasible trial is kept and marked, never dropped.
A configuration already measured in the study is not run again: its numbers are reused.
A configuration a real server could not run (:func:`orchbench.planning.static_problems`:
memory, ``max_tokens`` + the suite's longest prompt in ``num_ctx``, client limits above
``num_parallel``) is not run at all: it is kept, marked infeasible with its reasons in
``user_attrs["infeasible"]``, and scored worst.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchbench.config import Profile
from orchbench.engine import engine_measured
from orchbench.errors import BackendError, ConfigError
from orchbench.planning import prompt_tokens_estimate, static_problems
from orchbench.tune._evaluate import Evaluator, measure
from orchbench.tune._objective import Constraint, Objective
from orchbench.tune._sampler import make_sampler
from orchbench.tune._space import SearchSpace, apply_params
from orchbench.tune._storage import (
    DEFAULT_HEARTBEAT_S,
    fail_dead_trials,
    open_storage,
    storage_url_for,
)
from orchbench.tune._workers import (
    TargetMet,
    WorkerIdentity,
    Yield,
    round_target,
    wait_for_turn,
    wait_for_twin,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from orchbench.tune._interrupt import StopSignals


@dataclass(frozen=True, slots=True)
class StudySpec:
    """What a search optimises and how: everything but the profile and the engine."""

    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    trials: int | None = 20
    """COMPLETE trials this round adds to the study, across all its workers (a resumed
    study keeps its earlier ones; a worker joining a round in progress helps finish it,
    see :mod:`orchbench.tune._workers`); 0: no new trial (``tune --finish``)."""
    timeout_s: float | None = None
    repeat: int = 1
    seed: int | None = 0
    sampler: str = "tpe"
    study_name: str = "orchbench"
    storage: str | None = None
    """An Optuna storage URL or a file path; ``None`` is ``results/tuning/<study>.db``."""
    callbacks: Sequence[Callable[[Any, Any], None]] = field(default=())
    longest_prompt_tokens: int | None = None
    """The suite's longest prompt in tokens, for the static checks; ``None``: read it from
    the evaluator's workload (characters / 4)."""
    heartbeat_s: int = DEFAULT_HEARTBEAT_S
    """RDB storages: seconds between a running trial's heartbeats (a trial silent for
    :func:`~orchbench.tune._storage.grace_period_s` of this is failed and retried)."""
    worker: str | None = None
    """This worker's id in the trials' ``worker`` attribute (default ``HOST:PID``)."""
    stop: StopSignals | None = None
    """Where SIGINT/SIGTERM may interrupt the search (``None``: wherever they land)."""


def open_study(spec: StudySpec, space: SearchSpace) -> optuna.Study:
    """Create the study, or load it when it exists (so a tune resumes)."""
    import optuna

    storage = open_storage(storage_url_for(spec.storage, spec.study_name), spec.heartbeat_s)
    directions = [o.direction for o in spec.objectives]
    study = optuna.create_study(
        study_name=spec.study_name,
        storage=storage,
        sampler=make_sampler(spec.sampler, space, spec.seed),
        directions=directions,
        load_if_exists=True,
    )
    names = [o.name for o in spec.objectives]
    stored = [d.name.lower() for d in study.directions]
    if study.user_attrs.get("objectives", names) != names or stored != directions:
        # Optuna loads an existing study whatever directions were asked for.
        raise ConfigError(
            f"--study {spec.study_name!r} exists with objectives "
            f"{', '.join(study.user_attrs.get('objectives', stored))}, not {', '.join(names)}; "
            "choose another --study name or the same objectives"
        )
    study.set_user_attr("objectives", names)
    return study


def _same_params(study: optuna.Study, params: dict[str, Any]) -> FrozenTrial | None:
    from optuna.trial import TrialState

    for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if done.params == params and "aggregates" in done.user_attrs:
            return done
    return None


def make_objective(
    profile: Profile,
    space: SearchSpace,
    evaluator: Evaluator,
    spec: StudySpec,
    target: int | None = None,
    me: WorkerIdentity | None = None,
) -> Callable[[optuna.Trial], list[float]]:
    """The function Optuna calls per trial (see the module docstring).

    ``target``: the round's COMPLETE trials; a trial waits for its turn and is pruned when
    the target is met meanwhile (:func:`~orchbench.tune._workers.wait_for_turn`).
    """
    import optuna

    longest = spec.longest_prompt_tokens
    if longest is None:
        longest = longest_prompt_tokens(evaluator)
    me = me or WorkerIdentity.here(evaluator.backend, spec.worker)
    stop = spec.stop

    def interruptible() -> Any:
        return stop.raising() if stop is not None else _nothing()

    def objective(trial: optuna.Trial) -> list[float]:
        def tidy() -> None:
            fail_dead_trials(trial.study, me.hostname)

        for key, value in me.attrs().items():
            trial.set_user_attr(key, value)
        if target is not None:
            try:
                with interruptible():
                    wait_for_turn(trial, target, tidy)
            except TargetMet as met:
                trial.set_user_attr("surplus", True)
                trial.study.stop()
                raise optuna.TrialPruned(str(met)) from None
            except Yield as step_aside:
                trial.set_user_attr("surplus", True)
                raise optuna.TrialPruned(str(step_aside)) from None
        params = space.suggest(trial)
        if target is not None:
            with interruptible():
                wait_for_twin(trial, params, tidy)
        problems = static_problems(apply_params(profile, params), longest)
        if problems:
            trial.set_user_attr("infeasible", problems)
            trial.set_user_attr("feasible", False)
            trial.set_user_attr("backend", evaluator.backend)
            return [_worst(o) for o in spec.objectives]
        earlier = _same_params(trial.study, params)
        if earlier is not None:
            aggregates = dict(earlier.user_attrs["aggregates"])
            trial.set_user_attr("reused_from", earlier.number)
        else:
            try:
                with interruptible():
                    aggregates = measure(evaluator, apply_params(profile, params), spec.repeat)
            except BackendError as exc:
                trial.set_user_attr("error", str(exc))
                raise
        return _record(trial, aggregates, evaluator, spec)

    return objective


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _record(
    trial: optuna.Trial, aggregates: dict[str, Any], evaluator: Evaluator, spec: StudySpec
) -> list[float]:
    """Store a trial's measurement and constraints; its objective values."""
    trial.set_user_attr("aggregates", aggregates)
    trial.set_user_attr("backend", evaluator.backend)
    trial.set_user_attr("measured", engine_measured(evaluator))
    trial.set_user_attr("repeat", spec.repeat)
    for c in spec.constraints:
        trial.set_constraint(c.text, c.violation(aggregates))
    trial.set_user_attr("feasible", all(c.holds(aggregates) for c in spec.constraints))
    missing = [o.metric for o in spec.objectives if aggregates.get(o.metric) is None]
    if missing:
        # Optuna fails a trial whose value is NaN; say why in the study.
        trial.set_user_attr("error", f"the run reported no {', '.join(missing)}")
    return [aggregates.get(o.metric, float("nan")) for o in spec.objectives]


def _worst(objective: Objective) -> float:
    return 0.0 if objective.direction == "maximize" else 1e12


def longest_prompt_tokens(evaluator: Evaluator) -> int:
    """The longest prompt of the evaluator's workload in tokens (characters / 4); 0 if unknown."""
    workload = getattr(evaluator, "workload", None) or getattr(evaluator, "_workload", None)
    tasks = getattr(workload, "tasks", ()) or ()
    return max((prompt_tokens_estimate(t.prompt) for t in tasks), default=0)


def run_study(
    profile: Profile, space: SearchSpace, evaluator: Evaluator, spec: StudySpec
) -> optuna.Study:
    """Open (or resume) the study, enqueue its starts (:meth:`SearchSpace.starts`), run it.

    Trials of dead workers are failed and queued again first. With ``spec.trials`` the
    search runs until the study has the round's target of COMPLETE trials, whichever
    worker measures them (Optuna's ``MaxTrialsCallback`` plus the turn rule of
    :mod:`orchbench.tune._workers`); engine failures in a trial fail that trial (recorded
    with its error) and the search goes on, for at most ``2 × trials`` trials of this
    worker; configuration errors stop it.
    """
    import optuna
    from optuna.trial import TrialState

    if spec.trials is None and spec.timeout_s is None:
        raise ConfigError("give --trials N or --timeout DURATION (or both)")
    study = open_study(spec, space)
    me = WorkerIdentity.here(evaluator.backend, spec.worker)
    fail_dead_trials(study, me.hostname)
    if spec.trials == 0:
        return study
    study.set_user_attr("profile", profile.name)
    for i, start in enumerate(space.starts(profile)):
        # The profile's own values, then the memory-derived densest configuration.
        attrs = {"baseline": True} if i == 0 else {"derived_start": True}
        study.enqueue_trial(start, user_attrs=attrs, skip_if_exists=True)
    helper = spec.worker not in (None, "w0")  # started by `tune --workers N`: joins only
    target = round_target(study, spec.trials, join_only=helper) if spec.trials is not None else None
    callbacks = list(spec.callbacks)
    if target is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(target, states=(TrialState.COMPLETE,)))
    if spec.stop is not None:
        callbacks.append(spec.stop.stop_after_trial)
    deferred = spec.stop.deferred() if spec.stop is not None else _nothing()
    with deferred:
        study.optimize(
            make_objective(profile, space, evaluator, spec, target, me),
            n_trials=2 * spec.trials if spec.trials is not None else None,
            timeout=spec.timeout_s,
            catch=(BackendError,),
            callbacks=callbacks,
            gc_after_trial=False,
        )
    return study


def feasible_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that met every constraint."""
    from optuna.trial import TrialState

    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("feasible", True) and t.values is not None
    ]


def ranked_trials(study: optuna.Study, objectives: Sequence[Objective]) -> list[FrozenTrial]:
    """The best feasible trials, best first, one per distinct configuration.

    One objective: every feasible trial ordered by its value. Several: the Pareto set
    (feasible trials no other feasible trial beats on every objective), ordered by the
    first objective — what ``--pick N`` indexes; configurations with exactly the same
    values are one choice there (the first trial that measured them).
    """
    trials = feasible_trials(study)
    multi = len(objectives) > 1
    if multi:
        trials = [t for t in trials if not any(_dominates(o, t, objectives) for o in trials)]
    first = objectives[0]
    sign = -1.0 if first.direction == "maximize" else 1.0
    trials.sort(key=lambda t: (sign * t.values[0], t.number))
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for t in trials:
        key = tuple(t.values) if multi else tuple(sorted(t.params.items()))
        if key not in seen:
            seen.add(key)
            unique.append(t)
    return unique


def _dominates(a: FrozenTrial, b: FrozenTrial, objectives: Sequence[Objective]) -> bool:
    pairs = list(zip(a.values, b.values, objectives, strict=True))
    no_worse = all(not o.better(y, x) for x, y, o in pairs)
    return no_worse and any(o.better(x, y) for x, y, o in pairs)


def baseline_trial(study: optuna.Study, params: dict[str, Any]) -> FrozenTrial | None:
    """The completed trial of the profile's own configuration, if any."""
    return _same_params(study, params)


def distinct_outcomes(trials: Sequence[FrozenTrial], n: int) -> list[FrozenTrial]:
    """The first ``n`` of ``trials`` whose measured aggregates differ.

    Configurations that differ only where it cannot matter (``max_concurrent_tasks``
    above the sum of the limits, say) give identical numbers on the deterministic
    simulator; re-running each of them on the real engine would spend the check on one
    configuration several times.
    """
    chosen: list[FrozenTrial] = []
    seen: set[tuple[tuple[str, float], ...]] = set()
    for trial in trials:
        aggregates = trial.user_attrs.get("aggregates", {})
        key = tuple(sorted((k, round(float(v), 9)) for k, v in aggregates.items()))
        if key and key in seen:
            continue
        seen.add(key)
        chosen.append(trial)
        if len(chosen) == n:
            break
    return chosen
