"""Batches start each task only when it gets a slot, and still behave like gather."""

from __future__ import annotations

import asyncio

import pytest
from orch_helpers import make_profile, model, orchestrator

from orchbench.scheduler import run_sync
from orchbench.testing import FakeBackend


def one_slot():
    return make_profile({"a": model("fast")}, max_concurrent_tasks=1)


def test_cancelling_a_batch_cancels_running_tasks_and_withdraws_waiting_ones():
    fake = FakeBackend(latency=10.0)
    orch = orchestrator(one_slot(), fake)
    dispatcher = orch._dispatcher

    async def main():
        batch = asyncio.ensure_future(
            orch.execute_parallel_tasks([("coding", str(i)) for i in range(5)])
        )
        await asyncio.sleep(0.01)
        assert (dispatcher.total, dispatcher.waiting) == (1, 4)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        assert (dispatcher.total, dispatcher.waiting) == (0, 0)
        fake.latency = 0.0
        after = await orch.execute_parallel_tasks([("coding", "x"), ("coding", "y")])
        return [r.text for r in after if r.success]

    assert run_sync(main()) == ["ok", "ok"]
    assert [c.prompt for c in fake.calls] == ["0", "x", "y"]  # withdrawn tasks never ran


def test_the_first_exception_of_a_task_propagates_and_the_rest_are_cancelled(monkeypatch):
    fake = FakeBackend(latency=0.001)
    orch = orchestrator(one_slot(), fake)
    keep = orch._tracker.add_result

    def broken(result):
        if result.prompt == "1":
            raise RuntimeError("bug while finishing task 1")
        keep(result)

    monkeypatch.setattr(orch._tracker, "add_result", broken)
    with pytest.raises(RuntimeError, match="task 1"):
        run_sync(orch.execute_parallel_tasks([("coding", str(i)) for i in range(4)]))
    assert orch._dispatcher.total == 0 and orch._dispatcher.waiting == 0
    # task 2 got task 1's slot before the error surfaced, and was cancelled; 3 never ran
    assert "3" not in [c.prompt for c in fake.calls]


def test_an_empty_batch_is_an_empty_list():
    orch = orchestrator(one_slot(), FakeBackend())
    assert run_sync(orch.execute_parallel_tasks([])) == []
