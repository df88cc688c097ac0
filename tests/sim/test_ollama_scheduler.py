"""The simulator is Ollama's scheduler: one num_parallel, FIFO, eviction, max_queue, keep_alive.

All on the virtual clock (deterministic, milliseconds per test).
"""

from __future__ import annotations

import asyncio

import pytest

from orchbench.config import HardwareSpec, ModelConfig, Profile, Route, TaskType
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendBusy
from orchbench.records import TaskSpec
from orchbench.scheduler import Orchestrator
from orchbench.sim import Calibration, SimBackend, run_virtual

# A 7B Q4 with Mistral's shape (FACTS.md: ~150 tok/s alone on a 4090).
_SHAPE = {"params_b": 7.2, "n_layers": 32, "n_kv_heads": 8, "head_dim": 128, "num_ctx": 4096}


def _profile(
    sizes: dict[str, float] | None = None, vram_gb: float = 24.0, **server: object
) -> Profile:
    sizes = sizes or {"m7b": 4.1}
    return Profile(
        name="ollama-sim",
        hardware=HardwareSpec(
            name="GPU", vram_gb=vram_gb, bandwidth_gbs=1008, ram_gb=64, cpu_cores=16
        ),
        backend={"kind": "ollama"},
        server=server,
        settings={"max_concurrent_tasks": 8, "retry_attempts": 1},
        models={
            name: ModelConfig(name=name, task_types=["review"], tier="fast", size_gb=size, **_SHAPE)
            for name, size in sizes.items()
        },
        routing={TaskType.REVIEW: Route(primary=[next(iter(sizes))])},
    )


def _request(profile: Profile, model: str, max_tokens: int = 200) -> GenerateRequest:
    return GenerateRequest(
        model=profile.models[model],
        prompt="review this " * 20,
        max_tokens=max_tokens,
        temperature=0.0,
        timeout_s=3600.0,
    )


def _throughput(profile: Profile, concurrent_limit: int, tasks: int = 16) -> float:
    """Completion tokens per virtual second of the real Orchestrator on the simulator."""
    profile.models["m7b"].concurrent_limit = concurrent_limit
    specs = [TaskSpec(TaskType.REVIEW, "review this " * 20, max_tokens=200) for _ in range(tasks)]

    async def main() -> float:
        backend = SimBackend(profile, calibration=Calibration())
        orchestrator = Orchestrator(profile, backend, scorer=lambda *a, **k: 1.0)
        await orchestrator.warmup(["m7b"])
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await orchestrator.execute_parallel_tasks(specs)
        assert all(r.success for r in results)
        tokens = sum(a.timings.completion_tokens for r in results for a in r.attempts if a.timings)
        return tokens / (loop.time() - start)

    return run_virtual(main())


def test_client_limit_above_num_parallel_1_buys_nothing() -> None:
    profile = _profile(num_parallel=1)
    one, four = _throughput(profile, 1), _throughput(profile, 4)
    assert abs(four / one - 1.0) < 0.05


def test_num_parallel_4_batches_a_7b() -> None:
    profile = _profile(num_parallel=4)
    one, four = _throughput(profile, 1), _throughput(profile, 4)
    assert four > 1.5 * one  # FACTS.md: batch 4 aggregate 265 vs 127 tok/s


def test_requests_beyond_num_parallel_wait_fifo_and_show_queue_time() -> None:
    profile = _profile(num_parallel=1)
    backend = SimBackend(profile, calibration=Calibration())
    finished: list[int] = []

    async def one(i: int) -> GenerateResult:
        result = await backend.generate(_request(profile, "m7b"))
        finished.append(i)
        return result

    async def main() -> list[GenerateResult]:
        await backend.warmup(profile.models["m7b"])
        return await asyncio.gather(*(one(i) for i in range(4)))

    results = run_virtual(main())
    assert finished == [0, 1, 2, 3]
    waits = [r.timings.queue_s for r in results]
    assert waits[0] == pytest.approx(0.0)
    assert waits == sorted(waits) and waits[3] > 2 * waits[1] > 0


def test_least_recently_used_idle_model_is_evicted() -> None:
    profile = _profile({"a": 8.0, "b": 8.0, "c": 8.0})  # two fit in 24 GB, not three
    backend = SimBackend(profile, calibration=Calibration())

    async def main() -> None:
        for name in ("a", "b", "a", "c"):
            await backend.generate(_request(profile, name, max_tokens=5))

    run_virtual(main())
    assert backend.device.evictions == ["b"]  # a was used after b
    assert set(backend.device.resident) == {"a", "c"}


def test_max_loaded_models_caps_resident_models() -> None:
    profile = _profile({"a": 2.0, "b": 2.0, "c": 2.0}, max_loaded_models=2)
    backend = SimBackend(profile, calibration=Calibration())

    async def main() -> None:
        for name in ("a", "b", "c"):
            await backend.generate(_request(profile, name, max_tokens=5))

    run_virtual(main())
    assert len(backend.device.resident) == 2 and backend.device.evictions == ["a"]


def test_full_server_queue_answers_server_busy() -> None:
    profile = _profile({"a": 12.0, "b": 12.0}, max_queue=2)  # they do not fit together
    backend = SimBackend(profile, calibration=Calibration())

    async def main() -> list[object]:
        busy_a = asyncio.ensure_future(backend.generate(_request(profile, "a", max_tokens=500)))
        await asyncio.sleep(0.1)
        # b cannot load while a is busy: its requests wait in the scheduler's line.
        calls = [backend.generate(_request(profile, "b", max_tokens=5)) for _ in range(5)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        await busy_a
        return outcomes

    outcomes = run_virtual(main())
    busy = [o for o in outcomes if isinstance(o, BackendBusy)]
    assert len(busy) == 3 and "server busy" in str(busy[0])
    assert sum(isinstance(o, GenerateResult) for o in outcomes) == 2


def test_keep_alive_expiry_unloads_an_idle_model() -> None:
    profile = _profile(keep_alive="10s")
    backend = SimBackend(profile, calibration=Calibration())

    async def main() -> tuple[float, float, float]:
        first = await backend.generate(_request(profile, "m7b", max_tokens=5))
        await asyncio.sleep(5)
        warm = await backend.generate(_request(profile, "m7b", max_tokens=5))
        await asyncio.sleep(11)
        cold = await backend.generate(_request(profile, "m7b", max_tokens=5))
        return first.timings.load_s or 0.0, warm.timings.load_s or 0.0, cold.timings.load_s or 0.0

    first, warm, cold = run_virtual(main())
    assert first > 0 and warm == 0.0 and cold == pytest.approx(first)
    assert backend.device.evictions == ["m7b"]


def test_request_keep_alive_overrides_the_server() -> None:
    profile = _profile(keep_alive="10s")
    profile.models["m7b"].keep_alive = "1h"
    backend = SimBackend(profile, calibration=Calibration())

    async def main() -> float:
        await backend.generate(_request(profile, "m7b", max_tokens=5))
        await asyncio.sleep(600)
        again = await backend.generate(_request(profile, "m7b", max_tokens=5))
        return again.timings.load_s or 0.0

    assert run_virtual(main()) == 0.0


def test_changed_num_ctx_reloads_the_model() -> None:
    profile = _profile()
    backend = SimBackend(profile, calibration=Calibration())

    async def main() -> float:
        await backend.generate(_request(profile, "m7b", max_tokens=5))
        profile.models["m7b"].num_ctx = 8192
        again = await backend.generate(_request(profile, "m7b", max_tokens=5))
        return again.timings.load_s or 0.0

    assert run_virtual(main()) > 0
    assert backend.device.loads == 2 and backend.device.evictions == ["m7b"]
