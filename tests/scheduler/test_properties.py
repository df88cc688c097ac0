"""Property tests: for random task mixes, limits and failure schedules, the contracts hold.

Limits are never exceeded (as the fake engine observed them), every task ends with exactly
one result in submission order, priorities are served in order, fallbacks are used.
"""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orch_helpers import ALL_TYPES, make_profile, model, orchestrator

from orchbench.errors import BackendError, BackendTimeout, ModelNotFound
from orchbench.records import TaskSpec
from orchbench.scheduler import run_sync
from orchbench.scheduler._routing import candidates
from orchbench.testing import FakeBackend

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["m0", "m1", "m2", "m3"]
OUTCOMES = st.sampled_from([None, None, BackendError, BackendTimeout, ModelNotFound])


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 4))
    models = {}
    for name in NAMES[:count]:
        models[name] = model(
            draw(st.sampled_from(["fast", "balanced", "powerful"])),
            task_types=draw(st.lists(st.sampled_from(ALL_TYPES[:3]), min_size=1, unique=True)),
            priority=draw(st.integers(1, 10)),
            concurrent_limit=draw(st.integers(1, 3)),
        )
    routing = {}
    for task_type in ALL_TYPES[:3]:
        able = [n for n, m in models.items() if task_type in m["task_types"]]
        if able and draw(st.booleans()):
            order = draw(st.permutations(able))
            cut = draw(st.integers(1, len(order)))
            routing[task_type] = {"primary": order[:cut], "fallback": order[cut:]}
    profile = make_profile(
        models,
        routing,
        max_concurrent_tasks=draw(st.integers(1, 5)),
        retry_attempts=draw(st.integers(1, 3)),
        cooldown_failures=draw(st.integers(1, 4)),
        cooldown_s=draw(st.sampled_from([0.0, 0.001])),
    )
    failures = {n: draw(st.lists(OUTCOMES, max_size=6)) for n in models}
    latency = {n: draw(st.sampled_from([0.0, 0.0005])) for n in models}
    tasks = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ALL_TYPES[:3]),
                st.sampled_from([None, "simple", "medium", "complex"]),
                st.one_of(st.none(), st.integers(1, 10)),
            ),
            min_size=1,
            max_size=25,
        )
    )
    return profile, failures, latency, tasks


@FAST
@given(scenarios(), st.booleans())
def test_limits_hold_and_every_task_gets_exactly_one_result(scenario, debug):
    profile, failures, latency, tasks = scenario
    fake = FakeBackend(latency=latency, failures=failures, text=lambda r: r.prompt)
    orch = orchestrator(profile, fake)
    specs = [TaskSpec(t, f"task {i}", c, priority=p) for i, (t, c, p) in enumerate(tasks)]
    logger = logging.getLogger("orchbench")
    level = logger.level
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)  # DEBUG takes other paths
    try:
        results = run_sync(orch.execute_parallel_tasks(specs))
    finally:
        logger.setLevel(level)

    assert len(results) == len(tasks)
    assert [r.task_id for r in results] == list(range(len(tasks)))
    for name, peak in fake.max_in_flight.items():
        assert peak <= profile.models[name].concurrent_limit
    assert fake.max_in_flight_total <= profile.settings.max_concurrent_tasks
    assert fake.in_flight_total == 0 and orch._dispatcher.total == 0
    assert len(orch.records) == len(fake.calls)  # every request recorded once

    for i, result in enumerate(results):
        options = [c.name for c in candidates(result.task_type, profile.routing, profile.models)]
        assert {a.model for a in result.attempts} <= set(options)
        if result.success:
            assert result.error is None and result.text == f"task {i}"
            assert result.model_name in options and result.attempts[-1].success
        else:
            assert result.model_name is None and result.error
            for tried in {a.model for a in result.attempts}:
                assert f"{tried}: " in result.error
            assert not any(a.success for a in result.attempts)


@FAST
@given(
    limits=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    total=st.integers(1, 4),
    count=st.integers(1, 20),
    retries=st.integers(1, 3),
)
def test_fallbacks_serve_everything_when_the_primary_always_fails(limits, total, count, retries):
    profile = make_profile(
        {"primary": model("powerful", concurrent_limit=limits[0]),
         "backup": model("fast", concurrent_limit=limits[1])},
        {"coding": {"primary": ["primary"], "fallback": ["backup"]}},
        max_concurrent_tasks=total, retry_attempts=retries,
    )  # fmt: skip
    fake = FakeBackend(failures={"primary": BackendTimeout("always")})
    orch = orchestrator(profile, fake)
    results = run_sync(orch.execute_parallel_tasks([("coding", "p", "complex")] * count))
    assert all(r.success and r.model_name == "backup" for r in results)
    assert fake.max_in_flight.get("backup", 0) <= limits[1]


@FAST
@given(priorities=st.lists(st.integers(1, 10), min_size=2, max_size=15))
def test_with_one_slot_tasks_start_by_priority_then_submission(priorities):
    profile = make_profile({"a": model("fast", concurrent_limit=3)}, max_concurrent_tasks=1)
    fake = FakeBackend(latency=0.0, text=lambda r: r.prompt)
    orch = orchestrator(profile, fake)
    specs = [TaskSpec("coding", str(i), priority=p) for i, p in enumerate(priorities)]
    run_sync(orch.execute_parallel_tasks(specs))
    started = [int(call.prompt) for call in fake.calls]
    # the first task takes the free slot; the rest waited and go by priority, FIFO on ties
    expected = [0, *sorted(range(1, len(priorities)), key=lambda i: (-priorities[i], i))]
    assert started == expected
