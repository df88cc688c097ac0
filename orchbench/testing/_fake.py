"""A fake engine for tests: deterministic latency, text, token counts and failures.

:class:`FakeBackend` is a real implementation of the :class:`~orchbench.engine.Backend`
protocol that runs no model. It answers after a configured latency (``asyncio.sleep``,
so it also runs on the simulator's virtual clock), raises the failures a schedule asks
for, and records what the scheduler did to it: every call, and the most requests it
ever saw in flight per model and overall, which is what invariant tests check.

>>> from orchbench.errors import BackendTimeout
>>> fake = FakeBackend(latency={"big": 0.01}, failures={"big": [BackendTimeout("t"), None]})
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import ModelNotFound
from orchbench.records import Timings

Outcome = BaseException | type[BaseException] | None
"""What one call does: ``None`` succeeds, an exception (instance or class) is raised."""
FailureSchedule = (
    Mapping[str, Sequence[Outcome] | BaseException | type[BaseException]]
    | Callable[[GenerateRequest, int], Outcome]
)
"""Per model, the outcome of its 1st, 2nd, ... call (calls past the list succeed), or a
single exception raised on every call; or a callable ``(request, call_index) -> outcome``
where ``call_index`` counts that model's calls from 0."""


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One request the fake received: model, prompt, and whether it raised."""

    model: str
    prompt: str
    failed: bool


def _per_model(value: Any, model: str, default: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(model, default)
    return value


class FakeBackend:
    """A fake engine (no model runs) with per-model latency, text, tokens and failures.

    ``latency``: seconds per call, one number or per model (0 still yields to the loop once,
    so concurrent calls really overlap). ``text``: the answer, one string, per model, or a
    callable of the request. ``completion_tokens``: per call, default the number of words of
    the text. ``failures``: see :data:`FailureSchedule`. ``models``: the models it "has"
    (a request for any other raises :class:`~orchbench.errors.ModelNotFound`); ``None``
    serves every model. ``load_s`` is what :meth:`warmup` reports.

    After a run: ``calls`` (every request in arrival order), ``max_in_flight`` per model,
    ``max_in_flight_total``, ``in_flight`` (now), ``warmed`` (models warmed up).
    """

    name = "fake"
    measured: ClassVar[bool] = False
    virtual_clock: ClassVar[bool] = False
    streams_tokens: ClassVar[bool] = True
    display_name: ClassVar[str] = "fake engine"
    model_source: ClassVar[str] = "none"
    ollama_api: ClassVar[bool] = False
    runs_instances: ClassVar[bool] = False
    prompt_time_includes_first_token: ClassVar[bool] = True

    def __init__(
        self,
        *,
        latency: float | Mapping[str, float] = 0.0,
        text: str | Mapping[str, str] | Callable[[GenerateRequest], str] = "ok",
        completion_tokens: int | Mapping[str, int] | None = None,
        prompt_tokens: int = 8,
        failures: FailureSchedule | None = None,
        models: Iterable[str] | None = None,
        load_s: float = 0.0,
        finish_reason: str = "stop",
    ) -> None:
        self.latency = latency
        self.text = text
        self.completion_tokens = completion_tokens
        self.prompt_tokens = prompt_tokens
        self.failures = failures
        self.models = None if models is None else list(models)
        self.load_s = load_s
        self.finish_reason = finish_reason
        self.calls: list[FakeCall] = []
        self.call_counts: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.in_flight_total = 0
        self.max_in_flight_total = 0
        self.warmed: list[str] = []
        self.closed = False

    def _outcome(self, request: GenerateRequest, index: int) -> Outcome:
        schedule = self.failures
        if schedule is None:
            return None
        if callable(schedule) and not isinstance(schedule, Mapping):
            return schedule(request, index)
        planned = schedule.get(request.model.name)
        if planned is None or isinstance(planned, BaseException | type):
            return planned
        return planned[index] if index < len(planned) else None

    def _text(self, request: GenerateRequest) -> str:
        if callable(self.text):
            return self.text(request)
        return _per_model(self.text, request.model.name, "ok")

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Answer after the model's latency, or raise what the failure schedule says."""
        model = request.model.name
        if self.models is not None and model not in self.models:
            raise ModelNotFound(f"model {model!r} is not one of the fake's models {self.models}")
        index = self.call_counts.get(model, 0)
        self.call_counts[model] = index + 1
        outcome = self._outcome(request, index)
        self.calls.append(FakeCall(model, request.prompt, outcome is not None))
        count = self.in_flight.get(model, 0) + 1
        self.in_flight[model] = count
        if count > self.max_in_flight.get(model, 0):
            self.max_in_flight[model] = count
        self.in_flight_total += 1
        if self.in_flight_total > self.max_in_flight_total:
            self.max_in_flight_total = self.in_flight_total
        latency = _per_model(self.latency, model, 0.0)
        try:
            await asyncio.sleep(latency)
        finally:
            self.in_flight[model] -= 1
            self.in_flight_total -= 1
        if outcome is not None:
            raise outcome
        text = self._text(request)
        tokens = _per_model(self.completion_tokens, model, None)
        if tokens is None:
            tokens = len(text.split())
        timings = Timings(
            total_s=latency,
            load_s=0.0,
            ttft_s=latency / 10,
            prompt_tokens=self.prompt_tokens,
            prompt_s=latency / 10,
            completion_tokens=tokens,
            completion_s=latency - latency / 10,
        )
        return GenerateResult(text=text, timings=timings, finish_reason=self.finish_reason)

    async def list_models(self) -> list[str]:
        """The models given at construction (empty when the fake serves every model)."""
        return list(self.models or [])

    async def warmup(self, model: ModelConfig) -> float:
        """Record the model as warmed and report ``load_s``."""
        self.warmed.append(model.name)
        return self.load_s

    async def close(self) -> None:
        """Mark the fake closed."""
        self.closed = True
