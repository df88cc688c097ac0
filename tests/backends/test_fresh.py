"""A thread per job (orchbench.backends._fresh), and what it is for: after a multi-threaded
generation on the real bundled models, no OpenMP team is left behind, in instance mode
and in batched mode. The team is seen as operating-system threads of this process
(psutil), not timed: a team left behind is what slowed later 2-thread decodes 3–5×.
"""

from __future__ import annotations

import asyncio
import threading
import time

import psutil
import pytest
from test_embedded import gemma, request

from orchbench.backends import EmbeddedBackend
from orchbench.backends._fresh import FreshThreads


def test_every_job_runs_on_a_thread_of_its_own_that_ends_with_it():
    threads = FreshThreads("t")
    seen = [threads.submit(threading.current_thread).result() for _ in range(3)]
    assert len({id(t) for t in seen}) == 3
    assert [t.name for t in seen] == ["t_0", "t_1", "t_2"]
    for thread in seen:
        thread.join(5)
        assert not thread.is_alive()
    assert threads.running == 0  # each thread struck itself off before it ended


def test_an_error_reaches_the_future_and_shutdown_waits_then_refuses():
    threads = FreshThreads("t")
    with pytest.raises(ZeroDivisionError):
        threads.submit(lambda: 1 / 0).result()
    release = threading.Event()
    slow = threads.submit(release.wait, 5)
    assert not slow.done()
    timer = threading.Timer(0.05, release.set)
    timer.start()
    threads.shutdown(wait=True)
    assert slow.done() and slow.result() is True
    with pytest.raises(RuntimeError, match="after shutdown"):
        threads.submit(sum, [1])


def test_it_serves_asyncio_run_in_executor():
    async def main() -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(FreshThreads("t"), sum, [1, 2, 3])

    assert asyncio.run(main()) == 6


def _settled_threads(baseline: int, timeout: float = 10.0) -> int:
    """This process's thread count once it is back to ``baseline`` (or after ``timeout``:
    libgomp's team ends a moment after the thread that owned it)."""
    process = psutil.Process()
    deadline = time.monotonic() + timeout
    while process.num_threads() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return process.num_threads()


@pytest.mark.embedded
@pytest.mark.parametrize("num_parallel", [None, 2], ids=["instances", "batched"])
def test_a_two_thread_model_leaves_no_thread_behind_when_idle(num_parallel: int | None):
    model = gemma(n_threads=2, concurrent_limit=2, num_parallel=num_parallel)

    async def main() -> tuple[int, int]:
        backend = EmbeddedBackend()
        try:
            await backend.warmup(model)
            baseline = _settled_threads(psutil.Process().num_threads())
            for _ in range(2):  # two rounds of two at once: every copy decodes
                results = await asyncio.gather(*(backend.generate(request(model)) for _ in "ab"))
                assert all(r.timings.completion_tokens for r in results)
            return baseline, _settled_threads(baseline)
        finally:
            await backend.close()

    baseline, after = asyncio.run(main())
    assert after <= baseline  # a thread left from before may have ended meanwhile
