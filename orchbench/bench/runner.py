"""Run one workload in one mode and reduce it to the numbers a person compares.

Modes:

- ``"sequential"``: the profile with ``max_concurrent_tasks = 1``;
- ``"parallel"``: the profile's own limits;
- ``"model:<name>"``: every task on that one model, alone (the profile reduced to it),
  at its own ``concurrent_limit``.

In every mode the whole workload is submitted at once, so the modes differ only in the
limits: latency means the same thing in each (submission to result, queueing included),
and work done outside a model slot (scoring an answer by running its tests) overlaps the
next generation alike in every mode instead of favouring the parallel one.

All timing uses the running loop's clock, so a mode runs unchanged on the simulator's
virtual clock.

:func:`measure_configuration` is the one measurement path — warm up, run the workload,
take the makespan — shared by the bench session, the tuner's evaluators and the
simulator's fidelity check.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchbench.bench.aggregate import aggregate
from orchbench.bench.drive import drive, service_s, tasks_for
from orchbench.bench.load import LoadSpec
from orchbench.bench.workflow import workflow_stats
from orchbench.bench.workload import Workload
from orchbench.config import Complexity, Profile, Route, TaskType
from orchbench.engine import Backend
from orchbench.errors import ConfigError
from orchbench.records import AttemptRecord, TaskResult, TaskSpec

Scorer = Callable[..., float]

COMPARE_MODES = ("sequential", "parallel")
MODEL_PREFIX = "model:"


@dataclass
class ModeRun:
    """One mode run of a workload: its results (submission order), attempts, and aggregates."""

    mode: str
    repeat: int
    results: list[TaskResult]
    records: list[AttemptRecord]
    wall_s: float
    aggregates: dict[str, Any] = field(default_factory=dict)
    task_names: list[str] = field(default_factory=list)
    """``task_names[i]`` is the suite's name for ``results[i]``."""
    performance_report: dict[str, Any] = field(default_factory=dict)
    """The mode's orchestrator's :meth:`get_performance_report`."""
    recommendations: dict[str, Any] = field(default_factory=dict)
    """The mode's orchestrator's :meth:`get_model_recommendations`."""
    load_s: dict[str, float] = field(default_factory=dict)
    """Load seconds per model measured by the warm-up before this run (empty: none)."""
    points: list[dict[str, Any]] = field(default_factory=list)
    """Concurrency / sweep runs: one entry per point (its fields and aggregates), in the
    order shown (results hold the points' results one point after the other)."""
    task_points: list[str] = field(default_factory=list)
    """``task_points[i]``: the point ``results[i]`` ran in (empty: a single-point run)."""
    workflow: dict[str, Any] = field(default_factory=dict)
    """A workflow's makespan, critical path and gain factors (:mod:`orchbench.bench.workflow`)."""


def modes_for(profile: Profile, which: str) -> list[str]:
    """The mode list for ``--mode compare|models|all``."""
    models = [f"{MODEL_PREFIX}{name}" for name in profile.models]
    if which == "compare":
        return list(COMPARE_MODES)
    if which == "models":
        return models
    if which == "all":
        return [*COMPARE_MODES, *models]
    raise ConfigError(f"--mode {which!r} is not valid; valid modes: compare, models, all")


def profile_for_mode(profile: Profile, mode: str) -> Profile:
    """A deep copy of ``profile`` shaped for ``mode`` (the original is never changed)."""
    copy = profile.model_copy(deep=True)
    if mode == "parallel":
        return copy
    if mode == "sequential":
        copy.settings.max_concurrent_tasks = 1
        return copy
    if mode.startswith(MODEL_PREFIX):
        name = mode.removeprefix(MODEL_PREFIX)
        if name not in copy.models:
            raise ConfigError(
                f"mode {mode!r}: profile {profile.name!r} has no model {name!r}; "
                f"models: {', '.join(copy.models)}"
            )
        model = copy.models[name].model_copy(update={"task_types": list(TaskType)})
        # Keep each type's typical complexity: it is what a task that names none gets.
        routing = {
            task_type: Route(
                primary=[name],
                complexity=(
                    profile.routing[task_type].complexity
                    if task_type in profile.routing
                    else Complexity.MEDIUM
                ),
            )
            for task_type in TaskType
        }
        data = copy.model_dump()
        data.update(models={name: model.model_dump()}, routing=routing)
        return Profile.model_validate(data)
    raise ConfigError(
        f"mode {mode!r} is not valid; valid modes: sequential, parallel, "
        + ", ".join(f"{MODEL_PREFIX}{name}" for name in profile.models)
    )


async def run_mode(
    profile: Profile,
    backend: Backend,
    workload: Workload,
    mode: str,
    *,
    repeat: int = 0,
    listener: Callable[[Any], None] | None = None,
    scorer: Scorer | None = None,
    load: LoadSpec | None = None,
) -> ModeRun:
    """Run every task of ``workload`` once in ``mode`` on ``backend``; never closes it.

    A fresh :class:`~orchbench.scheduler.Orchestrator` is built for the mode (so its
    records and speed estimates start clean) over the shared ``backend`` (so loaded
    models stay loaded between modes). ``listener`` receives the scheduler's events;
    ``scorer`` replaces the quality scorer (e.g. a constant where answers are not judged).
    ``load`` is the load pattern (:mod:`orchbench.bench.load`; default: a batch); in a
    workflow (tasks with ``after``) each task is submitted once its dependencies end
    (:mod:`orchbench.bench.workflow`) and a feature is what arrives
    (:mod:`orchbench.bench.drive`).
    """
    import asyncio

    from orchbench.scheduler import Orchestrator

    spec = load or LoadSpec()
    tasks = tasks_for(workload, spec)
    shaped = profile_for_mode(profile, mode)
    orchestrator = Orchestrator(shaped, backend, scorer=scorer)
    if listener is not None:
        orchestrator.add_listener(listener)
    loop = asyncio.get_running_loop()
    start = loop.time()
    driven = await drive(orchestrator, tasks, spec)
    wall_s = loop.time() - start
    records = list(orchestrator.records)
    names = [t.name or f"task-{i}" for i, t in enumerate(tasks.tasks)]
    run = ModeRun(mode, repeat, driven.results, records, wall_s, task_names=names)
    run.aggregates = aggregate(run.results, records, wall_s)
    for point in driven.points:
        point_records = records[point.first_record : point.end_record]
        entry = {**point.point.to_dict(), **aggregate(point.results, point_records, point.wall_s)}
        if point.point.rate is not None and point.units:  # a workflow's unit is a feature
            entry["offered_rate"] = point.point.rate * len(point.results) / point.units
        run.points.append(entry)
        run.task_points.extend(point.point.label for _ in point.results)
    run.task_names = names * max(1, len(run.points))
    if tasks.is_workflow and not driven.points:
        durations = [service_s(r) for r in run.results]
        run.workflow = {"makespan_s": wall_s, **workflow_stats(names, tasks.after, durations)}
    run.performance_report = orchestrator.get_performance_report()
    run.recommendations = orchestrator.get_model_recommendations()
    return run


async def warm_up(
    profile: Profile,
    backend: Backend,
    tasks: Sequence[TaskSpec] = (),
    *,
    scorer: Scorer | None = None,
) -> dict[str, float]:
    """Load every model of ``profile`` (all the instances its parallel limits need), then
    run ``tasks`` untimed; return the load seconds per model."""
    from orchbench.scheduler import Orchestrator

    orchestrator = Orchestrator(profile_for_mode(profile, "parallel"), backend, scorer=scorer)
    load_s = dict(await orchestrator.warmup())
    if tasks:
        await orchestrator.execute_parallel_tasks(list(tasks))
    return load_s


async def measure_configuration(
    profile: Profile,
    backend: Backend,
    workload: Workload,
    mode: str = "parallel",
    *,
    warmup: bool = True,
    warmup_tasks: int = 0,
    repeat: int = 0,
    listener: Callable[[Any], None] | None = None,
    scorer: Scorer | None = None,
    load: LoadSpec | None = None,
) -> ModeRun:
    """The one measurement path: warm up, run ``workload`` in ``mode``, take the makespan.

    With ``warmup`` every model is loaded first (and the first ``warmup_tasks`` tasks run
    untimed), so load time is charged to no run; ``ModeRun.wall_s`` is then the makespan
    and ``ModeRun.load_s`` the load seconds measured. A caller that warms up once for
    several runs (the bench session, alternating modes) passes ``warmup=False`` after the
    first. Runs on whatever loop is running: the virtual clock for the simulator.
    ``load`` is the load pattern (see :func:`run_mode`).
    """
    load_s: dict[str, float] = {}
    if warmup:
        load_s = await warm_up(
            profile, backend, workload.tasks[: max(0, warmup_tasks)], scorer=scorer
        )
    run = await run_mode(
        profile,
        backend,
        workload,
        mode,
        repeat=repeat,
        listener=listener,
        scorer=scorer,
        load=load,
    )
    run.load_s = load_s
    return run


def speedup(sequential: Sequence[ModeRun], parallel: Sequence[ModeRun]) -> dict[str, Any]:
    """Sequential total time over parallel total time, per repeat: median, min, max, values,
    and the point estimate with its confidence interval (see :mod:`orchbench.bench.stats`)."""
    from orchbench.bench.stats import ratio_interval

    by_repeat = {run.repeat: run.wall_s for run in parallel}
    values = [
        run.wall_s / by_repeat[run.repeat]
        for run in sequential
        if by_repeat.get(run.repeat) and run.wall_s > 0
    ]
    if not values:
        return {"median": None, "min": None, "max": None, "values": [], "estimate": None}
    interval = ratio_interval(values)
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": values,
        **(interval.to_dict() if interval else {"estimate": None}),
    }
