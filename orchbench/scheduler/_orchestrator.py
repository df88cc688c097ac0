"""The multi-model scheduler: route each task, hold the limits, retry, fall back, escalate.

>>> from orchbench import get_orchestrator
>>> from orchbench.testing import FakeBackend
>>> orch = get_orchestrator("embedded", backend=FakeBackend(text="return s[::-1]"))
>>> result = run_sync(orch.execute_task("coding", "def reverse(s):", "simple"))  # doctest: +SKIP

Life of a task: it is given its candidate models (:mod:`orchbench.scheduler._routing`) and a
priority (its own, or the highest among its candidates), then waits in the dispatcher's queue
(:mod:`orchbench.scheduler._dispatch`) for a slot on the best free candidate. Each attempt runs the
backend under a ``default_timeout`` deadline (:mod:`orchbench.scheduler._attempts`); a timeout or
engine error is retried on the same model up to ``retry_attempts`` times with exponential
backoff (the slot is given back while it waits), a non-retryable error (e.g. a model that
is not installed) moves on at once, and then the next candidate is tried. A successful
answer is scored (:mod:`orchbench.quality`); below ``quality_threshold``, with
``escalate_on_low_quality``, one try on a stronger tier is made and the better answer kept.
Every task ends with exactly one :class:`~orchbench.records.TaskResult`. A batch
(:meth:`Orchestrator.execute_parallel_tasks`) creates each task's asyncio task only when
it gets its slot (:mod:`orchbench.scheduler._batch`), which keeps the scheduler's overhead low.

Only ``loop.time()``, ``loop.call_at`` and ``asyncio.sleep`` measure time, so the same
code runs on the simulator's virtual clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

from orchbench.config import Complexity, ModelConfig, Profile, Settings, TaskType
from orchbench.engine import Backend, GenerateResult
from orchbench.errors import ConfigError
from orchbench.records import AttemptRecord, QualityChecks, TaskResult, TaskSpec
from orchbench.scheduler._attempts import AttemptRunner, Job, Scored, Scorer, failure_message
from orchbench.scheduler._batch import run_batch
from orchbench.scheduler._dispatch import GONE, Dispatcher
from orchbench.scheduler._routing import (
    Candidate,
    SpeedTracker,
    candidates,
    default_complexity,
    stronger_than,
)
from orchbench.scheduler._tracker import (
    PerformanceTracker,
    model_recommendations,
    performance_report,
)

logger = logging.getLogger("orchbench")
T = TypeVar("T")
_Routes = dict[
    tuple[TaskType | str, Complexity | str | None, str | None],
    tuple[TaskType, Complexity, list[Candidate], tuple[str, ...], int],
]
"""Routing decided once per (task type, complexity, prompt style) among tasks submitted
together."""


@dataclass(frozen=True, slots=True)
class SchedulerEvent:
    """Progress news for listeners.

    ``queued`` when a task is submitted, ``started`` when an attempt is sent to a model,
    ``finished`` once per task with its final model, ``success`` and ``result``.
    ``in_flight`` is the number of requests per model right after the event, ``queued``
    the number of tasks waiting for a slot.
    """

    kind: Literal["queued", "started", "finished"]
    task_id: int
    model: str | None
    in_flight: dict[str, int]
    queued: int
    success: bool | None = None
    result: TaskResult | None = None


def _enum(kind: Any, value: object, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(v.value for v in kind)
        raise ConfigError(f"{field} {value!r} is not valid; valid values: {valid}") from None


class Orchestrator:
    """Runs tasks on a profile's models through one backend; see the module docstring.

    ``model_configs`` and ``settings`` are the profile's own objects: edit them (change a
    model's ``concurrent_limit`` or ``priority``, add a :class:`ModelConfig`) and the next
    task sees the change. ``scorer`` replaces :func:`orchbench.quality.score` (tests).
    ``rng`` jitters retry backoff (seed it for a reproducible run); a fresh one by default.
    """

    def __init__(
        self,
        profile: Profile,
        backend: Backend,
        *,
        scorer: Scorer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._profile = profile
        self._speeds = SpeedTracker()
        self._dispatcher = Dispatcher(profile, self._speeds)
        self._tracker = PerformanceTracker()
        self._listeners: list[Callable[[SchedulerEvent], None]] = []
        self._runner = AttemptRunner(
            profile, backend, self._dispatcher, self._tracker, self._speeds, None, rng
        )
        self._runner.scorer = scorer
        self._next_id = 0

    @property
    def profile(self) -> Profile:
        """The live profile: its models, routing table and settings drive every decision."""
        return self._profile

    @profile.setter
    def profile(self, value: Profile) -> None:
        self._profile = self._dispatcher.profile = self._runner.profile = value

    @property
    def backend(self) -> Backend:
        """The engine every request goes to."""
        return self._runner.backend

    @backend.setter
    def backend(self, value: Backend) -> None:
        self._runner.backend = value

    @property
    def settings(self) -> Settings:
        """The live scheduler settings (``profile.settings``)."""
        return self._profile.settings

    @property
    def model_configs(self) -> dict[str, ModelConfig]:
        """The live models (``profile.models``); edits apply to the next task."""
        return self._profile.models

    @model_configs.setter
    def model_configs(self, value: dict[str, ModelConfig]) -> None:
        self.profile.models = value

    @property
    def records(self) -> list[AttemptRecord]:
        """A copy of every attempt record so far, in the order attempts ended."""
        return list(self._tracker.records)

    def add_listener(self, fn: Callable[[SchedulerEvent], None]) -> None:
        """Call ``fn`` with a :class:`SchedulerEvent` on every queue/start/finish."""
        self._listeners.append(fn)
        self._runner.on_start = self._started

    def reset_metrics(self) -> None:
        """Forget the attempt records and task rows (routing's speed estimates stay)."""
        self._tracker.clear()

    def get_performance_report(self) -> dict[str, Any]:
        """A JSON-able report of everything measured (see :func:`metrics.performance_report`)."""
        return performance_report(self._tracker, self._profile.models)

    def get_model_recommendations(self) -> dict[str, list[dict[str, Any]]]:
        """Per task type, measured models ranked by quality then speed, with a reason each."""
        return model_recommendations(self._tracker)

    # -- submitting ----------------------------------------------------------------------

    async def execute_task(
        self,
        task_type: TaskType | str,
        prompt: str,
        complexity: Complexity | str | None = None,
        *,
        max_tokens: int | None = None,
        priority: int | None = None,
        checks: QualityChecks | None = None,
        stop: Sequence[str] = (),
        name: str | None = None,
        prompt_style: str | None = None,
    ) -> TaskResult:
        """Run one task to its one result (success, or failure naming every model tried).

        Raises :class:`~orchbench.errors.ConfigError` only for an invalid task type or
        complexity; engine failures end up in the result, never as exceptions. ``name`` is
        the caller's label for the task (the bench keeps it beside the result);
        ``prompt_style`` (``"chat"``/``"completion"``) keeps it to models of that style.
        """
        loop = asyncio.get_running_loop()
        job = self._submit(loop, {}, task_type, prompt, complexity, priority, prompt_style)
        job.max_tokens, job.checks, job.stop = max_tokens, checks, list(stop)
        if self._listeners:
            self._emit("queued", job.task_id, None)
        return await self._run(job)

    async def execute_parallel_tasks(self, tasks: Iterable[TaskSpec | tuple]) -> list[TaskResult]:
        """Run tasks concurrently within the limits; results come in submission order.

        Each task is a :class:`~orchbench.records.TaskSpec` or a ``(task_type, prompt)`` /
        ``(task_type, prompt, complexity)`` tuple. All are validated before any starts.
        """
        loop = asyncio.get_running_loop()
        routes: _Routes = {}
        jobs = []
        for number, task in enumerate(tasks):
            if isinstance(task, TaskSpec):
                job = self._submit(loop, routes, task.task_type, task.prompt, task.complexity,
                                   task.priority, task.prompt_style)  # fmt: skip
                job.max_tokens, job.checks, job.stop = task.max_tokens, task.checks, list(task.stop)
            elif isinstance(task, tuple | list) and 2 <= len(task) <= 3:
                job = self._submit(loop, routes, *task)
            else:
                raise ConfigError(
                    f"task #{number} is {task!r}; give a TaskSpec or a (task_type, prompt) or "
                    "(task_type, prompt, complexity) tuple"
                )
            jobs.append(job)
        if self._listeners:
            for job in jobs:
                self._emit("queued", job.task_id, None)
        return await run_batch(self._dispatcher, self._run, jobs)

    def _submit(
        self,
        loop: asyncio.AbstractEventLoop,
        routes: _Routes,
        task_type: TaskType | str,
        prompt: str,
        complexity: Complexity | str | None = None,
        priority: int | None = None,
        prompt_style: str | None = None,
    ) -> Job:
        key = (task_type, complexity, prompt_style)
        found = routes.get(key)
        if found is None:
            found = routes[key] = self._route(task_type, complexity, prompt_style)
        kind, level, options, names, best = found
        job = Job(
            self._next_id, best if priority is None else priority, loop.time(), level, kind, prompt
        )
        self._next_id += 1
        job.routes, job.names = options, names
        return job

    def _route(
        self,
        task_type: TaskType | str,
        complexity: Complexity | str | None,
        prompt_style: str | None = None,
    ) -> tuple[TaskType, Complexity, list[Candidate], tuple[str, ...], int]:
        """Type, complexity, candidates, their names and the default priority of a task."""
        kind: TaskType = _enum(TaskType, task_type, "task_type")
        routing = self._profile.routing
        level: Complexity = (
            default_complexity(kind, routing)
            if complexity is None
            else _enum(Complexity, complexity, "complexity")
        )
        models = self._profile.models
        options = candidates(kind, routing, models, prompt_style)
        best = max((models[c.name].priority for c in options), default=1)
        return kind, level, options, tuple(c.name for c in options), best

    # -- running -------------------------------------------------------------------------

    async def _run(self, job: Job, slot: str | None = None) -> TaskResult:
        """Run ``job`` to its result; ``slot``: a model already granted to it."""
        runner = self._runner
        remaining: list[Candidate] = job.routes
        model, answer = GONE, None
        while remaining or slot is not None:
            tries = self._profile.settings.retry_attempts
            model, answer = await runner.serve(job, remaining, tries, slot)
            slot = None
            if answer is not None or model == GONE:
                break
            remaining = [c for c in remaining if c.name != model]
        scored = runner.unanswered(job)
        if answer is not None:
            if job.checks is not None and job.checks.tests:
                scored = await runner.quality_in_thread(job, model, answer)
            else:
                scored = runner.quality(job, model, answer)
            settings = self._profile.settings
            if settings.escalate_on_low_quality and scored.score < settings.quality_threshold:
                model, answer, scored = await self._escalate(job, model, answer, scored)
        ok = answer is not None
        result = TaskResult(
            job.task_id,
            job.task_type,
            job.complexity,
            job.prompt,
            model if ok else None,
            ok,
            asyncio.get_running_loop().time() - job.enqueued_at,
            answer.text if answer is not None else "",
            scored.score,
            None if ok else failure_message(job, self._dispatcher.broken_for(job.names)),
            answer.timings if answer is not None else None,
            job.records,
            tests_passed=scored.tests_passed,
        )
        self._tracker.add_result(result)
        if self._listeners:
            self._emit("finished", job.task_id, result.model_name, ok, result)
        return result

    async def _escalate(
        self, job: Job, model: str, answer: GenerateResult, scored: Scored
    ) -> tuple[str, GenerateResult, Scored]:
        """Below the quality threshold, try once on a stronger tier; keep the better answer."""
        config = self._profile.models.get(model)
        if config is None:
            return model, answer, scored
        stronger = stronger_than(
            config.tier, job.task_type, job.routes, self._profile.models, config.prompt_style
        )
        if not stronger:
            return model, answer, scored
        logger.debug("task %s: quality %.2f below the threshold on %s; escalating to one of %s",
                     job.task_id, scored.score, model, [c.name for c in stronger])  # fmt: skip
        other, better = await self._runner.serve(job, stronger, 1)
        if better is None:
            return model, answer, scored
        if job.checks is not None and job.checks.tests:
            rescored = await self._runner.quality_in_thread(job, other, better)
        else:
            rescored = self._runner.quality(job, other, better)
        if rescored.score > scored.score:
            return other, better, rescored
        return model, answer, scored

    # -- plumbing ------------------------------------------------------------------------

    def _started(self, task_id: int, model: str) -> None:
        self._emit("started", task_id, model)

    def _emit(
        self,
        kind: Literal["queued", "started", "finished"],
        task_id: int,
        model: str | None,
        success: bool | None = None,
        result: TaskResult | None = None,
    ) -> None:
        dispatcher = self._dispatcher
        event = SchedulerEvent(
            kind, task_id, model, dict(dispatcher.in_flight), dispatcher.waiting, success, result
        )
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # a broken progress bar must not lose a task's result
                logger.exception("listener %r failed on %s", fn, kind)

    async def warmup(self, models: Iterable[str] | None = None) -> dict[str, float]:
        """Load models (default: all) one after another; return load seconds per model."""
        names = list(self._profile.models) if models is None else list(models)
        unknown = [n for n in names if n not in self._profile.models]
        if unknown:
            raise ConfigError(
                f"cannot warm up {', '.join(unknown)}: not in model_configs "
                f"({', '.join(self._profile.models)})"
            )
        return {n: await self.backend.warmup(self._profile.models[n]) for n in names}

    async def close(self) -> None:
        """Close the backend."""
        await self.backend.close()

    async def __aenter__(self) -> Orchestrator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion from synchronous code (a script, a notebook cell).

    >>> run_sync(orch.execute_task("coding", "def f():"))  # doctest: +SKIP
    """

    async def main() -> T:
        return await awaitable

    return asyncio.run(main())
