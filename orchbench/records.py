"""What a request and a task produce: engine timings, per-attempt records, task results.

These are plain dataclasses (no validation cost on the hot path) that turn into
JSON-able dicts with :func:`dataclasses.asdict`. All durations are seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from orchbench.config import Complexity, TaskType


@dataclass(frozen=True, slots=True)
class QualityChecks:
    """What a good answer to a task looks like, beyond the generic checks of its type.

    ``tests`` is Python test code run (in a subprocess, with a time limit) against the
    answer: for a completion-style task the prompt plus the completion, for a chat task
    the code extracted from the answer. ``contains`` are strings a good answer includes.
    """

    contains: tuple[str, ...] = ()
    tests: str | None = None
    language: str | None = None
    """``"python"`` asks for a parse check even without tests."""


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task to submit: what :meth:`Orchestrator.execute_parallel_tasks` accepts
    besides plain ``(task_type, prompt, complexity)`` tuples."""

    task_type: TaskType
    prompt: str
    complexity: Complexity | None = None
    max_tokens: int | None = None
    checks: QualityChecks | None = None
    name: str | None = None
    priority: int | None = None
    stop: tuple[str, ...] = ()
    prompt_style: str | None = None
    """``"chat"`` or ``"completion"``: routing sends the task only to models of that
    ``prompt_style``; ``None`` lets any model serve it."""


@dataclass(slots=True)
class Timings:
    """What the engine really measured for one request (seconds, token counts).

    ``None`` means the engine could not measure it, never a guess. ``queue_s`` is time
    spent waiting inside the engine (e.g. for an Ollama parallel slot), not in
    orchbench's own queue, which :class:`AttemptRecord` keeps as ``queue_wait_s``.
    """

    total_s: float
    load_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    """Every prompt token, those served from the engine's prompt cache included."""
    prompt_s: float | None = None
    completion_tokens: int | None = None
    completion_s: float | None = None
    queue_s: float | None = None
    cached_prompt_tokens: int | None = None
    """Prompt tokens the engine took from its prompt cache (not evaluated again); part of
    ``prompt_tokens``. OpenAI-compatible servers: ``usage.prompt_tokens_details.cached_tokens``,
    llama-server's ``timings.cache_n``."""
    token_times: list[float] | None = None
    """When each completion token arrived, seconds since the request was sent (ascending),
    where the engine streams; ``None`` when it does not. Inter-token latency comes from it."""

    @property
    def decode_rate(self) -> float | None:
        """Decode rate: completion tokens ÷ completion (decode) seconds; ``None`` unmeasured."""
        if not self.completion_tokens or not self.completion_s:
            return None
        return self.completion_tokens / self.completion_s


_TIMING_KEYS = (
    "total_s",
    "load_s",
    "ttft_s",
    "prompt_tokens",
    "prompt_s",
    "completion_tokens",
    "completion_s",
    "queue_s",
    "cached_prompt_tokens",
)
"""The timing fields :meth:`AttemptRecord.to_dict` inlines (``token_times`` besides)."""


@dataclass(slots=True)
class AttemptRecord:
    """One try of one task on one model: the row of ``records.jsonl``."""

    task_id: int
    attempt: int
    model: str
    task_type: TaskType
    complexity: Complexity
    backend: str
    started_at: float
    """Wall-clock (``time.time()``) instant the request was sent to the engine."""
    queue_wait_s: float
    """Time the task waited in orchbench's queue for a slot before this attempt."""
    success: bool
    error: str | None = None
    timings: Timings | None = None
    quality: float | None = None
    instance: int | None = None
    """Which engine instance served it, where the engine has several (embedded)."""
    host: str | None = None
    """The deployment's host that served it (``None``: the profile's own host)."""

    def to_dict(self) -> dict[str, Any]:
        """A flat JSON-able dict (timings inlined with their own names)."""
        row = asdict(self)
        timings = row.pop("timings") or {}
        row["task_type"] = self.task_type.value
        row["complexity"] = self.complexity.value
        for key in _TIMING_KEYS:
            row[key] = timings.get(key)
        times = timings.get("token_times")
        # Compact: 10 µs is finer than any engine's clock jitter.
        row["token_times"] = None if times is None else [round(t, 5) for t in times]
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> AttemptRecord:
        """The record :meth:`to_dict` wrote (keys it does not know, e.g. ``mode``, ignored)."""
        measured: dict[str, Any] = {k: row.get(k) for k in (*_TIMING_KEYS, "token_times")}
        timings = Timings(**measured) if row.get("total_s") is not None else None
        names = [f.name for f in fields(cls) if f.name != "timings"]
        known = {k: row[k] for k in names if k in row}
        known["task_type"] = TaskType(row["task_type"])
        known["complexity"] = Complexity(row["complexity"])
        return cls(**known, timings=timings)


@dataclass(slots=True)
class TaskResult:
    """The one result every submitted task ends with.

    ``success`` false means every candidate model failed; ``attempts`` then lists each
    model tried and why it failed (``error`` summarises them). ``tests_passed`` is the
    tests verdict (:func:`orchbench.quality.passed_tests`): ``None`` for a task without
    tests (or scored by a custom scorer that gives no verdict), else whether every test
    passed; a task with tests that got no answer has ``False``.
    """

    task_id: int
    task_type: TaskType
    complexity: Complexity
    prompt: str
    model_name: str | None
    success: bool
    response_time: float
    """Seconds from submission to result, queueing and retries included."""
    text: str = ""
    quality_score: float = 0.0
    error: str | None = None
    timings: Timings | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    tests_passed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "task_id": self.task_id,
            "task_type": self.task_type.value,
            "complexity": self.complexity.value,
            "prompt": self.prompt,
            "model_name": self.model_name,
            "success": self.success,
            "response_time": self.response_time,
            "text": self.text,
            "quality_score": self.quality_score,
            "tests_passed": self.tests_passed,
            "error": self.error,
            "timings": asdict(self.timings) if self.timings else None,
            "attempts": [a.to_dict() for a in self.attempts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        """The result :meth:`to_dict` wrote; one written before ``tests_passed`` existed
        reads back with ``tests_passed=None``."""
        timings = data.get("timings")
        return cls(
            task_id=data["task_id"],
            task_type=TaskType(data["task_type"]),
            complexity=Complexity(data["complexity"]),
            prompt=data["prompt"],
            model_name=data.get("model_name"),
            success=data["success"],
            response_time=data["response_time"],
            text=data.get("text", ""),
            quality_score=data.get("quality_score", 0.0),
            error=data.get("error"),
            timings=Timings(**timings) if timings else None,
            attempts=[AttemptRecord.from_dict(a) for a in data.get("attempts") or []],
            tests_passed=data.get("tests_passed"),
        )
