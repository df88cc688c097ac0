"""One benchmark run of one workload on one profile: warm up, alternate modes, store.

:class:`BenchSession` is what the pytest plugin's ``bench_run`` fixture (and so
``orchbench run``) executes. It warms every model up and runs ``warmup`` untimed tasks
first, so load time is charged to no mode; then for each repeat it runs every mode in
turn (sequential, parallel, sequential, parallel, ...) so slow drift of the machine
spreads over both; after each mode it appends the rows and rewrites ``summary.json``.

A run fails loudly and keeps going where the library would. ``summary.json`` ``status``:

- ``"complete"``: every model loaded and no mode run had more than ``max_failed`` (default
  10 %) of its tasks failed;
- ``"degraded"``: as complete, but some model failed its warm-up (busy, server error, not
  found, server gone, or slower than ``default_timeout``): it is listed with the reason in
  ``unavailable_models`` and the run went on without it, its tasks on the fallbacks
  (:mod:`orchbench.bench.availability`), so the numbers describe the models that loaded;
- ``"failed"``: a mode run ended with more than ``max_failed`` of its tasks failed, or no
  model loaded: the run stops there, ``stopped`` says why, and ``speedup`` holds no number
  (``"withheld"`` gives the reason) since a comparison of failures means nothing;
- ``"partial"``: the run was interrupted (Ctrl-C, SIGTERM, an error); ``stopped`` says why.

>>> result = BenchSession(load_profile("embedded"), "embedded", load_suite("smoke"),
...                       out=Path("results")).run()             # doctest: +SKIP
>>> result.speedup                                                # doctest: +SKIP
1.21
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchbench.bench import runner
from orchbench.bench.availability import warm_up_available
from orchbench.bench.drive import tasks_for
from orchbench.bench.load import LoadSpec, load_points
from orchbench.bench.outcome import BenchResult, model_stats
from orchbench.bench.runner import COMPARE_MODES, ModeRun, profile_for_mode, speedup
from orchbench.bench.slo import apply_slos, best_rate_meeting
from orchbench.bench.store import SCHEMA, RunStore, new_run_dir
from orchbench.bench.workflow import workflow_summary
from orchbench.bench.workload import Workload
from orchbench.config import Profile
from orchbench.engine import Backend
from orchbench.errors import BackendUnavailable, ConfigError, Terminated
from orchbench.metrics import median_of_repeats

DEFAULT_MAX_FAILED = 0.1
"""The share of a mode run's tasks that may fail before the run counts as failed."""


def with_seed(profile: Profile, seed: int | None) -> Profile:
    """``profile`` with ``settings.seed`` set (every request carries it); unchanged for None."""
    if seed is None:
        return profile
    settings = profile.settings.model_copy(update={"seed": seed})
    return profile.model_copy(update={"settings": settings})


class BenchObserver:
    """Hooks a front end (the CLI's progress bar) receives; every method is a no-op here."""

    def run_started(self, session: BenchSession, total_tasks: int) -> None:
        """The run starts; ``total_tasks`` counts every timed task over all modes."""

    def mode_started(self, mode: str, repeat: int, n_tasks: int) -> None:
        """A mode run starts (``mode`` is ``"warmup"`` for the untimed warm-up)."""

    def models_unavailable(self, reasons: dict[str, str]) -> None:
        """Models that failed their warm-up (name → reason); the run goes on without them."""

    def event(self, event: Any) -> None:
        """A :class:`~orchbench.scheduler.SchedulerEvent` from the running orchestrator."""

    def mode_finished(self, run: ModeRun) -> None:
        """A mode run finished and was stored."""

    def run_finished(self, result: BenchResult) -> None:
        """The run finished (or stopped: see ``result.status``)."""


class BenchSession:
    """Runs ``workload`` on ``profile`` over the ``backend_kind`` engine in every mode.

    ``backend`` may be given (a :class:`Backend` instance, e.g. a fake in tests); else it is
    built with :func:`orchbench.backends.make_backend` (at ``host``, else the profile's) and
    closed at the end. ``out`` is the parent results folder (a fresh run folder is created
    in it), or ``run_dir`` the exact folder; with neither, nothing is written.
    ``max_failed`` (0 to 1) is the share of a mode run's tasks that may fail before the
    run's status is ``"failed"`` (see the module docstring).
    """

    def __init__(
        self,
        profile: Profile,
        backend_kind: str,
        workload: Workload,
        *,
        repeat: int = 1,
        warmup: int = 1,
        modes: Sequence[str] = COMPARE_MODES,
        out: Path | None = None,
        run_dir: Path | None = None,
        backend: Backend | None = None,
        host: str | None = None,
        observer: BenchObserver | None = None,
        sample_interval_s: float = 0.5,
        max_failed: float = DEFAULT_MAX_FAILED,
        load: LoadSpec | None = None,
        slos: Mapping[str, float] | None = None,
    ) -> None:
        if not 0 <= max_failed <= 1:
            raise ConfigError(
                f"max_failed {max_failed!r} is not valid; give a share between 0 and 1 (0.1 = 10 %)"
            )
        self.max_failed = max_failed
        self.profile = profile
        self.backend_kind = backend_kind
        self.workload = workload
        self.repeat = repeat
        self.warmup = warmup
        self.modes = list(modes)
        self.load = load or LoadSpec()
        # Timed tasks per mode run (a bad --tasks / --duration for the suite fails here).
        self.tasks_per_run = len(tasks_for(workload, self.load).tasks) * self.load.point_count
        for mode in self.modes:
            profile_for_mode(profile, mode)  # validates the mode before any work
        self.backend = backend
        self.host = host
        self.observer = observer or BenchObserver()
        self.sample_interval_s = sample_interval_s
        self.slos = dict(slos or {})
        """SLO bounds in ms (``orchbench.bench.slo``): goodput and attainment per run."""
        if run_dir is None and out is not None:
            run_dir = new_run_dir(Path(out), profile.name, workload.name)
        self.store = RunStore(run_dir) if run_dir is not None else None
        self.runs: dict[str, list[ModeRun]] = {mode: [] for mode in self.modes}
        self.load_s: dict[str, float] = {}
        self.unavailable: dict[str, str] = {}
        """Models that failed their warm-up, with the reason; the run went on without them."""
        self.failure: str | None = None
        """Why the run failed (a mode over ``max_failed``, or no model loaded); else None."""
        self.started_at = time.time()
        self._machine: dict[str, Any] | None = None
        self._sampler: Any = None
        self._sandbox: str | None = None
        """How the quality tests isolate model code (``None``: no tests ran model code)."""
        self._versions: dict[str, Any] | None = None

    @property
    def measured(self) -> bool:
        """Whether the engine's numbers are measurements (its ``measured`` capability):
        False for the simulator and the fake engine."""
        from orchbench.engine import engine_measured

        if self.backend is not None:
            return engine_measured(self.backend)
        from orchbench.backends import engine_class

        return engine_measured(engine_class(self.backend_kind))

    def run(self) -> BenchResult:
        """Run everything (on the virtual clock for an engine that needs it) and return the result.

        On any interruption (Ctrl-C, an error) the summary is left marked ``partial``
        with the reason, and the exception propagates.
        """
        from orchbench.bench.sampler import ResourceSampler

        backend = self.backend
        if backend is None:
            from orchbench.backends import make_backend

            backend = make_backend(self.backend_kind, host=self.host, profile=self.profile)
        sampler = self._sampler = (
            ResourceSampler(self.store.resources_path, interval_s=self.sample_interval_s)
            if self.store and self.measured
            else None
        )
        status = "complete"
        stopped: str | None = None
        try:
            if sampler:
                sampler.start()
            _run_on(backend, self._run_all(backend, close=self.backend is None))
            status = self._status()
            stopped = self.failure
        except BaseException as exc:
            status, stopped = "partial", _reason(exc)
            raise
        finally:
            if sampler:
                sampler.stop()
            result = self.result(status=status, stopped=stopped)
            self.observer.run_finished(result)
        return result

    async def _run_all(self, backend: Backend, *, close: bool) -> None:
        try:
            profile = await self._warm_up(backend)
            if profile is None:
                return
            # A model that did not load has no mode of its own.
            modes = [m for m in self.modes if _mode_model(m) in (None, *profile.models)]
            self.observer.run_started(self, self.tasks_per_run * len(modes) * self.repeat)
            for repeat in range(self.repeat):
                for mode in modes:
                    if not await self._run_one(profile, backend, mode, repeat):
                        return
        finally:
            if close:
                await backend.close()

    async def _run_one(self, profile: Profile, backend: Backend, mode: str, repeat: int) -> bool:
        """Run one mode once and store it; False when it failed too many tasks (stop)."""
        self.observer.mode_started(mode, repeat, self.tasks_per_run)
        # Warmed up once above for every mode: the modes alternate on one engine.
        run = await runner.measure_configuration(
            profile,
            backend,
            self.workload,
            mode,
            warmup=False,
            repeat=repeat,
            listener=self.observer.event,
            load=self.load,
        )
        apply_slos(run, self.slos)
        self.runs[mode].append(run)
        failures, tasks = run.aggregates["failures"], run.aggregates["tasks"]
        if tasks and failures / tasks > self.max_failed:
            self.failure = (
                f"{mode} repeat {repeat + 1}: {failures} of {tasks} tasks failed, more than the "
                f"{self.max_failed:.0%} allowed (--max-failed)"
                + (f"; first error: {err}" if (err := _first_error(run)) else "")
            )
        if self.store:
            self.store.append_mode(run, self.slos)
            self.store.write_summary(self.summary(status="partial"))
        self.observer.mode_finished(run)
        return self.failure is None

    async def _warm_up(self, backend: Backend) -> Profile | None:
        """Load the models and run the warm-up tasks; the profile to run (None: none loaded)."""
        self.observer.mode_started("warmup", 0, self.warmup)
        tasks = self.workload.tasks[: self.warmup] if self.warmup else ()
        try:
            warm = await warm_up_available(self.profile, backend, tasks)
        except BackendUnavailable as exc:
            self.failure = str(exc)
            return None
        self.load_s, self.unavailable = warm.load_s, warm.unavailable
        if warm.unavailable:
            self.observer.models_unavailable(dict(warm.unavailable))
        return warm.profile

    def _status(self) -> str:
        if self.failure is not None:
            return "failed"
        return "degraded" if self.unavailable else "complete"

    def summary(self, *, status: str, stopped: str | None = None) -> dict[str, Any]:
        """The ``summary.json`` document for what has run so far."""
        from orchbench import __version__
        from orchbench.bench.machine import machine_info, package_versions
        from orchbench.errors import redact_data
        from orchbench.profiles import profile_to_dict
        from orchbench.quality import sandbox_isolation

        if self._machine is None:
            self._machine, self._versions = machine_info(), package_versions()
            self._sandbox = sandbox_isolation(self.workload.tasks) if self.measured else None
        modes = {
            mode: {
                "runs": [{"repeat": r.repeat, **r.aggregates} for r in runs],
                "median": median_of_repeats([r.aggregates for r in runs]),
            }
            for mode, runs in self.runs.items()
            if runs
        }
        last = next(
            (runs[-1] for mode in ("parallel", *self.runs) if (runs := self.runs.get(mode))),
            None,
        )
        summary = redact_data({  # no credential of a host URL in a file a person keeps
            "schema": SCHEMA,
            "status": status,
            "stopped": stopped,
            "orchbench_version": __version__,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(time.time()),
            "machine": self._machine,
            "versions": self._versions,
            "profile": profile_to_dict(self.profile),
            "backend": self.backend_kind,
            "measured": self.measured,
            "suite": {
                "name": self.workload.name,
                "tasks": len(self.workload.tasks),
                "prompt_style": self.workload.prompt_style,
                "source": str(self.workload.source) if self.workload.source else None,
            },
            "repeat": self.repeat,
            "warmup": self.warmup,
            "load_s": self.load_s,
            "unavailable_models": self.unavailable,
            "max_failed": self.max_failed,
            "sandbox": self._sandbox,
            "modes": modes,
            "load": self.load.to_dict(),
            **({"points": load_points(self.runs)} if self.load.has_points else {}),
            **({"workflow": workflow_summary(self.runs)} if self.workload.is_workflow else {}),
            "speedup": self._speedup(status),
            "seed": self.profile.settings.seed,
            "slo": self.slos,
            "noise": self._sampler.noise() if self._sampler is not None else None,
            "models": model_stats(self.runs),
            "performance_report": last.performance_report if last else {},
            "recommendations": last.recommendations if last else {},
        })  # fmt: skip
        if self.slos and summary.get("points"):
            summary["slo_best_rate"] = best_rate_meeting(summary["points"])
        return summary

    def _speedup(self, status: str) -> dict[str, Any]:
        block = speedup(self.runs.get("sequential", []), self.runs.get("parallel", []))
        if status != "failed":
            return block
        # A run that failed measured failures: its times compare nothing.
        nothing = dict.fromkeys(("median", "min", "max", "estimate", "low", "high"))
        return {**nothing, "values": [], "withheld": f"the run failed: {self.failure}"}

    def result(self, *, status: str, stopped: str | None = None) -> BenchResult:
        """The run so far as a :class:`BenchResult` (also rewrites ``summary.json``)."""
        summary = self.summary(status=status, stopped=stopped)
        if self.store:
            self.store.write_summary(summary)
        return BenchResult(
            summary=summary, runs=self.runs, run_dir=self.store.path if self.store else None
        )


def _run_on(backend: Backend, main: Any) -> None:
    from orchbench.sim import run_on

    run_on(backend, main)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def _mode_model(mode: str) -> str | None:
    return mode.removeprefix(runner.MODEL_PREFIX) if mode.startswith(runner.MODEL_PREFIX) else None


def _first_error(run: ModeRun) -> str | None:
    return next((r.error for r in run.results if not r.success and r.error), None)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM)"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return f"{type(exc).__name__}: {exc}"
