"""A virtual-clock asyncio event loop: time jumps to the next timer instead of passing.

:class:`VirtualClockLoop` is an ordinary :class:`asyncio.SelectorEventLoop` whose
:meth:`~VirtualClockLoop.time` reads a virtual clock. When no callback is ready, the
loop would normally sleep in ``select(timeout)`` until the earliest timer is due; here
the selector polls without blocking and, if nothing happened, moves the clock straight
to that timer. ``asyncio.sleep(3600)`` therefore returns at virtual instant +3600 s
after microseconds of wall time, and every timer, ``asyncio.timeout`` and
``call_later`` fires in order at its exact virtual instant.

Work handed to threads (``run_in_executor``, ``asyncio.to_thread``) cannot be
simulated: while any is pending the clock stands still and the loop waits for it in
real time, so a thread's result never arrives "before" timers it should follow.

>>> import asyncio
>>> async def nap() -> float:
...     await asyncio.sleep(3600)
...     return asyncio.get_running_loop().time()
>>> run_virtual(nap())
3600.0
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from orchbench.engine import on_virtual_clock

T = TypeVar("T")

# A wall-clock bound on one wait for a thread, so a lost wake-up cannot hang the loop.
_THREAD_POLL_S = 0.05


class _VirtualSelector(selectors.BaseSelector):
    """Wraps a real selector: polls it without blocking, then advances the virtual clock."""

    def __init__(self, inner: selectors.BaseSelector, loop_ref: list[VirtualClockLoop]) -> None:
        self._inner = inner
        self._loop_ref = loop_ref

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        loop = self._loop_ref[0]
        if loop._pending_threads:
            # A thread is working: wait for it in real time, the clock standing still.
            return self._inner.select(_THREAD_POLL_S)
        if timeout is None:
            # No timer at all: only a socket or signal can make progress, as in asyncio.
            return self._inner.select(None)
        loop._advance_to_next_timer(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time; see the module docstring.

    ``time()`` starts at ``start`` (default 0.0) and only moves when the loop has
    nothing to run, to the instant of the earliest scheduled timer.
    """

    def __init__(self, start: float = 0.0) -> None:
        loop_ref: list[VirtualClockLoop] = []
        super().__init__(selector=_VirtualSelector(selectors.DefaultSelector(), loop_ref))
        loop_ref.append(self)
        self._virtual_now = float(start)
        self._pending_threads = 0

    def time(self) -> float:
        """The virtual instant, in seconds."""
        return self._virtual_now

    def _advance_to_next_timer(self, timeout: float) -> None:
        target = self._virtual_now + timeout
        scheduled = self._scheduled  # type: ignore[attr-defined]  # a heap; the head is the earliest live timer
        if scheduled and scheduled[0]._when <= target + self._clock_resolution:  # type: ignore[attr-defined]
            target = scheduled[0]._when
        self._virtual_now = max(self._virtual_now, target)

    def run_in_executor(  # type: ignore[override]
        self, executor: concurrent.futures.Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """Run ``func`` in a thread; the virtual clock stands still until it finishes."""
        future = super().run_in_executor(executor, func, *args)
        self._pending_threads += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future[Any]) -> None:
        self._pending_threads -= 1


def is_virtual(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Whether ``loop`` (default: the running loop) is a :class:`VirtualClockLoop`."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
    return isinstance(loop, VirtualClockLoop)


def run_virtual(main: Coroutine[Any, Any, T], *, start: float = 0.0) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualClockLoop`, like ``asyncio.run``.

    The loop is closed afterwards (async generators and the default executor shut down).
    """
    with asyncio.Runner(loop_factory=lambda: VirtualClockLoop(start)) as runner:
        return runner.run(main)


def run_on(backend: object, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on the virtual clock if ``backend`` needs it (its ``virtual_clock``), else
    with ``asyncio.run``.

    A convenience for command-line code that runs an orchestrator on any backend.
    """
    if on_virtual_clock(backend):
        return run_virtual(main)
    return asyncio.run(main)
