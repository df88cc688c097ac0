"""The discrete-event engine of one simulated device, driven by the event loop's clock.

Between two changes of the set of active streams every stream runs at a constant rate
(:func:`~orchbench.sim._model.stream_rates`), so instead of stepping token by token
the device computes when the next stream finishes a phase, sets one timer for that
instant, and on every change (a stream starts, finishes a phase, is cancelled)
advances all streams analytically and sets the timer again. On the virtual clock a
10,000-request run costs a few events per request.

The scheduling follows Ollama's (server/sched.go): a model is resident or not;
loading one that does not fit (or would exceed ``max_loaded_models``) first evicts the
least recently used idle model, and waits while the models in the way are busy. A
request for a model that is loading, not loaded, or loaded with another configuration
(``num_ctx`` changed: Ollama's ``needsReload``) waits in the scheduler's FIFO line;
more than ``max_queue`` there is refused with ``BackendBusy`` (Ollama's 503 "server
busy"). Each loaded model serves at most ``slots`` (``num_parallel``) requests at once,
the rest wait FIFO for a slot (the runner's semaphore); that wait is ``queue_s``. An
idle model unloads ``keep_alive`` seconds after its last request (0: at once).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from orchbench.config import HardwareSpec
from orchbench.errors import BackendBusy
from orchbench.sim._model import (
    DECODE,
    FIRST_TOKEN,
    PREFILL,
    PerfModel,
    StreamLoad,
    memory_capacity_gb,
    stream_rates,
)
from orchbench.sim._params import DeviceParams

_DONE_TOKENS = 1e-6  # floating-point slack when a phase's remaining work reaches zero


@dataclass(slots=True)
class StreamOutcome:
    """Virtual instants and waits of one finished request (seconds)."""

    queue_s: float = 0.0
    load_s: float = 0.0
    started: float = 0.0
    prefill_end: float = 0.0
    first_token: float = 0.0
    end: float = 0.0


@dataclass(slots=True, eq=False)
class _Stream:
    load: StreamLoad
    remaining: list[float]
    done: asyncio.Future[None]
    outcome: StreamOutcome = field(default_factory=StreamOutcome)


class SimDevice:
    """One device: resident models, active streams, one timer. Use only on one loop."""

    def __init__(self, hardware: HardwareSpec, params: DeviceParams) -> None:
        self.hardware = hardware
        self.params = params
        self.capacity_gb = memory_capacity_gb(hardware, params)
        self.resident: OrderedDict[str, float] = OrderedDict()  # name → GB, LRU first
        self.loads = 0
        self.evictions: list[str] = []
        """Models unloaded, in order (to make room, on reload, or on keep_alive expiry)."""
        self._config: dict[str, tuple[object, ...]] = {}  # name → what it is loaded with
        self._keep_alive: dict[str, float | None] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._slot_lines: dict[str, deque[object]] = {}
        self._loading: dict[str, asyncio.Future[None]] = {}  # model → its load in progress
        self._line: deque[object] = deque()
        self._users: dict[str, int] = {}
        self._active: list[_Stream] = []
        self._rates: list[float] = []
        self._updated = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._changed: asyncio.Event | None = None

    # -- public ---------------------------------------------------------------------

    async def run(
        self,
        perf: PerfModel,
        prompt_tokens: int,
        completion_tokens: int,
        threads: int,
        slots: int,
        keep_alive_s: float | None = None,
    ) -> StreamOutcome:
        """Serve one request on virtual time; returns when its last token is out.

        ``keep_alive_s`` (the request's, else the device's) is how long the model stays
        loaded once idle. Raises ``BackendBusy`` when the scheduler's line is full.
        Cancellation (e.g. a timeout) removes the stream and frees its share.
        """
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        load_s = await self._ensure_resident(perf, keep_alive_s)  # perf.name is in use
        try:
            await self._take_slot(perf.name, slots)
            stream = _Stream(
                load=StreamLoad(
                    perf=perf, phase=PREFILL, threads=threads, copy=self._least_busy(perf)
                ),
                remaining=[float(prompt_tokens), 1.0, float(completion_tokens - 1)],
                done=loop.create_future(),
            )
            stream.outcome.load_s = load_s
            stream.outcome.started = loop.time()
            stream.outcome.queue_s = stream.outcome.started - t0 - load_s
            self._advance(loop.time())
            self._active.append(stream)
            self._reschedule(loop)
            try:
                await stream.done
            finally:
                if stream in self._active:  # cancelled mid-flight
                    self._advance(loop.time())
                    self._active.remove(stream)
                    self._reschedule(loop)
            return stream.outcome
        finally:
            self._release(perf.name)

    async def load(self, perf: PerfModel, keep_alive_s: float | None = None) -> float:
        """Make ``perf``'s model resident; the seconds spent loading (0.0 if it was)."""
        load_s = await self._ensure_resident(perf, keep_alive_s)
        self._release(perf.name)
        return load_s

    async def _take_slot(self, name: str, slots: int) -> None:
        """Wait, first come first served, until ``name`` has fewer than ``slots`` streams."""
        line = self._slot_lines.setdefault(name, deque())
        if not line and self._active_of(name) < slots:
            return
        ticket = object()
        line.append(ticket)
        try:
            while line[0] is not ticket or self._active_of(name) >= slots:
                await self._wait_change()
        finally:
            line.remove(ticket)
            self._notify()

    # -- memory ---------------------------------------------------------------------

    def _ready(self, perf: PerfModel) -> bool:
        return perf.name in self.resident and self._config.get(perf.name) == perf.config_key

    async def _ensure_resident(self, perf: PerfModel, keep_alive_s: float | None) -> float:
        """Admit a request in arrival order, loading its model first if need be.

        As Ollama's scheduler, requests are admitted one at a time: while the head of
        the line waits for memory (busy models in the way), those behind it wait too,
        so a large model is not starved by a stream of requests for resident ones.
        On return the request counts as a user of the model (not evictable) until
        the caller releases it with :meth:`_release`.
        """
        if not self._line and self._ready(perf) and perf.name not in self._loading:
            self._use(perf.name, keep_alive_s)
            return 0.0
        if self.params.max_queue and len(self._line) >= self.params.max_queue:
            raise BackendBusy(
                f"server busy, please try again. maximum pending requests exceeded "
                f"({len(self._line)} waiting, max_queue {self.params.max_queue})"
            )
        ticket = object()
        self._line.append(ticket)
        try:
            while self._line[0] is not ticket or not (self._ready(perf) or self._make_room(perf)):
                await self._wait_change()
        except BaseException:  # cancelled while waiting in line
            self._line.remove(ticket)
            self._notify()
            raise
        self._line.popleft()
        self._use(perf.name, keep_alive_s)
        self._notify()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            loading = self._loading.get(perf.name)
            if loading is None and perf.name not in self.resident:
                # The load runs on its own: like a server, it goes on if this request
                # gives up, and every request for the model waits for the same load.
                self.resident[perf.name] = perf.footprint_gb  # claimed while loading
                self._config[perf.name] = perf.config_key
                loading = asyncio.ensure_future(self._load(perf))
                self._loading[perf.name] = loading
            if loading is not None:
                await asyncio.shield(loading)
            self.resident.move_to_end(perf.name)
        except BaseException:
            self._release(perf.name)
            raise
        return loop.time() - started

    def _use(self, name: str, keep_alive_s: float | None) -> None:
        self._users[name] = self._users.get(name, 0) + 1
        self._keep_alive[name] = (
            keep_alive_s if keep_alive_s is not None else (self.params.keep_alive_s)
        )
        expiry = self._expiry.pop(name, None)
        if expiry is not None:
            expiry.cancel()
        if name in self.resident:
            self.resident.move_to_end(name)

    def _release(self, name: str) -> None:
        self._users[name] -= 1
        if name in self.resident:
            self.resident.move_to_end(name)
            keep = self._keep_alive.get(name)
            if self._users[name] == 0 and keep is not None:
                loop = asyncio.get_running_loop()
                self._expiry[name] = loop.call_at(loop.time() + keep, self._expire, name)
        self._notify()

    def _expire(self, name: str) -> None:
        """keep_alive ran out: unload ``name`` if it is still idle."""
        self._expiry.pop(name, None)
        if self._users.get(name, 0) == 0 and name not in self._loading:
            self._unload(name)
            self._notify()

    def _unload(self, name: str) -> None:
        if name in self.resident:
            del self.resident[name]
            self._config.pop(name, None)
            self.evictions.append(name)
        expiry = self._expiry.pop(name, None)
        if expiry is not None:
            expiry.cancel()

    async def _load(self, perf: PerfModel) -> None:
        try:
            await asyncio.sleep(perf.load_s)
        finally:
            del self._loading[perf.name]
            self._notify()
        self.loads += 1

    def _make_room(self, perf: PerfModel) -> bool:
        """Evict idle models (LRU first) until ``perf`` fits; False if busy models block."""
        limit = self.params.max_loaded_models or len(self.resident) + 1
        if perf.name in self.resident:  # loaded with another configuration: reload it
            if self._users.get(perf.name, 0) or perf.name in self._loading:
                return False
            self._unload(perf.name)

        def fits() -> bool:
            used = sum(self.resident.values()) + perf.footprint_gb
            return len(self.resident) < limit and used <= self.capacity_gb + 1e-9

        for name in list(self.resident):
            if fits():
                return True
            if self._users.get(name, 0) == 0 and name not in self._loading:
                self._unload(name)
        # An empty device always takes a model: one too big has already been spilled.
        return fits() or not self.resident

    # -- streams --------------------------------------------------------------------

    def _least_busy(self, perf: PerfModel) -> int | None:
        """The copy (batched context) of ``perf`` with the fewest active streams, lowest
        first; None when the model runs as one (or as instances of one stream each). A
        stream keeps its copy to the end, as in the engine."""
        if (perf.sequences or 1) <= 1 or perf.copies <= 1:
            return None
        busy = [0] * perf.copies
        for s in self._active:
            if s.load.perf.name == perf.name and s.load.copy is not None:
                busy[s.load.copy % perf.copies] += 1
        return busy.index(min(busy))

    def _active_of(self, name: str) -> int:
        return sum(1 for s in self._active if s.load.perf.name == name)

    def _advance(self, now: float) -> None:
        """Move every active stream forward to ``now`` at its current rate."""
        elapsed = now - self._updated
        self._updated = now
        if elapsed <= 0.0:
            return
        for stream, rate in zip(self._active, self._rates, strict=True):
            stream.remaining[stream.load.phase] -= rate * elapsed

    def _on_timer(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        self._advance(loop.time())
        self._reschedule(loop)

    def _reschedule(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        finished = False
        for stream in list(self._active):
            phase = stream.load.phase
            while phase <= DECODE and stream.remaining[phase] <= _DONE_TOKENS:
                if phase == PREFILL:
                    stream.outcome.prefill_end = now
                elif phase == FIRST_TOKEN:
                    stream.outcome.first_token = now
                phase += 1
            stream.load.phase = phase
            if phase > DECODE:
                stream.outcome.end = now
                self._active.remove(stream)
                if not stream.done.done():
                    stream.done.set_result(None)
                finished = True
        for s in self._active:
            s.load.prompt_left = max(0.0, s.remaining[PREFILL])
        self._rates = stream_rates([s.load for s in self._active], self.hardware, self.params)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._active:
            pairs = zip(self._active, self._rates, strict=True)
            wait = min(s.remaining[s.load.phase] / r for s, r in pairs)
            self._timer = loop.call_at(now + max(0.0, wait), self._on_timer)
        if finished:
            self._notify()

    # -- waiting for a change ---------------------------------------------------------

    async def _wait_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        event = self._changed
        await event.wait()

    def _notify(self) -> None:
        # Wake everyone waiting for memory or a slot; each re-checks its own condition.
        if self._changed is not None:
            self._changed.set()
            self._changed = None
