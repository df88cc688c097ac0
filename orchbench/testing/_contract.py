"""The Backend contract, written once and run over every engine.

Each engine's test module builds a :class:`ContractCase` (how to make the backend, a
model it serves, one it does not have, a request that outlasts its timeout, a way to break
the engine underneath) and runs every function of :data:`CONTRACT_CHECKS` on it::

    @pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
    def test_contract(check, case):
        check(case)

The checks state what :mod:`orchbench.engine` promises: ``generate`` returns text and
measured timings; a model the engine does not have is ``ModelNotFound``; a request past its
``timeout_s`` is ``BackendTimeout``; a cancelled ``generate`` raises ``CancelledError`` (never
swallowed or turned into another error) and the engine still serves; when the engine fails
underneath, only ``BackendError`` subclasses escape; ``concurrent_limit`` requests at once all
succeed; ``list_models`` / ``warmup`` / ``close`` keep their types.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import pytest

from orchbench.config import ModelConfig
from orchbench.engine import Backend, GenerateRequest, GenerateResult
from orchbench.errors import BackendError, BackendTimeout, ModelNotFound

T = TypeVar("T")


@dataclass
class ContractCase:
    """What the contract needs to know about one engine under test."""

    make: Callable[[], Backend]
    model: ModelConfig
    missing: ModelConfig
    """A model the engine does not have."""
    slow_prompt: str = "slow"
    """A prompt that takes the engine longer than ``slow_timeout_s``."""
    slow_timeout_s: float = 0.2
    prompt: str = "def reverse_string(s):"
    max_tokens: int = 8
    break_engine: Callable[[Backend], Awaitable[None] | None] | None = None
    """Breaks the engine under a backend (its library raises, its server answers garbage),
    so that the next ``generate`` fails in a way orchbench did not cause. ``None`` skips
    :func:`check_only_backend_errors_escape`."""


def _request(case: ContractCase, model: ModelConfig | None = None) -> GenerateRequest:
    return GenerateRequest(
        model=model or case.model,
        prompt=case.prompt,
        max_tokens=case.max_tokens,
        temperature=0.0,
        timeout_s=60.0,
        seed=1,
    )


def _slow(case: ContractCase, timeout_s: float) -> GenerateRequest:
    return replace(_request(case), prompt=case.slow_prompt, timeout_s=timeout_s, max_tokens=512)


def _run(case: ContractCase, body: Callable[[Backend], Awaitable[T]]) -> T:
    async def go() -> T:
        backend = case.make()
        try:
            return await body(backend)
        finally:
            await backend.close()

    return asyncio.run(go())


def _assert_result(result: GenerateResult) -> None:
    assert isinstance(result, GenerateResult)
    assert isinstance(result.text, str)
    t = result.timings
    assert t.total_s >= 0
    for value in (t.load_s, t.ttft_s, t.prompt_s, t.completion_s, t.queue_s):
        assert value is None or value >= 0
    assert t.completion_tokens is None or t.completion_tokens >= 0
    if t.ttft_s is not None:
        assert t.ttft_s <= t.total_s + 1e-6


def check_generate_returns_text_and_timings(case: ContractCase) -> None:
    """One request gives text and the timings the engine measured."""
    result = _run(case, lambda b: b.generate(_request(case)))
    _assert_result(result)
    assert result.text.strip(), "the engine returned no text"
    assert result.timings.completion_tokens, "completion tokens were not counted"
    assert result.timings.completion_tokens <= case.max_tokens + 1


def check_unknown_model_is_model_not_found(case: ContractCase) -> None:
    """A model the engine does not have raises ModelNotFound naming it."""
    with pytest.raises(ModelNotFound) as info:
        _run(case, lambda b: b.generate(_request(case, case.missing)))
    assert case.missing.name in str(info.value) or (case.missing.gguf or "") in str(info.value)


def check_timeout_is_backend_timeout(case: ContractCase) -> None:
    """A request that outlasts ``timeout_s`` raises BackendTimeout, and the engine still serves."""

    async def body(backend: Backend) -> GenerateResult:
        with pytest.raises(BackendTimeout):
            await backend.generate(_slow(case, case.slow_timeout_s))
        return await backend.generate(_request(case))

    _assert_result(_run(case, body))


def check_cancel_propagates(case: ContractCase) -> None:
    """A cancelled ``generate`` in flight raises CancelledError; the engine still serves."""

    async def body(backend: Backend) -> GenerateResult:
        task = asyncio.ensure_future(backend.generate(_slow(case, 60.0)))
        await asyncio.sleep(case.slow_timeout_s)  # the request is in flight now
        assert not task.done(), f"the slow prompt {case.slow_prompt!r} finished too soon"
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            raise AssertionError(f"a cancelled generate raised {exc!r}") from exc
        else:
            raise AssertionError("a cancelled generate returned instead of being cancelled")
        return await backend.generate(_request(case))

    _assert_result(_run(case, body))


def check_only_backend_errors_escape(case: ContractCase) -> None:
    """When the engine fails underneath, ``generate`` raises a BackendError subclass only."""
    if case.break_engine is None:
        pytest.skip("this ContractCase has no break_engine")
    breaker = case.break_engine

    async def body(backend: Backend) -> BaseException | None:
        broken = breaker(backend)
        if inspect.isawaitable(broken):
            await broken
        try:
            await backend.generate(_request(case))
        except Exception as exc:
            return exc
        return None

    escaped = _run(case, body)
    assert escaped is not None, "generate succeeded on a broken engine"
    assert isinstance(escaped, BackendError), (
        f"{type(escaped).__name__} escaped generate; engines raise BackendError subclasses only"
    )


def check_concurrency_up_to_the_limit(case: ContractCase) -> None:
    """``concurrent_limit`` requests at once all succeed."""
    limit = case.model.concurrent_limit

    async def body(backend: Backend) -> list[GenerateResult]:
        return await asyncio.gather(*(backend.generate(_request(case)) for _ in range(limit)))

    results = _run(case, body)
    assert len(results) == limit
    for result in results:
        _assert_result(result)


def check_list_models_warmup_close(case: ContractCase) -> None:
    """``warmup`` returns seconds, ``list_models`` names, ``close`` completes."""

    async def body(backend: Backend) -> tuple[float, list[str]]:
        load = await backend.warmup(case.model)
        return load, await backend.list_models()

    load, names = _run(case, body)
    assert isinstance(load, float) and load >= 0
    assert all(isinstance(name, str) for name in names)


CONTRACT_CHECKS = [
    check_generate_returns_text_and_timings,
    check_unknown_model_is_model_not_found,
    check_timeout_is_backend_timeout,
    check_cancel_propagates,
    check_only_backend_errors_escape,
    check_concurrency_up_to_the_limit,
    check_list_models_warmup_close,
]
