"""Deployments in the scheduler: one model on several hosts, on the virtual clock.

:class:`HostCountingFake` is a fake engine (no model runs) that counts requests in flight per
(model, host), per model and overall at the moment each call starts, and can fail per host.
The property tests draw random fleets and check that every limit holds *exactly*: never over
(LiteLLM #16011: caps overshoot across replicas) and, with every task submitted at once,
reached (the scheduler does not leave a free deployment idle while a task waits).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orch_helpers import full_marks, make_profile, model

from orchbench.config import Profile
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendError, BackendUnavailable
from orchbench.records import Timings
from orchbench.scheduler import Orchestrator
from orchbench.sim import run_virtual

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTS = ["a:1", "b:1", "c:1"]


@dataclass
class HostCountingFake:
    """A fake engine counting in-flight requests per deployment, model and overall."""

    latency: Callable[[str], float] = lambda host: 1.0
    fail: Callable[[GenerateRequest], BaseException | None] = lambda request: None
    name: str = "fake"
    now: Counter[tuple[str, str]] = field(default_factory=Counter)
    peak: Counter[tuple[str, str]] = field(default_factory=Counter)
    model_peak: Counter[str] = field(default_factory=Counter)
    total_peak: int = 0
    served: Counter[str] = field(default_factory=Counter)

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        key = (request.model.name, request.host)
        self.now[key] += 1
        self.peak[key] = max(self.peak[key], self.now[key])
        on_model = sum(n for (m, _), n in self.now.items() if m == key[0])
        self.model_peak[key[0]] = max(self.model_peak[key[0]], on_model)
        self.total_peak = max(self.total_peak, sum(self.now.values()))
        try:
            error = self.fail(request)
            if error is not None:
                raise error
            await asyncio.sleep(self.latency(request.host))
        finally:
            self.now[key] -= 1
        self.served[request.host] += 1
        return GenerateResult("ok", Timings(total_s=self.latency(request.host)))

    async def list_models(self) -> list[str]:
        return []

    async def warmup(self, model_config: object) -> float:
        return 0.0

    async def close(self) -> None:
        return None


def fleet_profile(deployments: dict[str, list[tuple[str, int]]], **settings: object) -> Profile:
    models = {
        name: model(
            deployments=[{"host": h, "concurrent_limit": n} for h, n in deps],
            **({"concurrent_limit": settings.pop(f"cap_{name}")} if f"cap_{name}" in settings
               else {}),
        )
        for name, deps in deployments.items()
    }  # fmt: skip
    return make_profile(models, **settings)


def run(profile: Profile, engine: HostCountingFake, tasks: int):  # type: ignore[no-untyped-def]
    orch = Orchestrator(profile, engine, scorer=full_marks)

    async def main():  # type: ignore[no-untyped-def]
        return await orch.execute_parallel_tasks([("coding", f"t{i}") for i in range(tasks)])

    return orch, run_virtual(main())


def test_a_model_without_deployments_runs_at_the_profile_host_as_before() -> None:
    engine = HostCountingFake()
    profile = make_profile({"m": model(concurrent_limit=2)})
    _, results = run(profile, engine, 4)
    assert all(r.success for r in results)
    assert {a.host for r in results for a in r.attempts} == {None}
    assert engine.peak == Counter({("m", ""): 2})


def test_the_model_cap_defaults_to_the_sum_of_its_deployments() -> None:
    profile = fleet_profile({"m": [("a:1", 2), ("b:1", 3)]})
    assert profile.models["m"].concurrent_limit == 5


def test_requests_spread_over_deployments_each_within_its_own_limit() -> None:
    engine = HostCountingFake()
    profile = fleet_profile({"m": [("a:1", 2), ("b:1", 1)]}, max_concurrent_tasks=8)
    _, results = run(profile, engine, 12)
    assert all(r.success for r in results)
    assert engine.peak == Counter({("m", "a:1"): 2, ("m", "b:1"): 1})
    assert engine.served == Counter({"a:1": 8, "b:1": 4})
    assert {a.host for r in results for a in r.attempts} == {"a:1", "b:1"}


def test_the_faster_deployment_gets_more_work_once_measured() -> None:
    engine = HostCountingFake(latency=lambda host: 0.1 if host == "a:1" else 1.0)
    profile = fleet_profile({"m": [("a:1", 1), ("b:1", 1)]}, max_concurrent_tasks=2)
    _, results = run(profile, engine, 20)
    assert all(r.success for r in results)
    assert engine.served["a:1"] > 3 * engine.served["b:1"]


def test_a_host_that_refuses_fails_over_to_the_other_deployment_and_nothing_is_lost() -> None:
    def refuse_a(request: GenerateRequest) -> BaseException | None:
        return BackendUnavailable("connection refused") if request.host == "a:1" else None

    engine = HostCountingFake(fail=refuse_a)
    profile = fleet_profile({"m": [("a:1", 2), ("b:1", 2)]}, retry_attempts=1, cooldown_s=60.0)
    _, results = run(profile, engine, 10)
    assert [r.success for r in results] == [True] * 10
    assert engine.served == Counter({"b:1": 10})
    moved = [r for r in results if len(r.attempts) == 2]
    assert moved and all([a.host for a in r.attempts] == ["a:1", "b:1"] for r in moved)
    # the breaker of host a opened at its first refusal: later tasks went straight to b
    assert sum(a.host == "a:1" for r in results for a in r.attempts) <= 2


def test_failover_to_another_deployment_comes_before_the_fallback_model() -> None:
    def fail_on_a(request: GenerateRequest) -> BaseException | None:
        return BackendError("500") if request.host == "a:1" else None

    engine = HostCountingFake(fail=fail_on_a)
    profile = make_profile(
        {
            "m": model(deployments=[{"host": "a:1", "concurrent_limit": 1},
                                    {"host": "b:1", "concurrent_limit": 1}]),
            "f": model(),
        },
        {"coding": {"primary": ["m"], "fallback": ["f"]}},
        max_concurrent_tasks=1,
        retry_attempts=1,
    )  # fmt: skip
    _, results = run(profile, engine, 1)
    (result,) = results
    assert result.success and result.model_name == "m"
    assert [(a.model, a.host) for a in result.attempts] == [("m", "a:1"), ("m", "b:1")]


def test_a_failing_deployment_cools_down_alone() -> None:
    def fail_on_a(request: GenerateRequest) -> BaseException | None:
        return BackendError("500") if request.host == "a:1" else None

    engine = HostCountingFake(fail=fail_on_a)
    profile = fleet_profile({"m": [("a:1", 1), ("b:1", 1)]}, cooldown_failures=2, cooldown_s=1000.0)
    _, results = run(profile, engine, 12)
    assert all(r.success for r in results)
    failed_on_a = sum(not a.success for r in results for a in r.attempts)
    # two failures cool a down; a slot freed by the second may have gone to a third
    # request already (the slot is given back before the outcome is counted)
    assert 2 <= failed_on_a <= 3
    assert engine.served == Counter({"b:1": 12})
    assert {r.model_name for r in results} == {"m"}  # the model itself still served, on b


def test_a_deployment_limit_lowered_live_applies_at_once() -> None:
    engine = HostCountingFake()
    profile = fleet_profile({"m": [("a:1", 3), ("b:1", 1)]}, max_concurrent_tasks=8)
    orch = Orchestrator(profile, engine, scorer=full_marks)

    async def main():  # type: ignore[no-untyped-def]
        batch = asyncio.ensure_future(
            orch.execute_parallel_tasks([("coding", f"t{i}") for i in range(12)])
        )
        await asyncio.sleep(1.5)
        engine.peak.clear()
        profile.models["m"].deployments[0].concurrent_limit = 1
        return await batch

    results = run_virtual(main())
    assert all(r.success for r in results)
    assert engine.peak[("m", "a:1")] <= 1


@st.composite
def fleets(draw):  # type: ignore[no-untyped-def]
    count = draw(st.integers(1, 3))
    deployments = {}
    caps = {}
    for i in range(count):
        hosts = draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=3, unique=True))
        deployments[f"m{i}"] = [(h, draw(st.integers(1, 3))) for h in hosts]
        if draw(st.booleans()):
            caps[f"cap_m{i}"] = draw(st.integers(1, 6))
    latency = {h: draw(st.sampled_from([0.5, 1.0, 2.0])) for h in HOSTS}
    return deployments, caps, draw(st.integers(1, 8)), draw(st.integers(1, 25)), latency


@FAST
@given(fleets())
def test_model_and_global_caps_hold_exactly_across_deployments(case) -> None:  # type: ignore[no-untyped-def]
    deployments, caps, global_cap, tasks, latency = case
    engine = HostCountingFake(latency=latency.__getitem__)
    profile = fleet_profile(deployments, max_concurrent_tasks=global_cap, **caps)
    orch, results = run(profile, engine, tasks)
    assert [r.task_id for r in results] == sorted(r.task_id for r in results)
    assert len(results) == tasks and all(r.success for r in results)
    capacity = 0
    for name, deps in deployments.items():
        cap = profile.models[name].concurrent_limit
        for host, limit in deps:
            assert engine.peak[(name, host)] <= limit
        assert engine.model_peak[name] <= cap
        capacity += min(cap, sum(limit for _, limit in deps))
    assert engine.total_peak <= global_cap
    # work-conserving: with every task submitted at once the caps are also reached
    assert engine.total_peak == min(global_cap, capacity, tasks)
    assert not any(orch._dispatcher.deployed.values()) and orch._dispatcher.total == 0


def test_the_performance_report_counts_attempts_per_host() -> None:
    engine = HostCountingFake()
    profile = fleet_profile({"m": [("a:1", 2), ("b:1", 1)]}, max_concurrent_tasks=8)
    orch, _ = run(profile, engine, 6)
    hosts = orch.get_performance_report()["hosts"]
    assert hosts == {"a:1": {"attempts": 4, "failures": 0}, "b:1": {"attempts": 2, "failures": 0}}
    one_host, _ = run(make_profile({"m": model()}), HostCountingFake(), 2)
    assert "hosts" not in one_host.get_performance_report()


def test_a_task_failing_on_every_deployment_names_the_hosts_tried() -> None:
    engine = HostCountingFake(fail=lambda request: BackendError("500"))
    profile = fleet_profile({"m": [("a:1", 1), ("b:1", 1)]}, retry_attempts=1)
    _, (result,) = run(profile, engine, 1)
    assert not result.success
    assert result.error is not None and "m on a:1, b:1: BackendError: 500" in result.error


def test_a_failover_that_lands_on_the_failed_host_again_still_reaches_the_other_one() -> None:
    # b is busy (slow), so placement can only prefer it: the failover of a task that failed
    # on a may land on a again. It must not use up the task's failover there.
    def fail_on_a(request: GenerateRequest) -> BaseException | None:
        return BackendError("stream cut") if request.host == "a:1" else None

    engine = HostCountingFake(fail=fail_on_a, latency=lambda host: 5.0)
    profile = fleet_profile(
        {"m": [("a:1", 2), ("b:1", 1)]}, max_concurrent_tasks=3, retry_attempts=1
    )
    _, results = run(profile, engine, 3)
    assert [r.success for r in results] == [True] * 3, [r.error for r in results]
    assert engine.served == Counter({"b:1": 3})
    assert any([a.host for a in r.attempts][:2] == ["a:1", "a:1"] for r in results)
