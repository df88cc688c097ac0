"""A randomized fault campaign on the virtual clock: 500 seeds, every contract checked each time.

Each seed draws a profile (1-4 models, limits, a global cap, retries, cooldowns, timeouts,
escalation; in about half the seeds the models are served by 1-3 deployments on hosts
h0-h2, each with its own limit), a task mix, live limit changes, cancellations of whole
batches and of single tasks, and a chaos engine (a fake, no model runs) whose calls hang
past the timeout, raise ``BackendBusy``, ``BackendUnavailable``, ``ModelNotFound``, server
errors or exceptions that are not ``BackendError``, or answer with nonsense timings; the
scorer fails now and then.
After each seed: no result lost or duplicated, nothing hung (a virtual-time bound), no limit
ever exceeded *as counted inside the engine* at the moment a call started (per model, per
deployment and overall), every slot given back, and a fresh task still gets served.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field

import pytest
from orch_helpers import ALL_TYPES, make_profile, model

from orchbench.config import Profile
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendBusy, BackendError, BackendUnavailable, ModelNotFound
from orchbench.records import TaskResult, Timings
from orchbench.scheduler import Orchestrator
from orchbench.sim import run_virtual

SEEDS = 500
CHUNKS = 10
TYPES = ALL_TYPES[:3]
FAULTS = ("ok", "ok", "ok", "ok", "hang", "busy", "unavailable", "missing", "server", "bug",
          "nonsense")  # fmt: skip


@dataclass
class ChaosEngine:
    """A fake engine driven by a seeded RNG; counts in-flight calls and limit breaches itself."""

    profile: Profile
    rng: random.Random
    fault_rate: float
    healthy: bool = False
    name: str = "chaos"
    in_flight: dict[str, int] = field(default_factory=dict)
    deployed: dict[tuple[str, str], int] = field(default_factory=dict)
    total: int = 0
    breaches: list[str] = field(default_factory=list)
    calls: int = 0

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        model_name = request.model.name
        self.calls += 1
        count = self.in_flight.get(model_name, 0) + 1
        self.in_flight[model_name] = count
        self.total += 1
        live = self.profile.models.get(model_name)
        if live is not None and count > live.concurrent_limit:
            self.breaches.append(f"{model_name}: {count} > {live.concurrent_limit}")
        if self.total > self.profile.settings.max_concurrent_tasks:
            self.breaches.append(
                f"total {self.total} > {self.profile.settings.max_concurrent_tasks}"
            )
        where = (model_name, request.host)
        self.deployed[where] = self.deployed.get(where, 0) + 1
        self._check_deployment(live, request.host, self.deployed[where])
        fault = (
            "ok" if self.healthy or self.rng.random() > self.fault_rate else self.rng.choice(FAULTS)
        )
        try:
            if fault == "hang":
                await asyncio.sleep(request.timeout_s * 10)
            else:
                await asyncio.sleep(self.rng.choice([0.0, 0.001, 0.01, 0.05]))
        finally:
            self.in_flight[model_name] -= 1
            self.deployed[where] -= 1
            self.total -= 1
        return _answer(fault, request)

    def _check_deployment(self, live: object, host: str, count: int) -> None:
        deployments = getattr(live, "deployments", None) or []
        if not host:
            if deployments:
                self.breaches.append("a request for a model with deployments had no host")
            return
        limits = [d.concurrent_limit for d in deployments if d.host == host]
        if not limits:
            self.breaches.append(f"request sent to {host}, no deployment of its model there")
        elif count > limits[0]:
            self.breaches.append(f"deployment on {host}: {count} > {limits[0]}")

    async def list_models(self) -> list[str]:
        return list(self.profile.models)

    async def warmup(self, model_config: object) -> float:
        return 0.0

    async def close(self) -> None:
        return None


def _answer(fault: str, request: GenerateRequest) -> GenerateResult:
    errors: dict[str, BaseException] = {
        "busy": BackendBusy("503 server busy"),
        "unavailable": BackendUnavailable("cannot connect: connection refused"),
        "missing": ModelNotFound(f"model {request.model.name!r} not found"),
        "server": BackendError("500 internal server error"),
        "bug": ZeroDivisionError("engine bug"),
    }
    if fault in errors:
        raise errors[fault]
    if fault == "nonsense":
        nonsense = Timings(total_s=-3.0, load_s=math.nan, ttft_s=math.inf, prompt_tokens=-2,
                           prompt_s=-1.0, completion_tokens=-7, completion_s=0.0)  # fmt: skip
        return GenerateResult(text="x", timings=nonsense, finish_reason="weird")
    return GenerateResult(text="def f():\n    return 1\n", timings=Timings(total_s=0.01))


def _profile(rng: random.Random) -> Profile:
    names = [f"m{i}" for i in range(rng.randint(1, 4))]
    models = {
        n: model(rng.choice(["fast", "balanced", "powerful"]),
                 task_types=rng.sample(TYPES, rng.randint(1, len(TYPES))),
                 priority=rng.randint(1, 10), concurrent_limit=rng.randint(1, 3))
        for n in names
    }  # fmt: skip
    routing = {}
    for task_type in TYPES:
        able = [n for n, m in models.items() if task_type in m["task_types"]]
        if able and rng.random() < 0.7:
            rng.shuffle(able)
            cut = rng.randint(1, len(able))
            routing[task_type] = {"primary": able[:cut], "fallback": able[cut:]}
    _deploy(models, random.Random(rng.random()))
    return make_profile(
        models, routing,
        max_concurrent_tasks=rng.randint(1, 6), retry_attempts=rng.randint(1, 3),
        retry_backoff_s=rng.choice([0.0, 0.01, 0.05]), cooldown_failures=rng.randint(1, 3),
        cooldown_s=rng.choice([0.0, 0.2, 1.0]), default_timeout=rng.choice([0.2, 0.5, 1.0]),
        escalate_on_low_quality=rng.random() < 0.3, quality_threshold=rng.random(),
    )  # fmt: skip


def _deploy(models: dict[str, dict[str, object]], rng: random.Random) -> None:
    # About half the seeds: each model on 1-3 of hosts h0-h2, each with its own limit.
    if rng.random() < 0.5:
        return
    for table in models.values():
        hosts = rng.sample(["h0:11434", "h1:11434", "h2:11434"], rng.randint(1, 3))
        table["deployments"] = [{"host": h, "concurrent_limit": rng.randint(1, 3)} for h in hosts]


def _scorer(rng: random.Random):  # type: ignore[no-untyped-def]
    def score(*args: object, **kwargs: object) -> float:
        if rng.random() < 0.1:
            raise RuntimeError("scorer broke")
        return rng.random()

    return score


async def _chaos_limits(profile: Profile, rng: random.Random, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(rng.choice([0.0, 0.001, 0.02, 0.1]))
        chosen = rng.choice(list(profile.models.values()))
        if rng.random() < 0.5:
            chosen.concurrent_limit = rng.randint(1, 4)
        elif chosen.deployments and rng.random() < 0.5:
            rng.choice(chosen.deployments).concurrent_limit = rng.randint(1, 3)
        else:
            profile.settings.max_concurrent_tasks = rng.randint(1, 6)


async def _scenario(seed: int) -> list[str]:
    rng = random.Random(seed)
    profile = _profile(rng)
    engine = ChaosEngine(profile, random.Random(seed + 1), fault_rate=rng.choice([0.1, 0.3, 0.6]))
    orch = Orchestrator(profile, engine, scorer=_scorer(random.Random(seed + 2)),
                        rng=random.Random(seed + 3))  # fmt: skip
    finished: list[int] = []
    orch.add_listener(lambda e: finished.append(e.task_id) if e.kind == "finished" else None)
    stop = asyncio.Event()
    changer = asyncio.ensure_future(_chaos_limits(profile, random.Random(seed + 4), stop))
    problems: list[str] = []
    loop = asyncio.get_running_loop()

    batch_tasks = [(rng.choice(TYPES), f"b{i}") for i in range(rng.randint(0, 12))]
    batch = asyncio.ensure_future(orch.execute_parallel_tasks(batch_tasks))
    singles = [asyncio.ensure_future(orch.execute_task(rng.choice(TYPES), f"s{i}"))
               for i in range(rng.randint(0, 8))]  # fmt: skip
    cancel_batch = rng.random() < 0.3
    if cancel_batch:
        loop.call_later(rng.choice([0.0, 0.001, 0.01, 0.1]), batch.cancel)
    cancelled = set()
    for i, single in enumerate(singles):
        if rng.random() < 0.2:
            loop.call_later(rng.choice([0.0, 0.001, 0.05]), single.cancel)
            cancelled.add(i)
    everything = asyncio.gather(batch, *singles, return_exceptions=True)
    try:
        outcomes = await asyncio.wait_for(everything, 120.0)
    except TimeoutError:
        return [f"seed {seed}: hung (not done after 120 virtual seconds)"]
    stop.set()
    await changer

    batch_out, single_out = outcomes[0], outcomes[1:]
    if isinstance(batch_out, list):
        problems += _check_batch(batch_out, len(batch_tasks))
    elif not (cancel_batch and isinstance(batch_out, asyncio.CancelledError)):
        problems.append(f"batch ended with {batch_out!r}")
    for i, out in enumerate(single_out):
        if isinstance(out, asyncio.CancelledError) and i in cancelled:
            continue
        if not isinstance(out, TaskResult):
            problems.append(f"single task {i} ended with {out!r}")
    if len(finished) != len(set(finished)):
        problems.append(f"a task finished twice: {sorted(finished)}")
    problems += engine.breaches
    problems += _check_released(orch, engine)
    if not problems:
        problems += await _check_still_serves(orch, engine, profile)
    return [f"seed {seed}: {p}" for p in problems]


def _check_batch(results: list[TaskResult], submitted: int) -> list[str]:
    ids = [r.task_id for r in results]
    if len(results) != submitted or len(set(ids)) != len(ids) or ids != sorted(ids):
        return [f"batch gave {len(results)} results for {submitted} tasks, ids {ids}"]
    bad = [r.task_id for r in results if r.success == (r.error is not None)]
    return [f"results {bad} are both or neither success and error"] if bad else []


def _check_released(orch: Orchestrator, engine: ChaosEngine) -> list[str]:
    dispatcher = orch._dispatcher
    problems = []
    if dispatcher.total or any(dispatcher.in_flight.values()) or dispatcher.waiting:
        problems.append(f"slots not given back: in_flight={dispatcher.in_flight} "
                        f"total={dispatcher.total} waiting={dispatcher.waiting}")  # fmt: skip
    if any(dispatcher.deployed.values()):
        problems.append(f"deployment slots not given back: {dispatcher.deployed}")
    if engine.total or any(engine.in_flight.values()):
        problems.append(f"engine still busy: {engine.in_flight}")
    return problems


async def _check_still_serves(
    orch: Orchestrator, engine: ChaosEngine, profile: Profile
) -> list[str]:
    engine.healthy = True
    await asyncio.sleep(profile.settings.cooldown_s + 1.0)  # cooldowns and the breaker end
    problems = []
    for task_type in TYPES:
        if not any(task_type in m.task_types for m in profile.models.values()):
            continue
        result = await asyncio.wait_for(orch.execute_task(task_type, "probe"), 30.0)
        if not result.success:
            problems.append(f"a fresh {task_type} task failed afterwards: {result.error}")
    return problems


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_campaign_keeps_every_contract(chunk: int) -> None:
    per_chunk = SEEDS // CHUNKS
    problems: list[str] = []
    for seed in range(chunk * per_chunk, (chunk + 1) * per_chunk):
        problems += run_virtual(_scenario(seed))
    assert problems == []
