"""Load patterns: when the tasks of a mode run are submitted.

- ``batch`` (the default): every task at t = 0, as before.
- ``rate``: open loop, arrivals at ``rate`` tasks/s. Inter-arrival times are gamma
  distributed with shape ``B = burstiness`` and scale ``1 / (rate × B)`` (vLLM's
  definition): mean ``1 / rate`` and coefficient of variation ``1 / sqrt(B)``; ``B = 1`` is
  a Poisson process, ``B < 1`` burstier, ``B > 1`` more regular. The first task arrives at
  t = 0. A run covers the workload's tasks (``tasks`` cycles the workload to that many), or
  every arrival within ``duration_s``.
- ``concurrency``: closed loop, one point per value N: N tasks in flight from the start,
  the next one submitted the moment one ends, until the tasks run out.
- ``sweep`` (GuideLLM's sweep): a synchronous point (concurrency 1), a throughput point (a
  batch: its task rate is the maximum), then ``sweep_points − 2`` rates evenly spaced above
  the synchronous rate up to that maximum; each point records its throughput and latency.

Arrivals are seeded (``seed``, the run's ``--seed``; unseeded runs use 0), so every mode and
repeat sees the same arrival times; only ``loop.time()`` and ``asyncio.sleep`` are used, so a
pattern runs unchanged on the simulator's virtual clock.

Sequential vs parallel: each mode (``sequential`` = the profile with one task at a time,
``parallel`` = its own limits) runs the same pattern with the same arrivals. Under ``rate``
the comparison that matters is latency (the makespan is bounded below by the last arrival);
under ``concurrency`` and ``sweep`` it is per point (``summary.json`` ``points``).

``summary.json`` gains ``load`` (this spec, :meth:`LoadSpec.to_dict`) and, for
``concurrency`` and ``sweep``, ``points``: one entry per mode and point, in run order::

    {"mode": "parallel", "point": "c=4", "kind": "concurrency", "concurrency": 4,
     "rate": null, "offered_rate": null, "repeats": 3, ...the median aggregates...}

``kind`` is ``concurrency``, ``rate`` or ``batch`` (the sweep's throughput point);
``rate`` is the arrival rate of the point's units (tasks, or for a workflow features: see
:mod:`orchbench.bench.drive`), ``offered_rate`` the same in tasks/s; the aggregates are
the keys of ``runner.AGGREGATE_KEYS`` (``tasks_per_s`` is the achieved throughput).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchbench.errors import ConfigError
from orchbench.records import TaskResult

LOAD_KINDS = ("batch", "rate", "concurrency", "sweep")
T = TypeVar("T")
R = TypeVar("R")
_FLAGS = {
    "kind": "--load",
    "rate": "--rate",
    "burstiness": "--burstiness",
    "duration_s": "--duration",
    "tasks": "--tasks",
    "concurrency": "--concurrency",
    "sweep_points": "--sweep-points",
    "seed": "--seed",
}


class LoadSpec(BaseModel):
    """The load pattern of a run (the ``--load`` flags), validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["batch", "rate", "concurrency", "sweep"] = "batch"
    rate: float | None = Field(default=None, gt=0)
    burstiness: float = Field(default=1.0, gt=0)
    duration_s: float | None = Field(default=None, gt=0)
    tasks: int | None = Field(default=None, ge=1)
    concurrency: tuple[int, ...] = ()
    sweep_points: int = Field(default=8, ge=3, le=100)
    seed: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LoadSpec:
        if self.kind == "rate" and self.rate is None:
            raise ValueError("--load rate needs --rate R (tasks per second, > 0)")
        if self.kind != "rate" and self.rate is not None:
            raise ValueError(f"--rate is only for --load rate, not --load {self.kind}")
        if self.kind != "rate" and self.duration_s is not None:
            raise ValueError(f"--duration is only for --load rate, not --load {self.kind}")
        if self.kind == "concurrency" and not self.concurrency:
            raise ValueError("--load concurrency needs --concurrency N[,N...]")
        if self.kind != "concurrency" and self.concurrency:
            raise ValueError(f"--concurrency is only for --load concurrency, not {self.kind}")
        if any(n < 1 for n in self.concurrency):
            raise ValueError(f"--concurrency values must be >= 1, got {list(self.concurrency)}")
        if self.duration_s is not None and self.tasks is not None:
            raise ValueError("give --duration or --tasks, not both")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The ``load`` section of ``summary.json``."""
        data = self.model_dump()
        data["concurrency"] = list(self.concurrency)
        return data

    @property
    def point_count(self) -> int:
        """Points per mode run (1 for batch and rate)."""
        if self.kind == "concurrency":
            return len(self.concurrency)
        return self.sweep_points if self.kind == "sweep" else 1

    @property
    def has_points(self) -> bool:
        """Whether a mode run is several points (concurrency, sweep)."""
        return self.kind in ("concurrency", "sweep")


def load_spec(**flags: Any) -> LoadSpec:
    """A :class:`LoadSpec` from flag values, or one ConfigError line naming the flag.

    ``concurrency`` may be a string ``"1,2,4"``.
    """
    if isinstance(flags.get("concurrency"), str):
        flags["concurrency"] = parse_concurrency(flags["concurrency"])
    try:
        return LoadSpec.model_validate({k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        flag = _FLAGS.get(field, field)
        message = str(error["msg"]).removeprefix("Value error, ")
        if flag:
            message = f"{flag} {error.get('input')!r}: {message}"
        raise ConfigError(message + f" (valid --load: {', '.join(LOAD_KINDS)})") from None


def parse_concurrency(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` as ``(1, 2, 4)``, or ConfigError."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ConfigError(
            f"--concurrency {text!r}: give whole numbers >= 1 separated by commas, e.g. 1,2,4,8"
        )
    return tuple(int(p) for p in parts)


def inter_arrivals(rate: float, burstiness: float, n: int, seed: int | None) -> list[float]:
    """``n`` gamma inter-arrival times (shape ``burstiness``, scale 1/(rate·burstiness))."""
    import numpy as np

    rng = np.random.default_rng(0 if seed is None else seed)
    return [float(x) for x in rng.gamma(burstiness, 1.0 / (rate * burstiness), size=n)]


def arrival_times(
    rate: float,
    burstiness: float = 1.0,
    *,
    n: int | None = None,
    duration_s: float | None = None,
    seed: int | None = None,
) -> list[float]:
    """Arrival offsets (seconds from the start): the first at 0, then gamma gaps.

    Exactly ``n`` arrivals, or every arrival before ``duration_s``.
    """
    if n is None and duration_s is None:
        raise ConfigError("arrival_times needs n or duration_s")
    if n is not None:
        gaps = inter_arrivals(rate, burstiness, max(0, n - 1), seed)
        times, now = [0.0], 0.0
        for gap in gaps:
            now += gap
            times.append(now)
        return times[:n]
    assert duration_s is not None
    expected = int(rate * duration_s * 2 + 10)
    while True:
        gaps = inter_arrivals(rate, burstiness, expected, seed)
        times, now = [0.0], 0.0
        for gap in gaps:
            now += gap
            if now >= duration_s:
                return times
            times.append(now)
        expected *= 2


async def open_loop(
    items: Sequence[T], arrivals: Sequence[float], submit: Callable[[T], Awaitable[R]]
) -> list[R]:
    """Submit ``items[i]`` at ``arrivals[i]`` seconds after the start; results in item order."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending: list[asyncio.Future[R]] = []
    try:
        for item, at in zip(items, arrivals, strict=True):
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.ensure_future(submit(item)))
        return list(await asyncio.gather(*pending))
    finally:
        for task in pending:
            task.cancel()


async def closed_loop(items: Sequence[T], n: int, submit: Callable[[T], Awaitable[R]]) -> list[R]:
    """Keep ``n`` items in flight (fewer only when fewer remain); results in item order."""
    results: dict[int, R] = {}
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await submit(item)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(n, len(items)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    return [results[i] for i in range(len(items))]


@dataclass(frozen=True)
class Point:
    """One point of a concurrency or sweep run."""

    label: str
    kind: str
    """``concurrency``, ``rate`` or ``batch``."""
    concurrency: int | None = None
    rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The point's fields in a ``points`` entry of ``summary.json``."""
        return {
            "point": self.label,
            "kind": self.kind,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "offered_rate": self.rate,
        }


@dataclass
class PointRun:
    """What one point ran: its results (task order), makespan, and its records' span."""

    point: Point
    results: list[TaskResult]
    wall_s: float
    first_record: int
    end_record: int
    units: int
    """How many units (tasks, or a workflow's features) arrived."""


async def run_points(
    spec: LoadSpec,
    units: Sequence[T],
    submit: Callable[[T], Awaitable[list[TaskResult]]],
    submit_all: Callable[[], Awaitable[list[TaskResult]]],
    records: Callable[[], int],
) -> list[PointRun]:
    """Every point of a ``concurrency`` or ``sweep`` spec, one after the other.

    ``units`` are what arrives (a task, or a workflow's feature); ``submit`` runs one unit,
    ``submit_all`` every unit at once (results in unit order either way); ``records()`` is
    how many attempt records the orchestrator holds so far (so each point knows its own).
    """
    runs: list[PointRun] = []

    async def point(p: Point) -> PointRun:
        loop = asyncio.get_running_loop()
        first, start = records(), loop.time()
        if p.kind == "concurrency":
            nested = await closed_loop(units, p.concurrency or 1, submit)
        elif p.kind == "rate":
            arrivals = (
                arrival_times(p.rate, spec.burstiness, n=len(units), seed=spec.seed)
                if p.rate
                else [0.0] * len(units)  # nothing finished in measurable time: all at once
            )
            nested = await open_loop(units, arrivals, submit)
        else:
            nested = [await submit_all()]
        results = [r for part in nested for r in part]
        run = PointRun(p, results, loop.time() - start, first, records(), len(units))
        runs.append(run)
        return run

    if spec.kind == "concurrency":
        for n in spec.concurrency:
            await point(Point(f"c={n}", "concurrency", concurrency=n))
        return runs
    sync = await point(Point("synchronous", "concurrency", concurrency=1))
    peak = await point(Point("throughput", "batch"))
    rates = sweep_rates(_rate(sync), _rate(peak), spec.sweep_points)
    for k, rate in enumerate(rates):
        await point(Point(f"rate-{k + 1}", "rate", rate=rate))
    sync_first, peak_last = runs[:1], runs[1:2]
    return [*sync_first, *runs[2:], *peak_last]


def _rate(run: PointRun) -> float:
    return run.units / run.wall_s if run.wall_s > 0 else 0.0


def sweep_rates(sync_rate: float, max_rate: float, points: int) -> list[float]:
    """The ``points − 2`` rates of a sweep: evenly spaced above ``sync_rate`` up to ``max_rate``."""
    count = points - 2
    top = max(max_rate, sync_rate)
    return [sync_rate + (top - sync_rate) * (k + 1) / count for k in range(count)]


def load_points(runs: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The ``points`` list of ``summary.json``: per mode and point, the median over repeats
    of the point's aggregates (``runs``: mode → its :class:`~orchbench.bench.runner.ModeRun` s)."""
    from orchbench.metrics import median_of_repeats

    entries: list[dict[str, Any]] = []
    for mode, mode_runs in runs.items():
        by_label: dict[str, list[dict[str, Any]]] = {}
        for run in mode_runs:
            for entry in run.points:
                by_label.setdefault(entry["point"], []).append(entry)
        for label, repeats in by_label.items():
            first = repeats[0]
            entries.append(
                {
                    **median_of_repeats(repeats),
                    "mode": mode,
                    "point": label,
                    "kind": first["kind"],
                    "repeats": len(repeats),
                }
            )
    return entries
