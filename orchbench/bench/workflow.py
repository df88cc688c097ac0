"""Workflows: suite tasks that wait for other tasks and use their answers in their prompts.

A task names the tasks it waits for with ``after = ["plan-feature"]``; in its prompt,
``{plan-feature}`` is replaced by the text of that dependency's answer. Only the names a
task lists in ``after`` are placeholders: every other brace is left as written (code in a
prompt needs no escaping), and ``{{plan-feature}}`` writes a literal ``{plan-feature}``.

Execution (:func:`run_workflow`) submits a task as soon as every task it waits for has
ended: roots at once, dependants one by one as their dependencies finish, so independent
branches and independent features overlap within the scheduler's limits. A dependant of a
failed task fails too, with no engine call: its result names the dependency and its cause.

The gain of a workflow (:func:`workflow_stats`) splits along the graph. With ``d(t)`` the
measured duration of task ``t`` (submission to result), ``W`` the total work (the sum of
``d``), ``F`` the features (the graph's weakly connected components) and ``CP(f)`` the
longest chain of feature ``f`` by duration:

- ``branch_factor = W / Σ_f CP(f)``: the speedup of running each feature's independent
  branches in parallel, features one at a time (unlimited slots);
- ``feature_factor = Σ_f CP(f) / max_f CP(f)``: the further speedup of running the features
  together;
- ``ideal_speedup = branch_factor × feature_factor = W / max_f CP(f)``, and
  ``branch_share = ln(branch_factor) / ln(ideal_speedup)`` (the part of the gain, on a log
  scale, due to branches; ``1 − branch_share`` is due to features).

The session computes these from the sequential run's durations (each task alone, so no
contention inflates them) and reports them beside the measured speedup.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from orchbench.config import Complexity
from orchbench.errors import SuiteError
from orchbench.records import TaskResult, TaskSpec

_PLACEHOLDER = re.compile(r"\{\{([\w.#:-]+)\}\}|\{([\w.#:-]+)\}")
"""``{{name}}`` (an escape) or ``{name}``, a name being letters, digits and ``_ . # : -``."""


@dataclass(frozen=True)
class Dependency:
    """One task a task waits for: its name as the suite writes it, and its index."""

    name: str
    index: int


def placeholders(prompt: str) -> list[str]:
    """The names written as ``{name}`` in ``prompt`` (``{{name}}`` is an escape, not one)."""
    return [m.group(2) for m in _PLACEHOLDER.finditer(prompt) if m.group(2) is not None]


def render(prompt: str, answers: Mapping[str, str]) -> str:
    """``prompt`` with ``{name}`` replaced by ``answers[name]`` for each name given;
    ``{{name}}`` of a given name becomes ``{name}``; everything else stays as written."""

    def substitute(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}" if escaped in answers else match.group(0)
        return answers[name] if name in answers else match.group(0)

    return _PLACEHOLDER.sub(substitute, prompt)


def resolve(
    names: Sequence[str], after: Sequence[Sequence[str]], prompts: Sequence[str], where: str
) -> tuple[tuple[Dependency, ...], ...]:
    """Dependencies by index for tasks ``names`` waiting for ``after`` (names), checked.

    Raises :class:`SuiteError` naming ``where`` and the task for an unknown name, a task
    waiting for itself, a placeholder of a suite task not listed in ``after``, or a cycle.
    """
    index = {name: i for i, name in enumerate(names)}
    resolved: list[tuple[Dependency, ...]] = []
    for name, wanted, prompt in zip(names, after, prompts, strict=True):
        for dep in wanted:
            if dep not in index:
                raise SuiteError(
                    f"{where}: task {name!r}: after names unknown task {dep!r}; "
                    f"tasks: {', '.join(names)}"
                )
            if dep == name:
                raise SuiteError(f"{where}: task {name!r}: waits for itself (after)")
        missing = [p for p in placeholders(prompt) if p in index and p not in wanted]
        if wanted and missing:
            raise SuiteError(
                f"{where}: task {name!r}: prompt uses {{{missing[0]}}} but after does not "
                f"list {missing[0]!r} (write {{{{{missing[0]}}}}} for a literal brace)"
            )
        resolved.append(tuple(Dependency(dep, index[dep]) for dep in dict.fromkeys(wanted)))
    cycle = find_cycle(resolved)
    if cycle:
        chain = " -> ".join(names[i] for i in cycle)
        raise SuiteError(f"{where}: task {names[cycle[0]]!r}: dependency cycle {chain}")
    return tuple(resolved)


def find_cycle(after: Sequence[Sequence[Dependency]]) -> list[int] | None:
    """A cycle as task indices (first repeated at the end), or None for a DAG."""
    state = [0] * len(after)  # 0 unseen, 1 on the stack, 2 done
    for root in range(len(after)):
        if state[root]:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, k = stack[-1]
            if k == len(after[node]):
                state[node] = 2
                stack.pop()
                continue
            stack[-1] = (node, k + 1)
            dep = after[node][k].index
            if state[dep] == 1:
                path = [n for n, _ in stack]
                return [*path[path.index(dep) :], dep]
            if state[dep] == 0:
                state[dep] = 1
                stack.append((dep, 0))
    return None


def dependency_failure(spec: TaskSpec, failed: Sequence[tuple[str, TaskResult]]) -> TaskResult:
    """The result of a task not run because tasks it waits for failed (no engine call)."""
    causes = "; ".join(
        f"dependency {name!r} failed: {r.error or 'no answer'}" for name, r in failed
    )
    return TaskResult(
        task_id=-1,
        task_type=spec.task_type,
        complexity=spec.complexity or Complexity.MEDIUM,
        prompt=spec.prompt,
        model_name=None,
        success=False,
        response_time=0.0,
        error=causes,
    )


@dataclass
class Span:
    """When one task of a workflow run was submitted and ended (loop seconds from start)."""

    submitted: float
    ended: float


async def run_workflow(
    tasks: Sequence[TaskSpec],
    after: Sequence[Sequence[Dependency]],
    execute: Callable[[TaskSpec], Awaitable[TaskResult]],
) -> tuple[list[TaskResult], list[Span]]:
    """Run ``tasks`` through ``execute``, each once every task it waits for has ended.

    Returns the results and spans in task order. The graph must be acyclic
    (:func:`resolve` checks it); a task without dependencies is submitted at once.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    spans: list[Span] = [Span(0.0, 0.0) for _ in tasks]
    runners: list[asyncio.Task[TaskResult]] = []

    async def one(i: int) -> TaskResult:
        deps = [(d.name, await runners[d.index]) for d in after[i]]
        failed = [(name, r) for name, r in deps if not r.success]
        spans[i].submitted = loop.time() - start
        if failed:
            result = dependency_failure(tasks[i], failed)
        else:
            prompt = render(tasks[i].prompt, {name: r.text for name, r in deps})
            result = await execute(replace(tasks[i], prompt=prompt))
        spans[i].ended = loop.time() - start
        return result

    runners.extend(asyncio.ensure_future(one(i)) for i in range(len(tasks)))
    try:
        results = list(await asyncio.gather(*runners))
    finally:
        for runner in runners:
            runner.cancel()
    return results, spans


def features(after: Sequence[Sequence[Dependency]]) -> list[list[int]]:
    """The weakly connected components of the graph (task indices, in task order)."""
    parent = list(range(len(after)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, deps in enumerate(after):
        for dep in deps:
            parent[root(i)] = root(dep.index)
    groups: dict[int, list[int]] = {}
    for i in range(len(after)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def critical_path(
    after: Sequence[Sequence[Dependency]], durations: Sequence[float], among: Sequence[int]
) -> tuple[float, list[int]]:
    """The longest chain among the tasks ``among`` by ``durations``: its length and tasks."""
    best: dict[int, tuple[float, list[int]]] = {}

    def longest(i: int) -> tuple[float, list[int]]:
        if i not in best:
            chains = [longest(d.index) for d in after[i]]
            length, path = max(chains, default=(0.0, []), key=lambda c: c[0])
            best[i] = (length + durations[i], [*path, i])
        return best[i]

    return max((longest(i) for i in among), default=(0.0, []), key=lambda c: c[0])


def workflow_stats(
    names: Sequence[str], after: Sequence[Sequence[Dependency]], durations: Sequence[float]
) -> dict[str, Any]:
    """The gain decomposition of the module docstring, from per-task ``durations``."""
    groups = features(after)
    paths = [critical_path(after, durations, group) for group in groups]
    work = float(sum(durations))
    longest, chain = max(paths, key=lambda p: p[0]) if paths else (0.0, [])
    total_cp = sum(p[0] for p in paths)
    branch = work / total_cp if total_cp > 0 else None
    feature = total_cp / longest if longest > 0 else None
    ideal = work / longest if longest > 0 else None
    share = math.log(branch) / math.log(ideal) if branch and ideal and ideal > 1 else None
    return {
        "features": len(groups),
        "work_s": work,
        "critical_path_s": longest,
        "critical_path": [names[i] for i in chain],
        "branch_factor": branch,
        "feature_factor": feature,
        "ideal_speedup": ideal,
        "branch_share": share,
    }


def workflow_summary(runs: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """The ``workflow`` section of ``summary.json``: per mode the median over repeats of
    each run's ``workflow`` numbers (the critical path's tasks: its last run's), and the
    measured speedup of the makespans beside the ideal one."""
    from orchbench.metrics import median_of_repeats

    section: dict[str, Any] = {}
    for mode, mode_runs in runs.items():
        stats = [run.workflow for run in mode_runs if run.workflow]
        if stats:
            section[mode] = {
                **median_of_repeats(stats),
                "critical_path": stats[-1]["critical_path"],
            }
    sequential, parallel = section.get("sequential"), section.get("parallel")
    if sequential and parallel and parallel.get("makespan_s"):
        section["measured_speedup"] = sequential["makespan_s"] / parallel["makespan_s"]
    return section
