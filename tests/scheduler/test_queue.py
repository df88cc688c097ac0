"""Queueing: priority order, aging, work conservation and live edits of the limits.

Every test runs on the simulator's virtual clock (``run_virtual``): the latencies and
arrival gaps below are exact virtual instants, so the orders asserted are deterministic.
"""

from __future__ import annotations

import asyncio

from orch_helpers import make_profile, model, orchestrator

from orchbench.config import ModelConfig, TaskType
from orchbench.records import TaskSpec
from orchbench.sim import run_virtual
from orchbench.testing import FakeBackend


def started_prompts(fake: FakeBackend) -> list[str]:
    return [call.prompt for call in fake.calls]


def test_with_one_slot_higher_priority_waiting_tasks_go_first():
    profile = make_profile({"a": model("fast", concurrent_limit=4)}, max_concurrent_tasks=1)
    fake = FakeBackend(latency=0.002)
    orch = orchestrator(profile, fake)
    specs = [TaskSpec(TaskType.CODING, "occupant", priority=1)]
    specs += [TaskSpec(TaskType.CODING, f"p{p}", priority=p) for p in (1, 5, 3, 9, 5)]
    run_virtual(orch.execute_parallel_tasks(specs))
    # equal priorities keep submission order (the two p5)
    assert started_prompts(fake) == ["occupant", "p9", "p5", "p5", "p3", "p1"]
    assert fake.max_in_flight_total == 1


def test_default_priority_is_the_best_candidate_models_priority():
    profile = make_profile(
        {"low": model("fast", priority=2), "high": model("fast", priority=8)},
        {"coding": {"primary": ["low"]}, "review": {"primary": ["high"]}},
        max_concurrent_tasks=1,
    )
    profile.models["low"].concurrent_limit = 2
    fake = FakeBackend(latency=0.002)
    orch = orchestrator(profile, fake)
    tasks = [("coding", "first"), ("coding", "c"), ("review", "r")]
    run_virtual(orch.execute_parallel_tasks(tasks))
    assert started_prompts(fake) == ["first", "r", "c"]


def run_with_newcomers(aging_s: float) -> list[str]:
    """One slot; a low-priority task waits while high-priority ones keep arriving."""
    profile = make_profile({"a": model("fast", priority=5)}, max_concurrent_tasks=1,
                           aging_s=aging_s)  # fmt: skip
    fake = FakeBackend(latency=0.004)
    orch = orchestrator(profile, fake)

    async def main():
        first = [
            asyncio.ensure_future(orch.execute_task("coding", "occupant", priority=10)),
            asyncio.ensure_future(orch.execute_task("coding", "low", priority=1)),
        ]
        newcomers = []
        for i in range(30):
            newcomers.append(
                asyncio.ensure_future(orch.execute_task("coding", f"h{i}", priority=10))
            )
            await asyncio.sleep(0.002)
        await asyncio.gather(*first, *newcomers)

    run_virtual(main())
    return started_prompts(fake)


def test_aging_lets_a_low_priority_task_overtake_later_arrivals():
    # one point of priority per millisecond waited: "low" beats newcomers that arrive
    # more than 9 ms after it, whatever the exact timing
    order = run_with_newcomers(aging_s=0.001)
    assert order.index("low") < 10
    # control: without aging (one point per ~11 days) it starves until the end
    assert run_with_newcomers(aging_s=1e6)[-1] == "low"


def test_a_lower_priority_task_takes_a_slot_the_higher_one_cannot_use():
    profile = make_profile(
        {"a": model("fast", priority=9), "b": model("fast", priority=1)},
        {"coding": {"primary": ["a"]}, "review": {"primary": ["b"]}},
        max_concurrent_tasks=2,
    )
    fake = FakeBackend(latency=0.003)
    orch = orchestrator(profile, fake)
    tasks = [("coding", "a1"), ("coding", "a2"), ("coding", "a3"), ("review", "b1")]
    run_virtual(orch.execute_parallel_tasks(tasks))
    assert fake.max_in_flight_total == 2 and fake.max_in_flight == {"a": 1, "b": 1}
    assert started_prompts(fake).index("b1") == 1


def test_complexity_picks_the_tier_and_fallbacks_only_serve_when_primaries_are_busy():
    profile = make_profile(
        {"fast": model("fast"), "mid": model("balanced"), "big": model("powerful"),
         "spare": model("powerful")},
        {"coding": {"primary": ["fast", "mid", "big"], "fallback": ["spare"]}},
    )  # fmt: skip
    fake = FakeBackend(latency=0.002)
    orch = orchestrator(profile, fake)
    tasks = [("coding", "s", "simple"), ("coding", "m", "medium"), ("coding", "c", "complex")]
    results = run_virtual(orch.execute_parallel_tasks(tasks))
    assert [r.model_name for r in results] == ["fast", "mid", "big"]
    # a primary of the wrong tier still beats a fallback of the right one
    results = run_virtual(orch.execute_parallel_tasks([("coding", "c", "complex")] * 3))
    assert [r.model_name for r in results] == ["big", "mid", "fast"]
    results = run_virtual(orch.execute_parallel_tasks([("coding", "c", "complex")] * 4))
    assert [r.model_name for r in results] == ["big", "mid", "fast", "spare"]


def test_priority_then_measured_speed_break_ties_within_a_tier():
    profile = make_profile({"x": model("fast"), "y": model("fast")})
    fake = FakeBackend(latency={"x": 0.004, "y": 0.0})
    orch = orchestrator(profile, fake)
    first = run_virtual(orch.execute_parallel_tasks([("coding", "1"), ("coding", "2")]))
    assert sorted(r.model_name for r in first) == ["x", "y"]  # both measured once
    assert run_virtual(orch.execute_task("coding", "3")).model_name == "y"  # y is faster
    orch.model_configs["x"].priority = 9
    assert run_virtual(orch.execute_task("coding", "4")).model_name == "x"  # priority wins


def test_live_concurrent_limit_edits_apply_to_the_next_tasks():
    profile = make_profile({"a": model("fast", concurrent_limit=1)}, max_concurrent_tasks=8)
    fake = FakeBackend(latency=0.003)
    orch = orchestrator(profile, fake)
    run_virtual(orch.execute_parallel_tasks([("coding", "p")] * 4))
    assert fake.max_in_flight["a"] == 1
    orch.model_configs["a"].concurrent_limit = 3
    run_virtual(orch.execute_parallel_tasks([("coding", "p")] * 6))
    assert fake.max_in_flight["a"] == 3
    orch.settings.max_concurrent_tasks = 2
    fake.max_in_flight_total = 0
    run_virtual(orch.execute_parallel_tasks([("coding", "p")] * 6))
    assert fake.max_in_flight_total == 2


def test_an_added_model_serves_the_next_task():
    profile = make_profile({"a": model("fast", priority=5)}, {"coding": {"primary": ["a"]}})
    orch = orchestrator(profile, FakeBackend())
    orch.model_configs["new"] = ModelConfig(
        name="new", task_types=[TaskType.REVIEW, TaskType.CODING], tier="fast", priority=9
    )
    # review has no route: every model listing it is a candidate
    assert run_virtual(orch.execute_task("review", "p")).model_name == "new"
    # coding is routed: the model serves it once the routing table names it
    assert run_virtual(orch.execute_task("coding", "p")).model_name == "a"
    orch.profile.routing[TaskType.CODING].primary.insert(0, "new")
    assert run_virtual(orch.execute_task("coding", "p")).model_name == "new"


def test_a_task_waiting_for_a_removed_model_fails_instead_of_hanging():
    profile = make_profile({"a": model("fast"), "b": model("fast", task_types=["review"])})
    fake = FakeBackend(latency={"a": 0.01})
    orch = orchestrator(profile, fake)

    async def main():
        busy = asyncio.ensure_future(orch.execute_task("coding", "busy"))
        waiting = asyncio.ensure_future(orch.execute_task("coding", "waiting"))
        await asyncio.sleep(0)
        del orch.model_configs["a"]
        return await asyncio.gather(busy, waiting)

    busy, waiting = run_virtual(main())
    assert busy.success
    assert not waiting.success and "removed from model_configs" in waiting.error


def test_a_model_removed_while_its_slot_is_on_the_way_is_skipped_and_its_slot_freed():
    profile = make_profile({"a": model("fast")}, {"coding": {"primary": ["a"]}})
    fake = FakeBackend(latency=0.002)
    orch = orchestrator(profile, fake)

    def remove_a_when_the_first_task_ends(event):
        # by then the first task's slot is already granted to the second one
        if event.kind == "finished" and event.task_id == 0:
            del orch.model_configs["a"]

    orch.add_listener(remove_a_when_the_first_task_ends)
    first, second = run_virtual(orch.execute_parallel_tasks([("coding", "1"), ("coding", "2")]))
    assert first.success
    assert not second.success and "not tried (removed from model_configs): a" in second.error
    assert orch._dispatcher.total == 0 and orch._dispatcher.in_flight["a"] == 0
