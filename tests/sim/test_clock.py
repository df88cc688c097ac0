"""The virtual clock: timers fire in order at their virtual instants, without real waiting."""

from __future__ import annotations

import asyncio
import time

import pytest

from orchbench.sim import VirtualClockLoop, is_virtual, run_virtual


def test_sleep_of_an_hour_returns_at_virtual_3600_without_waiting():
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    wall = time.perf_counter()
    assert run_virtual(main()) == pytest.approx(3600.0)
    # Generous bound: a real sleep would take an hour; this checks "no real waiting".
    assert time.perf_counter() - wall < 60


def test_timers_fire_in_order_at_their_instants():
    fired: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for name, delay in [("c", 30.0), ("a", 0.5), ("b", 7.25)]:
            loop.call_later(delay, lambda n=name: fired.append((n, loop.time())))
        await asyncio.sleep(100)

    run_virtual(main())
    assert [n for n, _ in fired] == ["a", "b", "c"]
    assert [t for _, t in fired] == pytest.approx([0.5, 7.25, 30.0])


def test_start_instant_is_configurable():
    async def main() -> float:
        await asyncio.sleep(2)
        return asyncio.get_running_loop().time()

    assert run_virtual(main(), start=1000.0) == pytest.approx(1002.0)


def test_cancelled_sleeper_does_not_fire_and_time_still_advances():
    woke: list[float] = []

    async def sleeper() -> None:
        await asyncio.sleep(50)
        woke.append(asyncio.get_running_loop().time())

    async def main() -> float:
        task = asyncio.create_task(sleeper())
        await asyncio.sleep(10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(100)
        return asyncio.get_running_loop().time()

    assert run_virtual(main()) == pytest.approx(110.0)
    assert woke == []


def test_timeout_fires_at_the_right_virtual_instant():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(12.5):
                await asyncio.sleep(1000)
        return loop.time()

    assert run_virtual(main()) == pytest.approx(12.5)


def test_wait_for_returns_before_its_timeout():
    async def main() -> tuple[int, float]:
        value = await asyncio.wait_for(asyncio.sleep(3, result=7), timeout=5)
        return value, asyncio.get_running_loop().time()

    assert run_virtual(main()) == (7, pytest.approx(3.0))


def test_gather_of_many_sleepers_ends_at_the_longest():
    async def sleeper(i: int) -> float:
        await asyncio.sleep(i * 0.1)
        return asyncio.get_running_loop().time()

    async def main() -> list[float]:
        return await asyncio.gather(*(sleeper(i) for i in range(2000)))

    times = run_virtual(main())
    assert times == pytest.approx([i * 0.1 for i in range(2000)])


def test_thread_work_freezes_the_clock():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(time.sleep, 0.05)
        return loop.time()

    assert run_virtual(main()) == 0.0


def test_is_virtual_tells_the_loops_apart():
    async def probe() -> bool:
        return is_virtual()

    assert run_virtual(probe()) is True
    assert asyncio.run(probe()) is False
    assert is_virtual() is False
    loop = VirtualClockLoop()
    try:
        assert is_virtual(loop) and loop.time() == 0.0
    finally:
        loop.close()
