"""Running a task's attempts: slot, request, timeout, retries with backoff, records, quality.

:class:`AttemptRunner` is the orchestrator's engine room (the orchestrator itself decides
what to run and assembles the result). One :meth:`AttemptRunner.serve` call takes a slot on
the best free candidate and tries that model up to ``tries`` times: a timeout or retryable
engine error is retried after ``retry_backoff_s × 2^(n-1)`` seconds, with the slot given
back while it waits; a non-retryable error, or the model entering cooldown, stops at once.
Every attempt leaves an :class:`~orchbench.records.AttemptRecord`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from orchbench._deadlines import Deadlines
from orchbench._dispatch import GONE, Dispatcher, Waiter
from orchbench.backends._base import Backend, GenerateRequest, GenerateResult
from orchbench.config import Complexity, Profile, TaskType
from orchbench.errors import BackendTimeout
from orchbench.metrics import PerformanceTracker
from orchbench.records import AttemptRecord, QualityChecks
from orchbench.routing import Candidate, SpeedTracker

logger = logging.getLogger("orchbench")
Scorer = Callable[..., float]
"""``score(task_type, prompt, text, checks, *, prompt_style, finish_reason) -> float``."""


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
        super().__init__(task_id, priority, now, complexity)
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
    ) -> None:
        self.profile = profile
        self.backend = backend
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.speeds = speeds
        self.on_start = on_start
        self.scorer: Scorer | None = None
        self._deadlines = Deadlines()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._epoch_offset = 0.0

    async def serve(
        self, job: Job, options: Sequence[Candidate], tries: int
    ) -> tuple[str, GenerateResult | None]:
        """Take a slot on the best of ``options``; try that model up to ``tries`` times.

        Returns the model and its answer (``None`` if every try failed), or :data:`GONE`.
        """
        loop = asyncio.get_running_loop()
        dispatcher = self.dispatcher
        asked = loop.time()
        model = await dispatcher.acquire(job, options, job.names if options is job.routes else None)
        if model == GONE:
            return GONE, None
        for n in range(tries):
            if n:
                await asyncio.sleep(self.profile.settings.retry_backoff_s * 2 ** (n - 1))
                if dispatcher.cooling(model):
                    break
                asked = loop.time()
                got = await dispatcher.acquire(job, (Candidate(model, False),), retry=True)
                if got != model:  # removed, or cooled down meanwhile
                    break
            now = loop.time()
            answer, retryable = await self._attempt(loop, job, model, now, now - asked)
            if answer is not None:
                return model, answer
            if not retryable or dispatcher.cooling(model):
                break
        return model, None

    async def _attempt(
        self, loop: asyncio.AbstractEventLoop, job: Job, model: str, start: float, waited: float
    ) -> tuple[GenerateResult | None, bool]:
        """One request on a slot already held for ``model``; the slot is released here.

        Returns the answer, or ``None`` and whether the error is worth retrying.
        """
        settings = self.profile.settings
        config = self.profile.models[model]
        request = GenerateRequest(
            config,
            job.prompt,
            job.max_tokens or config.max_tokens,
            config.temperature,
            settings.default_timeout,
            job.stop,
        )
        if self.on_start is not None:
            self.on_start(job.task_id, model)
        answer: GenerateResult | None = None
        err: BaseException | None = None
        deadlines = self._deadlines
        deadline = deadlines.enter(loop, start + settings.default_timeout)
        try:
            answer = await self.backend.generate(request)
        except asyncio.CancelledError:
            if not deadlines.leave(deadline):
                raise
            err = BackendTimeout(
                f"model {model!r} gave no answer within settings.default_timeout="
                f"{settings.default_timeout:g}s"
            )
        except Exception as exc:  # an engine bug must still end as a failed attempt
            deadlines.leave(deadline)
            err = exc
        else:
            deadlines.leave(deadline)
        finally:
            end = loop.time()
            self.dispatcher.release(model)
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
        )
        job.records.append(record)
        self.tracker.add_attempt(record, end - start)
        self.dispatcher.outcome(model, err is None)
        if answer is not None:
            self.speeds.observe(model, answer.timings.total_s)
            return answer, False
        logger.info("task %s attempt on %s failed: %s", job.task_id, model, record.error)
        return None, bool(getattr(err, "retryable", False))

    async def quality(self, job: Job, model: str, answer: GenerateResult) -> float:
        """Score ``answer`` (in a thread when the task's checks run tests); 0 if scoring fails."""
        scorer = self.scorer
        if scorer is None:
            from orchbench.quality import score

            scorer = self.scorer = score
        config = self.profile.models.get(model)
        style = config.prompt_style if config is not None else "chat"
        args = (job.task_type, job.prompt, answer.text, job.checks)
        try:
            if job.checks is not None and job.checks.tests:
                quality = await asyncio.to_thread(
                    scorer, *args, prompt_style=style, finish_reason=answer.finish_reason
                )
            else:
                quality = scorer(*args, prompt_style=style, finish_reason=answer.finish_reason)
        except Exception:
            logger.exception("scoring task %s from %s failed; quality 0", job.task_id, model)
            quality = 0.0
        job.records[-1].quality = quality
        return quality


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
