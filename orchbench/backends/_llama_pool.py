"""A pool of llama.cpp instances of one model, one request per instance at a time.

Slots ``0 .. limit-1`` are handed out by :meth:`LlamaPool.acquire` (on an event loop)
and given back by :meth:`LlamaPool.release` (from any thread: the worker that used the
instance releases it when it really stops, even after its request timed out). An
instance is built in the worker thread by :meth:`LlamaPool.ensure`, so loading never
blocks the event loop. When the model's settings change (:meth:`LlamaPool.configure`),
idle instances built with the old settings are freed at once and busy ones when they are
released; lowering the limit retires the slots above it the same way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

# llama-cpp-python silences model loading by pointing the *process's* stdout/stderr file
# descriptors at /dev/null and back; two loads at once leave them pointing at /dev/null
# for good. The descriptors are process-wide, so this lock has to be too.
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class InstanceKey:
    """The settings an instance was built with; a different key means a rebuild."""

    path: str
    n_threads: int
    n_ctx: int


@dataclass(slots=True)
class _Instance:
    llm: Any
    key: InstanceKey


class LlamaPool:
    """Up to ``limit`` ``llama_cpp.Llama`` instances of the model called ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._key: InstanceKey | None = None
        self._limit = 1
        self._instances: dict[int, _Instance] = {}
        self._busy: set[int] = set()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[int]]] = deque()

    def configure(self, key: InstanceKey, limit: int) -> None:
        """Apply the model's current settings; idle instances that no longer fit are freed."""
        with self._lock:
            self._key, self._limit = key, limit
            stale = [
                i
                for i, inst in self._instances.items()
                if i not in self._busy and (inst.key != key or i >= limit)
            ]
            dropped = [self._instances.pop(i) for i in stale]
            handoffs = self._dispatch_locked()
        _free(dropped)
        _hand_all(self, handoffs)

    async def acquire(self) -> int:
        """Wait for a free slot and return its index (a built instance is preferred)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            free = self._free_slots_locked()
            if free:
                self._busy.add(free[0])
                return free[0]
            future: asyncio.Future[int] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result())
            raise

    def release(self, index: int) -> None:
        """Give slot ``index`` back (any thread); hand it to a waiter if one is waiting."""
        with self._lock:
            self._busy.discard(index)
            inst = self._instances.get(index)
            dropped = []
            if inst is not None and (inst.key != self._key or index >= self._limit):
                dropped.append(self._instances.pop(index))
            handoffs = self._dispatch_locked()
        _free(dropped)
        _hand_all(self, handoffs)

    def ensure(self, index: int) -> float:
        """Build slot ``index``'s instance if missing or stale; return the load seconds (0 if none).

        Called in a worker thread by the holder of the slot, so no one else touches it.
        """
        with self._lock:
            key = self._key
            inst = self._instances.get(index)
        if key is None:
            raise RuntimeError(f"pool {self.name!r} used before configure()")
        if inst is not None and inst.key == key:
            return 0.0
        if inst is not None:
            with self._lock:
                self._instances.pop(index, None)
            _free([inst])
        import llama_cpp

        start = time.perf_counter()
        with _LOAD_LOCK:
            llm = llama_cpp.Llama(
                model_path=key.path,
                n_threads=key.n_threads,
                n_threads_batch=key.n_threads,
                n_ctx=key.n_ctx,
                verbose=False,
            )
        load_s = time.perf_counter() - start
        with self._lock:
            self._instances[index] = _Instance(llm, key)
        return load_s

    def llm(self, index: int) -> Any:
        """The ``llama_cpp.Llama`` of slot ``index`` (after :meth:`ensure`)."""
        with self._lock:
            return self._instances[index].llm

    @property
    def built(self) -> int:
        """Instances held now (built and not yet freed)."""
        with self._lock:
            return len(self._instances)

    def close(self) -> None:
        """Free every instance (call only when no request is running)."""
        with self._lock:
            dropped = list(self._instances.values())
            self._instances.clear()
        _free(dropped)

    # -- internals (hold self._lock) -------------------------------------------------------

    def _free_slots_locked(self) -> list[int]:
        free = [i for i in range(self._limit) if i not in self._busy]
        # Prefer a slot whose instance is already built with the current settings.
        return sorted(free, key=lambda i: (not self._ready_locked(i), i))

    def _ready_locked(self, index: int) -> bool:
        inst = self._instances.get(index)
        return inst is not None and inst.key == self._key

    def _dispatch_locked(self) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[int], int]]:
        handoffs = []
        free = self._free_slots_locked()
        while free and self._waiters:
            loop, future = self._waiters.popleft()
            if future.done() or loop.is_closed():
                continue
            index = free.pop(0)
            self._busy.add(index)
            handoffs.append((loop, future, index))
        return handoffs


def _hand_all(
    pool: LlamaPool, handoffs: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[int], int]]
) -> None:
    for loop, future, index in handoffs:
        try:
            loop.call_soon_threadsafe(_hand, pool, future, index)
        except RuntimeError:  # the waiter's loop closed meanwhile
            pool.release(index)


def _hand(pool: LlamaPool, future: asyncio.Future[int], index: int) -> None:
    # Runs on the waiter's loop; the waiter may have given up since the slot was chosen.
    if future.done():
        pool.release(index)
    else:
        future.set_result(index)


def _free(instances: list[_Instance]) -> None:
    for inst in instances:
        inst.llm.close()
