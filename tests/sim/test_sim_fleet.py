"""The simulator runs fleets: one simulated device per host, so a second box shows its worth.

All numbers here are SIMULATED (the simulator's performance model on the virtual clock);
ratios are taken within one run of each profile, on the same task mix.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from orchbench import get_orchestrator
from orchbench.backends import make_backend
from orchbench.backends._fleet import FleetBackend
from orchbench.records import TaskSpec
from orchbench.sim import run_virtual

TASKS = [
    TaskSpec("coding", "def parse(rows):\n" * 20, max_tokens=400),
    TaskSpec("review", "Review this change: " + "x = 1\n" * 30, max_tokens=300),
    TaskSpec("documentation", "Document this module. " * 10, max_tokens=300),
    TaskSpec("planning", "Plan the migration. " * 10, max_tokens=300),
] * 6


def makespan(profile: str) -> tuple[float, list, object]:  # type: ignore[type-arg]
    orch = get_orchestrator(profile, "sim")

    async def main() -> tuple[float, list]:  # type: ignore[type-arg]
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await orch.execute_parallel_tasks(TASKS)
        return loop.time() - start, results

    seconds, results = run_virtual(main())
    return seconds, results, orch.backend


def test_a_second_rtx4090_box_shortens_the_makespan_and_both_boxes_work() -> None:
    one, one_results, _ = makespan("rtx4090")
    two, two_results, backend = makespan("rtx4090x2")
    assert all(r.success for r in one_results + two_results)
    assert one / two > 1.3  # SIMULATED gain of the second box on this mix
    hosts = Counter(a.host for r in two_results for a in r.attempts)
    assert set(hosts) == {"box1", "box2"} and min(hosts.values()) >= len(TASKS) // 4
    assert isinstance(backend, FleetBackend)
    devices = {name: engine.device for name, engine in backend.engines.items()}  # type: ignore[attr-defined]
    assert devices["box1"] is not devices["box2"]
    assert devices["box1"].loads > 0 and devices["box2"].loads > 0  # each box loads its own


def test_each_box_follows_its_own_server_settings() -> None:
    orch = get_orchestrator("rtx4090x2", "sim")
    orch.profile.hosts["box2"].server = orch.profile.server.model_copy(update={"num_parallel": 4})
    backend = make_backend("sim", profile=orch.profile)
    assert isinstance(backend, FleetBackend)
    servers = {h: e.server for h, e in backend.engines.items()}  # type: ignore[attr-defined]
    assert servers["box1"] is not None and servers["box1"].num_parallel == 1
    assert servers["box2"] is not None and servers["box2"].num_parallel == 4
