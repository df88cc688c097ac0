"""How right is the simulator? Run one workload under several limit/thread settings on
the real engine and on the simulator, and compare.

Each :class:`CheckConfig` sets every model's ``concurrent_limit`` and ``n_threads`` and
the profile's ``max_concurrent_tasks``. Both sides run the same code: a fresh
:class:`~orchbench.scheduler.Orchestrator`, a warmup, then the whole workload at once;
the makespan is the loop time from submission to the last result. The simulator
replays the token counts the real run measured for each prompt (as Vidur replays
traces), so the comparison judges the performance model, not a guess of answer lengths.
Quality checks are dropped on both sides: scoring is not what is being compared.

Reported: per configuration predicted and measured makespan and throughput, the mean
absolute percentage error (MAPE) of the makespans, and Kendall's τ between the two
rankings of the configurations (what a tuner needs to be right).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from orchbench.config import Profile
from orchbench.engine import Backend
from orchbench.records import TaskResult, TaskSpec
from orchbench.sim._backend import SimBackend
from orchbench.sim._clock import run_virtual
from orchbench.sim._params import Calibration


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """One limit/thread setting: per-model instances/slots and threads, global limit."""

    concurrent_limit: int
    n_threads: int
    max_concurrent_tasks: int
    num_parallel: int | None = None
    """Sequences per batched context (an engine that batches slots); None: instances."""

    @property
    def label(self) -> str:
        """A short label: ``2×1t, max 2`` (instances) or ``2×6 seq×1t, max 12`` (batched)."""
        if self.num_parallel:
            contexts = -(-self.concurrent_limit // self.num_parallel)
            shape = f"{contexts}×{self.num_parallel} seq×{self.n_threads}t"
        else:
            shape = f"{self.concurrent_limit}×{self.n_threads}t"
        return f"{shape}, max {self.max_concurrent_tasks}"

    def apply(self, profile: Profile) -> Profile:
        """A copy of ``profile`` with this setting on every model."""
        copy = profile.model_copy(deep=True)
        copy.settings.max_concurrent_tasks = self.max_concurrent_tasks
        for model in copy.models.values():
            model.concurrent_limit = self.concurrent_limit
            model.n_threads = self.n_threads
            model.num_parallel = self.num_parallel
        return copy


@dataclass(slots=True)
class ConfigOutcome:
    """Measured and predicted makespan (s) and throughput (completion tok/s) of a config."""

    config: CheckConfig
    measured_s: float
    predicted_s: float
    measured_tps: float
    predicted_tps: float
    failures: int = 0

    @property
    def error(self) -> float:
        """Relative makespan error, (predicted − measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s


@dataclass(slots=True)
class FidelityReport:
    """Every configuration's outcome plus the summary figures."""

    outcomes: list[ConfigOutcome]
    repeats: list[list[float]] = field(default_factory=list)
    """Every measured makespan of each configuration (outcome order), in run order."""

    @property
    def repeatability(self) -> tuple[float, float] | None:
        """The real engine against itself: MAPE (percent) and Kendall τ between the
        median makespans of its odd and its even repeats of every configuration (with
        two repeats, the first against the second) — the noise floor no simulator can
        beat, since a ranking the engine does not reproduce cannot be predicted. None
        with one repeat."""
        if len(self.outcomes) < 2 or len(self.repeats) != len(self.outcomes):
            return None
        if any(len(r) < 2 for r in self.repeats):
            return None
        first = [statistics.median(r[0::2]) for r in self.repeats]
        second = [statistics.median(r[1::2]) for r in self.repeats]
        pairs = list(zip(first, second, strict=True))
        mape = 100.0 * sum(abs(a - b) / min(a, b) for a, b in pairs) / len(pairs)
        return mape, kendall_tau(first, second)

    @property
    def mape(self) -> float:
        """Mean absolute percentage error of the makespans, in percent."""
        return 100.0 * sum(abs(o.error) for o in self.outcomes) / len(self.outcomes)

    @property
    def bias(self) -> float:
        """Mean signed makespan error in percent (negative: the simulator is optimistic)."""
        return 100.0 * sum(o.error for o in self.outcomes) / len(self.outcomes)

    @property
    def throughput_mape(self) -> float:
        """Mean absolute percentage error of the throughputs, in percent."""
        errors = [abs(o.predicted_tps - o.measured_tps) / o.measured_tps for o in self.outcomes]
        return 100.0 * sum(errors) / len(errors)

    @property
    def kendall_tau(self) -> float:
        """Kendall's τ-b between measured and predicted makespans."""
        return kendall_tau(
            [o.measured_s for o in self.outcomes], [o.predicted_s for o in self.outcomes]
        )


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b rank correlation of two equally long sequences
    (:func:`scipy.stats.kendalltau`; 0 when it is undefined, e.g. all values tied).

    >>> kendall_tau([1, 2, 3], [10, 20, 30])
    1.0
    """
    import math

    from scipy.stats import kendalltau

    if len(x) != len(y) or len(x) < 2:
        raise ValueError("kendall_tau needs two sequences of the same length ≥ 2")
    tau = float(kendalltau(x, y).statistic)
    return 0.0 if math.isnan(tau) else tau


def default_check_configs(profile: Profile, slots: bool = False) -> list[CheckConfig]:
    """Seven or eight held-out settings spanning too little, enough and too much
    parallelism; ``slots``: the engine batches slots (two batched settings among them)."""
    cores = profile.hardware.cpu_cores
    if profile.hardware.kind == "cpu":
        many = min(cores, 4)
        configs = [
            CheckConfig(1, 1, 1),
            CheckConfig(1, many, 1),
            CheckConfig(2, 1, 2),
            CheckConfig(4, 1, 4),
            CheckConfig(2, many, 2),
            CheckConfig(3, many, 3),
        ]
        if slots:  # batched contexts too: one of 12 sequences on every core, two of 6
            configs += [CheckConfig(12, many, 12, 12), CheckConfig(12, 1, 12, 6)]
        else:
            configs.append(CheckConfig(3, 1, 3))
        return configs
    threads = max(1, cores // 2)
    counts = (1, 2, 3, 4, 5, 6, 8)
    return [CheckConfig(n, threads, max(n, 1) * len(profile.models)) for n in counts]


def _tasks(tasks: Sequence[TaskSpec]) -> list[TaskSpec]:
    return [dataclasses.replace(t, checks=None) for t in tasks]


def _tokens(results: Sequence[TaskResult]) -> int:
    return sum((r.timings.completion_tokens or 0) for r in results if r.timings)


async def run_config(
    profile: Profile, backend: Backend, tasks: Sequence[TaskSpec]
) -> tuple[float, list[TaskResult]]:
    """Warm up, run ``tasks`` all at once; the makespan (loop seconds) and the results.

    Answers are not judged (a constant score): only the timing is compared.
    """
    from orchbench.bench import runner
    from orchbench.bench.workload import Workload

    workload = Workload("fidelity-check", "", "completion", tuple(_tasks(tasks)))
    run = await runner.measure_configuration(
        profile, backend, workload, "parallel", scorer=_unjudged
    )
    return run.wall_s, run.results


def _unjudged(*args: object, **kwargs: object) -> float:
    return 1.0


def _median_run(
    runs: Sequence[tuple[float, list[TaskResult]]],
) -> tuple[float, list[TaskResult]]:
    """The median makespan of ``runs`` and the results of the run nearest it."""
    median = statistics.median(wall for wall, _ in runs)
    nearest = min(runs, key=lambda run: abs(run[0] - median))
    return median, nearest[1]


class CheckRuns:
    """The real side of a check: every config's measured runs, one pass at a time.

    A pass runs every config once; :func:`orchbench.calibrate.calibrate` runs one pass
    after each repeat of its own plan, so the fit's rounds and the check's runs see the
    machine in the same states (a VM whose speed drifts over minutes would otherwise
    bias every prediction the same way).
    """

    def __init__(
        self,
        profile: Profile,
        tasks: Sequence[TaskSpec],
        configs: Sequence[CheckConfig],
        *,
        passes: int,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.profile, self.tasks, self.configs = profile, list(tasks), list(configs)
        self.passes, self.progress = passes, progress
        self.runs: list[list[tuple[float, list[TaskResult]]]] = [[] for _ in self.configs]
        self._done = 0

    @property
    def left(self) -> int:
        """Passes still to run."""
        return self.passes - self._done

    async def measure_pass(self, backend: Backend) -> None:
        """Run every config once on ``backend`` (a real engine); nothing once all
        ``passes`` have run."""
        if not self.left:
            return
        total = self.passes * len(self.configs)
        for i, config in enumerate(self.configs):
            if self.progress:
                n = self._done * len(self.configs) + i + 1
                self.progress(f"check configuration {n} of {total}: {config.label}")
            run = await run_config(config.apply(self.profile), backend, self.tasks)
            self.runs[i].append(run)
        self._done += 1

    def compare(self, calibration: Calibration | None) -> FidelityReport:
        """Simulate every config with ``calibration`` and compare with its median run."""
        outcomes = []
        for config, runs in zip(self.configs, self.runs, strict=True):
            if self.progress:
                self.progress(f"simulating {config.label}")
            outcomes.append(
                _outcome(self.profile, config, _median_run(runs), self.tasks, calibration)
            )
        return FidelityReport(outcomes, [[wall for wall, _ in r] for r in self.runs])


def _outcome(
    profile: Profile,
    config: CheckConfig,
    measured: tuple[float, list[TaskResult]],
    tasks: Sequence[TaskSpec],
    calibration: Calibration | None,
) -> ConfigOutcome:
    real_s, real_results = measured
    trace = {
        r.prompt: (r.timings.prompt_tokens or 1, r.timings.completion_tokens or 1)
        for r in real_results
        if r.timings
    }
    shaped = config.apply(profile)
    sim = SimBackend(shaped, calibration or Calibration(), trace=trace)
    sim_s, sim_results = run_virtual(run_config(shaped, sim, tasks))
    return ConfigOutcome(
        config=config,
        measured_s=real_s,
        predicted_s=sim_s,
        measured_tps=_tokens(real_results) / real_s,
        predicted_tps=_tokens(sim_results) / sim_s,
        failures=sum(not r.success for r in real_results),
    )


def check_fidelity(
    profile: Profile,
    real_backend: Callable[[], Backend],
    tasks: Sequence[TaskSpec],
    calibration: Calibration | None,
    configs: Sequence[CheckConfig] | None = None,
    *,
    repeats: int = 5,
    progress: Callable[[str], None] | None = None,
    slots: bool = False,
) -> FidelityReport:
    """Run ``tasks`` under each config on a real engine, then on the simulator; compare.

    The real side runs every config ``repeats`` times, interleaved (all configs, then
    all again), and keeps each config's median makespan (and the results of the run
    nearest it, for the simulator's trace): on a virtual machine a run is as often
    faster than usual as slower, and the fit compares medians too
    (:func:`~orchbench.calibrate._fit.typical`). ``real_backend`` builds the engine (called
    once; closed at the end). Synchronous: the real runs use ``asyncio.run`` and the
    simulated ones the virtual clock. (``orchbench calibrate`` runs the passes between the
    repeats of its own measurements instead: :class:`CheckRuns`.)
    """
    chosen = list(configs or default_check_configs(profile, slots=slots))
    check = CheckRuns(profile, tasks, chosen, passes=repeats, progress=progress)

    async def measure_all() -> None:
        backend = real_backend()
        try:
            while check.left:
                await check.measure_pass(backend)
        finally:
            await backend.close()

    asyncio.run(measure_all())
    return check.compare(calibration)
