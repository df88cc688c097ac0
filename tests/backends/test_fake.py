"""The fake engine itself: latency, text, failure schedules and in-flight bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from orchbench.config import ModelConfig, TaskType
from orchbench.engine import Backend, GenerateRequest
from orchbench.errors import BackendBusy, BackendTimeout, ModelNotFound
from orchbench.testing import FakeBackend


def request(name="m", prompt="p"):
    config = ModelConfig(name=name, task_types=[TaskType.CODING], tier="fast")
    return GenerateRequest(model=config, prompt=prompt, max_tokens=8, temperature=0.0,
                           timeout_s=1.0)  # fmt: skip


def test_it_is_a_backend():
    assert isinstance(FakeBackend(), Backend)
    assert FakeBackend.name == "fake"


def test_answers_with_text_and_timings():
    fake = FakeBackend(latency={"m": 0.001}, text={"m": "three small words"})
    result = asyncio.run(fake.generate(request()))
    assert result.text == "three small words" and result.finish_reason == "stop"
    assert result.timings.total_s == 0.001 and result.timings.completion_tokens == 3
    assert fake.calls[0].model == "m" and not fake.calls[0].failed


def test_a_schedule_fails_the_listed_calls_then_succeeds():
    fake = FakeBackend(failures={"m": [BackendTimeout("t"), None, BackendBusy]})

    async def main():
        outcomes = []
        for _ in range(4):
            try:
                await fake.generate(request())
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    assert asyncio.run(main()) == ["BackendTimeout", "ok", "BackendBusy", "ok"]
    assert fake.call_counts == {"m": 4}


def test_a_single_exception_fails_every_call_and_a_callable_decides_per_call():
    always = FakeBackend(failures={"m": BackendBusy("x")})
    for _ in range(3):
        with pytest.raises(BackendBusy):
            asyncio.run(always.generate(request()))
    odd = FakeBackend(failures=lambda req, i: BackendBusy("odd") if i % 2 else None)
    asyncio.run(odd.generate(request()))
    with pytest.raises(BackendBusy):
        asyncio.run(odd.generate(request()))


def test_unknown_models_are_not_found():
    fake = FakeBackend(models=["a"])
    with pytest.raises(ModelNotFound, match="'m'"):
        asyncio.run(fake.generate(request("m")))
    assert asyncio.run(fake.list_models()) == ["a"]


def test_it_records_the_peak_in_flight_per_model_and_overall():
    fake = FakeBackend(latency=0.001)

    async def main():
        await asyncio.gather(*(fake.generate(request(n)) for n in ["a", "a", "b", "a"]))

    asyncio.run(main())
    assert fake.max_in_flight == {"a": 3, "b": 1} and fake.max_in_flight_total == 4
    assert fake.in_flight_total == 0


def test_warmup_and_close():
    fake = FakeBackend(load_s=0.25)
    assert asyncio.run(fake.warmup(request().model)) == 0.25
    asyncio.run(fake.close())
    assert fake.warmed == ["m"] and fake.closed
