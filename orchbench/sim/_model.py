"""The performance model: pure arithmetic, no clock, no asyncio.

:class:`PerfModel` answers, for one model on one device, how fast a stream runs alone
(decode: memory-bound roofline; prompt: compute-bound), how much memory the model holds
and how long it takes to load. :func:`stream_rates` answers how fast each of a set of
concurrently active streams runs, which is where batching, contention between models
and CPU thread oversubscription come in. The discrete-event engine in ``_device.py``
calls it whenever the set of active streams changes.

Roofline (decode, one stream alone, fully resident)::

    seconds per token = overhead_s + size_gb / (bandwidth_gbs × efficiency)

RTX 4090, 7B Q4 (4.1 GB): 1.7 ms + 4.1 / 770 s = 7.0 ms → 142 tok/s (FACTS.md: ~150).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from orchbench.config import HardwareSpec, ModelConfig, ModelTier, ServerSettings
from orchbench.planning import capacity_of, context_of, kv_cache_gb, runner_overhead_gb
from orchbench.sim._params import DeviceParams, ModelParams

# Q4_K_M GGUF: about 4.85 bits per weight → 0.6 GB per billion parameters.
GB_PER_BILLION_PARAMS = 0.6
# Typical Q4 sizes when a profile gives neither size_gb nor params_b.
_TIER_SIZE_GB = {ModelTier.FAST: 4.1, ModelTier.BALANCED: 7.9, ModelTier.POWERFUL: 19.5}

PREFILL, FIRST_TOKEN, DECODE = 0, 1, 2
"""Phases of a stream: its prompt, its first generated token, the rest of its tokens."""


@dataclass(frozen=True, slots=True)
class PerfModel:
    """One model on one device: single-stream speeds, memory, load time.

    Build it with :meth:`build`; every field is in the unit its name says.
    """

    name: str
    size_gb: float
    params_b: float
    footprint_gb: float
    """Device memory the loaded model holds (all instances, runner and KV included)."""
    device_fraction: float
    """Share of the weights in device memory; below 1 the rest spilled to system RAM."""
    decode_tps: float
    """One stream alone (batch 1, or one thread on a CPU), after any spill."""
    prompt_tps: float
    """One stream alone (one thread on a CPU)."""
    load_s: float
    threads: int
    completion_ratio: float
    chars_per_token: float
    request_overhead_s: float = 0.0
    sequences: int | None = None
    """Streams one copy of the model decodes together (its ``num_parallel``, 1 in instance
    mode) when the engine runs copies; ``None``: a server batches all of them."""
    copies: int = 1
    """Copies of the model the engine runs (instances or batched contexts); a new request
    goes to the least busy one, so active streams spread over them in turn."""
    config_key: tuple[object, ...] = ()
    """What the server loads the model with (context, slots, KV type): a request with
    another key makes the server reload it, as Ollama does when ``num_ctx`` changes."""

    @classmethod
    def build(
        cls,
        hardware: HardwareSpec,
        model: ModelConfig,
        device: DeviceParams,
        measured: ModelParams | None = None,
        server: ServerSettings | None = None,
    ) -> PerfModel:
        """Derive every number for ``model`` on ``hardware`` (measured values win).

        With ``server`` (an Ollama profile's resolved ``[server]``) the model holds
        ``num_parallel`` slots of KV cache of ``kv_cache_type``; without it, its
        ``concurrent_limit`` slots (or instances, for the embedded engine).
        """
        measured = measured or ModelParams()
        size = model.size_gb or (
            model.params_b * GB_PER_BILLION_PARAMS if model.params_b else _TIER_SIZE_GB[model.tier]
        )
        params_b = model.params_b or size / GB_PER_BILLION_PARAMS
        sequences = None if device.batching else (model.num_parallel or 1)
        instances = 1 if sequences is None else -(-model.concurrent_limit // sequences)
        capacity = memory_capacity_gb(hardware, device)
        overhead = device.model_overhead_gb
        slots = model.concurrent_limit if sequences is None else sequences
        if server is not None:
            slots = server.num_parallel
        kv_type = server.kv_cache_type if server is not None else "f16"
        ctx = context_of(model, hardware, server)
        if overhead is None:
            overhead = kv_cache_gb(model, ctx, slots, kv_type)
            overhead += runner_overhead_gb(model)
        footprint = instances * (size + overhead)
        fraction = 1.0
        if footprint > capacity:
            # Too big for the device: llama.cpp keeps what fits and runs the rest from RAM.
            fraction = max(0.0, (capacity / instances - overhead) / size)
            footprint = capacity
        effective_bw = hardware.bandwidth_gbs * device.efficiency
        seconds = device.overhead_s + size / effective_bw
        if measured.decode_tps is not None:
            seconds = 1.0 / measured.decode_tps
        spill_bw = device.ram_bandwidth_gbs if hardware.kind == "gpu" else device.load_gbs
        seconds += (1.0 - fraction) * size * max(0.0, 1.0 / spill_bw - 1.0 / effective_bw)
        load_one = measured.load_s
        if load_one is None:
            load_one = device.load_overhead_s + size / device.load_gbs
        return cls(
            name=model.name,
            size_gb=size,
            params_b=params_b,
            footprint_gb=footprint,
            device_fraction=min(1.0, fraction),
            decode_tps=1.0 / seconds,
            prompt_tps=measured.prompt_tps or device.prompt_rate / params_b,
            load_s=instances * load_one,
            threads=model.n_threads or max(1, hardware.cpu_cores // instances),
            completion_ratio=measured.completion_ratio,
            chars_per_token=device.chars_per_token,
            request_overhead_s=measured.request_overhead_s,
            sequences=sequences,
            copies=instances,
            config_key=(ctx, slots, kv_type),
        )

    def prompt_tokens(self, prompt: str) -> int:
        """Tokens a prompt counts as (characters / chars_per_token, at least 1)."""
        return max(1, round(len(prompt) / self.chars_per_token))

    def completion_tokens(self, max_tokens: int) -> int:
        """Tokens a request generates: ``completion_ratio`` of ``max_tokens``, at least 1."""
        return max(1, round(max_tokens * self.completion_ratio))


def memory_capacity_gb(hardware: HardwareSpec, device: DeviceParams) -> float:
    """Memory models may use (GB): VRAM on a GPU, RAM on a CPU, times the usable share."""
    _, total, usable = capacity_of(hardware)
    if device.usable_memory_fraction is not None:
        usable = total * device.usable_memory_fraction
    return max(0.1, usable)


@dataclass(slots=True)
class StreamLoad:
    """What :func:`stream_rates` needs to know about one active stream."""

    perf: PerfModel
    phase: int
    threads: int
    prompt_left: float = 0.0
    """Prompt tokens this stream has still to prefill (the device keeps it current)."""
    copy: int | None = None
    """Which of its model's copies (batched contexts) serves this stream, fixed when it
    starts (the device picks the least busy, as the engine does at submission); None:
    spread over the copies in turn by rank among the active streams."""


SLOT_BATCH_TOKENS = 128
"""Tokens in one step of a batched context: the decoding sequences' next tokens, the
rest of the room prompt chunks (the embedded engine's ``BATCH_TOKENS``)."""


def batch_slowdown(batch: int, device: DeviceParams, threads: int = 0) -> float:
    """How much longer a decode step of ``batch`` streams takes than a step of one.

    With a ``batch_curve`` (aggregate speedup by batch size, FACTS.md on a GPU) the
    aggregate is interpolated linearly between its points and follows the last
    segment's power law beyond them; otherwise ``1 + batch_alpha·(b−1)^batch_gamma``.
    A context of one CPU thread (``threads == 1``) follows ``batch_curve_one_thread``
    where it was measured.
    """
    if batch <= 1:
        return 1.0
    curve = device.batch_curve
    if threads == 1 and device.batch_curve_one_thread:
        curve = device.batch_curve_one_thread
    if not curve:
        return 1.0 + device.batch_alpha * (batch - 1) ** device.batch_gamma
    return batch / _curve_speedup(curve, batch)


def _curve_speedup(curve: Sequence[tuple[int, float]], batch: int) -> float:
    points = sorted(curve)
    for (b0, a0), (b1, a1) in itertools.pairwise(points):
        if b0 <= batch <= b1:
            return a0 + (a1 - a0) * (batch - b0) / (b1 - b0)
    if len(points) < 2 or batch < points[0][0]:
        return max(1.0, points[-1][1] if batch > points[-1][0] else 1.0)
    (b0, a0), (b1, a1) = points[-2], points[-1]
    exponent = math.log(a1 / a0) / math.log(b1 / b0)
    return a1 * (batch / b1) ** exponent


def cpu_speed_factor(
    threads: int, total_threads: int, hardware: HardwareSpec, device: DeviceParams
) -> float:
    """Speed of one CPU instance relative to one thread alone on an idle machine.

    Its threads get ``threads × cores / total_threads`` cores when the device is
    oversubscribed; more than one core helps as cores^thread_scaling, less than one
    slows linearly (time slicing). Beyond the cores a multi-threaded instance pays the
    oversubscription penalty (once: it does not grow with the excess), while single-threaded
    ones gain from hiding each
    other's memory stalls (``time_slicing_gain``).
    """
    over = max(1.0, total_threads / hardware.cpu_cores)
    cores = threads / over
    factor = cores**device.thread_scaling if cores >= 1.0 else cores
    if over > 1.0:
        if threads > 1:
            # Spin-waiting at each step's barrier: once the threads exceed the cores the
            # loss is one time slice per step, however far beyond (measured: 3 x 2
            # threads on 2 cores no slower than 2 x 2).
            factor /= 1.0 + device.oversubscription_penalty * min(over - 1.0, 1.0)
        else:
            factor *= 1.0 + device.time_slicing_gain * (1.0 - 1.0 / over)
    return factor


def barrier_wait_s(
    threads: int, total_threads: int, hardware: HardwareSpec, device: DeviceParams
) -> float:
    """Seconds a multi-threaded CPU instance loses per decode step to spin-waiting at its
    barrier once the device's threads exceed its cores (``oversubscription_step_s``, once:
    it does not grow beyond twice the cores). Where the instance gets less than its
    threads' worth of cores, the wait is time-sliced like the rest of its step (measured:
    3 × 2 threads on 2 cores as fast in all as 2 × 2).

    >>> cpu = HardwareSpec(name="c", kind="cpu", bandwidth_gbs=20, ram_gb=8, cpu_cores=2)
    >>> barrier_wait_s(2, 4, cpu, DeviceParams(oversubscription_step_s=0.006))
    0.006
    >>> round(barrier_wait_s(2, 6, cpu, DeviceParams(oversubscription_step_s=0.006)), 6)
    0.009
    """
    over = total_threads / hardware.cpu_cores
    if threads <= 1 or over <= 1.0:
        return 0.0
    share = min(1.0, threads / over)  # of a core per thread
    return device.oversubscription_step_s * min(over - 1.0, 1.0) / share


def prefill_speed_factor(cores: float, device: DeviceParams) -> float:
    """Prompt speed of one CPU instance with ``cores`` cores, relative to one core: grows
    as cores^prefill_thread_scaling beyond one core, linearly (time slicing) below.

    >>> from orchbench.sim._params import DeviceParams
    >>> prefill_speed_factor(2.0, DeviceParams(prefill_thread_scaling=0.5)) ** 2
    2.0000000000000004
    """
    return cores**device.prefill_thread_scaling if cores >= 1.0 else cores


def prefill_gain(device: DeviceParams, threads: int) -> float:
    """A batched context's prompt rate relative to one prompt in an instance (its
    ``batch_prefill_gain``; the one-thread value for a context of one thread, if fitted).

    >>> prefill_gain(DeviceParams(batch_prefill_gain=1.5, batch_prefill_gain_one_thread=1.2), 1)
    1.2
    """
    if threads == 1 and device.batch_prefill_gain_one_thread is not None:
        return device.batch_prefill_gain_one_thread
    return device.batch_prefill_gain


def stream_rates(
    streams: Sequence[StreamLoad], hardware: HardwareSpec, device: DeviceParams
) -> list[float]:
    """Tokens per second of each active stream (of its current phase), in order.

    A *group* is what runs as one engine: all streams of a model when the device
    batches, otherwise the model's streams spread over its copies in turn (the engine picks
    the least busy), up to ``sequences`` each
    (one embedded llama.cpp context; one stream in instance mode). Groups running at
    once share the device: each step is ``1 + contention × (groups − 1)`` times longer
    (on a CPU at most ``cores`` groups run at once). Within a group, decoding streams
    share a step (:func:`batch_slowdown`) and prompts share compute; in a batched
    context the two share each step (:func:`_mixed_step`).
    """
    if not streams:
        return []
    keys = _group_keys(streams)
    decoding: dict[object, int] = {}
    prefilling: dict[object, int] = {}
    pending: dict[object, float] = {}
    threads_of: dict[object, int] = {}
    for key, s in zip(keys, streams, strict=True):
        bucket = prefilling if s.phase == PREFILL else decoding
        bucket[key] = bucket.get(key, 0) + 1
        if s.phase == PREFILL:
            pending[key] = pending.get(key, 0.0) + s.prompt_left
        threads_of[key] = max(threads_of.get(key, 0), s.threads)
    groups = len(threads_of)
    cpu = hardware.kind == "cpu"
    if cpu:
        total_threads = sum(threads_of.values())
        groups = min(groups, hardware.cpu_cores)
    contention = 1.0 + device.contention * (groups - 1)
    rates = []
    for key, s in zip(keys, streams, strict=True):
        speed = 1.0
        if cpu:
            speed = cpu_speed_factor(threads_of[key], total_threads, hardware, device)
        # Prompt processing is compute-bound: it scales with cores, not bandwidth.
        cores = threads_of[key] / max(1.0, total_threads / hardware.cpu_cores) if cpu else 1
        wait = barrier_wait_s(threads_of[key], total_threads, hardware, device) if cpu else 0.0
        prompt_tps = s.perf.prompt_tps * prefill_speed_factor(cores, device)
        batched = (s.perf.sequences or 1) > 1
        if batched:
            prompt_tps *= prefill_gain(device, threads_of[key])
        if batched and key in decoding and key in prefilling:
            chunk, step = _mixed_step(
                decoding[key],
                pending[key],
                _decode_step(s.perf, decoding[key], speed, device, threads_of[key]) + wait,
                prompt_tps,
            )
            rate = chunk / step / prefilling[key] if s.phase == PREFILL else 1.0 / step
        elif s.phase == PREFILL:
            rate = prompt_tps / prefilling[key]
        else:
            rate = 1.0 / (
                _decode_step(s.perf, decoding[key], speed, device, threads_of[key]) + wait
            )
        rates.append(rate / contention)
    return rates


def _decode_step(
    perf: PerfModel, batch: int, speed: float, device: DeviceParams, threads: int
) -> float:
    """Seconds of one decode step of ``batch`` sequences of ``perf`` at CPU ``speed``."""
    return batch_slowdown(batch, device, threads) / (perf.decode_tps * speed)


def _mixed_step(
    decoding: int, pending: float, decode_step: float, prompt_tps: float
) -> tuple[float, float]:
    """One step of a batched context that decodes and prefills at once: the prompt
    tokens it takes (the room the decoding tokens leave, at most what is pending) and
    its seconds — the decode step plus that chunk at the prompt rate.

    >>> _mixed_step(8, 500.0, 0.05, 240.0)
    (120.0, 0.55)
    """
    chunk = max(1.0, min(float(SLOT_BATCH_TOKENS - decoding), pending))
    return chunk, decode_step + chunk / prompt_tps


def _group_keys(streams: Sequence[StreamLoad]) -> list[object]:
    """Which engine (model, copy) each stream runs in; see :func:`stream_rates`."""
    seen: dict[str, int] = {}
    keys: list[object] = []
    for s in streams:
        rank = seen.get(s.perf.name, 0)
        seen[s.perf.name] = rank + 1
        # The engine hands each request to its least busy copy: streams spread in turn.
        batched = (s.perf.sequences or 1) > 1
        copy = rank % max(1, s.perf.copies) if batched else rank
        if batched and s.copy is not None:
            copy = s.copy
        keys.append(s.perf.name if s.perf.sequences is None else (s.perf.name, copy))
    return keys
