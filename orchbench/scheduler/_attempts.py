"""Running a task's attempts: slot, request, timeout, retries with backoff, records, quality.

:class:`AttemptRunner` is the orchestrator's engine room (the orchestrator itself decides
what to run and assembles the result). One :meth:`AttemptRunner.serve` call takes a slot on
the best free candidate and tries that model up to ``tries`` times: a timeout or retryable
engine error is retried after ``retry_backoff_s × 2^(n-1)`` seconds times a random factor in
[0.5, 1.5) (jitter from the orchestrator's own ``random.Random``, so many tasks against a
busy server do not retry in lockstep), with the slot given back while it waits; a
non-retryable error, or the model entering cooldown, stops at once — unless the model has
another deployment (host) that is free of trouble: then the next try goes there at once
(failover, not counted as a retry) before any other model is tried. A refused connection
(:class:`~orchbench.errors.BackendUnavailable`) trips that host's breaker for every
deployment on it. A slot granted under a limit that was lowered since is given back
before the engine is called. Every attempt leaves an :class:`~orchbench.records.AttemptRecord`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from orchbench.config import Complexity, ModelConfig, Profile, TaskType
from orchbench.engine import Backend, GenerateRequest, GenerateResult
from orchbench.errors import BackendTimeout, BackendUnavailable, redact
from orchbench.records import AttemptRecord, QualityChecks
from orchbench.scheduler._deadlines import Deadlines
from orchbench.scheduler._dispatch import GONE, Dispatcher, Waiter
from orchbench.scheduler._health import deployment_key
from orchbench.scheduler._routing import Candidate, SpeedTracker
from orchbench.scheduler._tracker import PerformanceTracker

if TYPE_CHECKING:
    from orchbench.quality import QualityReport

logger = logging.getLogger("orchbench")
Scorer = Callable[..., "float | QualityReport"]
"""``score(task_type, prompt, text, checks, *, prompt_style, finish_reason)``: a score, or a
:class:`~orchbench.quality.QualityReport` (which also gives the tests verdict)."""


class Scored(NamedTuple):
    """An answer's quality score and its tests verdict (see
    :func:`orchbench.quality.passed_tests`; ``None`` also when a custom scorer gave only a
    score)."""

    score: float
    tests_passed: bool | None


class Job(Waiter):
    """One submitted task: what it asks for and every attempt made so far."""

    __slots__ = (
        "checks", "max_tokens", "names", "prompt", "records", "routes", "stop", "task_type"
    )  # fmt: skip

    def __init__(
        self,
        task_id: int,
        priority: float,
        now: float,
        complexity: Complexity,
        task_type: TaskType,
        prompt: str,
    ) -> None:
        # Waiter's fields set here rather than through super().__init__: one call less
        # per task on the hot path.
        self.task_id = self.seq = task_id
        self.priority = priority
        self.enqueued_at = now
        self.complexity = complexity
        self.options: Sequence[Candidate] = ()
        self.future: asyncio.Future[str] | None = None
        self.starter = None
        self.held = ""
        self.host = ""
        self.avoid = ""
        self.task_type = task_type
        self.prompt = prompt
        self.max_tokens: int | None = None
        self.checks: QualityChecks | None = None
        self.stop: list[str] = []
        self.routes: list[Candidate] = []
        self.names: tuple[str, ...] = ()
        """Names of ``routes``, kept to key the dispatcher's queue without rebuilding it."""
        self.records: list[AttemptRecord] = []


class AttemptRunner:
    """Runs attempts for an orchestrator; ``on_start(task_id, model)`` hears each one."""

    def __init__(
        self,
        profile: Profile,
        backend: Backend,
        dispatcher: Dispatcher,
        tracker: PerformanceTracker,
        speeds: SpeedTracker,
        on_start: Callable[[int, str], None] | None,
        rng: random.Random | None = None,
    ) -> None:
        self.profile = profile
        self.backend = backend
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.speeds = speeds
        self.on_start = on_start
        self.rng = rng if rng is not None else random.Random()
        """Jitter for retry backoff; owned here, never the global ``random``."""
        self.scorer: Scorer | None = None
        self._deadlines = Deadlines()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoch_offset = 0.0

    async def serve(
        self, job: Job, options: Sequence[Candidate], tries: int, slot: str | None = None
    ) -> tuple[str, GenerateResult | None]:
        """Take a slot on the best of ``options``; try that model up to ``tries`` times.

        ``slot``: a model the dispatcher already granted this job (lazy start), or
        :data:`GONE`. Returns the model and its answer (``None`` if every try failed), or
        :data:`GONE`.
        """
        loop = asyncio.get_running_loop()
        dispatcher = self.dispatcher
        deadlines = self._deadlines
        names = job.names if options is job.routes else None
        model = GONE
        if slot is not None:
            job.held = ""  # this task owns the lazily granted slot from here on
        n = failovers = 0
        failover = False
        failed_on: set[str] = set()  # hosts this task failed on, for failover
        job.avoid = ""
        while n < tries:
            if n or failover:
                if not failover:
                    await asyncio.sleep(self.backoff(n))
                if dispatcher.cooling(model):
                    break
                options, names = (Candidate(model, False),), (model,)
            asked = job.enqueued_at if slot is not None else loop.time()
            while True:
                if slot is None:
                    asked_for = dispatcher.request(job, options, names, n > 0 or failover)
                    if asked_for.__class__ is not str:
                        future: asyncio.Future[str] = asked_for  # type: ignore[assignment]
                        try:
                            asked_for = await future
                        except asyncio.CancelledError:
                            dispatcher.abandon(future, job.host)
                            raise
                    slot = asked_for
                if not dispatcher.over(slot, job.host):
                    break
                dispatcher.release(slot, job.host)
                slot = None  # granted under a limit lowered since: wait again
            host = job.host
            if n == 0 and not failover:
                model = slot
                if model == GONE:
                    return GONE, None
            elif slot != model:  # removed, or cooled down meanwhile
                break
            slot = None
            config = self.profile.models.get(model)
            if config is None:  # removed from model_configs while the slot was on its way
                dispatcher.release(model, host)
                break
            # The request runs inline (not in a helper coroutine): a coroutine per
            # attempt is a measurable share of the scheduler's overhead.
            start = loop.time()
            request = self._request(job, model, config, host)
            answer: GenerateResult | None = None
            err: BaseException | None = None
            deadline = deadlines.enter(loop, start + request.timeout_s)
            try:
                answer = await self.backend.generate(request)
            except asyncio.CancelledError:
                if not deadlines.leave(deadline):
                    raise
                err = BackendTimeout(
                    f"model {model!r} gave no answer within settings.default_timeout="
                    f"{request.timeout_s:g}s"
                )
            except Exception as exc:  # an engine bug must still end as a failed attempt
                deadlines.leave(deadline)
                err = exc
            else:
                deadlines.leave(deadline)
            finally:
                end = loop.time()
                dispatcher.release(model, host)
            self._record(loop, job, model, host, (start - asked, start, end), answer, err)
            if answer is not None:
                return model, answer
            failed_on.add(host)
            failover = bool(host) and dispatcher.elsewhere(model, host, failed_on, failovers)
            job.avoid = host
            failovers += failover
            if not failover and (not getattr(err, "retryable", False) or dispatcher.cooling(model)):
                break
            n += 0 if failover else 1
        return model, None

    def backoff(self, n: int) -> float:
        """Seconds to wait before retry ``n`` (1, 2, ...): exponential, with jitter."""
        base = self.profile.settings.retry_backoff_s * 2 ** (n - 1)
        return base * (0.5 + self.rng.random())

    def _request(self, job: Job, model: str, config: ModelConfig, host: str) -> GenerateRequest:
        if self.on_start is not None:
            self.on_start(job.task_id, model)
        return GenerateRequest(  # host: which deployment serves it ("": the profile's host)
            config,
            job.prompt,
            job.max_tokens or config.max_tokens,
            config.temperature,
            self.profile.settings.default_timeout,
            job.stop,
            seed=self.profile.settings.seed,
            host=host,
        )

    def _record(
        self,
        loop: asyncio.AbstractEventLoop,
        job: Job,
        model: str,
        host: str,
        times: tuple[float, float, float],
        answer: GenerateResult | None,
        err: BaseException | None,
    ) -> None:
        """Keep the attempt's record, and feed cooldown and speed tracking.

        ``times``: seconds waited for the slot, and the loop times the request started
        and ended.
        """
        waited, start, end = times
        if loop is not self._loop:
            # Wall-clock start times from loop.time(): one offset per loop, so a virtual
            # clock still yields consistent (if fictional) instants.
            self._loop = loop
            self._epoch_offset = time.time() - start
        record = AttemptRecord(
            job.task_id,
            len(job.records) + 1,
            model,
            job.task_type,
            job.complexity,
            self.backend.name,
            self._epoch_offset + start,
            waited,
            err is None,
            None if err is None else _describe(err),
            None if answer is None else answer.timings,
            None,
            None if answer is None else answer.instance,
            host or None,
        )
        job.records.append(record)
        self.tracker.add_attempt(record, end - start)
        self.dispatcher.outcome(model, err is None, host)
        if isinstance(err, BackendUnavailable):
            self.dispatcher.trip(record.error or "BackendUnavailable", host)
        if answer is not None:
            self.speeds.observe(model, answer.timings.total_s)
            if host:
                self.dispatcher.host_speeds.observe(deployment_key(model, host), end - start)
        else:
            logger.info("task %s attempt on %s failed: %s", job.task_id, model, record.error)

    def quality(self, job: Job, model: str, answer: GenerateResult) -> Scored:
        """Score ``answer`` here and now; 0 (and tests failed) if scoring fails.

        Use :meth:`quality_in_thread` instead when the task's checks run tests.
        """
        return self._score(job, model, answer)

    async def quality_in_thread(self, job: Job, model: str, answer: GenerateResult) -> Scored:
        """Score ``answer`` in a worker thread (checks that run tests take seconds)."""
        return await asyncio.to_thread(self._score, job, model, answer)

    def unanswered(self, job: Job) -> Scored:
        """What a task that got no answer scores: 0, and failed tests if it had tests."""
        from orchbench.quality import passed_tests

        return Scored(0.0, passed_tests(None, job.checks))

    def _score(self, job: Job, model: str, answer: GenerateResult) -> Scored:
        from orchbench.quality import QualityReport, passed_tests

        scorer = self.scorer
        if scorer is None:
            from functools import partial

            from orchbench.quality import Sandbox, evaluate

            scorer = self.scorer = partial(evaluate, sandbox=Sandbox())  # probes bwrap once
        config = self.profile.models.get(model)
        style = config.prompt_style if config is not None else "chat"
        try:
            got: float | QualityReport | None = scorer(
                job.task_type,
                job.prompt,
                answer.text,
                job.checks,
                prompt_style=style,
                finish_reason=answer.finish_reason,
            )
        except Exception:
            logger.exception("scoring task %s from %s failed; quality 0", job.task_id, model)
            got = None
        if isinstance(got, QualityReport):
            scored = Scored(got.score, passed_tests(got, job.checks))
        elif got is None:
            scored = Scored(0.0, passed_tests(None, job.checks))
        else:
            scored = Scored(float(got), None)  # a custom scorer: a score, no verdict
        job.records[-1].quality = scored.score
        return scored


def failure_message(job: Job, broken: str | None = None) -> str:
    """Why a task failed: each model tried with its last error and attempt count.

    ``broken``: why the host breaker is open (:meth:`Dispatcher.broken`), if it is.
    """
    if broken is not None and not job.records:
        return f"not tried: the engine's host refuses connections ({broken})"
    if not job.routes:
        return (
            f"no model can serve task type {job.task_type.value!r}: none in model_configs "
            "lists it (see the routing table and each model's task_types)"
        )
    tried: dict[str, list[AttemptRecord]] = {}
    for record in job.records:
        tried.setdefault(record.model, []).append(record)
    parts = [
        f"{name}{_hosts(recs)}: {recs[-1].error} ({len(recs)} attempt{'s' * (len(recs) > 1)})"
        for name, recs in tried.items()
    ]
    untried = [c.name for c in job.routes if c.name not in tried]
    if untried:
        parts.append(f"not tried (removed from model_configs): {', '.join(untried)}")
    return f"every candidate model failed: {'; '.join(parts)}"


def _hosts(records: list[AttemptRecord]) -> str:
    # " on a, b" for the deployments a model was tried on; nothing for the profile's host.
    hosts = list(dict.fromkeys(r.host for r in records if r.host))
    return f" on {', '.join(hosts)}" if hosts else ""


def _describe(err: BaseException) -> str:
    # Records, results, logs and reports all quote this: never a credential in it.
    return redact(f"{type(err).__name__}: {err}") if str(err) else type(err).__name__
