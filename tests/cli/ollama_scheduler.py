"""The scheduling core of :class:`ollama_standin.OllamaStandin` (a stand-in, not Ollama).

Thread-safe (one thread per HTTP request): a request waits in one FIFO until its model has a
free slot of the server's ``num_parallel`` and is loaded, loading it (after evicting the least
recently used idle model when ``max_loaded_models`` or the memory budget is full) when it is
not, or when its ``num_ctx`` differs from the loaded runner's. More than ``max_queue`` waiting
requests: :class:`ServerBusy` (the caller answers HTTP 503). What the server saw is kept for
the tests: the most requests in flight per model and overall, and every load and eviction.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

BUSY = "server busy, please try again.  maximum pending requests exceeded"
"""Ollama's own 503 message (server/sched.go ``ErrMaxQueue``)."""


class ServerBusy(Exception):
    """More than ``max_queue`` requests wait: Ollama answers HTTP 503."""


@dataclass
class Runner:
    """A loaded model: its context, size, requests in flight, when it was last used."""

    name: str
    num_ctx: int
    size: int
    active: int = 0
    last_used: float = field(default_factory=time.monotonic)
    ready: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Ticket:
    """One request waiting in the server's FIFO."""

    model: str


@dataclass(frozen=True)
class Grant:
    """A slot on a loaded model; ``loaded_s`` is the load time this request paid (0 if warm)."""

    runner: Runner
    loaded_s: float


class Scheduler:
    """One ``num_parallel`` for every model, FIFO, LRU eviction within memory and count."""

    def __init__(
        self,
        *,
        num_parallel: int,
        max_loaded_models: int,
        max_queue: int,
        memory_bytes: int,
        load_s: float,
    ) -> None:
        self.num_parallel = num_parallel
        self.max_loaded_models = max_loaded_models
        self.max_queue = max_queue
        self.memory_bytes = memory_bytes
        self.load_s = load_s
        self.runners: OrderedDict[str, Runner] = OrderedDict()
        self.queue: deque[Ticket] = deque()
        self.cond = threading.Condition()
        self.max_in_flight: dict[str, int] = {}
        self.max_total = 0
        self.loads: list[str] = []
        self.evictions: list[str] = []

    def acquire(self, name: str, num_ctx: int, size: int) -> Grant:
        """Wait in the FIFO for a slot on ``name``, loading it first when it is not loaded."""
        ticket = Ticket(name)
        with self.cond:
            if len(self.queue) >= self.max_queue:
                raise ServerBusy(BUSY)
            self.queue.append(ticket)
            runner, load = None, False
            while runner is None:
                runner, load = self._admit(ticket, name, num_ctx, size)
                if runner is None:
                    self.cond.wait(0.5)
            self.queue.remove(ticket)
            runner.active += 1
            self._count(name)
            self.cond.notify_all()
        if load:
            time.sleep(self.load_s)  # this request loads the runner; others wait for it
            runner.ready.set()
            return Grant(runner, self.load_s)
        runner.ready.wait()
        return Grant(runner, 0.0)

    def release(self, grant: Grant) -> None:
        """Give the slot back; the runner stays loaded (keep_alive is not modelled)."""
        with self.cond:
            grant.runner.active -= 1
            grant.runner.last_used = time.monotonic()
            self.cond.notify_all()

    def loaded(self) -> list[Runner]:
        """The runners loaded now, least recently used first."""
        with self.cond:
            return list(self.runners.values())

    def _admit(
        self, ticket: Ticket, name: str, num_ctx: int, size: int
    ) -> tuple[Runner | None, bool]:
        """(the runner to use now or None to wait, whether this request loads it)."""
        first = next(t for t in self.queue if t.model == name)
        if first is not ticket:
            return None, False  # FIFO: an older request for this model goes first
        runner = self.runners.get(name)
        if runner is not None and runner.num_ctx != num_ctx:
            if runner.active:
                return None, False  # a reload for another num_ctx waits for the runner to idle
            self.runners.pop(name)
            runner = None
        if runner is None:
            if not self._make_room(size):
                return None, False
            runner = self.runners[name] = Runner(name, num_ctx, size)
            self.loads.append(name)
            self.runners.move_to_end(name)
            return runner, True
        if runner.active >= self.num_parallel:
            return None, False
        self.runners.move_to_end(name)
        return runner, False

    def _make_room(self, size: int) -> bool:
        """Evict least recently used idle runners until one more of ``size`` fits."""
        while self.runners and (
            len(self.runners) >= self.max_loaded_models
            or sum(r.size for r in self.runners.values()) + size > self.memory_bytes
        ):
            idle = [r for r in self.runners.values() if r.active == 0]
            if not idle:
                return False
            victim = min(idle, key=lambda r: r.last_used)
            self.runners.pop(victim.name)
            self.evictions.append(victim.name)
        return True

    def _count(self, name: str) -> None:
        self.max_in_flight[name] = max(self.max_in_flight.get(name, 0), self.runners[name].active)
        total = sum(r.active for r in self.runners.values())
        self.max_total = max(self.max_total, total)
