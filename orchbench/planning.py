"""Memory planning: do a profile's models fit its card (or RAM), and with how many slots?

The estimate is the one Ollama's scheduler makes, from FACTS.md::

    need = weights file + KV cache + runner overhead
    KV cache = 2 (K and V) x layers x kv_heads x head_dim x num_ctx x slots x 2 bytes (f16)

Units: model sizes are decimal GB (10^9 bytes, as ``ollama list`` prints them);
hardware memory is given as the vendor states it, which for GPUs and DIMMs is really
GiB, so capacity is converted (a "24 GB" card holds 25.8 GB). Part of that capacity is
held back: the driver and display on a GPU, the OS and other programs in RAM.

Used by ``orchbench doctor`` and ``orchbench profiles show`` (does it fit?), the
simulator (memory per model), the tuner (the largest ``concurrent_limit`` worth
searching for each model) and ``orchbench profiles detect`` (which profile is closest
to this machine).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from orchbench.config import HardwareSpec, ModelConfig, Profile
from orchbench.errors import ConfigError

GIB_IN_GB = 1.073741824
"""Vendors' "GB" of VRAM and RAM are GiB: one of them is this many decimal GB."""
USABLE_FRACTION = {"gpu": 0.95, "cpu": 0.75}
"""Share of the hardware's memory the models may use (the rest: driver, display, OS)."""
KV_BYTES_PER_ELEMENT = 2
"""f16 KV cache, Ollama's and llama.cpp's default."""
MAX_SLOTS = 64
"""Upper bound of :attr:`ModelConfig.concurrent_limit`."""


def default_num_ctx(hardware: HardwareSpec) -> int:
    """The context Ollama uses when a request sets none: 4096 below 23 GiB of VRAM, else 32768."""
    return 4096 if hardware.vram_gb < 23 else 32768


def context_of(model: ModelConfig, hardware: HardwareSpec | None = None) -> int:
    """The context window a model runs with: ``num_ctx`` (Ollama), ``n_ctx`` (embedded GGUF),
    or the server's default."""
    if model.num_ctx is not None:
        return model.num_ctx
    if model.gguf is not None or hardware is None:
        return model.n_ctx
    return default_num_ctx(hardware)


def kv_bytes_per_token(model: ModelConfig) -> tuple[float, bool]:
    """KV-cache bytes one token of context costs, and whether that is exact.

    Exact when ``n_layers``, ``n_kv_heads`` and ``head_dim`` are known. Otherwise a
    guess from ``params_b``: a grouped-query 7B model's 128 KiB per token, scaled by
    size (older models without GQA need up to 4x more, so treat it as a lower bound).
    """
    if model.n_layers and model.n_kv_heads and model.head_dim:
        exact = 2 * model.n_layers * model.n_kv_heads * model.head_dim * KV_BYTES_PER_ELEMENT
        return float(exact), True
    params = model.params_b if model.params_b is not None else 7.0
    return 131072.0 * params / 7.0, False


def kv_cache_gb(model: ModelConfig, num_ctx: int, num_parallel: int = 1) -> float:
    """GB of KV cache for ``num_parallel`` slots of ``num_ctx`` tokens each."""
    per_token, _ = kv_bytes_per_token(model)
    return per_token * num_ctx * num_parallel / 1e9


def weights_gb(model: ModelConfig) -> float:
    """The weights file size: ``size_gb``, else ``params_b`` x bits per weight of its quantisation.

    Raises :class:`ConfigError` naming the model when neither is known.
    """
    if model.size_gb is not None:
        return model.size_gb
    if model.params_b is not None:
        return model.params_b * _bits_per_weight(model.quantization) / 8
    raise ConfigError(
        f"model {model.name!r}: set 'size_gb' (the weights file in GB) or 'params_b' "
        "so its memory can be planned"
    )


def _bits_per_weight(quantization: str | None) -> float:
    # Effective bits including block scales, as llama.cpp's quantize tool reports them.
    table = {"Q4_0": 4.55, "Q4_K_M": 4.85, "Q5_K_M": 5.7, "Q6_K": 6.6, "Q8_0": 8.5, "F16": 16.0}
    return table.get((quantization or "Q4_0").upper(), 4.85)


def runner_overhead_gb(model: ModelConfig) -> float:
    """Compute buffers and the runner's own memory: 0.5 GB plus ~0.02 GB per billion parameters.

    FACTS.md gives 0.5-1.5 GB; the scaling puts a 7B model near 0.65 GB and a 34B
    model near 1.2 GB.
    """
    params = model.params_b if model.params_b is not None else 7.0
    return 0.5 + 0.02 * params


def estimate_vram_gb(
    model: ModelConfig, num_ctx: int | None = None, num_parallel: int | None = None
) -> float:
    """GB a model needs loaded with ``num_parallel`` slots of ``num_ctx`` tokens.

    Defaults: the model's own context (``num_ctx`` or ``n_ctx``) and its
    ``concurrent_limit``. The same figure applies to RAM on a CPU-only machine.

    >>> m = ModelConfig(name="m", task_types=["coding"], tier="fast", size_gb=4.1,
    ...                 params_b=7.2, n_layers=32, n_kv_heads=8, head_dim=128)
    >>> round(estimate_vram_gb(m, 4096, 1), 2)
    5.28
    """
    ctx = num_ctx if num_ctx is not None else context_of(model)
    slots = num_parallel if num_parallel is not None else model.concurrent_limit
    return weights_gb(model) + kv_cache_gb(model, ctx, slots) + runner_overhead_gb(model)


def max_slots(model: ModelConfig, num_ctx: int, usable_gb: float) -> int:
    """The largest number of slots (``concurrent_limit``) that fits ``usable_gb``; 0 if none."""
    spare = usable_gb - weights_gb(model) - runner_overhead_gb(model)
    per_slot = kv_cache_gb(model, num_ctx, 1)
    if spare < per_slot:
        return 0
    return min(MAX_SLOTS, int(spare / per_slot))


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """One model's memory: what it needs at its limit, and the most slots it could have alone."""

    name: str
    num_ctx: int
    slots: int
    weights_gb: float
    kv_gb: float
    overhead_gb: float
    need_gb: float
    max_slots: int
    """Largest ``concurrent_limit`` that fits the usable memory with this model alone."""
    fits_alone: bool
    kv_exact: bool
    """False when the KV cache was guessed because the model's shape is not in the profile."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A profile's memory plan. ``fits_together`` means every model can stay loaded at once."""

    profile: str
    memory: Literal["vram", "ram"]
    capacity_gb: float
    usable_gb: float
    models: tuple[ModelPlan, ...]
    total_gb: float
    fits_together: bool
    server_parallel: int | None
    """For Ollama: the ``OLLAMA_NUM_PARALLEL`` these limits ask for (one value for all models)."""
    warnings: tuple[str, ...]

    def model(self, name: str) -> ModelPlan:
        """The plan of one model, by name (KeyError if absent)."""
        for plan in self.models:
            if plan.name == name:
                return plan
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for summary.json and ``--json`` output)."""
        return asdict(self)


def capacity_of(hardware: HardwareSpec) -> tuple[Literal["vram", "ram"], float, float]:
    """(which memory, its capacity in GB, the usable part in GB) for a machine."""
    if hardware.kind == "gpu" and hardware.vram_gb > 0:
        capacity = hardware.vram_gb * GIB_IN_GB
        return "vram", capacity, capacity * USABLE_FRACTION["gpu"]
    capacity = hardware.ram_gb * GIB_IN_GB
    return "ram", capacity, capacity * USABLE_FRACTION["cpu"]


def memory_plan(profile: Profile) -> Plan:
    """Plan the memory of every model in ``profile`` on its hardware.

    Raises :class:`ConfigError` when a model has neither ``size_gb`` nor ``params_b``.
    """
    memory, capacity, usable = capacity_of(profile.hardware)
    plans = [_plan_model(m, profile.hardware, usable) for m in profile.models.values()]
    total = sum(p.need_gb for p in plans)
    warnings = [w for m in profile.models.values() for w in _model_warnings(m, profile.hardware)]
    for plan in plans:
        if not plan.fits_alone:
            hint = (
                f"lower concurrent_limit to {plan.max_slots}"
                if plan.max_slots
                else "it does not fit even with one slot: use a smaller model or num_ctx"
            )
            warnings.append(
                f"{plan.name}: needs {plan.need_gb:.1f} GB with {plan.slots} slot(s) of "
                f"{plan.num_ctx} tokens, {usable:.1f} GB usable: {hint}"
            )
    fits_together = total <= usable
    if not fits_together:
        warnings.append(
            f"all models together need {total:.1f} GB of {usable:.1f} GB usable: they cannot "
            "stay loaded at once, so the server swaps them and load time counts in the run"
        )
    server_parallel = None
    if profile.backend.kind in ("ollama", "auto", "sim"):
        server_parallel = max(m.concurrent_limit for m in profile.models.values())
        warnings.extend(_server_parallel_warnings(profile, server_parallel, usable))
    return Plan(
        profile=profile.name,
        memory=memory,
        capacity_gb=capacity,
        usable_gb=usable,
        models=tuple(plans),
        total_gb=total,
        fits_together=fits_together,
        server_parallel=server_parallel,
        warnings=tuple(warnings),
    )


def _plan_model(model: ModelConfig, hardware: HardwareSpec, usable: float) -> ModelPlan:
    ctx = context_of(model, hardware)
    weights = weights_gb(model)
    kv = kv_cache_gb(model, ctx, model.concurrent_limit)
    overhead = runner_overhead_gb(model)
    need = weights + kv + overhead
    return ModelPlan(
        name=model.name,
        num_ctx=ctx,
        slots=model.concurrent_limit,
        weights_gb=weights,
        kv_gb=kv,
        overhead_gb=overhead,
        need_gb=need,
        max_slots=max_slots(model, ctx, usable),
        fits_alone=need <= usable,
        kv_exact=kv_bytes_per_token(model)[1],
    )


def _model_warnings(model: ModelConfig, hardware: HardwareSpec) -> list[str]:
    ctx = context_of(model, hardware)
    out = []
    if model.context_length is not None and ctx > model.context_length:
        out.append(
            f"{model.name}: num_ctx {ctx} is above the {model.context_length} tokens it was "
            "trained for; the extra KV cache is memory spent for nothing"
        )
    if model.max_tokens >= ctx:
        out.append(
            f"{model.name}: max_tokens {model.max_tokens} leaves no room for the prompt in a "
            f"{ctx}-token context"
        )
    if not kv_bytes_per_token(model)[1]:
        out.append(
            f"{model.name}: n_layers/n_kv_heads/head_dim unknown, KV cache guessed from params_b"
        )
    return out


def _server_parallel_warnings(profile: Profile, parallel: int, usable: float) -> list[str]:
    # Ollama reserves KV for OLLAMA_NUM_PARALLEL slots in *every* model it loads,
    # whatever the client's own limit for that model is.
    out = []
    for model in profile.models.values():
        if model.concurrent_limit == parallel:
            continue
        need = estimate_vram_gb(model, context_of(model, profile.hardware), parallel)
        if need > usable:
            out.append(
                f"{model.name}: with OLLAMA_NUM_PARALLEL={parallel} (the largest limit here) "
                f"Ollama reserves {parallel} slots for it, {need:.1f} GB > {usable:.1f} GB "
                "usable, and spills layers to the CPU; lower the other models' limits or "
                "its num_ctx"
            )
    return out


def closest_profile(machine: Mapping[str, Any], profiles: Iterable[Profile]) -> tuple[str, str]:
    """The profile that best describes ``machine``, and why: ``(name, reason)``.

    ``machine`` is :func:`orchbench.bench.machine.machine_info`'s dict (``gpus`` with
    ``name`` and ``memory_gb``, ``ram_gb``). A GPU profile whose card name matches the
    first GPU's (``4090`` in both) wins; then the GPU profile with the nearest VRAM;
    without a GPU, the CPU profile with the nearest RAM (``embedded`` when it is one of
    them, since it needs no server). Raises ConfigError when ``profiles`` is empty.
    """
    candidates = list(profiles)
    if not candidates:
        raise ConfigError("no profiles to choose from; add some with ORCHBENCH_PROFILES")
    gpus = [g for g in machine.get("gpus") or [] if g.get("name")]
    gpu_profiles = [p for p in candidates if p.hardware.kind == "gpu" and p.hardware.vram_gb > 0]
    if gpus and gpu_profiles:
        card = str(gpus[0]["name"])
        digits = set(re.findall(r"\d{4}", card))
        for profile in gpu_profiles:
            if digits & set(re.findall(r"\d{4}", profile.hardware.name)):
                return profile.name, f"same card as this machine's {card}"
        vram = float(gpus[0].get("memory_gb") or 0)
        best = min(gpu_profiles, key=lambda p: abs(p.hardware.vram_gb - vram))
        return best.name, (
            f"no profile for {card}; {best.name} has the nearest VRAM "
            f"({best.hardware.vram_gb:g} GB vs {vram:g} GB): copy it and edit [hardware]"
        )
    cpu_profiles = [p for p in candidates if p.hardware.kind == "cpu"] or candidates
    ram = float(machine.get("ram_gb") or 0)
    for profile in cpu_profiles:
        if profile.backend.kind == "embedded":
            return profile.name, (
                "no GPU: the embedded profile runs the bundled model in process, no server "
                "needed (with Ollama installed, the 'cpu' profile runs the original roster)"
            )
    best = min(cpu_profiles, key=lambda p: abs(p.hardware.ram_gb - ram))
    return best.name, f"no GPU; {best.name} has the nearest RAM ({best.hardware.ram_gb:g} GB)"
