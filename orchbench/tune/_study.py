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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.config import Profile
from orchbench.engine import engine_measured
from orchbench.errors import BackendError, ConfigError
from orchbench.planning import prompt_tokens_estimate, static_problems
from orchbench.tune._evaluate import Evaluator, measure
from orchbench.tune._objective import Constraint, Objective
from orchbench.tune._sampler import make_sampler
from orchbench.tune._space import SearchSpace, apply_params

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

DEFAULT_TUNING_DIR = Path("results") / "tuning"
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True, slots=True)
class StudySpec:
    """What a search optimises and how: everything but the profile and the engine."""

    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    trials: int | None = 20
    """Trials this invocation runs (a resumed study keeps its earlier ones too)."""
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


def storage_url_for(spec: str | None, study_name: str) -> str:
    """The storage a spec names: a URL as is, a path as SQLite or a journal file."""
    if spec is None:
        return str(DEFAULT_TUNING_DIR / f"{study_name}.db")
    return spec


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """Open an Optuna storage from a URL (``sqlite:///x.db``, ``postgresql://…``) or a path.

    A path ending in ``.db``/``.sqlite`` is SQLite; any other path is a journal file
    (``JournalStorage(JournalFileBackend(path))``), which several processes may share.
    Raises ConfigError with the reason when it cannot be opened.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend

    hint = (
        "valid: an Optuna storage URL such as sqlite:///results/tuning/x.db or "
        "postgresql://user:pw@host/db, or a file path (.db for SQLite, else a journal file)"
    )
    url = spec
    try:
        if "://" not in spec:
            path = Path(spec)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() not in _SQLITE_SUFFIXES:
                return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
            url = f"sqlite:///{path}"
        return _open_rdb(url)
    except Exception as exc:  # sqlalchemy/driver errors have no common base worth naming
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"--storage {spec!r} cannot be opened: {reason}; {hint}") from None


def _open_rdb(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    import optuna
    import sqlalchemy.exc

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Two workers on one SQLite file wait for each other's locks instead of failing.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except sqlalchemy.exc.DBAPIError as exc:
            # Workers starting together race to create the schema; the loser finds the
            # tables made by the winner and simply opens them on the next try.
            racing = any(m in str(exc) for m in ("already exists", "UNIQUE constraint", "locked"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def open_study(spec: StudySpec, space: SearchSpace) -> optuna.Study:
    """Create the study, or load it when it exists (so a tune resumes)."""
    import optuna

    storage = open_storage(storage_url_for(spec.storage, spec.study_name))
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
    profile: Profile, space: SearchSpace, evaluator: Evaluator, spec: StudySpec
) -> Callable[[optuna.Trial], list[float]]:
    """The function Optuna calls per trial (see the module docstring)."""

    longest = spec.longest_prompt_tokens
    if longest is None:
        longest = longest_prompt_tokens(evaluator)

    def objective(trial: optuna.Trial) -> list[float]:
        params = space.suggest(trial)
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
                aggregates = measure(evaluator, apply_params(profile, params), spec.repeat)
            except BackendError as exc:
                trial.set_user_attr("error", str(exc))
                raise
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

    return objective


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

    Engine failures in a trial fail that trial (recorded with its error) and the search
    goes on; configuration errors stop it.
    """
    if spec.trials is None and spec.timeout_s is None:
        raise ConfigError("give --trials N or --timeout DURATION (or both)")
    study = open_study(spec, space)
    study.set_user_attr("profile", profile.name)
    for i, start in enumerate(space.starts(profile)):
        # The profile's own values, then the memory-derived densest configuration.
        attrs = {"baseline": True} if i == 0 else {"derived_start": True}
        study.enqueue_trial(start, user_attrs=attrs, skip_if_exists=True)
    study.optimize(
        make_objective(profile, space, evaluator, spec),
        n_trials=spec.trials,
        timeout=spec.timeout_s,
        catch=(BackendError,),
        callbacks=list(spec.callbacks),
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
