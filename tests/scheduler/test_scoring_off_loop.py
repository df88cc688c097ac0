"""Scoring that runs tests happens off the event loop, so other tasks keep going meanwhile.

The scorer here is a stand-in (a function that blocks, not the real sandbox): what is
tested is where the orchestrator calls it, not what it computes.
"""

from __future__ import annotations

import threading

from orch_helpers import make_profile, model, orchestrator

from orchbench.config import TaskType
from orchbench.records import QualityChecks, TaskSpec
from orchbench.scheduler import run_sync
from orchbench.testing import FakeBackend

TESTS = QualityChecks(tests="assert True")


def one_slot():
    # One request at a time on the model, two tasks at once: "b" reaches the engine only
    # after "a" has left it, i.e. while "a" is being scored.
    return make_profile({"m": model("fast", concurrent_limit=1)}, max_concurrent_tasks=2)


def test_a_scorer_that_runs_tests_is_called_off_the_loop_thread():
    threads: list[threading.Thread] = []

    def scorer(*_args, **_kwargs):
        threads.append(threading.current_thread())
        return 1.0

    orch = orchestrator(one_slot(), FakeBackend(latency=0.001), scorer=scorer)
    spec = TaskSpec(TaskType.CODING, "p", None, checks=TESTS)
    (result,) = run_sync(orch.execute_parallel_tasks([spec]))
    assert result.success and result.quality_score == 1.0
    assert threads and threads[0] is not threading.main_thread()


def test_another_task_reaches_the_engine_while_one_is_being_scored():
    # Task "a" is answered first; its scorer blocks until task "b" has been answered by the
    # engine. On the loop thread that can never happen: the wait times out, quality 0.
    b_answered = threading.Event()

    def text(request):
        if request.prompt == "b":
            b_answered.set()
        return "ok"

    def scorer(task_type, prompt, answer, checks, **_kwargs):
        if prompt == "a":
            return 1.0 if b_answered.wait(timeout=10.0) else 0.0
        return 1.0

    fake = FakeBackend(latency={"m": 0.0}, text=text)
    orch = orchestrator(one_slot(), fake, scorer=scorer)
    tasks = [
        TaskSpec(TaskType.CODING, "a", None, checks=TESTS),
        TaskSpec(TaskType.CODING, "b", None),
    ]
    a, b = run_sync(orch.execute_parallel_tasks(tasks))
    assert b.success
    assert a.success and a.quality_score == 1.0, "the loop was blocked while task a was scored"
