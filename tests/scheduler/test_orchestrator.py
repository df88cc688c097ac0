"""The orchestrator's public API on the fake engine: results, order, events, reports."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from orch_helpers import make_profile, model, orchestrator

from orchbench import get_orchestrator
from orchbench.config import ModelConfig, TaskType
from orchbench.errors import BackendBusy, ConfigError
from orchbench.records import TaskSpec
from orchbench.scheduler import SchedulerEvent, run_sync
from orchbench.testing import FakeBackend


def two_models(**settings):
    return make_profile(
        {"f": model("fast", priority=5), "p": model("powerful", priority=5)},
        {"coding": {"primary": ["p"], "fallback": ["f"], "complexity": "complex"}},
        **settings,
    )


def test_execute_task_returns_one_result_with_timings_and_a_record():
    fake = FakeBackend(text="return s[::-1]", latency=0.001)
    orch = orchestrator(two_models(), fake)
    result = run_sync(orch.execute_task(TaskType.CODING, "def reverse(s):"))
    assert result.success and result.error is None
    assert result.model_name == "p"
    assert result.complexity.value == "complex"  # the route's typical complexity
    assert result.text == "return s[::-1]"
    assert result.quality_score == 1.0
    assert result.timings is not None and result.timings.completion_tokens == 2
    assert [a.model for a in result.attempts] == ["p"]
    assert result.attempts[0].backend == "fake" and result.attempts[0].quality == 1.0
    assert orch.records == result.attempts


def test_parallel_results_come_in_submission_order_with_increasing_ids():
    fake = FakeBackend(latency={"p": 0.003, "f": 0.0}, text=lambda r: r.prompt.upper())
    orch = orchestrator(two_models(max_concurrent_tasks=3), fake)
    tasks = [("coding", f"task {i}", "complex" if i % 2 else "simple") for i in range(12)]
    results = run_sync(orch.execute_parallel_tasks(tasks))
    assert [r.text for r in results] == [f"TASK {i}" for i in range(12)]
    assert [r.task_id for r in results] == list(range(12))


def test_taskspec_carries_max_tokens_priority_and_stop():
    seen = []
    fake = FakeBackend(text=lambda r: seen.append(r) or "x")
    orch = orchestrator(two_models(), fake)
    spec = TaskSpec(TaskType.CODING, "p", None, max_tokens=7, priority=9, stop=("\n",))
    (result,) = run_sync(orch.execute_parallel_tasks([spec]))
    assert result.success
    assert seen[0].max_tokens == 7 and seen[0].stop == ["\n"]
    assert seen[0].temperature == orch.model_configs["p"].temperature


@pytest.mark.parametrize(("task_type", "complexity"), [("cooking", None), ("coding", "hard")])
def test_invalid_task_type_or_complexity_names_the_valid_values(task_type, complexity):
    orch = orchestrator(two_models(), FakeBackend())
    with pytest.raises(ConfigError, match="valid values"):
        run_sync(orch.execute_task(task_type, "p", complexity))


def test_a_task_no_model_can_serve_fails_with_a_reason():
    profile = make_profile({"f": model("fast", task_types=["coding"])})
    orch = orchestrator(profile, FakeBackend())
    result = run_sync(orch.execute_task("review", "p"))
    assert not result.success
    assert "no model can serve task type 'review'" in result.error
    assert result.attempts == []


def test_listeners_see_queued_started_finished_with_in_flight():
    events: list[SchedulerEvent] = []
    orch = orchestrator(two_models(), FakeBackend(latency=0.001))
    orch.add_listener(events.append)
    run_sync(orch.execute_parallel_tasks([("coding", "a", "complex"), ("coding", "b", "complex")]))
    kinds = [e.kind for e in events]
    assert kinds.count("queued") == 2 and kinds.count("finished") == 2
    assert kinds.count("started") == 2
    started = [e for e in events if e.kind == "started"]
    assert all(e.in_flight[e.model] >= 1 for e in started)
    finished = [e for e in events if e.kind == "finished"]
    assert all(e.success and e.result is not None for e in finished)


def test_a_failing_listener_does_not_lose_results(caplog):
    def broken(event):
        raise RuntimeError("bar")

    orch = orchestrator(two_models(), FakeBackend())
    orch.add_listener(broken)
    result = run_sync(orch.execute_task("coding", "p"))
    assert result.success
    assert "listener" in caplog.text


def test_performance_report_is_json_and_counts_attempts():
    fake = FakeBackend(latency=0.001, failures={"p": [BackendBusy("busy")]})
    orch = orchestrator(two_models(retry_attempts=2), fake)
    run_sync(orch.execute_parallel_tasks([("coding", f"t{i}", "complex") for i in range(4)]))
    report = orch.get_performance_report()
    json.dumps(report)
    assert report["tasks"]["count"] == 4 and report["tasks"]["successes"] == 4
    p = report["models"]["p"]
    f = report["models"]["f"]
    assert p["failures"] == 1 and p["successes"] + f["successes"] == 4
    assert p["attempts"] + f["attempts"] == 5
    assert 0 < p["utilisation"] <= 1
    assert report["quality_by_task_type"]["coding"]["count"] == 4
    assert sum(report["distribution"]["coding"].values()) == 4
    recs = orch.get_model_recommendations()
    assert recs["coding"][0]["model"] in {"p", "f"} and recs["coding"][0]["reason"]
    orch.reset_metrics()
    assert orch.records == [] and orch.get_performance_report()["tasks"]["count"] == 0


def test_warmup_loads_every_model_and_rejects_unknown_ones():
    fake = FakeBackend(load_s=0.5)
    orch = orchestrator(two_models(), fake)
    assert run_sync(orch.warmup()) == {"f": 0.5, "p": 0.5}
    assert fake.warmed == ["f", "p"]
    with pytest.raises(ConfigError, match="not in model_configs"):
        run_sync(orch.warmup(["nope"]))


def test_context_manager_closes_the_backend():
    fake = FakeBackend()

    async def main():
        async with orchestrator(two_models(), fake) as orch:
            await orch.execute_task("coding", "p")

    asyncio.run(main())
    assert fake.closed


def test_get_orchestrator_copies_the_profile_so_orchestrators_are_independent():
    profile = two_models()
    a = get_orchestrator(profile, backend=FakeBackend())
    b = get_orchestrator(profile, backend=FakeBackend())
    a.model_configs["p"].concurrent_limit = 7
    a.model_configs["new"] = ModelConfig(name="new", task_types=["coding"], tier="fast")
    assert b.model_configs["p"].concurrent_limit == 1 and "new" not in b.model_configs
    assert profile.models["p"].concurrent_limit == 1


def test_get_orchestrator_loads_a_profile_by_name():
    orch = get_orchestrator("embedded", backend=FakeBackend())
    assert orch.profile.name == "embedded" and orch.settings is orch.profile.settings


def test_routing_decisions_are_logged_at_debug(caplog):
    orch = orchestrator(two_models(), FakeBackend())
    with caplog.at_level(logging.DEBUG, logger="orchbench"):
        run_sync(orch.execute_task("coding", "p", "complex"))
    assert "route task 0" in caplog.text and "-> p" in caplog.text


def test_the_default_scorer_is_orchbench_quality():
    fake = FakeBackend(text="    return s[::-1]\n")
    orch = get_orchestrator("embedded", backend=fake)
    good = run_sync(orch.execute_task("coding", "def reverse(s):\n", "simple"))
    fake.text = ""
    empty = run_sync(orch.execute_task("coding", "def reverse(s):\n", "simple"))
    assert good.quality_score > 0.5 and empty.quality_score == 0.0
    assert good.attempts[-1].quality == good.quality_score


def test_checks_with_tests_are_scored_off_the_event_loop():
    from orchbench.records import QualityChecks

    fake = FakeBackend(text="    return a + b\n")
    orch = get_orchestrator("embedded", backend=fake)
    checks = QualityChecks(tests="assert add(2, 3) == 5\n", language="python")
    result = run_sync(orch.execute_task("coding", "def add(a, b):\n", checks=checks))
    fake.text = "    return a - b\n"
    wrong = run_sync(orch.execute_task("coding", "def add(a, b):\n", checks=checks))
    assert result.quality_score > wrong.quality_score


def test_a_malformed_task_is_refused_before_any_task_starts():
    fake = FakeBackend()
    orch = orchestrator(two_models(), fake)
    with pytest.raises(ConfigError, match="task #1"):
        run_sync(orch.execute_parallel_tasks([("coding", "ok"), ("coding",)]))
    assert fake.calls == []


def test_replacing_the_profile_or_backend_takes_effect():
    orch = orchestrator(two_models(), FakeBackend(text="old"))
    orch.backend = FakeBackend(text="new")
    orch.profile = make_profile({"solo": model("fast")})
    result = run_sync(orch.execute_task("coding", "p"))
    assert (result.model_name, result.text) == ("solo", "new")


def test_get_orchestrator_builds_a_backend_from_its_kind():
    orch = get_orchestrator(two_models(), backend="fake")
    assert orch.backend.name == "fake"
    assert run_sync(orch.execute_task("coding", "p")).success
