"""An executor that runs every job on a thread of its own, which ends with the job.

llama.cpp's CPU backend runs a multi-threaded decode as an OpenMP parallel region, and
libgomp keeps a team of worker threads for every thread that ever started one, for as
long as that thread lives. Once the threads it keeps outnumber the cores, libgomp stops
spin-waiting at its barriers (its "throttled" spin count: 100 instead of 300,000, see
GOMP_SPINCOUNT in the libgomp manual), so every one of the hundreds of barriers in a
decode step becomes a futex sleep and wake-up. The threads of a thread pool live on and
each keeps its team, so one 2-thread model served from several pooled threads in turn is
throttled although only one team ever runs: measured on a 2-core VM (SmolLM2-135M, 2
threads, 48 tokens), 15–36 tok/s from two pooled threads in turn against 72–79 tok/s
from a fresh thread per request. A thread per job frees its team when the job ends, so
libgomp throttles only when the threads running at once exceed the cores.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class FreshThreads(Executor):
    """``submit`` starts a new thread for the job; ``shutdown`` waits for those running.

    >>> with FreshThreads("demo") as threads:
    ...     threads.submit(sum, [1, 2]).result()
    3
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._running: set[threading.Thread] = set()
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` on a new thread; its future.

        Raises ``RuntimeError`` after :meth:`shutdown`, as every executor does.
        """
        future: Future[T] = Future()

        def run() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                with self._lock:
                    self._running.discard(threading.current_thread())

        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            thread = threading.Thread(target=run, name=f"{self._prefix}_{next(self._numbers)}")
            self._running.add(thread)
            thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new jobs; with ``wait``, wait for the running ones to end
        (``cancel_futures`` changes nothing: no job ever waits for a thread)."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        if wait:
            for thread in running:
                thread.join()

    @property
    def running(self) -> int:
        """Jobs whose thread has not ended yet."""
        with self._lock:
            return len(self._running)
