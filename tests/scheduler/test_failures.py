"""Retries with backoff, the fallback chain, timeouts, cooldown, escalation, cancellation.

Every test runs on the simulator's virtual clock (``run_virtual``): backoffs, timeouts and
cooldowns of seconds or minutes take microseconds, and the instants they end at are exact.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from orch_helpers import make_profile, model, orchestrator

from orchbench.errors import BackendBusy, BackendError, BackendTimeout, ModelNotFound
from orchbench.sim import run_virtual
from orchbench.testing import FakeBackend


def chain(**settings):
    """Primary ``a`` (fast), fallback ``b`` (fast) then ``c`` (powerful) for coding."""
    return make_profile(
        {"a": model("fast"), "b": model("fast"), "c": model("powerful")},
        {"coding": {"primary": ["a"], "fallback": ["b", "c"], "complexity": "simple"}},
        **settings,
    )


def test_retryable_errors_are_retried_on_the_same_model():
    fake = FakeBackend(failures={"a": [BackendTimeout("slow"), BackendBusy("503"), None]})
    orch = orchestrator(chain(retry_attempts=3), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.success and result.model_name == "a"
    assert [(r.model, r.success) for r in result.attempts] == [
        ("a", False), ("a", False), ("a", True)
    ]  # fmt: skip
    assert result.attempts[0].error == "BackendTimeout: slow"
    assert [r.attempt for r in result.attempts] == [1, 2, 3]


def test_backoff_doubles_between_retries():
    fake = FakeBackend(failures={"a": BackendError("boom")})  # answers at once (latency 0)
    orch = orchestrator(chain(retry_attempts=4, retry_backoff_s=0.25, cooldown_failures=9), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "b"
    starts = [r.started_at for r in result.attempts]
    gaps = [later - earlier for earlier, later in pairwise(starts)]  # a: 4 tries, then b
    assert len(gaps) == 4 and gaps[3] == pytest.approx(0.0)
    # doubling, each times a jitter factor in [0.5, 1.5)
    assert all(0.5 * b <= d < 1.5 * b for d, b in zip(gaps, [0.25, 0.5, 1.0], strict=False))
    assert result.response_time == pytest.approx(sum(gaps))


def test_exhausted_retries_fall_back_along_the_chain():
    fake = FakeBackend(failures={"a": BackendError("boom"), "b": BackendBusy("full")})
    orch = orchestrator(chain(retry_attempts=2), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.success and result.model_name == "c"
    assert [r.model for r in result.attempts] == ["a", "a", "b", "b", "c"]


def test_non_retryable_errors_move_to_the_next_candidate_at_once():
    fake = FakeBackend(models=["b", "c"])  # "a" is not installed: ModelNotFound
    orch = orchestrator(chain(retry_attempts=3), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "b"
    assert [r.model for r in result.attempts] == ["a", "b"]
    assert result.attempts[0].error.startswith("ModelNotFound")


def test_an_unexpected_engine_exception_is_a_failed_attempt_not_a_crash():
    fake = FakeBackend(failures={"a": ValueError("bug")})
    orch = orchestrator(chain(), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "b" and result.attempts[0].error == "ValueError: bug"


def test_default_timeout_cuts_a_slow_model_off():
    fake = FakeBackend(latency={"a": 500.0})
    orch = orchestrator(chain(retry_attempts=1, default_timeout=20), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "b"
    assert "default_timeout=20s" in result.attempts[0].error
    assert result.response_time == pytest.approx(20.0)
    assert fake.in_flight["a"] == 0


def test_failure_result_lists_every_model_tried_and_why():
    fake = FakeBackend(
        failures={"a": BackendTimeout("t/o"), "b": ModelNotFound("no b"), "c": BackendBusy("503")}
    )
    orch = orchestrator(chain(retry_attempts=2), fake)
    result = run_virtual(orch.execute_task("coding", "p"))
    assert not result.success and result.model_name is None and result.text == ""
    assert "a: BackendTimeout: t/o (2 attempts)" in result.error
    assert "b: ModelNotFound: no b (1 attempt)" in result.error
    assert "c: BackendBusy: 503 (2 attempts)" in result.error
    assert [r.model for r in result.attempts] == ["a", "a", "b", "c", "c"]


def test_a_model_that_keeps_failing_is_cooled_down_and_skipped():
    fake = FakeBackend(failures={"a": BackendError("down")})
    profile = chain(retry_attempts=3, cooldown_failures=2, cooldown_s=60)
    orch = orchestrator(profile, fake)
    first = run_virtual(orch.execute_task("coding", "p"))
    # cooled after its 2nd consecutive failure: no 3rd retry on it
    assert [r.model for r in first.attempts] == ["a", "a", "b"]
    second = run_virtual(orch.execute_task("coding", "p"))
    assert [r.model for r in second.attempts] == ["b"]


def test_a_task_whose_only_model_cools_down_waits_for_the_cooldown_to_end():
    profile = make_profile({"a": model("fast")}, retry_attempts=2, cooldown_failures=2,
                           cooldown_s=30)  # fmt: skip
    fake = FakeBackend(failures={"a": [BackendError("x"), BackendError("y")]})
    orch = orchestrator(profile, fake)

    async def main():
        first = await orch.execute_task("coding", "p")
        second = await orch.execute_task("coding", "p")
        return first, second

    first, second = run_virtual(main())
    assert not first.success
    assert second.success and len(second.attempts) == 1
    assert second.attempts[0].queue_wait_s == pytest.approx(30.0)  # the whole cooldown


def scored(text_quality):
    def scorer(task_type, prompt, text, checks, **kwargs):
        return text_quality[text]

    return scorer


def test_low_quality_escalates_to_a_stronger_tier_and_keeps_the_better_answer():
    fake = FakeBackend(text={"a": "weak", "c": "strong"})
    orch = orchestrator(chain(escalate_on_low_quality=True, quality_threshold=0.7), fake,
                        scorer=scored({"weak": 0.2, "strong": 0.9}))  # fmt: skip
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "c" and result.text == "strong" and result.quality_score == 0.9
    assert [(r.model, r.quality) for r in result.attempts] == [("a", 0.2), ("c", 0.9)]


def test_escalation_keeps_the_first_answer_when_the_stronger_one_is_worse():
    fake = FakeBackend(text={"a": "meh", "c": "worse"})
    orch = orchestrator(chain(escalate_on_low_quality=True), fake,
                        scorer=scored({"meh": 0.5, "worse": 0.1}))  # fmt: skip
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "a" and result.quality_score == 0.5
    assert len(result.attempts) == 2


def test_no_escalation_when_the_setting_is_off():
    fake = FakeBackend(text={"a": "weak", "c": "strong"})
    orch = orchestrator(chain(), fake, scorer=scored({"weak": 0.2, "strong": 0.9}))
    result = run_virtual(orch.execute_task("coding", "p"))
    assert result.model_name == "a" and len(result.attempts) == 1


def test_cancelling_running_and_waiting_tasks_releases_their_slots():
    profile = make_profile({"a": model("fast")}, max_concurrent_tasks=1)
    fake = FakeBackend(latency={"a": 100.0})
    orch = orchestrator(profile, fake)

    async def main():
        running = asyncio.ensure_future(orch.execute_task("coding", "run"))
        waiting = asyncio.ensure_future(orch.execute_task("coding", "wait"))
        await asyncio.sleep(1.0)
        assert orch._dispatcher.waiting == 1
        waiting.cancel()
        running.cancel()
        await asyncio.gather(running, waiting, return_exceptions=True)
        assert orch._dispatcher.total == 0 and orch._dispatcher.waiting == 0
        fake.latency = 0.0
        return await orch.execute_task("coding", "after")

    assert run_virtual(main()).success
    assert fake.in_flight_total == 0


def test_a_retry_waiting_for_a_model_that_cools_down_moves_on_instead_of_waiting():
    # a, b: one slot each; a always fails. Task 1 waits to retry on a while task 3's
    # failure cools a down for 1000 s: task 1 must go on to b, not wait out the cooldown.
    profile = make_profile(
        {"a": model("fast"), "b": model("fast")},
        {"coding": {"primary": ["a"], "fallback": ["b"]}},
        retry_attempts=3, cooldown_failures=2, cooldown_s=1000,
    )  # fmt: skip
    fake = FakeBackend(latency={"a": 0.0, "b": 1.0}, failures={"a": BackendError("down")})
    orch = orchestrator(profile, fake)

    async def main():
        async with asyncio.timeout(500):  # virtual seconds: a wait for the cooldown fails
            return await orch.execute_parallel_tasks([("coding", f"t{i}") for i in range(3)])

    results = run_virtual(main())
    assert all(r.success and r.model_name == "b" for r in results)
    assert max(r.response_time for r in results) < 10
    assert all(r.attempts[-1].model == "b" for r in results)


def test_a_cooldown_carries_over_to_a_later_event_loop_and_still_ends():
    # cooled in one asyncio.run, whose wake-up timer died with its loop: a later run
    # still honours the cooldown, and still wakes up when it ends
    profile = make_profile({"a": model("fast")}, retry_attempts=1, cooldown_failures=1,
                           cooldown_s=40)  # fmt: skip
    fake = FakeBackend(failures={"a": [BackendError("once")]})
    orch = orchestrator(profile, fake)
    assert not run_virtual(orch.execute_task("coding", "p")).success

    async def later():
        async with asyncio.timeout(500):
            return await orch.execute_task("coding", "p")

    result = run_virtual(later())
    assert result.success and 0 < result.attempts[0].queue_wait_s <= 40
