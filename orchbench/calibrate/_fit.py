"""Fit the performance model's parameters to measurements (pure: no engine, no clock).

A measurement is a :class:`Round`: ``copies`` identical requests sent at once to each
of ``models`` with ``threads`` threads per instance, and the :class:`Timings` each came
back with. Each stream's decode rate (completion tokens / completion seconds) is what
the model's :func:`~orchbench.sim._model.stream_rates` predicts for that set of
streams, so every parameter is fitted by making those predictions match, one
parameter at a time in an order where each depends only on those fitted before:

1. per model: ``decode_tps`` (one stream alone, one thread), ``prompt_tps``,
   ``load_s``, ``completion_ratio``, ``request_overhead_s``;
2. ``thread_scaling`` from one stream's decode rate at several thread counts, and
   ``prefill_thread_scaling`` on its own from the same rounds' prompt rates;
3. ``contention`` from several single-threaded instances (no more than the cores) or
   several models at once;
4. ``time_slicing_gain`` from more single-threaded instances than cores;
5. ``oversubscription_step_s`` from multi-threaded instances beyond the cores (seconds
   added to each step; ``oversubscription_penalty``, a factor, is then written as 0);
6. ``batch_alpha``/``batch_gamma`` from one batching model at several batch sizes; for an
   engine that batches slots in process (the embedded engine), one context's
   ``batch_curve`` (aggregate decode at each b relative to one sequence) and
   ``batch_prefill_gain``, fitted by simulating its slot rounds
   (:mod:`orchbench.calibrate._slots`).

Each fit minimises the log errors with bounded least squares
(:func:`orchbench.calibrate._lsq.fit_bounded`, scipy's trust-region solver) and keeps
each parameter's standard error (``ParamFit.stderr``, written as ``stderr.<name>`` in the
calibration's provenance); a parameter the rounds do not determine (at a bound, or an
ill-conditioned Jacobian) refuses the whole fit with what to measure instead
(:class:`~orchbench.calibrate._lsq.DegenerateFit`). Where a round was repeated, its
repeats count by their median (:func:`typical`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

from orchbench.backends import engine_class
from orchbench.calibrate._lsq import ParamFit, fit_bounded
from orchbench.calibrate._rounds import Observation, Round
from orchbench.calibrate._slots import fit_slots
from orchbench.config import HardwareSpec, ModelConfig
from orchbench.engine import prompt_time_includes_first_token, runs_instances
from orchbench.records import Timings
from orchbench.sim._model import (
    DECODE,
    PerfModel,
    StreamLoad,
    prefill_speed_factor,
    stream_rates,
)
from orchbench.sim._params import Calibration, DeviceParams, ModelParams, default_device_params

BOUNDS: dict[str, tuple[float, float]] = {
    "thread_scaling": (0.0, 1.5),
    "prefill_thread_scaling": (0.0, 1.5),
    "contention": (0.0, 3.0),
    "time_slicing_gain": (0.0, 3.0),
    "oversubscription_penalty": (0.0, 5.0),
    "oversubscription_step_s": (0.0, 0.5),
    "batch_alpha": (0.0, 3.0),
    "batch_gamma": (0.3, 1.4),
}
"""Where each device parameter is searched."""
FLOORS = frozenset(
    {
        "thread_scaling",
        "prefill_thread_scaling",
        "contention",
        "time_slicing_gain",
        "oversubscription_penalty",
        "oversubscription_step_s",
    }
)
"""Parameters whose lower bound 0 means the effect is absent (a second thread gains
nothing, instances do not slow each other): a fit that the data push there is kept."""
HINTS: dict[str, str] = {
    "thread_scaling": "measure one stream alone at 1, 2 … cores threads",
    "prefill_thread_scaling": "measure one stream alone at 1, 2 … cores threads",
    "contention": "measure 2 … cores single-threaded instances (or two models) at once",
    "time_slicing_gain": "measure more single-threaded instances than cores at once",
    "oversubscription_penalty": "measure multi-threaded instances whose threads exceed the cores",
    "oversubscription_step_s": "measure multi-threaded instances whose threads exceed the cores",
    "batch_alpha": "measure one model at batch sizes 1, 2, 4 and 8",
    "batch_gamma": "measure one model at batch sizes 1, 2, 4 and 8",
}
"""What to measure when a parameter cannot be fitted (the DegenerateFit message)."""


def typical(values: Sequence[float]) -> float:
    """What repeats of one measurement are reduced to: their median.

    Not the best: on a virtual machine a round is as often faster than usual as slower
    (the host's other guests, the cores it is given), and the best of many short rounds
    is a lucky one, which made every prediction optimistic. The fidelity check compares
    medians too.

    >>> typical([30.0, 38.0, 31.0])
    31.0
    """
    return statistics.median(values)


def _model_params(observations: Sequence[Observation], name: str, ttft_prompt: bool) -> ModelParams:
    """Single-stream values of one model from its one-thread solo rounds."""
    solo = [o for o in observations if o.round.models == (name,) and o.round.copies == 1]
    one_thread = [o for o in solo if o.round.threads == 1 and o.timings] or [
        o for o in solo if o.timings
    ]
    timings = [t for o in one_thread for t in o.timings]
    decode = typical([t.decode_rate for t in timings if t.decode_rate] or [1.0])
    prompt_rates = [r for t in timings if (r := prompt_rate(t, ttft_prompt, decode))]
    ratios = [
        min(1.0, t.completion_tokens / o.round.max_tokens)
        for o in one_thread
        for t in o.timings
        if t.completion_tokens
    ]
    # What the caller waits beyond the engine's own phases: hand-off, tokenizing.
    overheads = [
        max(
            0.0,
            wall - (t.load_s or 0) - (t.queue_s or 0) - (t.prompt_s or 0) - (t.completion_s or 0),
        )
        for o in one_thread
        for t, wall in zip(o.timings, o.walls, strict=False)
    ]
    loads = [o.load_s for o in observations if o.round.models == (name,) and o.load_s]
    return ModelParams(
        decode_tps=decode,
        prompt_tps=typical(prompt_rates) if prompt_rates else None,
        load_s=min(loads) if loads else None,
        completion_ratio=max(0.01, statistics.fmean(ratios)) if ratios else 1.0,
        request_overhead_s=statistics.median(overheads) if overheads else 0.0,
    )


def prompt_rate(timings: Timings, ttft_prompt: bool, decode: float | None) -> float | None:
    """Prompt tokens per second of one request (None when it was not timed).

    Engines that time prompts to the first token (``ttft_prompt``) include one decode
    step in it, which is taken out at ``decode`` tokens/s.
    """
    if not (timings.prompt_tokens and timings.prompt_s):
        return None
    seconds = timings.prompt_s - (1.0 / decode if ttft_prompt and decode else 0.0)
    return timings.prompt_tokens / seconds if seconds > 0 else None


class _Fitter:
    """Holds the device parameters being fitted and predicts each round with them."""

    def __init__(
        self,
        hardware: HardwareSpec,
        configs: dict[str, ModelConfig],
        device: DeviceParams,
        models: dict[str, ModelParams],
    ) -> None:
        self.hardware = hardware
        self.configs = configs
        self.device = device
        self.models = models
        self.strict = True
        """False: keep a degenerate fit (``calibrate --force``) instead of refusing it."""

    def predicted(self, round_: Round, device: DeviceParams) -> float:
        streams = []
        for name in round_.models:
            config = self.configs[name].model_copy(
                update={
                    "n_threads": round_.threads,
                    "concurrent_limit": round_.copies,
                    "num_parallel": round_.slots if round_.slots > 1 else None,
                }
            )
            perf = PerfModel.build(self.hardware, config, device, self.models[name])
            streams += [StreamLoad(perf, DECODE, round_.threads)] * round_.copies
        return statistics.fmean(stream_rates(streams, self.hardware, device))

    def fit_prefill(self, rounds: list[Observation], ttft_prompt: bool) -> ParamFit | None:
        """``prefill_thread_scaling`` from one stream's prompt rate at several thread
        counts, relative to the model's one-thread ``prompt_tps`` (median of the repeats)."""
        measured: dict[tuple[str, int], list[float]] = {}
        for o in rounds:
            rates = [prompt_rate(t, ttft_prompt, t.decode_rate) for t in o.timings]
            found = [r for r in rates if r]
            key = (o.round.models[0], o.round.threads)
            if found:
                measured.setdefault(key, []).extend(found)
        targets = [
            (threads, typical(rates), base)
            for (name, threads), rates in measured.items()
            if threads > 1 and (base := self.models[name].prompt_tps)
        ]
        if not targets:
            return None
        name = "prefill_thread_scaling"

        def residuals(values: Sequence[float]) -> list[float]:
            device = self.device.model_copy(update={name: values[0]})
            return [
                math.log(base * prefill_speed_factor(float(k), device) / rate)
                for k, rate, base in targets
            ]

        start = [float(self.device.prefill_thread_scaling)]
        result = fit_bounded(
            residuals, (name,), start, [BOUNDS[name]], HINTS, strict=self.strict, floors=FLOORS
        )
        self.device = self.device.model_copy(update=result.as_dict())
        return result

    def fit(self, names: tuple[str, ...], rounds: list[Observation]) -> ParamFit | None:
        """Fit device parameter(s) ``names`` to ``rounds`` by bounded least squares.

        Repeats of a round are reduced to their median rate (:func:`typical`).
        """
        groups: dict[tuple[tuple[str, ...], int, int], list[float]] = {}
        examples: dict[tuple[tuple[str, ...], int, int], Round] = {}
        for o in rounds:
            rate = o.decode_rate()
            if rate:
                key = (o.round.models, o.round.copies, o.round.threads)
                groups.setdefault(key, []).append(rate)
                examples[key] = o.round
        if not groups:
            return None
        targets = [(examples[k], typical(v)) for k, v in groups.items()]

        def residuals(values: Sequence[float]) -> list[float]:
            device = self.device.model_copy(update=dict(zip(names, values, strict=True)))
            return [math.log(self.predicted(r, device) / rate) for r, rate in targets]

        start = [float(getattr(self.device, n)) for n in names]
        bounds = [BOUNDS[n] for n in names]
        result = fit_bounded(
            residuals, names, start, bounds, HINTS, strict=self.strict, floors=FLOORS
        )
        self.device = self.device.model_copy(update=result.as_dict())
        return result


def fit_calibration(
    hardware: HardwareSpec,
    engine: str,
    configs: dict[str, ModelConfig],
    observations: Sequence[Observation],
    provenance: dict[str, str | int | float | bool] | None = None,
    *,
    strict: bool = True,
) -> Calibration:
    """Fit a :class:`Calibration` for ``hardware`` running ``engine`` from ``observations``.

    ``configs`` are the models measured (for their sizes). Parameters the rounds do not
    inform keep their defaults and are not written; each fitted parameter's standard
    error goes into the provenance as ``stderr.<name>``. Raises
    :class:`~orchbench.calibrate._lsq.DegenerateFit` when the rounds do not determine a
    parameter they exercise — unless ``strict=False`` (``calibrate --force``): then the
    fit is kept and the reason recorded in the provenance as ``degenerate.<name>``.
    """
    ttft_prompt = prompt_time_includes_first_token(engine_class(engine))
    models = {name: _model_params(observations, name, ttft_prompt) for name in configs}
    defaults = default_device_params(hardware, runs_instances(engine_class(engine)))
    fitter = _Fitter(hardware, configs, defaults, models)
    fitter.strict = strict
    cores = hardware.cpu_cores
    cpu = hardware.kind == "cpu"
    batching = fitter.device.batching

    def rounds(test: Callable[[Round], bool]) -> list[Observation]:
        return [o for o in observations if o.timings and test(o.round) and o.round.slots == 1]

    fits: list[ParamFit | None] = []
    threads = rounds(lambda r: len(r.models) == 1 and r.copies == 1 and r.threads > 1)
    if cpu and threads:
        fits.append(fitter.fit(("thread_scaling",), threads))
        fits.append(fitter.fit_prefill(threads, ttft_prompt))
    shared = rounds(
        lambda r: (
            (len(r.models) > 1 and r.copies == 1)
            or (not batching and r.copies > 1 and r.threads == 1 and r.copies <= cores)
        )
    )
    if shared:
        fits.append(fitter.fit(("contention",), shared))
    sliced = rounds(lambda r: not batching and r.threads == 1 and r.copies > cores)
    if cpu and sliced:
        fits.append(fitter.fit(("time_slicing_gain",), sliced))
    over = rounds(
        lambda r: not batching and r.copies > 1 and r.threads > 1 and r.copies * r.threads > cores
    )
    if cpu and over:
        # A time slice per step, the same for every model: seconds, not a factor.
        fitter.device = fitter.device.model_copy(update={"oversubscription_penalty": 0.0})
        fits.append(fitter.fit(("oversubscription_step_s",), over))
    batches = rounds(lambda r: batching and len(r.models) == 1 and r.copies > 1)
    if batches:
        fits.append(fitter.fit(("batch_alpha", "batch_gamma"), batches))
    done = [f for f in fits if f is not None]
    device: dict[str, object] = {
        name: getattr(fitter.device, name) for f in done for name in f.names
    }
    if cpu and over:
        device["oversubscription_penalty"] = 0.0  # replaced by oversubscription_step_s
    slots, slot_fits = fit_slots(hardware, configs, fitter.device, models, observations, strict)
    device.update(slots)
    done += slot_fits
    table = dict(provenance or {})
    for f in done:
        for name, err in zip(f.names, f.stderr, strict=True):
            if err is not None:
                table[f"stderr.{name}"] = round(err, 6)
        if f.degenerate is not None:
            table[f"degenerate.{'+'.join(f.names)}"] = f.degenerate
        for name in f.at_floor:
            table[f"floor.{name}"] = "measured at its lower bound 0: the effect is absent"
    return Calibration(provenance=table, device=device, models=models)


def fit_published(
    hardware: HardwareSpec, points: Sequence[tuple[float, float]]
) -> dict[str, float]:
    """``efficiency`` and ``overhead_s`` from published single-stream decode rates.

    ``points`` are ``(model size in GB, tokens/s)`` pairs for one card; seconds per token
    ``= overhead_s + size_gb / (bandwidth_gbs × efficiency)`` is a straight line in the
    size, fitted by least squares. Needs two sizes at least.

    >>> card = HardwareSpec(name="x", vram_gb=24, bandwidth_gbs=1000, ram_gb=64, cpu_cores=8)
    >>> fit = fit_published(card, [(4.0, 1 / 0.007), (8.0, 1 / 0.012)])
    >>> round(fit["efficiency"], 3), round(fit["overhead_s"], 4)
    (0.8, 0.002)
    """
    import numpy as np

    if len({size for size, _ in points}) < 2:
        raise ValueError("fit_published needs decode rates for at least two model sizes")
    sizes = np.array([size for size, _ in points], dtype=float)
    seconds = np.array([1.0 / rate for _, rate in points], dtype=float)
    design = np.column_stack([np.ones_like(sizes), sizes])
    (overhead, per_gb), *_ = np.linalg.lstsq(design, seconds, rcond=None)
    return {
        "efficiency": float(1.0 / (per_gb * hardware.bandwidth_gbs)),
        "overhead_s": float(max(0.0, overhead)),
    }
