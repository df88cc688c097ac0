"""SimBackend and its device: timings on virtual time, memory, eviction, errors."""

from __future__ import annotations

import asyncio

import pytest

from orchbench.config import HardwareSpec, ModelConfig, Profile
from orchbench.engine import GenerateRequest
from orchbench.errors import BackendTimeout, BackendUnavailable, ModelNotFound
from orchbench.sim import Calibration, ModelParams, SimBackend, run_virtual


def _profile(vram_gb: float = 24.0, sizes: dict[str, float] | None = None, **model_kw) -> Profile:
    sizes = sizes or {"small": 4.1, "large": 19.5}
    return Profile(
        name="fake-gpu",
        hardware=HardwareSpec(
            name="fake GPU", vram_gb=vram_gb, bandwidth_gbs=1008, ram_gb=64, cpu_cores=16
        ),
        backend={"kind": "ollama"},
        models={
            name: ModelConfig(
                name=name, task_types=["coding"], tier="fast", size_gb=size, **model_kw
            )
            for name, size in sizes.items()
        },
    )


def _request(profile: Profile, model: str, max_tokens: int = 100, timeout_s: float = 600.0):
    return GenerateRequest(
        model=profile.models[model],
        prompt="x" * 400,
        max_tokens=max_tokens,
        temperature=0.0,
        timeout_s=timeout_s,
    )


def test_first_request_pays_load_then_timings_add_up():
    profile = _profile()
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        first = await backend.generate(_request(profile, "small"))
        second = await backend.generate(_request(profile, "small"))
        return first, second, asyncio.get_running_loop().time()

    first, second, now = run_virtual(main())
    perf = backend.perf_model(profile.models["small"])
    t = first.timings
    assert t.load_s == pytest.approx(perf.load_s)
    assert second.timings.load_s == 0.0
    assert t.prompt_tokens == 100 and t.completion_tokens == 100
    assert t.prompt_s == pytest.approx(100 / perf.prompt_tps)
    assert t.completion_s == pytest.approx(100 / perf.decode_tps)
    assert t.total_s == pytest.approx(t.load_s + t.prompt_s + t.completion_s)
    assert t.ttft_s == pytest.approx(t.load_s + t.prompt_s + 1 / perf.decode_tps)
    assert now == pytest.approx(t.total_s + second.timings.total_s)
    assert first.finish_reason == "length" and "simulated" in first.text


def test_concurrent_requests_on_one_model_batch():
    profile = _profile(concurrent_limit=4)
    profile.server.num_parallel = 4  # Ollama's slots, one value for every model
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        await backend.warmup(profile.models["small"])
        start = asyncio.get_running_loop().time()
        results = await asyncio.gather(
            *(backend.generate(_request(profile, "small")) for _ in range(4))
        )
        return results, asyncio.get_running_loop().time() - start

    results, elapsed = run_virtual(main())
    perf = backend.perf_model(profile.models["small"])
    sequential = 4 * (100 / perf.prompt_tps + 100 / perf.decode_tps)
    assert elapsed < sequential
    assert all(r.timings.completion_s > 100 / perf.decode_tps for r in results)


def test_models_that_do_not_fit_together_are_evicted_and_reloaded():
    profile = _profile(vram_gb=24.0, sizes={"a": 12.0, "b": 12.0})
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        for name in ["a", "b", "a", "b"]:
            await backend.generate(_request(profile, name, max_tokens=10))

    run_virtual(main())
    assert backend.device.loads == 4
    assert len(backend.device.resident) == 1


def test_models_that_fit_together_stay_resident():
    profile = _profile(vram_gb=24.0, sizes={"a": 5.0, "b": 5.0})
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        for name in ["a", "b", "a", "b"]:
            await backend.generate(_request(profile, name, max_tokens=10))

    run_virtual(main())
    assert backend.device.loads == 2
    assert set(backend.device.resident) == {"a", "b"}


def test_busy_model_is_not_evicted_the_other_waits():
    profile = _profile(vram_gb=24.0, sizes={"a": 12.0, "b": 12.0})
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        a, b = await asyncio.gather(
            backend.generate(_request(profile, "a", max_tokens=500)),
            backend.generate(_request(profile, "b", max_tokens=10)),
        )
        return a, b

    a, b = run_virtual(main())
    # b waited for a to finish before it could load: its queue time covers a's run.
    assert b.timings.queue_s == pytest.approx(a.timings.total_s)


def test_timeout_raises_backend_timeout_at_the_virtual_instant():
    profile = _profile()
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        with pytest.raises(BackendTimeout, match=r"timeout of 0\.5 s"):
            await backend.generate(_request(profile, "large", max_tokens=1000, timeout_s=0.5))
        timed_out_at = asyncio.get_running_loop().time()
        # The load it started goes on; the next request waits only for the rest of it.
        after = await backend.generate(_request(profile, "large", max_tokens=5))
        return timed_out_at, after.timings.load_s

    timed_out_at, load_s = run_virtual(main())
    assert timed_out_at == pytest.approx(0.5)
    full_load = backend.perf_model(profile.models["large"]).load_s
    assert load_s == pytest.approx(full_load - 0.5)
    assert backend.device.loads == 1


def test_refuses_to_run_on_a_real_loop():
    profile = _profile()
    backend = SimBackend(profile, calibration=Calibration())
    with pytest.raises(BackendUnavailable, match="run_virtual"):
        asyncio.run(backend.generate(_request(profile, "small")))


def test_unknown_model_without_size_is_not_found():
    profile = _profile()
    backend = SimBackend(profile, calibration=Calibration())
    ghost = ModelConfig(name="ghost", task_types=["coding"], tier="fast")
    request = GenerateRequest(model=ghost, prompt="p", max_tokens=5, temperature=0, timeout_s=9)
    with pytest.raises(ModelNotFound, match="ghost"):
        run_virtual(backend.generate(request))


def test_calibrated_model_values_win_over_the_roofline():
    profile = _profile()
    calibration = Calibration(
        device={"overhead_s": 0.0},
        models={
            "small": ModelParams(
                decode_tps=10.0, prompt_tps=1000.0, load_s=0.0, completion_ratio=0.5
            )
        },
    )
    backend = SimBackend(profile, calibration=calibration)
    result = run_virtual(backend.generate(_request(profile, "small", max_tokens=100)))
    assert result.timings.completion_tokens == 50
    assert result.timings.completion_s == pytest.approx(5.0)
    assert result.timings.prompt_s == pytest.approx(0.1)
    assert result.timings.load_s == 0.0
    assert result.finish_reason == "stop"
    assert backend.params.overhead_s == 0.0


def test_list_models_and_close():
    profile = _profile()
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        names = await backend.list_models()
        await backend.close()
        with pytest.raises(BackendUnavailable, match="closed"):
            await backend.generate(_request(profile, "small"))
        return names

    assert run_virtual(main()) == ["small", "large"]


def test_a_model_waiting_for_memory_is_not_starved_by_later_requests():
    profile = _profile(vram_gb=24.0, sizes={"a": 12.0, "b": 12.0}, concurrent_limit=4)
    backend = SimBackend(profile, calibration=Calibration())
    finished: list[tuple[str, float]] = []

    async def one(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await backend.generate(_request(profile, name, max_tokens=50))
        finished.append((name, asyncio.get_running_loop().time()))

    async def main():
        await backend.warmup(profile.models["a"])
        # "b" arrives while "a" is busy; more "a" requests keep arriving after it.
        await asyncio.gather(one("a", 0.0), one("b", 0.1), *(one("a", 0.2 + i) for i in range(4)))

    run_virtual(main())
    order = [name for name, _ in finished]
    assert order.index("b") == 1  # served right after the request that was running


def test_cancelled_waiter_leaves_the_line():
    profile = _profile(vram_gb=24.0, sizes={"a": 12.0, "b": 12.0})
    backend = SimBackend(profile, calibration=Calibration())

    async def main():
        running = asyncio.create_task(backend.generate(_request(profile, "a", max_tokens=200)))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(backend.generate(_request(profile, "b", max_tokens=5)))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await running
        # The line is empty again: a new request for "a" goes straight through.
        result = await backend.generate(_request(profile, "a", max_tokens=5))
        return result.timings.queue_s

    assert run_virtual(main()) == 0.0
    assert backend.device.loads == 1


def test_a_stream_keeps_its_batched_context_to_the_end():
    """The embedded engine places a request in its least busy context at submission and
    keeps it there: once the short streams of one context finish, the long ones of the
    other still share their step instead of spreading over the idle context."""
    from orchbench.sim import PerfModel, default_device_params
    from orchbench.sim._device import SimDevice

    cpu = HardwareSpec(name="2-core CPU", kind="cpu", bandwidth_gbs=20, ram_gb=24, cpu_cores=2)
    device = default_device_params(cpu, True).model_copy(update={"contention": 0.0})

    def long_ends(limit: int, completions: list[int]) -> list[float]:
        model = ModelConfig(
            name="g",
            task_types=["coding"],
            tier="fast",
            size_gb=0.25,
            n_threads=1,
            concurrent_limit=limit,
            num_parallel=2,
        )
        perf = PerfModel.build(cpu, model, device, ModelParams(decode_tps=40, prompt_tps=200))

        async def main() -> list[float]:
            sim = SimDevice(cpu, device)
            await sim.load(perf)
            outcomes = await asyncio.gather(*(sim.run(perf, 20, n, 1, limit) for n in completions))
            return [
                o.end - o.started for o, n in zip(outcomes, completions, strict=True) if n == 100
            ]

        return run_virtual(main())

    # Submitted in turn: the long ones land in context 0, the short ones in context 1.
    shared = long_ends(4, [100, 5, 100, 5])
    together = long_ends(2, [100, 100])  # one context of the two long ones, alone
    assert shared == pytest.approx(together)
