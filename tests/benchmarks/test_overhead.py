"""Scheduling overhead: 10,000 tasks on a zero-latency fake engine, against a baseline.

The baseline is what a person would write without orchbench: ``asyncio.gather`` over
coroutines that take an ``asyncio.Semaphore`` and call the same fake engine with the same
request. The difference per task is what routing, priorities, limits, retries, records
and results cost. The goal (``ratio`` ≤ 1.5, ≤ 25 µs per task) is recorded in
``extra_info``, not asserted: timings depend on the machine.
"""

from __future__ import annotations

import asyncio
import time

from orchbench.config import ModelConfig, Profile
from orchbench.engine import GenerateRequest
from orchbench.scheduler import Orchestrator, run_sync
from orchbench.testing import FakeBackend

TASKS = 10_000
LIMIT = 4
ROUNDS = 5


def bench_profile() -> Profile:
    """One model with ``LIMIT`` slots, ``LIMIT`` tasks at once overall."""
    return Profile.model_validate(
        {
            "name": "overhead",
            "hardware": {"name": "t", "bandwidth_gbs": 1, "ram_gb": 1, "cpu_cores": 1},
            "models": {"m": {"task_types": ["coding"], "tier": "fast",
                             "concurrent_limit": LIMIT, "max_tokens": 16}},
            "routing": {"coding": {"primary": ["m"]}},
            "settings": {"max_concurrent_tasks": LIMIT},
        }
    )  # fmt: skip


def bench_request() -> GenerateRequest:
    """The request the orchestrator sends for each task, built once for the baseline."""
    model = ModelConfig(name="m", task_types=["coding"], tier="fast", max_tokens=16)
    return GenerateRequest(model=model, prompt="def add(a, b):", max_tokens=16,
                           temperature=model.temperature, timeout_s=300.0)  # fmt: skip


def constant_quality(*args: object, **kwargs: object) -> float:
    """Scoring is measured elsewhere; here only scheduling counts."""
    return 1.0


def bench_orchestrator(fake: FakeBackend) -> Orchestrator:
    """A fresh orchestrator per round, so records do not pile up across rounds."""
    return Orchestrator(bench_profile(), fake, scorer=constant_quality)


def baseline_seconds(fake: FakeBackend) -> float:
    """One run of gather + Semaphore over the same fake calls, in seconds."""
    request = bench_request()

    async def main() -> None:
        gate = asyncio.Semaphore(LIMIT)

        async def one() -> None:
            async with gate:
                await fake.generate(request)

        await asyncio.gather(*(one() for _ in range(TASKS)))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def test_scheduler_overhead_against_gather_and_semaphore(benchmark):
    fake = FakeBackend(latency=0.0)
    tasks = [("coding", "def add(a, b):", "simple")] * TASKS
    baselines: list[float] = []

    def run_baseline_first() -> None:
        # Interleaved with the measured rounds, so a busy machine slows both alike.
        baselines.append(baseline_seconds(fake))

    def run_orchestrator() -> None:
        results = run_sync(bench_orchestrator(fake).execute_parallel_tasks(tasks))
        assert len(results) == TASKS and results[-1].success

    benchmark.pedantic(
        run_orchestrator, setup=run_baseline_first, rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    ours = benchmark.stats.stats.min
    baseline = min(baselines)
    benchmark.extra_info.update(
        {
            "tasks": TASKS,
            "limit": LIMIT,
            "baseline_s": baseline,
            "orchestrator_s": ours,
            "ratio": ours / baseline,
            "us_per_task": ours / TASKS * 1e6,
            "baseline_us_per_task": baseline / TASKS * 1e6,
            "overhead_us_per_task": (ours - baseline) / TASKS * 1e6,
        }
    )
    assert fake.max_in_flight_total <= LIMIT
