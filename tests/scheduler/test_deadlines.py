"""The shared-timer deadlines behave like ``asyncio.timeout`` for each attempt."""

from __future__ import annotations

import asyncio

from orchbench.scheduler._deadlines import Deadlines


async def guarded(deadlines: Deadlines, seconds: float, work: float) -> str:
    loop = asyncio.get_running_loop()
    entry = deadlines.enter(loop, loop.time() + seconds)
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError:
        if not deadlines.leave(entry):
            raise
        return "timed out"
    deadlines.leave(entry)
    return "done"


def test_each_task_times_out_at_its_own_deadline_whatever_the_order():
    deadlines = Deadlines()

    async def main():
        return await asyncio.gather(
            guarded(deadlines, 0.05, 1.0),  # later deadline armed first
            guarded(deadlines, 0.01, 1.0),
            guarded(deadlines, 1.0, 0.0),
        )

    assert asyncio.run(main()) == ["timed out", "timed out", "done"]


def test_an_outer_cancel_stays_a_cancel():
    deadlines = Deadlines()

    async def main():
        task = asyncio.ensure_future(guarded(deadlines, 10.0, 10.0))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "not cancelled"

    assert asyncio.run(main()) == "cancelled"


def test_it_works_across_event_loops():
    deadlines = Deadlines()
    assert asyncio.run(guarded(deadlines, 10.0, 0.0)) == "done"
    assert asyncio.run(guarded(deadlines, 0.01, 1.0)) == "timed out"
