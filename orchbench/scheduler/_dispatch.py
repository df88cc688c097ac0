"""The slot dispatcher: per-model and global limits, a priority queue with aging, cooldowns.

A task that wants to run asks :meth:`Dispatcher.request` for a slot on one of its
candidate models and gets back the model to run on, or a future of it. Limits are read
live from the profile at every decision, so edits to ``concurrent_limit`` or
``max_concurrent_tasks`` apply at once.

Why it is fast: effective priority is ``priority + waited / aging_s``. Comparing two
waiting tasks at any instant ``now``, ``now / aging_s`` cancels out, so the order is fixed
by ``priority - enqueued_at / aging_s``: a plain heap keyed on that value serves tasks by
aged priority without ever re-sorting (the keys are recomputed only if ``aging_s`` changes).
Waiting tasks are grouped by the set of models they may use (few distinct sets in
practice), one heap each; a dispatch compares only the heads of those heaps, which keeps
the scheduler work-conserving (a lower-priority task takes a slot the higher-priority
one cannot use) at O(groups + log n) per slot.

Invariant kept between calls: no waiting task has a free, usable candidate. So a new task
may take a free slot directly when nobody waits.

Deployments: a model with ``deployments`` (several hosts) has a free slot when the model is
under its own ``concurrent_limit`` *and* one of its deployments is under its own limit, its
host's breaker closed and the deployment not cooling down. The grant takes both at once —
the model's slot and one deployment's (:func:`~orchbench.scheduler._routing.place`: most
free slots, then fastest measured) — and names the host on the waiter (``Waiter.host``), so
the model's, the global and every deployment's limit hold exactly at every instant. Breakers
and cooldowns live in :mod:`orchbench.scheduler._health`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence, Set
from heapq import heapify, heappop, heappush

from orchbench.config import Complexity, ModelConfig, Profile
from orchbench.scheduler._health import Health, deployment_key
from orchbench.scheduler._routing import Candidate, SpeedTracker, choose, place

logger = logging.getLogger("orchbench")
GONE = ""
"""What :meth:`Dispatcher.request` gives when none of the candidates exists any more."""
COOLED = "\x00cooled"
"""What a retrying :meth:`Dispatcher.request` gives when its model cooled down."""


class Waiter:
    """A task's place in the queue: its aged-priority inputs and the slot it is waiting for."""

    __slots__ = (
        "avoid", "complexity", "enqueued_at", "future", "held", "host", "options", "priority",
        "seq", "starter", "task_id",
    )  # fmt: skip

    def __init__(
        self, task_id: int, priority: float, enqueued_at: float, complexity: Complexity
    ) -> None:
        self.task_id = task_id
        self.seq = task_id
        self.priority = priority
        self.enqueued_at = enqueued_at
        self.complexity = complexity
        self.options: Sequence[Candidate] = ()
        self.future: asyncio.Future[str] | None = None
        self.starter: Starter | None = None
        self.held = ""
        """A slot granted to a lazy start whose task has not run yet (see ``_batch``)."""
        self.host = ""
        """The host of the deployment of the slot granted last (``""``: the profile's)."""
        self.avoid = ""
        """A host that just failed this task: another free deployment is preferred."""


Starter = Callable[[Waiter, str], None]
"""Called with a waiter and its granted model (or :data:`GONE`) by a lazy request."""


class Dispatcher(Health):
    """Slots, waiting tasks and cooldowns for one orchestrator (see the module docstring)."""

    def __init__(self, profile: Profile, speeds: SpeedTracker) -> None:
        self.profile = profile
        self.speeds = speeds
        self.in_flight: dict[str, int] = {}
        """Requests in flight per model, across its deployments."""
        self.deployed: dict[tuple[str, str], int] = {}
        """Requests in flight per deployment (model, host) of models with ``deployments``."""
        self.host_speeds = SpeedTracker()
        """Measured response time per deployment (:func:`deployment_key`)."""
        self.total = 0
        self.waiting = 0
        self._groups: dict[tuple[tuple[str, ...], bool], list[tuple[float, int, Waiter]]] = {}
        self._aging_s = profile.settings.aging_s
        self._init_health()

    # -- slots ---------------------------------------------------------------------------

    def _free(self, name: str) -> bool:
        model = self.profile.models.get(name)
        if model is None or self.in_flight.get(name, 0) >= model.concurrent_limit:
            return False
        if model.deployments:
            return any(
                self._deployment_free(name, d.host, d.concurrent_limit) for d in model.deployments
            )
        if self._broken_until and self.broken() is not None:
            return False
        return not (self.cooling_until and self.cooling(name))

    def _deployment_free(self, name: str, host: str, limit: int) -> bool:
        if self.deployed.get((name, host), 0) >= limit:
            return False
        if self._broken_until and self.broken(host) is not None:
            return False
        return not (self.cooling_until and self.cooling_key(deployment_key(name, host)))

    def _down(self, name: str) -> bool:
        # Removed, or every host serving it has its breaker open.
        model = self.profile.models.get(name)
        if model is None:
            return True
        if model.deployments:
            return all(self.broken(d.host) is not None for d in model.deployments)
        return self.broken() is not None

    def _dead(self, name: str, models: Mapping[str, object]) -> bool:
        # No slot will come for this model soon: removed, or its hosts' breakers are open.
        return name not in models or (self._broken_until > 0 and self._down(name))

    def over(self, name: str, host: str = "") -> bool:
        """Whether a slot granted on ``name`` (at ``host``) is now over a limit (one was
        lowered live, or the deployment removed).

        Checked just before the engine is called: a grant made under the old limit is given
        back and the task waits again, so the engine never sees more than the new limit.
        True as well once the host's breaker is open (the task then goes elsewhere, or gets
        :data:`GONE`).
        """
        model = self.profile.models.get(name)
        if model is None:
            return False
        if self._broken_until and self.broken(host) is not None:
            return True  # the host breaker opened since the grant
        limit = self.profile.settings.max_concurrent_tasks
        if self.in_flight.get(name, 0) > model.concurrent_limit or self.total > limit:
            return True
        if not host:
            return bool(model.deployments)  # deployments were added since the grant
        for dep in model.deployments:
            if dep.host == host:
                return self.deployed.get((name, host), 0) > dep.concurrent_limit
        return True  # the deployment was removed since the grant

    def _pick(self, waiter: Waiter) -> str | None:
        options = waiter.options
        if len(options) == 1 and not logger.isEnabledFor(logging.DEBUG):
            name = options[0].name
            return name if self._free(name) else None
        return choose(
            waiter.options,
            self._free,
            self.profile.models,
            waiter.complexity,
            self.speeds.seconds,
            waiter.task_id,
        )

    def _take(self, name: str, waiter: Waiter) -> None:
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        self.total += 1
        model = self.profile.models[name]
        waiter.host = self._place(name, model, waiter.avoid) if model.deployments else ""

    def _place(self, name: str, model: ModelConfig, avoid: str) -> str:
        free = [
            (d.host, d.concurrent_limit - self.deployed.get((name, d.host), 0))
            for d in model.deployments
            if self._deployment_free(name, d.host, d.concurrent_limit)
        ]
        if avoid and len(free) > 1:
            free = [f for f in free if f[0] != avoid] or free
        host = place(name, free, self.host_speeds.seconds)
        key = (name, host)
        self.deployed[key] = self.deployed.get(key, 0) + 1
        return host

    def elsewhere(self, name: str, host: str, tried: Set[str], failovers: int) -> bool:
        """Whether a task that just failed on ``name`` at ``host`` should fail over: the
        model has a deployment on a host the task has not failed on (``tried``) that is up
        and not cooling down.

        ``failovers`` (the task's failovers so far) is capped at twice the model's
        deployments: placement only *prefers* another host, so a failover may land on the
        same one again when the others are full; it still counts, and the cap bounds it.
        """
        model = self.profile.models.get(name)
        if model is None or failovers >= 2 * len(model.deployments):
            return False
        return any(
            d.host != host
            and d.host not in tried
            and self.broken(d.host) is None
            and not self.cooling_key(deployment_key(name, d.host))
            for d in model.deployments
        )

    def release(self, name: str, host: str = "") -> None:
        """Give back a slot on ``name`` (at ``host``) and hand free slots to waiting tasks."""
        self.in_flight[name] -= 1
        self.total -= 1
        if host:
            self.deployed[(name, host)] -= 1
        if self.waiting:
            self.dispatch()

    def key(self, waiter: Waiter) -> float:
        """Heap key: smaller is served first (highest aged priority)."""
        return waiter.enqueued_at / self._aging_s - waiter.priority

    def request(
        self,
        waiter: Waiter,
        options: Sequence[Candidate],
        names: tuple[str, ...] | None = None,
        retry: bool = False,
        starter: Starter | None = None,
    ) -> str | asyncio.Future[str] | None:
        """A slot on one of ``options`` now (the model's name), or a future of one.

        The model, or the future's result, may also be :data:`GONE` or :data:`COOLED` (no
        slot taken). ``names`` are the options' names, if the caller has them at hand.
        ``retry``: the caller wants to try its one model again, and gives up (``COOLED``) if
        that model cools down meanwhile rather than wait for the cooldown to end.
        The caller must :meth:`release` a model it got when its request ends, and
        :meth:`abandon` a future it stops waiting for. A plain function returning a future,
        not a coroutine: a coroutine per task is measurable overhead.

        With a ``starter``, a task that must wait gets no future: ``None`` is returned and
        ``starter(waiter, model)`` is called when the slot is granted (:meth:`forget`
        withdraws it). A batch uses this to create each task only once it can run, which
        saves a trip through the event loop per task.
        """
        waiter.options = options
        if self._broken_until and all(self._down(c.name) for c in options):
            return GONE
        limit = self.profile.settings.max_concurrent_tasks
        if not self.waiting and self.total < limit:
            name = self._pick(waiter)
            if name is not None:
                self._take(name, waiter)
                return name
        if retry and self.cooling(options[0].name):
            return COOLED
        future: asyncio.Future[str] | None = None
        if starter is None:
            future = asyncio.get_running_loop().create_future()
        waiter.future, waiter.starter = future, starter
        if names is None:
            names = tuple(c.name for c in options)
        group = (names, retry)
        heappush(self._groups.setdefault(group, []), (self.key(waiter), waiter.seq, waiter))
        self.waiting += 1
        if self.total < limit:
            self.dispatch()  # when every slot is taken, only a release can change anything
        return future

    def abandon(self, future: asyncio.Future[str], host: str = "") -> None:
        """The waiter of ``future`` was cancelled: give back its place, or its slot (granted
        at ``host``, the waiter's)."""
        if future.done() and not future.cancelled():
            name = future.result()
            if name not in (GONE, COOLED):
                self.release(name, host)
        else:
            future.cancel()
            self.waiting -= 1

    def forget(self, waiter: Waiter) -> None:
        """Withdraw a lazy request (see :meth:`request`) whose starter was not called yet."""
        if waiter.future is None and waiter.starter is not None:
            waiter.starter = None
            self.waiting -= 1

    def dispatch(self) -> None:
        """Grant free slots to waiting tasks, highest aged priority first."""
        settings = self.profile.settings
        if settings.aging_s != self._aging_s:
            self._rekey(settings.aging_s)
        models = self.profile.models
        limit = settings.max_concurrent_tasks
        groups = self._groups
        debug = logger.isEnabledFor(logging.DEBUG)  # then _pick logs each decision
        while self.waiting:
            full = self.total >= limit
            best_name: str | None = None
            best: tuple[float, int, Waiter] | None = None
            best_group: list[tuple[float, int, Waiter]] | None = None
            for (names, retry), heap in groups.items():
                while heap and _gone(heap[0][2]):
                    heappop(heap)  # cancelled while waiting
                if not heap:
                    continue
                if retry and self.cooling(names[0]):
                    self._give_up(heap)
                    continue
                if full or (best is not None and heap[0] >= best):
                    continue
                if len(names) == 1 and not debug:
                    if self._free(names[0]) or self._dead(names[0], models):
                        best, best_group = heap[0], heap
                        best_name = None if self._dead(names[0], models) else names[0]
                elif self._servable(names, models):
                    best, best_group, best_name = heap[0], heap, None
            if best is None or best_group is None:
                break
            heappop(best_group)
            self.waiting -= 1
            waiter = best[2]
            name = best_name or self._pick(waiter)
            if name is None:
                name = GONE
            else:
                self._take(name, waiter)
            _grant(waiter, name)
            if self.total >= limit and not self.cooling_until:
                break  # nothing more to grant, and no retry to send away
        if len(groups) > 32:
            for key in [k for k, heap in groups.items() if not heap]:
                del groups[key]

    def _give_up(self, heap: list[tuple[float, int, Waiter]]) -> None:
        # Retries of a model that cooled down: tell them to move on to the next candidate.
        for _, _, waiter in heap:
            if not _gone(waiter):
                self.waiting -= 1
                _grant(waiter, COOLED)
        heap.clear()

    def _servable(self, names: tuple[str, ...], models: Mapping[str, object]) -> bool:
        # A slot is free on one of the names, or none of them exists any more (the waiting
        # task must then fail rather than wait forever).
        gone = True
        for name in names:
            if self._free(name):
                return True
            if gone and not self._dead(name, models):
                gone = False
        return gone

    def _rekey(self, aging_s: float) -> None:
        self._aging_s = aging_s
        for heap in self._groups.values():
            heap[:] = [(self.key(w), seq, w) for _, seq, w in heap]
            heapify(heap)


def _gone(waiter: Waiter) -> bool:
    """Whether a queued waiter stopped waiting (cancelled, or a forgotten lazy request)."""
    future = waiter.future
    return future.done() if future is not None else waiter.starter is None


def _grant(waiter: Waiter, name: str) -> None:
    if waiter.future is not None:
        waiter.future.set_result(name)
    else:
        starter, waiter.starter = waiter.starter, None
        starter(waiter, name)  # type: ignore[misc]
