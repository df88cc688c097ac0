"""Fit a batched context (one llama.cpp context decoding several sequences) by simulating
the calibration rounds that measured it.

A round of ``b`` sequences in one context (:class:`~orchbench.calibrate._rounds.Round`
with ``slots = b``) starts all of them at once: the first steps prefill their prompts
(several prompts in one 128-token step), the later ones decode them together, and
steps in between do both. Read off the decode rates alone, such a round mixes the
phases up, and the context's prompt steps are faster than one prompt in an instance
(the weights are read once per step, however many prompts share it). So the
parameters of a batched context are fitted as the others are, by making predictions
match, but the prediction is the simulator's own run of the round
(:class:`~orchbench.sim._device.SimDevice` on the virtual clock):

- ``batch_prefill_gain``: a batched context's prompt rate relative to one prompt in an
  instance at the same threads, from each round's time to first token;
- the batch curve (aggregate decode at each b relative to one sequence), from each
  round's request times.

Both at the most threads measured (``batch_curve``, ``batch_prefill_gain``) and, on a CPU
of several cores, at one thread (``batch_curve_one_thread``,
``batch_prefill_gain_one_thread``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from orchbench.calibrate._lsq import ParamFit, fit_bounded
from orchbench.calibrate._rounds import Observation
from orchbench.config import HardwareSpec, ModelConfig
from orchbench.sim._clock import run_virtual
from orchbench.sim._device import SimDevice, StreamOutcome
from orchbench.sim._model import PerfModel
from orchbench.sim._params import DeviceParams, ModelParams

GAIN_BOUNDS = (0.2, 5.0)
"""Where a batched context's prompt gain is searched."""
HINT = "measure one context at batch sizes 2, 4, 8 and 12 (calibrate's slot rounds)"


@dataclass(frozen=True, slots=True)
class SlotTarget:
    """What one batch size's rounds measured: the median over repeats of the mean time
    to first token and of the mean request time, and the token counts of one repeat."""

    batch: int
    ttft_s: float
    total_s: float
    tokens: tuple[tuple[int, int], ...]
    """(prompt tokens, completion tokens) of each request."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a batched context is simulated with: the device, the model and its threads."""

    hardware: HardwareSpec
    config: ModelConfig
    measured: ModelParams
    threads: int


def slot_targets(observations: Sequence[Observation], model: str, threads: int) -> list[SlotTarget]:
    """The targets of ``model``'s slot rounds at ``threads``, by batch size."""
    groups: dict[int, list[Observation]] = {}
    for o in observations:
        r = o.round
        if r.slots > 1 and r.models == (model,) and r.threads == threads and o.timings:
            groups.setdefault(r.slots, []).append(o)
    targets = []
    for batch, rounds in sorted(groups.items()):
        timed = [[t for t in o.timings if t.ttft_s and t.total_s] for o in rounds]
        timed = [ts for ts in timed if ts]
        if timed:
            targets.append(
                SlotTarget(
                    batch=batch,
                    ttft_s=statistics.median(
                        statistics.fmean(t.ttft_s or 0.0 for t in ts) for ts in timed
                    ),
                    total_s=statistics.median(
                        statistics.fmean(t.total_s or 0.0 for t in ts) for ts in timed
                    ),
                    tokens=tuple(
                        (t.prompt_tokens or 1, t.completion_tokens or 1) for t in timed[0]
                    ),
                )
            )
    return targets


def run_round(
    context: Context, device: DeviceParams, batch: int, tokens: Sequence[tuple[int, int]]
) -> tuple[PerfModel, list[StreamOutcome]]:
    """Send requests of ``tokens`` (prompt, completion) all at once to one warm context of
    ``batch`` sequences on the simulator; the model and each request's outcome."""
    config = context.config.model_copy(
        update={"n_threads": context.threads, "concurrent_limit": batch, "num_parallel": batch}
    )
    perf = PerfModel.build(context.hardware, config, device, context.measured)

    async def run() -> list[StreamOutcome]:
        sim = SimDevice(context.hardware, device)
        await sim.load(perf)
        return list(
            await asyncio.gather(*(sim.run(perf, p, c, context.threads, batch) for p, c in tokens))
        )

    return perf, run_virtual(run())


def simulate(target: SlotTarget, context: Context, device: DeviceParams) -> tuple[float, float]:
    """Mean time to first token and mean request time (s) of ``target``'s requests on
    the simulator (:func:`run_round`)."""
    perf, outcomes = run_round(context, device, target.batch, target.tokens)
    return (
        statistics.fmean(o.first_token - o.started + o.queue_s for o in outcomes),
        statistics.fmean(o.end - o.started + o.queue_s for o in outcomes) + perf.request_overhead_s,
    )


def fit_context(
    targets: Sequence[SlotTarget],
    context: Context,
    device: DeviceParams,
    fields: tuple[str, str],
    start: Sequence[Sequence[float]] | None = None,
    *,
    strict: bool = True,
) -> ParamFit:
    """Fit a context's prompt gain and batch curve (``fields``: their DeviceParams names)
    so that the simulated rounds take as long as the measured ones.

    ``start``: the curve read off the decode rates (``[[b, ratio], ...]``), where to
    begin. The fit's names are the gain's field and ``<curve field>.<b>`` per batch size.
    """
    gain_field, curve_field = fields
    batches = [t.batch for t in targets]
    begin = dict((int(b), float(r)) for b, r in (start or []))
    names = (gain_field, *(f"{curve_field}.{b}" for b in batches))
    initial = [1.0, *(min(begin.get(b, 1.0), 0.95 * b) for b in batches)]
    bounds = [GAIN_BOUNDS, *((0.1, float(b)) for b in batches)]

    def residuals(values: Sequence[float]) -> list[float]:
        curve = ((1, 1.0), *zip(batches, values[1:], strict=True))
        shaped = device.model_copy(update={gain_field: values[0], curve_field: curve})
        out = []
        for target in targets:
            ttft, total = simulate(target, context, shaped)
            out += [math.log(ttft / target.ttft_s), math.log(total / target.total_s)]
        return out

    hints = {name: HINT for name in names}
    return fit_bounded(residuals, names, initial, bounds, hints, strict=strict)


def curve_of(fit: ParamFit) -> list[list[float]]:
    """The fitted curve ``[[1, 1.0], [b, ratio], ...]`` (rounded as written)."""
    points = [[1, 1.0]]
    for name, value in zip(fit.names[1:], fit.values[1:], strict=True):
        points.append([int(name.rsplit(".", 1)[1]), round(value, 4)])
    return points


def fit_slots(
    hardware: HardwareSpec,
    configs: dict[str, ModelConfig],
    device: DeviceParams,
    models: dict[str, ModelParams],
    observations: Sequence[Observation],
    strict: bool = True,
) -> tuple[dict[str, object], list[ParamFit]]:
    """Every batched context the slot rounds measured, fitted (:func:`fit_context`):
    the DeviceParams values to write and the fits. Nothing without slot rounds.

    The fit runs the simulator on virtual clocks of its own, so from inside an event loop
    (``calibrate`` fits from its measuring loop) it runs in one thread beside it.
    """
    work = functools.partial(_fit_slots, hardware, configs, device, models, observations, strict)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _fit_slots(
    hardware: HardwareSpec,
    configs: dict[str, ModelConfig],
    device: DeviceParams,
    models: dict[str, ModelParams],
    observations: Sequence[Observation],
    strict: bool,
) -> tuple[dict[str, object], list[ParamFit]]:
    batched = [o for o in observations if o.round.slots > 1 and o.timings]
    if not batched:
        return {}, []
    top = max(batched, key=lambda o: o.round.threads).round
    model = top.models[0]
    values: dict[str, object] = {}
    fits = []
    shapes = [(top.threads, ("batch_prefill_gain", "batch_curve"))]
    if top.threads > 1:
        shapes.append((1, ("batch_prefill_gain_one_thread", "batch_curve_one_thread")))
    for threads, fields in shapes:
        targets = slot_targets(observations, model, threads)
        if not targets:
            continue
        context = Context(hardware, configs[model], models[model], threads)
        start = slot_batch_curve(observations, model, threads)
        fit = fit_context(targets, context, device, fields, start, strict=strict)
        values[fields[0]] = round(fit.values[0], 4)
        values[fields[1]] = curve_of(fit)
        fits.append(fit)
    return values, fits


def slot_batch_curve(
    observations: Sequence[Observation], model: str, threads: int
) -> list[list[float]] | None:
    """``[[b, ratio], ...]``: the aggregate decode of one batched context of ``model`` with b
    sequences (b × the per-sequence rate) relative to one sequence alone at ``threads``,
    read off the decode rates of the rounds with ``slots > 1`` (the median repeat each);
    None without such rounds. Where :func:`fit_context` starts.
    """
    alone: list[float] = []
    aggregates: dict[int, list[float]] = {}
    for o in observations:
        r = o.round
        if r.models != (model,) or r.threads != threads or not (rate := o.decode_rate()):
            continue
        if r.slots > 1:
            aggregates.setdefault(r.slots, []).append(rate * r.slots)
        elif r.copies == 1:
            alone.append(rate)
    if not alone or not aggregates:
        return None
    base = statistics.median(alone)
    return [[1, 1.0]] + [
        [b, round(statistics.median(a) / base, 4)] for b, a in sorted(aggregates.items())
    ]
