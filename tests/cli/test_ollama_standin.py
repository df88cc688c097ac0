"""The real Ollama engine and scheduler against a stand-in that schedules like Ollama.

:class:`OllamaStandin` (tests/cli/ollama_standin.py) is a stand-in, not Ollama: one
``num_parallel`` for every model, LRU eviction within ``max_loaded_models`` and memory, a
FIFO queue and HTTP 503 beyond ``max_queue``. What it saw (requests in flight, loads,
evictions) is counted at the stand-in, so these tests check what reached the server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ollama_standin import OllamaStandin
from orch_helpers import make_profile, orchestrator

from orchbench.backends import OllamaBackend
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest


def completion_model(name: str, limit: int = 4) -> dict[str, Any]:
    return {"task_types": ["coding"], "tier": "fast", "prompt_style": "completion",
            "concurrent_limit": limit, "max_tokens": 4}  # fmt: skip


def run_tasks(host: str, models: dict[str, dict[str, Any]], count: int, **settings: Any):
    names = list(models)
    profile = make_profile(
        models, {"coding": {"primary": names[:1], "fallback": names[1:]}}, **settings
    )
    backend = OllamaBackend(host)

    async def go():
        try:
            orch = orchestrator(profile, backend)  # type: ignore[arg-type]
            return await orch.execute_parallel_tasks([("coding", "def f(x):")] * count)
        finally:
            await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize("num_parallel", [1, 4])
def test_the_server_runs_num_parallel_requests_at_once_whatever_the_client_sends(
    server, num_parallel: int
):
    standin = OllamaStandin(server, ["tiny:latest"], num_parallel=num_parallel)
    results = run_tasks(standin.host, {"tiny": completion_model("tiny", 4)}, 8,
                        max_concurrent_tasks=4)  # fmt: skip
    assert all(r.success for r in results)
    assert standin.scheduler.max_in_flight["tiny:latest"] == num_parallel
    if num_parallel == 1:  # the client sent 4 at once: the rest waited in the server
        waited = [r.timings.queue_s for r in results if r.timings and r.timings.queue_s]
        assert sum(q > 0.05 for q in waited) >= 3


def test_idle_models_are_evicted_least_recently_used_first(server):
    standin = OllamaStandin(server, ["a:latest", "b:latest", "c:latest"], max_loaded_models=2)
    backend = OllamaBackend(standin.host)

    async def go():
        try:
            for name in ("a", "b", "a", "c"):
                config = ModelConfig(name=name, task_types=["coding"], tier="fast")
                await backend.generate(GenerateRequest(config, "Hi", 2, 0.0, 10.0))
            return await backend.ps()
        finally:
            await backend.close()

    loaded = asyncio.run(go())
    assert standin.scheduler.evictions == ["b:latest"]  # a was used after b
    assert sorted(m["model"] for m in loaded) == ["a:latest", "c:latest"]


def test_a_model_that_does_not_fit_beside_another_evicts_it(server):
    sizes = {"big:latest": 7.0, "other:latest": 7.0}
    standin = OllamaStandin(server, list(sizes), memory_gb=10, sizes=sizes)
    run_tasks(standin.host, {"big": completion_model("big", 1)}, 1)
    run_tasks(standin.host, {"other": completion_model("other", 1)}, 1)
    assert standin.scheduler.evictions == ["big:latest"]
    assert standin.scheduler.loads == ["big:latest", "other:latest"]


def test_a_new_num_ctx_reloads_the_model(server):
    standin = OllamaStandin(server, ["tiny:latest"])
    run_tasks(standin.host, {"tiny": {**completion_model("tiny", 1), "num_ctx": 2048}}, 1)
    run_tasks(standin.host, {"tiny": {**completion_model("tiny", 1), "num_ctx": 4096}}, 1)
    assert standin.scheduler.loads == ["tiny:latest", "tiny:latest"]
    assert [m["context_length"] for m in standin.ps()] == [4096]


def test_a_full_server_queue_is_busy_and_the_scheduler_retries_or_falls_back(server):
    standin = OllamaStandin(server, ["a:latest", "b:latest"], max_queue=1)
    models = {"a": completion_model("a", 6), "b": completion_model("b", 6)}
    results = run_tasks(standin.host, models, 6, max_concurrent_tasks=6, retry_backoff_s=0.05,
                        retry_attempts=4, cooldown_failures=100)  # fmt: skip
    assert all(r.success for r in results), [r.error for r in results]
    errors = [a.error or "" for r in results for a in r.attempts if not a.success]
    assert any("BackendBusy" in e and "maximum pending requests exceeded" in e for e in errors)


def test_non_streaming_chat_carries_ollama_timings(server):
    import httpx

    standin = OllamaStandin(server, ["tiny:latest"])
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Hi there"}],
            "stream": False, "options": {"num_predict": 3}}  # fmt: skip
    answer = httpx.post(f"{standin.host}/api/chat", json=body, timeout=10).json()
    assert answer["done"] and answer["done_reason"] == "length"
    assert answer["message"]["content"] == "\n    return s"
    assert (answer["prompt_eval_count"], answer["eval_count"]) == (2, 3)
    assert answer["load_duration"] > 0 and answer["total_duration"] >= answer["eval_duration"]
    assert httpx.get(f"{standin.host}/api/version").json()["version"] == "0.33.0"
    show = httpx.post(f"{standin.host}/api/show", json={"model": "tiny"}).json()
    assert show["model_info"]["llama.block_count"] == 32
