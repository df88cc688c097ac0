"""Memory planning: do a profile's models fit its card (or RAM), and with how many slots?

The estimate is the one Ollama's scheduler makes, from FACTS.md::

    need = weights file + KV cache + runner overhead
    KV cache = 2 (K and V) x layers x kv_heads x head_dim x num_ctx x slots x bytes/element

On an Ollama server ``slots`` is the profile's ``[server] num_parallel`` for *every*
loaded model (Ollama reserves KV for ``num_parallel x num_ctx`` in each runner), and
the bytes per element follow ``[server] kv_cache_type`` (f16 2, q8_0 1, q4_0 0.5). For
the embedded engine ``slots`` counts every sequence its llama.cpp contexts hold
(:func:`embedded_slots`): ``concurrent_limit`` instances of one sequence each, or with
``num_parallel = N`` (> 1) ``ceil(concurrent_limit / N)`` contexts of N sequences each,
every sequence with its own ``n_ctx`` tokens of KV cache. The weights are counted once
(llama.cpp maps the file, so its copies share the pages).

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

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from orchbench.config import (
    KV_CACHE_BYTES,
    HardwareSpec,
    ModelConfig,
    Profile,
    ServerSettings,
    default_context_length,
)
from orchbench.errors import ConfigError

GIB_IN_GB = 1.073741824
"""Vendors' "GB" of VRAM and RAM are GiB: one of them is this many decimal GB."""
USABLE_FRACTION = {"gpu": 0.95, "cpu": 0.75}
"""Share of the hardware's memory the models may use (the rest: driver, display, OS)."""
KV_BYTES_PER_ELEMENT = 2
"""f16 KV cache, Ollama's and llama.cpp's default."""
SERVER_KINDS = ("ollama", "auto", "sim")
"""Backend kinds whose models run on an Ollama-like server described by ``[server]``."""
MAX_SLOTS = 64
"""Upper bound of :attr:`ModelConfig.concurrent_limit`."""


def default_num_ctx(hardware: HardwareSpec, server: ServerSettings | None = None) -> int:
    """The context Ollama uses when a request sets none: ``[server] context_length``, else
    by VRAM (:func:`orchbench.config.default_context_length`: 4096 / 32768 / 262144)."""
    if server is not None and server.context_length is not None:
        return server.context_length
    return default_context_length(hardware)


def context_of(
    model: ModelConfig,
    hardware: HardwareSpec | None = None,
    server: ServerSettings | None = None,
) -> int:
    """The context window a model runs with: ``num_ctx`` (Ollama), ``n_ctx`` (embedded GGUF),
    or the server's default. Ollama caps it at the model's trained ``context_length``
    (llm/server.go ``NewLlamaServer``)."""
    if model.gguf is not None or (hardware is None and model.num_ctx is None):
        return model.num_ctx or model.n_ctx
    ctx = model.num_ctx
    if ctx is None:
        ctx = default_num_ctx(hardware, server) if hardware is not None else model.n_ctx
    if model.context_length is not None:
        ctx = min(ctx, model.context_length)
    return ctx


def embedded_slots(model: ModelConfig) -> tuple[int, int]:
    """``(contexts, sequences each)`` the embedded engine holds for ``model``: one
    instance per request in flight, or ``ceil(concurrent_limit / num_parallel)`` batched
    contexts of ``num_parallel`` sequences (a partly used context still reserves all).

    >>> m = ModelConfig(name="m", task_types=["coding"], tier="fast", concurrent_limit=5,
    ...                 num_parallel=4)
    >>> embedded_slots(m)
    (2, 4)
    """
    per = max(1, model.num_parallel or 1)
    return -(-model.concurrent_limit // per), per


def kv_bytes_per_token(model: ModelConfig, kv_cache_type: str = "f16") -> tuple[float, bool]:
    """KV-cache bytes one token of context costs, and whether that is exact.

    Exact when ``n_layers``, ``n_kv_heads`` and ``head_dim`` are known. Otherwise a
    guess from ``params_b``: a grouped-query 7B model's 128 KiB per token, scaled by
    size (older models without GQA need up to 4x more, so treat it as a lower bound).
    """
    scale = KV_CACHE_BYTES[kv_cache_type] / KV_BYTES_PER_ELEMENT
    if model.n_layers and model.n_kv_heads and model.head_dim:
        exact = 2 * model.n_layers * model.n_kv_heads * model.head_dim * KV_BYTES_PER_ELEMENT
        return float(exact) * scale, True
    params = model.params_b if model.params_b is not None else 7.0
    return 131072.0 * params / 7.0 * scale, False


def kv_cache_gb(
    model: ModelConfig, num_ctx: int, num_parallel: int = 1, kv_cache_type: str = "f16"
) -> float:
    """GB of KV cache for ``num_parallel`` slots of ``num_ctx`` tokens each."""
    per_token, _ = kv_bytes_per_token(model, kv_cache_type)
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
    model: ModelConfig,
    num_ctx: int | None = None,
    num_parallel: int | None = None,
    kv_cache_type: str = "f16",
) -> float:
    """GB a model needs loaded with ``num_parallel`` slots of ``num_ctx`` tokens.

    Defaults: the model's own context (``num_ctx`` or ``n_ctx``) and the sequences its
    ``concurrent_limit`` holds (:func:`embedded_slots`). The same figure applies to RAM
    on a CPU-only machine.

    >>> m = ModelConfig(name="m", task_types=["coding"], tier="fast", size_gb=4.1,
    ...                 params_b=7.2, n_layers=32, n_kv_heads=8, head_dim=128)
    >>> round(estimate_vram_gb(m, 4096, 1), 2)
    5.28
    """
    ctx = num_ctx if num_ctx is not None else context_of(model)
    slots = num_parallel if num_parallel is not None else math.prod(embedded_slots(model))
    kv = kv_cache_gb(model, ctx, slots, kv_cache_type)
    return weights_gb(model) + kv + runner_overhead_gb(model)


def max_slots(
    model: ModelConfig, num_ctx: int, usable_gb: float, kv_cache_type: str = "f16"
) -> int:
    """The largest number of slots (``num_parallel``) that fits ``usable_gb``; 0 if none."""
    spare = usable_gb - weights_gb(model) - runner_overhead_gb(model)
    per_slot = kv_cache_gb(model, num_ctx, 1, kv_cache_type)
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
    """Most slots that fit the usable memory with this model alone."""
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
    """For Ollama: ``[server] num_parallel``, the slots reserved in every loaded model."""
    warnings: tuple[str, ...]
    server: ServerSettings | None = None
    """For Ollama: the profile's ``[server]`` with Ollama's defaults filled in."""
    fits_loaded: int = 0
    """How many of the models (file order) stay loaded together within memory and
    ``max_loaded_models``."""

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


def uses_server(profile: Profile) -> bool:
    """Whether ``profile``'s models run on an Ollama-like server (its ``[server]`` applies)."""
    return profile.backend.kind in SERVER_KINDS and not all(
        m.gguf is not None for m in profile.models.values()
    )


def memory_plan(profile: Profile) -> Plan:
    """Plan the memory of every model in ``profile`` on its hardware.

    On an Ollama server every model reserves ``[server] num_parallel`` slots of its
    context, with ``kv_cache_type``'s bytes; elsewhere each model has the sequences of
    its instances or batched contexts (:func:`embedded_slots`). Raises
    :class:`ConfigError` when a model has neither ``size_gb`` nor ``params_b``.
    """
    memory, capacity, usable = capacity_of(profile.hardware)
    server = profile.server.resolved(profile.hardware) if uses_server(profile) else None
    plans = [_plan_model(m, profile.hardware, usable, server) for m in profile.models.values()]
    total = sum(p.need_gb for p in plans)
    warnings = [w for m in profile.models.values() for w in _model_warnings(m, profile, server)]
    for plan in plans:
        if not plan.fits_alone:
            knob = "[server] num_parallel" if server else "concurrent_limit"
            hint = (
                f"lower {knob} to {plan.max_slots}"
                if plan.max_slots
                else "it does not fit even with one slot: use a smaller model or num_ctx"
            )
            warnings.append(
                f"{plan.name}: needs {plan.need_gb:.1f} GB with {plan.slots} slot(s) of "
                f"{plan.num_ctx} tokens, {usable:.1f} GB usable: {hint}"
            )
    limit = server.max_loaded_models if server and server.max_loaded_models else len(plans)
    fits_loaded, used = 0, 0.0
    for plan in plans:
        if fits_loaded >= limit or used + plan.need_gb > usable:
            break
        fits_loaded, used = fits_loaded + 1, used + plan.need_gb
    fits_together = total <= usable and len(plans) <= limit
    if not fits_together:
        warnings.append(
            f"all models together need {total:.1f} GB of {usable:.1f} GB usable"
            + (f" and {len(plans)} > max_loaded_models {limit}" if len(plans) > limit else "")
            + ": they cannot stay loaded at once, so the server swaps them and load time "
            "counts in the run"
        )
    return Plan(
        profile=profile.name,
        memory=memory,
        capacity_gb=capacity,
        usable_gb=usable,
        models=tuple(plans),
        total_gb=total,
        fits_together=fits_together,
        server_parallel=server.num_parallel if server else None,
        warnings=tuple(warnings),
        server=server,
        fits_loaded=fits_loaded,
    )


def _plan_model(
    model: ModelConfig, hardware: HardwareSpec, usable: float, server: ServerSettings | None
) -> ModelPlan:
    ctx = context_of(model, hardware, server)
    slots = server.num_parallel if server else math.prod(embedded_slots(model))
    kv_type = server.kv_cache_type if server else "f16"
    weights = weights_gb(model)
    kv = kv_cache_gb(model, ctx, slots, kv_type)
    overhead = runner_overhead_gb(model)
    need = weights + kv + overhead
    return ModelPlan(
        name=model.name,
        num_ctx=ctx,
        slots=slots,
        weights_gb=weights,
        kv_gb=kv,
        overhead_gb=overhead,
        need_gb=need,
        max_slots=max_slots(model, ctx, usable, kv_type),
        fits_alone=need <= usable,
        kv_exact=kv_bytes_per_token(model)[1],
    )


def _model_warnings(
    model: ModelConfig, profile: Profile, server: ServerSettings | None
) -> list[str]:
    ctx = context_of(model, profile.hardware, server)
    out = []
    if server is not None and model.concurrent_limit > server.num_parallel:
        out.append(
            f"{model.name}: concurrent_limit {model.concurrent_limit} > [server] num_parallel "
            f"{server.num_parallel}: the extra requests only wait in Ollama's queue"
        )
    if model.context_length is not None and (model.num_ctx or 0) > model.context_length:
        out.append(
            f"{model.name}: num_ctx {model.num_ctx} is above the {model.context_length} tokens "
            f"it was trained for; Ollama runs it with {model.context_length}"
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
    embedded = [p for p in cpu_profiles if all(m.gguf for m in p.models.values())]
    if embedded:
        # the one named "embedded" first: embedded-gemma (one model) sorts before it
        profile = min(embedded, key=lambda p: (p.name != p.backend.kind, p.name))
        return profile.name, (
            "no GPU: the embedded profile runs the bundled models in process, no server "
            "needed (with Ollama installed, the 'cpu' profile runs the original roster)"
        )
    best = min(cpu_profiles, key=lambda p: abs(p.hardware.ram_gb - ram))
    return best.name, f"no GPU; {best.name} has the nearest RAM ({best.hardware.ram_gb:g} GB)"


def prompt_tokens_estimate(prompt: str, chars_per_token: float = 4.0) -> int:
    """Tokens a prompt is counted as when no tokenizer is loaded (characters / 4, rounded up)."""
    return max(1, math.ceil(len(prompt) / chars_per_token))


def static_problems(profile: Profile, longest_prompt_tokens: int = 0) -> list[str]:
    """What stops a real server from running ``profile`` as written; empty when it can.

    The checks ``orchbench doctor`` makes without a server, and the tuner's feasibility
    rule: every model fits the memory alone (with ``[server] num_parallel`` slots on
    Ollama), ``max_tokens`` plus the longest prompt fits its context, and no model's
    client ``concurrent_limit`` exceeds ``num_parallel`` (the rest would only queue).
    """
    plan = memory_plan(profile)
    server = plan.server
    problems = [
        f"{m.name}: needs {m.need_gb:.1f} GB with {m.slots} slot(s) of {m.num_ctx} tokens, "
        f"{plan.usable_gb:.1f} GB usable"
        for m in plan.models
        if not m.fits_alone
    ]
    for model, entry in zip(profile.models.values(), plan.models, strict=True):
        if model.max_tokens + longest_prompt_tokens > entry.num_ctx:
            problems.append(
                f"{model.name}: max_tokens {model.max_tokens} + the longest prompt "
                f"({longest_prompt_tokens} tokens) does not fit its {entry.num_ctx}-token context"
            )
        if server is not None and model.concurrent_limit > server.num_parallel:
            problems.append(
                f"{model.name}: concurrent_limit {model.concurrent_limit} > [server] "
                f"num_parallel {server.num_parallel}"
            )
    return problems


def start_command(profile: Profile) -> str | None:
    """``"start Ollama with: OLLAMA_NUM_PARALLEL=… ollama serve"``; None without a server."""
    if not uses_server(profile):
        return None
    env = profile.server.env(profile.hardware)
    return "start Ollama with: " + " ".join(f"{k}={v}" for k, v in env.items()) + " ollama serve"
