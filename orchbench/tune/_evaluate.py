"""Running one candidate configuration: the suite's parallel mode on an engine, repeated.

An :class:`Evaluator` turns a candidate :class:`~orchbench.config.Profile` into the
aggregates of one parallel run (``tasks_per_s``, ``total_s``, ``p95_latency_s`` …, see
``orchbench.bench.aggregate.aggregate``). :func:`measure` repeats it and takes the median.

- :class:`EngineEvaluator` drives a real engine (embedded, Ollama, OpenAI-compatible):
  one backend and one event loop for the whole tune, because the embedded engine keeps
  its loaded instances and honours changed ``n_threads``/``concurrent_limit``/
  ``num_parallel`` between runs (a trial's warm-up builds its instances or batched
  contexts and frees those of the trial before, so only the current trial's copies run).
- :class:`SimEvaluator` runs each candidate on the simulator's virtual clock with a fresh
  ``SimBackend(candidate)``: seconds of wall time per trial.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from orchbench.config import Profile
from orchbench.metrics import median_of_repeats

if TYPE_CHECKING:
    from orchbench.bench.runner import ModeRun
    from orchbench.bench.workload import Workload
    from orchbench.engine import Backend

Aggregates = dict[str, float]


class Evaluator(Protocol):
    """Runs a candidate profile once and returns its run aggregates.

    Contract: ``evaluate`` does not modify ``profile``; engine failures raise
    :class:`~orchbench.errors.BackendError`; ``backend`` labels the engine (``"sim"``,
    ``"embedded"`` …); ``close`` releases the engine and is safe to call twice.
    """

    backend: str
    measured: bool
    """Whether the engine's numbers are measurements (see :func:`orchbench.engine.is_measured`)."""

    def evaluate(self, profile: Profile, repeat: int = 0) -> Mapping[str, object]:
        """Aggregates of one parallel run of ``profile`` (``repeat`` numbers the run)."""
        ...

    def close(self) -> None:
        """Release the engine."""
        ...


def numeric(aggregates: Mapping[str, object]) -> Aggregates:
    """The numeric scalars of ``aggregates`` (nested tables such as ``per_type_s`` dropped)."""
    return {
        k: float(v)
        for k, v in aggregates.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def measure(evaluator: Evaluator, profile: Profile, repeat: int = 1) -> Aggregates:
    """Run ``profile`` ``repeat`` times and return the median of each aggregate."""
    runs = [numeric(evaluator.evaluate(profile, i)) for i in range(max(1, repeat))]
    return numeric(median_of_repeats(runs))


class EngineEvaluator:
    """Parallel runs of a suite on a real engine, one backend and one event loop for all."""

    def __init__(
        self,
        kind: str,
        workload: Workload,
        *,
        profile: Profile,
        host: str | None = None,
        slos: Mapping[str, float] | None = None,
    ) -> None:
        from orchbench.backends import engine_class
        from orchbench.engine import engine_measured

        self.backend = kind
        self.measured = engine_measured(engine_class(kind))
        self._workload = workload
        self._profile = profile
        self._host = host
        self._slos = dict(slos or {})
        self._runner: asyncio.Runner | None = None
        self._engine: Backend | None = None

    @property
    def engine(self) -> Backend | None:
        """The engine the trials run on (built by the first :meth:`evaluate`, else None)."""
        return self._engine

    def _ensure(self) -> tuple[asyncio.Runner, Backend]:
        if self._runner is None:
            self._runner = asyncio.Runner()
        if self._engine is None:
            from orchbench.backends import make_backend

            self._engine = make_backend(self.backend, host=self._host, profile=self._profile)
        return self._runner, self._engine

    def evaluate(self, profile: Profile, repeat: int = 0) -> Mapping[str, object]:
        """One parallel run of the suite with ``profile``'s limits, warmed up first."""
        from orchbench.bench import runner as bench

        # Every instance the candidate needs is loaded before the clock starts: otherwise
        # the first trial (the profile's own config) and every trial that adds an instance
        # would pay load time the others do not.
        loop, engine = self._ensure()
        run = loop.run(
            bench.measure_configuration(profile, engine, self._workload, "parallel", repeat=repeat)
        )
        return with_slos(run, self._slos)

    def close(self) -> None:
        """Close the backend and the event loop."""
        if self._runner is not None:
            if self._engine is not None:
                self._runner.run(self._engine.close())
            self._runner.close()
        self._runner = self._engine = None


class SimEvaluator:
    """Parallel runs of a suite on the simulator (virtual time, deterministic).

    The simulator's answers are placeholders, not model output, so the suite's quality
    tests (a subprocess per task) are dropped: they would cost most of a trial's wall
    time and measure nothing.
    """

    backend = "sim"
    measured = False

    def __init__(self, workload: Workload, *, slos: Mapping[str, float] | None = None) -> None:
        tasks = tuple(dataclasses.replace(t, checks=None) for t in workload.tasks)
        self._workload = dataclasses.replace(workload, tasks=tasks)
        self._slos = dict(slos or {})

    def evaluate(self, profile: Profile, repeat: int = 0) -> Mapping[str, object]:
        """One simulated parallel run with a fresh ``SimBackend(profile)``, warmed up first
        like a real engine's run (load time is charged to no trial)."""
        from orchbench.bench import runner as bench
        from orchbench.sim import SimBackend, run_virtual

        backend = SimBackend(profile)
        run = run_virtual(
            bench.measure_configuration(profile, backend, self._workload, "parallel", repeat=repeat)
        )
        return with_slos(run, self._slos)

    def close(self) -> None:
        """Nothing to release: each run has its own simulated engine."""


def with_slos(run: ModeRun, slos: Mapping[str, float]) -> Mapping[str, object]:
    """The run's aggregates with ``goodput`` and ``slo_attainment_pct`` under ``slos``."""
    from orchbench.bench.slo import slo_aggregates

    return {**run.aggregates, **slo_aggregates(run.results, run.wall_s, slos)}


def make_evaluator(
    kind: str,
    workload: Workload,
    *,
    profile: Profile,
    host: str | None = None,
    slos: Mapping[str, float] | None = None,
) -> Evaluator:
    """The evaluator for backend ``kind``: on the virtual clock for an engine that needs it
    (the simulator), else one shared engine and event loop. With ``slos`` (see
    :mod:`orchbench.bench.slo`) every run also reports ``goodput``."""
    from orchbench.backends import engine_class
    from orchbench.engine import on_virtual_clock

    if on_virtual_clock(engine_class(kind)):
        return SimEvaluator(workload, slos=slos)
    return EngineEvaluator(kind, workload, profile=profile, host=host, slos=slos)
