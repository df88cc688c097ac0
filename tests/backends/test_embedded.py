"""The embedded engine against the real bundled Gemma 3 270M.

Tests that load the model are marked ``embedded``: a handful of short prompts (at most
16 tokens each). No timing thresholds are asserted, only that timings were measured and
that two instances really generated at once.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from orchbench.backends import EmbeddedBackend, make_backend
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest
from orchbench.errors import BackendError, BackendUnavailable, ModelNotFound
from orchbench.profiles import load_profile
from orchbench.testing import CONTRACT_CHECKS, ContractCase


def gemma(**changes: object) -> ModelConfig:
    settings = {
        "name": "gemma3-270m",
        "task_types": ["coding"],
        "tier": "fast",
        "gguf": "bundled",
        "concurrent_limit": 2,
        "n_threads": 1,
        "n_ctx": 512,
        "prompt_style": "completion",
    }
    return ModelConfig(**{**settings, **changes})


def request(
    model: ModelConfig, prompt: str = "def reverse_string(s):", tokens: int = 16
) -> GenerateRequest:
    return GenerateRequest(
        model=model, prompt=prompt, max_tokens=tokens, temperature=0.0, timeout_s=60
    )


def missing_file(tmp: str = "/nonexistent/model.gguf") -> ModelConfig:
    return gemma(name="elsewhere", gguf=tmp)


@pytest.mark.embedded
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract(check, monkeypatch: pytest.MonkeyPatch):
    def break_llama(_backend: object) -> None:
        import llama_cpp

        def fails(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("llama_decode returned -1")  # what a failing llama.cpp raises

        monkeypatch.setattr(llama_cpp.Llama, "create_completion", fails)

    case = ContractCase(
        EmbeddedBackend,
        gemma(),
        missing_file(),
        slow_prompt="Once upon a time",
        break_engine=break_llama,
    )
    check(case)


@pytest.mark.embedded
def test_reverse_string_is_completed_with_measured_timings():
    async def go():
        backend = make_backend("embedded")
        try:
            # llama-cpp-python 0.3.36's build writes a docstring first without one in the prompt.
            prompt = 'def reverse_string(s):\n    """Return s reversed."""\n'
            return await backend.generate(request(gemma(), prompt))
        finally:
            await backend.close()

    result = asyncio.run(go())
    assert "return s[::-1]" in result.text
    assert result.finish_reason == "length"
    t = result.timings
    assert t.completion_tokens == 16
    assert t.prompt_tokens and t.prompt_tokens > 1
    assert t.load_s and t.load_s > 0  # this request built the instance
    assert all(v is not None and v > 0 for v in (t.ttft_s, t.prompt_s, t.completion_s, t.total_s))
    assert t.ttft_s < t.total_s
    assert result.instance == 0


@pytest.mark.embedded
def test_two_requests_run_at_once_on_two_instances():
    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.warmup(gemma())
            prompts = ["def reverse_string(s):", "The capital of France is"]
            results = await asyncio.gather(
                *(backend.generate(request(gemma(), p)) for p in prompts)
            )
            return results
        finally:
            await backend.close()

    results = asyncio.run(go())
    assert sorted(r.instance for r in results) == [0, 1]
    assert all(r.timings.load_s == 0 for r in results)  # warmup paid for loading
    # Each generation's interval [first token, end]: they overlap, so neither waited.
    spans = [(r.timings.ttft_s, r.timings.total_s) for r in results]
    assert max(s for s, _ in spans) < min(e for _, e in spans)


@pytest.mark.embedded
def test_changed_settings_rebuild_and_a_lower_limit_is_honoured():
    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.warmup(gemma())
            same = await backend.generate(request(gemma(), tokens=4))
            rebuilt = await backend.generate(request(gemma(n_ctx=256), tokens=4))
            one = gemma(n_ctx=256, concurrent_limit=1)
            pair = await asyncio.gather(*(backend.generate(request(one, tokens=4)) for _ in "ab"))
            return same, rebuilt, pair
        finally:
            await backend.close()

    same, rebuilt, pair = asyncio.run(go())
    assert same.timings.load_s == 0
    assert rebuilt.timings.load_s > 0
    assert [r.instance for r in pair] == [0, 0]


@pytest.mark.embedded
def test_a_prompt_longer_than_the_context_is_not_retryable():
    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.generate(request(gemma(n_ctx=32), "word " * 100, tokens=4))
        finally:
            await backend.close()

    with pytest.raises(BackendError, match=r"more than model .* context of 32") as info:
        asyncio.run(go())
    assert not info.value.retryable


@pytest.mark.embedded
def test_list_models_names_the_profiles_models():
    async def go():
        backend = make_backend("embedded", profile=load_profile("embedded"))
        try:
            return await backend.list_models()
        finally:
            await backend.close()

    assert asyncio.run(go()) == ["gemma3-270m"]


def test_model_without_gguf_is_model_not_found():
    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.generate(request(gemma(gguf=None)))
        finally:
            await backend.close()

    with pytest.raises(ModelNotFound, match='"bundled" or the path'):
        asyncio.run(go())


def test_missing_llama_cpp_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    with pytest.raises(BackendUnavailable, match=r"pip install 'orchbench\[embedded\]'"):
        make_backend("embedded")
