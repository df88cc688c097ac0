"""The real scheduler's invariants, re-checked on the simulator with generated workloads."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchbench.config import HardwareSpec, ModelConfig, Profile, Route, TaskType
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.records import TaskSpec
from orchbench.scheduler import Orchestrator
from orchbench.sim import SimBackend, run_virtual


class CountingSimBackend(SimBackend):
    """A SimBackend that records the peak number of requests in flight (a test fake)."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile, calibration=None)
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0
        self.calls = 0

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        name = request.model.name
        self.calls += 1
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        self.peak[name] = max(self.peak.get(name, 0), self.in_flight[name])
        self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
        try:
            return await super().generate(request)
        finally:
            self.in_flight[name] -= 1


def _profile(limits: tuple[int, int], max_total: int, vram_gb: float, timeout: float) -> Profile:
    types = list(TaskType)
    return Profile(
        name="hypothesis-gpu",
        hardware=HardwareSpec(
            name="GPU", vram_gb=vram_gb, bandwidth_gbs=1008, ram_gb=64, cpu_cores=16
        ),
        backend={"kind": "ollama"},
        server={"num_parallel": max(limits)},  # the server's slots match the client limits
        settings={
            "max_concurrent_tasks": max_total,
            "default_timeout": timeout,
            "retry_attempts": 2,
            "retry_backoff_s": 0.1,
        },
        models={
            "fast": ModelConfig(
                name="fast",
                task_types=types,
                tier="fast",
                size_gb=4.1,
                num_ctx=2048,
                concurrent_limit=limits[0],
            ),
            "big": ModelConfig(
                name="big",
                task_types=types,
                tier="powerful",
                size_gb=12.0,
                num_ctx=2048,
                concurrent_limit=limits[1],
            ),
        },
        routing={
            TaskType.CODING: Route(primary=["big"], fallback=["fast"]),
            TaskType.REVIEW: Route(primary=["fast"], fallback=["big"]),
            TaskType.PLANNING: Route(primary=["fast", "big"]),
        },
    )


tasks_strategy = st.lists(
    st.tuples(
        st.sampled_from([TaskType.CODING, TaskType.REVIEW, TaskType.PLANNING]),
        st.integers(min_value=1, max_value=200),
        st.integers(min_value=1, max_value=400),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tasks=tasks_strategy,
    limits=st.tuples(st.integers(1, 4), st.integers(1, 3)),
    max_total=st.integers(1, 6),
    vram_gb=st.sampled_from([8.0, 16.0, 24.0]),
    timeout=st.sampled_from([5.0, 300.0]),
)
def test_limits_hold_and_every_task_gets_one_result(tasks, limits, max_total, vram_gb, timeout):
    profile = _profile(limits, max_total, vram_gb, timeout)
    backend = CountingSimBackend(profile)
    specs = [
        TaskSpec(task_type, "x" * prompt_chars, max_tokens=max_tokens, name=f"t{i}")
        for i, (task_type, max_tokens, prompt_chars) in enumerate(tasks)
    ]

    async def main():
        orchestrator = Orchestrator(profile, backend, scorer=lambda *a, **k: 1.0)
        return await orchestrator.execute_parallel_tasks(specs), orchestrator.records

    results, records = run_virtual(main())
    assert len(results) == len(specs)
    assert len({r.task_id for r in results}) == len(specs)
    assert [r.prompt for r in results] == [s.prompt for s in specs]
    assert backend.peak.get("fast", 0) <= limits[0]
    assert backend.peak.get("big", 0) <= limits[1]
    assert backend.peak_total <= max_total
    assert len(records) == backend.calls
    for result in results:
        assert result.success or result.error
        if result.success:
            assert result.timings is not None and result.timings.total_s > 0


def test_simulated_parallel_run_beats_sequential_on_a_batching_gpu():
    profile = _profile((4, 1), 4, 24.0, 300.0)
    specs = [TaskSpec(TaskType.REVIEW, "review this " * 20, max_tokens=128) for _ in range(16)]

    async def makespan(max_total: int) -> float:
        profile.settings.max_concurrent_tasks = max_total
        orchestrator = Orchestrator(profile, SimBackend(profile), scorer=lambda *a, **k: 1.0)
        await orchestrator.warmup(["fast"])
        loop = asyncio.get_running_loop()
        start = loop.time()
        await orchestrator.execute_parallel_tasks(specs)
        return loop.time() - start

    sequential = run_virtual(makespan(1))
    parallel = run_virtual(makespan(4))
    assert parallel < sequential
