"""The batched contexts of one model: ``ceil(concurrent_limit / num_parallel)`` of them.

A request goes to the context with the fewest sequences in flight (ties: the first), so
``instances x num_parallel`` requests decode at once. When the model's settings change
(:meth:`BatchedPool.configure`), contexts built with the old ones are retired: they finish
the sequences they hold, take no new ones and free their memory. When the model goes back
to instances (``num_parallel`` 1), :meth:`BatchedPool.retire_all` retires every context;
:meth:`BatchedPool.warmup` and :meth:`BatchedPool.settle` wait until retired ones are gone,
so a measurement that follows never shares the cores or the memory with them.
"""

from __future__ import annotations

import threading
import time

from orchbench.backends._batched import BatchedContext, ContextKey
from orchbench.backends._batched_seq import Sequence


class BatchedPool:
    """Up to ``count`` :class:`BatchedContext` of the model called ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._key: ContextKey | None = None
        self._count = 1
        self._contexts: dict[int, BatchedContext] = {}
        self._retired: list[BatchedContext] = []

    def configure(self, key: ContextKey, count: int) -> None:
        """Apply the model's current settings; contexts that no longer fit are retired."""
        with self._lock:
            self._key, self._count = key, count
            for index, context in list(self._contexts.items()):
                if context.key != key or index >= count:
                    self._retire_locked(index)

    def submit(self, seq: Sequence) -> None:
        """Hand ``seq`` to the least busy context, building one if need be."""
        with self._lock:
            context = self._choose_locked()
        context.submit(seq)

    def warmup(self) -> float:
        """Build every context and wait for retired ones to end (blocking); the seconds of
        loading it waited for (0 if none)."""
        start = time.perf_counter()
        with self._lock:
            contexts = [self._context_locked(i) for i in range(self._count)]
        fresh = any(not c.loaded.is_set() for c in contexts)
        for context in contexts:
            context.loaded.wait()
        self.settle()
        return time.perf_counter() - start if fresh else 0.0

    def retire_all(self) -> None:
        """Retire every context (they finish their sequences, then free their memory); the
        pool builds new ones after the next :meth:`configure` and use."""
        with self._lock:
            for index in list(self._contexts):
                self._retire_locked(index)

    def settle(self) -> None:
        """Wait until every retired context has finished and freed its memory (blocking)."""
        with self._lock:
            retired, self._retired = self._retired, []
        for context in retired:
            context.join()

    @property
    def live(self) -> int:
        """Contexts whose worker still runs: current ones and retired ones not yet ended."""
        with self._lock:
            held = [*self._contexts.values(), *self._retired]
        return sum(c.is_alive() for c in held)

    def close(self) -> None:
        """Retire every context and wait for their threads (call off the event loop)."""
        self.retire_all()
        self.settle()

    # -- internals (hold self._lock) --------------------------------------------------------

    def _choose_locked(self) -> BatchedContext:
        contexts = [self._context_locked(i) for i in range(self._count)]
        return min(contexts, key=lambda c: c.load)

    def _context_locked(self, index: int) -> BatchedContext:
        context = self._contexts.get(index)
        if context is not None and context.dead:  # its model failed to load: try again
            self._retire_locked(index)
            context = None
        if context is None:
            if self._key is None:
                raise RuntimeError(f"pool {self.name!r} used before configure()")
            context = BatchedContext(self._key, self.name, index * self._key.n_seq)
            self._contexts[index] = context
        return context

    def _retire_locked(self, index: int) -> None:
        context = self._contexts.pop(index)
        context.retire()
        self._retired = [c for c in self._retired if c.is_alive()] + [context]
