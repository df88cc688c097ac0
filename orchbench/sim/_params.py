"""The simulator's named parameters, their defaults, and the calibration file.

Every number the performance model uses is a field below, with its unit in its
docstring and a default taken from the profile's hardware and FACTS.md. A calibration
file (``profiles/<name>.calibration.toml``) overrides any of them::

    [provenance]
    date = "2026-11-25T22:40:00+00:00"
    machine = "x86_64, 2 cores"
    backend = "embedded"

    [device]                 # any DeviceParams field
    contention = 0.25

    [models."gemma3-270m"]   # any ModelParams field
    decode_tps = 54.0

A bad file raises :class:`~orchbench.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchbench.config import HardwareSpec, Profile
from orchbench.errors import ConfigError, ProfileError
from orchbench.profiles import find_profile, format_validation_error, read_toml, write_atomic

CALIBRATION_SUFFIX = ".calibration.toml"

# FACTS.md: a fit of the RTX 4090's published decode rates gives 770 GB/s effective of
# 1008 GB/s peak and a fixed 1.7 ms per step.
_GPU_EFFICIENCY = 770.0 / 1008.0
# FACTS.md: 30B prompt processing on a 4090 at ~1400 tok/s → 42,000 B-params·tok/s.
_GPU_PROMPT_RATE_PER_GBS = 1400.0 * 30.0 / 1008.0


GPU_BATCH_CURVE = ((1, 1.0), (2, 138 / 127), (4, 265 / 127), (8, 450 / 127), (16, 605 / 127))
"""FACTS.md: llama.cpp CUDA 7B aggregate decode at batch 1/2/4/8/16, relative to batch 1."""


CPU_BATCH_CURVE = (
    (1, 1.0), (2, 93 / 99), (4, 122 / 99), (8, 158 / 99), (12, 220 / 99), (16, 294 / 99),
    (32, 343 / 99),
)  # fmt: skip
"""FACTS.md / issue 11: one llama.cpp context on this 2-core CPU (Gemma 3 270M, 2 threads),
aggregate decode with 1/2/4/8/12 sequences = 99/93/122/158/220 tok/s, steady 16/32 = 294/343,
relative to one sequence. Small batches lose; deep ones win."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DeviceParams(_Strict):
    """Parameters of one device (a GPU, or the CPU for ``kind = "cpu"`` hardware)."""

    efficiency: float = Field(default=_GPU_EFFICIENCY, gt=0, le=1.5)
    """Fraction of ``hardware.bandwidth_gbs`` a decode step achieves (dimensionless)."""
    overhead_s: float = Field(default=0.0017, ge=0)
    """Fixed seconds per decode step: kernel launches, sampling (s/token)."""
    prompt_rate: float = Field(default=_GPU_PROMPT_RATE_PER_GBS * 1008.0, gt=0)
    """Prompt processing speed in tokens/s × billions of parameters (per thread on CPU)."""
    batching: bool = True
    """Whether a server batches all of one model's concurrent requests in one decode step
    (llama-server, Ollama). False for an engine that runs copies of the model (the
    embedded engine): each copy (a llama.cpp context) decodes its model's
    ``num_parallel`` sequences together (one, in instance mode)."""
    batch_alpha: float = Field(default=0.48, ge=0)
    """Step slowdown with batch b is 1 + batch_alpha·(b−1)^batch_gamma (dimensionless)."""
    batch_gamma: float = Field(default=0.59, gt=0)
    """Exponent of the batch slowdown; fit to FACTS.md's 127/265/450/605 tok/s at 1/4/8/16."""
    batch_curve: tuple[tuple[int, float], ...] | None = None
    """Measured aggregate decode of one model at each batch size, relative to batch 1,
    as ``((batch, ratio), ...)``; when set it replaces batch_alpha/batch_gamma
    (interpolated between points, a power law beyond the last). ``SimBackend`` uses
    :data:`GPU_BATCH_CURVE` for an Ollama profile on a GPU unless its calibration fits
    the batching; a CPU device defaults to :data:`CPU_BATCH_CURVE`."""
    batch_curve_one_thread: tuple[tuple[int, float], ...] | None = None
    """CPU: the same curve for a context decoding on one thread (a context of one thread
    is more compute-bound, so batching gains less); None: ``batch_curve`` for every
    context."""
    batch_prefill_gain: float = Field(default=1.0, gt=0)
    """A batched context's prompt rate relative to one prompt in an instance at the same
    threads (several prompts share each step, the weights read once for all of them);
    fitted from the slot rounds' times to first token (dimensionless)."""
    batch_prefill_gain_one_thread: float | None = Field(default=None, gt=0)
    """CPU: the same for a context of one thread; None: ``batch_prefill_gain``."""
    contention: float = Field(default=0.9, ge=0)
    """Extra step time per additional model instance decoding at once on the device
    (shared memory bandwidth; 1.0 is pure time slicing, 0 is free overlap)."""
    thread_scaling: float = Field(default=0.49, ge=0, le=1.5)
    """CPU: one instance's decode rate grows as threads^thread_scaling (FACTS: 54→76 tok/s)."""
    prefill_thread_scaling: float = Field(default=1.0, ge=0, le=1.5)
    """CPU: one instance's prompt processing grows as cores^prefill_thread_scaling (1:
    linear, compute-bound). Fitted on its own from the prompt times of one stream at
    several thread counts: per-request work in the prompt phase (tokenizing, sampler
    set-up in the Python engine path) does not scale with threads."""
    time_slicing_gain: float = Field(default=0.2, ge=0)
    """CPU: single-threaded instances beyond the cores hide each other's memory stalls;
    the device's throughput rises by gain·(1 − cores/threads) (FACTS: 3×1 and 4×1
    threads 95 tok/s against 2×1 86)."""
    oversubscription_penalty: float = Field(default=0.265, ge=0)
    """CPU: a multi-threaded instance slows by 1 + penalty·min(threads/cores − 1, 1) when
    the device's threads exceed its cores (spin-waiting threads; FACTS: 2×2 threads 68
    tok/s)."""
    oversubscription_step_s: float = Field(default=0.0, ge=0)
    """CPU: seconds added to each decode step of a multi-threaded instance, times
    min(threads/cores − 1, 1), when the device's threads exceed its cores: the time slice
    lost at each step's barrier, the same for a small model as for a larger one (measured:
    2 × 2 threads on 2 cores add 6–8 ms to a step of SmolLM2 at 17 ms and of Gemma 3 at
    30 ms alike, where a factor would be 1.5 for one and 1.2 for the other).
    ``calibrate`` fits it and sets ``oversubscription_penalty`` to 0."""
    load_gbs: float = Field(default=2.0, gt=0)
    """Disk read speed when loading a model (GB/s)."""
    load_overhead_s: float = Field(default=0.5, ge=0)
    """Fixed seconds per model load (process start, graph setup) (s)."""
    ram_bandwidth_gbs: float = Field(default=30.0, gt=0)
    """Effective bandwidth for layers spilled out of VRAM into system RAM (GB/s)."""
    model_overhead_gb: float | None = Field(default=None, ge=0)
    """Memory per loaded instance beyond its weights (GB); ``None``: the KV cache for its
    context and slots plus the runner, as :mod:`orchbench.planning` estimates it."""
    usable_memory_fraction: float | None = Field(default=None, gt=0, le=1)
    """Share of the device's memory models may use; ``None``: :mod:`orchbench.planning`'s."""
    max_loaded_models: int = Field(default=3, ge=0)
    """Models resident at once before the least recently used is evicted (0: no limit);
    for an Ollama profile, its ``[server] max_loaded_models``."""
    max_queue: int = Field(default=0, ge=0)
    """Requests waiting for the server's scheduler (a model to load, or reload) beyond
    which it answers 503 "server busy" (0: no limit); Ollama's ``max_queue``."""
    keep_alive_s: float | None = Field(default=None, ge=0)
    """Seconds an idle model stays loaded unless its request says otherwise (``None``:
    forever); Ollama's ``keep_alive``."""
    chars_per_token: float = Field(default=4.0, gt=0)
    """Prompt characters per token (no tokenizer is loaded)."""


class ModelParams(_Strict):
    """Per-model measured values; ``None`` means derive it from :class:`DeviceParams`."""

    decode_tps: float | None = Field(default=None, gt=0)
    """Decode rate of one stream alone: batch 1 on a GPU, one thread on a CPU (tok/s)."""
    prompt_tps: float | None = Field(default=None, gt=0)
    """Prompt processing rate of one stream alone (one thread on a CPU) (tok/s)."""
    load_s: float | None = Field(default=None, ge=0)
    """Seconds to load the model (one instance, for the embedded engine) (s)."""
    completion_ratio: float = Field(default=1.0, gt=0, le=1.0)
    """Share of ``max_tokens`` a request generates on average (stops come earlier)."""
    request_overhead_s: float = Field(default=0.0, ge=0)
    """Seconds per request spent outside the device: tokenizing, thread hand-off (s)."""


class Calibration(_Strict):
    """The content of a calibration file: provenance and parameter overrides."""

    provenance: dict[str, str | int | float | bool] = Field(default_factory=dict)
    device: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, ModelParams] = Field(default_factory=dict)


def default_device_params(hardware: HardwareSpec, runs_instances: bool = False) -> DeviceParams:
    """The defaults for ``hardware``; ``runs_instances``: the engine runs copies of a model
    (its ``runs_instances`` capability, :func:`orchbench.engine.runs_instances`), so one
    model's requests batch only within a copy.

    A CPU device gets the FACTS.md fit of this 2-core machine (contention, thread
    scaling, oversubscription, :data:`CPU_BATCH_CURVE`).
    """
    values: dict[str, Any] = {
        "prompt_rate": _GPU_PROMPT_RATE_PER_GBS * hardware.bandwidth_gbs,
        "batching": not runs_instances,
    }
    if hardware.kind == "cpu":
        # 2 instances × 1 thread: 86 tok/s total vs 54 alone → each step 1.256× longer.
        values.update(
            contention=108.0 / 86.0 - 1.0,
            prompt_rate=150.0,
            load_overhead_s=0.05,
            max_loaded_models=0,
            batch_curve=CPU_BATCH_CURVE,
        )
    return DeviceParams(**values)


def resolve_device_params(
    hardware: HardwareSpec, runs_instances: bool, overrides: dict[str, Any], source: str
) -> DeviceParams:
    """The defaults for ``hardware`` with ``overrides`` applied; ConfigError names a bad field."""
    base = default_device_params(hardware, runs_instances).model_dump()
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ConfigError(
            f"{source}: field 'device.{unknown[0]}': unknown parameter; valid parameters: "
            f"{', '.join(DeviceParams.model_fields)}"
        )
    try:
        return DeviceParams.model_validate({**base, **overrides})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"{source} [device]", exc)) from None


def calibration_path(profile_name: str) -> Path | None:
    """Where the calibration file of ``profile_name`` lives (or would), next to the profile.

    ``rtx4090.tuned`` falls back to ``rtx4090``'s file when it has none of its own.
    Returns ``None`` when the profile is not a file on the search path.
    """
    candidates = [profile_name]
    if "." in profile_name:
        candidates.append(profile_name.split(".", 1)[0])
    first: Path | None = None
    for name in candidates:
        try:
            profile_file = find_profile(name)
        except ProfileError:
            continue
        path = profile_file.with_name(f"{profile_file.stem}{CALIBRATION_SUFFIX}")
        if path.is_file():
            return path
        first = first or path
    return first


def load_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file; ConfigError names the file and the field."""
    path = Path(path)
    data = read_toml(path, ConfigError)
    try:
        calibration = Calibration.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    # Check the device table now, so a bad value is reported with the file at load time.
    hardware = HardwareSpec(name="check", bandwidth_gbs=1.0, ram_gb=1.0, cpu_cores=1)
    resolve_device_params(hardware, False, calibration.device, str(path))
    return calibration


def profile_calibration(profile: Profile) -> Calibration | None:
    """The calibration file next to ``profile``'s file, loaded, or ``None`` if there is none."""
    path = calibration_path(profile.name)
    if path is None or not path.is_file():
        return None
    return load_calibration(path)


def save_calibration(
    calibration: Calibration,
    path: str | Path,
    header: str = "Written by `orchbench calibrate`; the simulator reads it for this profile.",
) -> Path:
    """Write ``calibration`` as TOML atomically (``header`` as comments); it loads back equal."""
    path = Path(path)
    data = calibration.model_dump(mode="json", exclude_none=True)
    data["models"] = {k: v for k, v in data["models"].items() if v}
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    write_atomic(path, comments + "\n" + tomli_w.dumps(data))
    return path
