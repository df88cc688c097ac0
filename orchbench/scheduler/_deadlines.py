"""Request timeouts for many concurrent attempts on one loop timer.

``asyncio.timeout`` arms and cancels a loop timer per use, which costs several
microseconds: more than the rest of the scheduler spends on a task. :class:`Deadlines`
keeps the same semantics (the task is cancelled when its deadline passes and the
cancellation turns into a timeout, unless someone else also cancelled it) with one timer
for the earliest pending deadline. Deadlines are mostly handed out in time order, so the
heap stays short: finished entries at its head are dropped on every new entry.

It uses only ``loop.call_at`` and ``loop.time()``, so it runs on a virtual clock too.
"""

from __future__ import annotations

import asyncio
from heapq import heappop, heappush


class Deadline:
    """One attempt's deadline; ``expired`` once its task was cancelled for it."""

    __slots__ = ("cancelling", "done", "expired", "task")

    def __init__(self, task: asyncio.Task[object], cancelling: int) -> None:
        self.task = task
        self.cancelling = cancelling
        self.done = False
        self.expired = False


class Deadlines:
    """Hands out :class:`Deadline` entries and cancels the tasks whose deadline passes.

    >>> # inside a task:                                                # doctest: +SKIP
    >>> entry = deadlines.enter(loop, loop.time() + 30.0)
    >>> try:
    ...     await work()
    ... except asyncio.CancelledError:
    ...     if not deadlines.leave(entry):
    ...         raise
    ...     ...  # timed out
    ... else:
    ...     deadlines.leave(entry)
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0

    def enter(self, loop: asyncio.AbstractEventLoop, when: float) -> Deadline:
        """Start a deadline at loop time ``when`` for the current task."""
        if loop is not self._loop:  # a new asyncio.run: timers of the old loop are gone
            self._loop, self._heap, self._handle = loop, [], None
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadlines.enter must be called from inside a task")
        entry = Deadline(task, task.cancelling())
        heap = self._heap
        while heap and heap[0][2].done:
            heappop(heap)
        self._seq += 1
        heappush(heap, (when, self._seq, entry))
        if self._handle is None or when < self._when:
            self._arm(loop, when)
        return entry

    def leave(self, entry: Deadline) -> bool:
        """End ``entry``; true if it expired and that (not an outer cancel) stopped the task.

        Call it exactly once, whatever happened; when it returns true and the task saw
        ``CancelledError``, treat the attempt as timed out.
        """
        entry.done = True
        if not entry.expired:
            return False
        return entry.task.uncancel() <= entry.cancelling

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = loop.call_at(when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        heap = self._heap
        now = loop.time()
        # A timer may fire a clock tick early: an entry not yet due re-arms the timer and
        # is checked again on the next loop iteration.
        while heap and (heap[0][2].done or heap[0][0] <= now):
            entry = heappop(heap)[2]
            if not entry.done and not entry.expired:
                entry.expired = True
                entry.task.cancel()
        if heap:
            self._arm(loop, heap[0][0])
