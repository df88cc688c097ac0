"""How one mode run's tasks reach the orchestrator under a load pattern.

The unit that arrives is a task, or for a workflow (tasks with ``after``) a *feature*:
one weakly connected component of its graph, whose tasks then run as the workflow
says (each once its dependencies end). So for a workflow ``--rate`` counts features per
second and ``--concurrency`` features in flight; a batch submits every feature at once.
Results always come back in the workload's task order (per point for concurrency/sweep).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orchbench.bench.load import LoadSpec, PointRun, arrival_times, open_loop, run_points
from orchbench.bench.workflow import Dependency, Span, features, run_workflow
from orchbench.bench.workload import Workload
from orchbench.errors import ConfigError
from orchbench.records import TaskResult, TaskSpec

Submit = Callable[[TaskSpec], Awaitable[TaskResult]]


@dataclass
class Driven:
    """What a mode run submitted: results in task order, the points (concurrency/sweep,
    each one's results in task order) and a workflow's spans (batch)."""

    results: list[TaskResult]
    points: list[PointRun] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)


def tasks_for(workload: Workload, spec: LoadSpec) -> Workload:
    """The workload a mode run submits under ``spec``: ``--tasks N`` cycles it to N tasks,
    a ``--duration`` to the number of arrivals in it (a workflow takes ``--tasks`` only)."""
    if spec.tasks is not None:
        return workload.scaled(spec.tasks)
    if spec.kind == "rate" and spec.duration_s is not None and spec.rate is not None:
        if workload.is_workflow:
            raise ConfigError(
                f"suite {workload.name!r} is a workflow (tasks with after): give --tasks N "
                "(a multiple of its tasks) instead of --duration"
            )
        arrivals = arrival_times(
            spec.rate, spec.burstiness, duration_s=spec.duration_s, seed=spec.seed
        )
        return workload.scaled(len(arrivals))
    return workload


def units_of(workload: Workload) -> list[list[int]]:
    """What arrives: each task alone, or a workflow's features (task indices)."""
    if not workload.is_workflow:
        return [[i] for i in range(len(workload.tasks))]
    return features(workload.after)


async def drive(orchestrator: Any, workload: Workload, spec: LoadSpec) -> Driven:
    """Run ``workload`` on ``orchestrator`` under ``spec`` (see the module docstring)."""
    submit = submitter(orchestrator)
    units = units_of(workload)
    order = [i for unit in units for i in unit]

    def by_task(results: Sequence[TaskResult]) -> list[TaskResult]:
        placed = dict(zip(order, results, strict=True))
        return [placed[i] for i in range(len(order))]

    async def one(unit: list[int]) -> list[TaskResult]:
        if not workload.is_workflow:
            return [await submit(workload.tasks[unit[0]])]
        tasks, after = sub_workflow(workload, unit)
        results, _ = await run_workflow(tasks, after, submit)
        return results

    async def everything() -> list[TaskResult]:
        if workload.is_workflow:
            results, _ = await run_workflow(workload.tasks, workload.after, submit)
        else:
            results = await orchestrator.execute_parallel_tasks(workload.tasks)
        return _unit_order(results, order)

    if spec.has_points:
        points = await run_points(spec, units, one, everything, lambda: len(orchestrator.records))
        for point in points:
            point.results = by_task(point.results)
        return Driven([r for p in points for r in p.results], points)
    if spec.kind == "rate" and spec.rate is not None:
        arrivals = arrival_times(spec.rate, spec.burstiness, n=len(units), seed=spec.seed)
        nested = await open_loop(units, arrivals, one)
        return Driven(by_task([r for part in nested for r in part]))
    if workload.is_workflow:
        results, spans = await run_workflow(workload.tasks, workload.after, submit)
        return Driven(results, spans=spans)
    return Driven(list(await orchestrator.execute_parallel_tasks(workload.tasks)))


def _unit_order(results: Sequence[TaskResult], order: Sequence[int]) -> list[TaskResult]:
    return [results[i] for i in order]


def sub_workflow(
    workload: Workload, unit: Sequence[int]
) -> tuple[list[TaskSpec], list[tuple[Dependency, ...]]]:
    """The tasks of one feature and their dependencies re-indexed within it."""
    local = {index: k for k, index in enumerate(unit)}
    after = [tuple(replace(d, index=local[d.index]) for d in workload.after[i]) for i in unit]
    return [workload.tasks[i] for i in unit], after


def submitter(orchestrator: Any) -> Submit:
    """One task spec → ``orchestrator.execute_task`` with every field of the spec."""

    def submit(spec: TaskSpec) -> Awaitable[TaskResult]:
        return orchestrator.execute_task(
            spec.task_type,
            spec.prompt,
            spec.complexity,
            max_tokens=spec.max_tokens,
            priority=spec.priority,
            checks=spec.checks,
            stop=spec.stop,
            name=spec.name,
            prompt_style=spec.prompt_style,
        )

    return submit


def service_s(result: TaskResult) -> float:
    """A task's time on the engine: submission to result less its queue waits."""
    return max(0.0, result.response_time - sum(a.queue_wait_s for a in result.attempts))
