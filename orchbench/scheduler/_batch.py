"""Running a batch of tasks, each one's asyncio task created only when it gets its slot.

``asyncio.gather`` over one coroutine per task would start every task at once, only for
most of them to park on the dispatcher's queue and be woken later: two trips through the
event loop per task where one does. Here a task that must wait is a lazy request
(:meth:`~orchbench.scheduler._dispatch.Dispatcher.request` with a starter) and its asyncio task is
created when the dispatcher grants it a slot. The batch's behaviour is ``gather``'s:
results in submission order, the first exception propagates, and cancelling the batch
cancels its running tasks and withdraws its waiting ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from orchbench.records import TaskResult
from orchbench.scheduler._attempts import Job
from orchbench.scheduler._dispatch import Dispatcher, Waiter

RunJob = Callable[[Job, str | None], Coroutine[Any, Any, TaskResult]]
"""``run(job, slot)``: run a job to its result; ``slot`` is a model already granted."""


async def run_batch(dispatcher: Dispatcher, run: RunJob, jobs: Sequence[Job]) -> list[TaskResult]:
    """Run ``jobs`` (with consecutive task ids) within the limits; results in their order."""
    if not jobs:
        return []
    loop = asyncio.get_running_loop()
    first_id = jobs[0].task_id
    results: list[TaskResult | None] = [None] * len(jobs)
    tasks: list[asyncio.Task[TaskResult]] = []
    done: asyncio.Future[None] = loop.create_future()
    pending = len(jobs)

    def finished(task: asyncio.Task[TaskResult]) -> None:
        nonlocal pending
        if done.done():
            return
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            result = task.result()
            results[result.task_id - first_id] = result
            pending -= 1
            if not pending:
                done.set_result(None)

    def start(waiter: Waiter, slot: str) -> None:
        waiter.held = slot  # until the task's first step takes it over (see Job.held)
        task = loop.create_task(run(waiter, slot))  # type: ignore[arg-type]
        task.add_done_callback(finished)
        tasks.append(task)

    for job in jobs:
        slot = dispatcher.request(job, job.routes, job.names, starter=start)
        if slot is not None:
            start(job, slot)  # type: ignore[arg-type]
    try:
        await done
    except BaseException:
        for job in jobs:
            dispatcher.forget(job)
        for task in tasks:
            task.cancel()
        try:
            # Let cancelled tasks give their slots back before the caller goes on.
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # A task cancelled before its first step never ran a line: its slot is ours.
            for job in jobs:
                if job.held:
                    dispatcher.release(job.held, job.host)
                job.held = ""
        raise
    return results  # type: ignore[return-value]
