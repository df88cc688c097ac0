"""The search space a profile allows, and how a trial's parameters become a profile.

Parameters are named by where they live in the profile:

- ``models.<name>.concurrent_limit``: 1 … what memory allows (sequences whose KV cache
  fits RAM beside the weights for the embedded engine, parallel slots whose KV cache fits
  VRAM on a GPU);
- ``models.<name>.priority``: 1 … 10, only when the profile has several models (a single
  model's priority orders nothing);
- ``models.<name>.n_threads``: 1 … cpu cores, for the embedded engine (oversubscribing
  the cores loses, and the tuner must be able to find that);
- ``models.<name>.num_parallel``: for the embedded engine, sequences per llama.cpp
  context, from :data:`SLOT_CHOICES` up to the limit's bound: 1 is one instance per
  request in flight, N > 1 runs ``ceil(concurrent_limit / N)`` batched contexts of N
  sequences, each context with ``n_threads`` threads — so a trial chooses instances x
  slots x threads; :func:`apply_params` keeps it feasible
  (:func:`orchbench.tune._feasible.repair_embedded`: ``num_parallel`` ≤ the limit, at
  most two copies per core, every sequence's KV cache in RAM);
- ``models.<name>.num_ctx``: the context sizes whose KV cache fits VRAM and that hold
  ``max_tokens`` plus the suite's longest prompt, for Ollama;
- ``settings.max_concurrent_tasks``: 1 … the sum of the models' largest limits;
- on an Ollama server (``[server]``, :func:`orchbench.planning.uses_server`), what a
  user can set there: ``server.num_parallel`` (slots in every loaded model),
  ``server.max_loaded_models``, ``server.kv_cache_type``; each model's client limit is
  searched only up to the largest ``num_parallel``; :func:`apply_params` lowers the
  trial's ``num_parallel`` until every model's slots fit and caps client limits at it
  (:func:`orchbench.tune._feasible.repair`), so a trial is feasible by construction;
- ``routing.primaries``: when memory cannot keep every model loaded, how many models
  (smallest first) keep their primary routes; the others become fallbacks (see
  :mod:`orchbench.tune._feasible`).

What is still infeasible (:func:`orchbench.planning.static_problems`) is marked so by the
study, not run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from orchbench.config import ModelConfig, Profile
from orchbench.errors import ConfigError
from orchbench.tune._feasible import (
    COPIES_PER_CORE,
    PRIMARIES,
    batched_start,
    derived_start,
    is_embedded,
    keep_primaries,
    primaries_of,
    repair,
    resident_choices,
    resident_order,
)

if TYPE_CHECKING:
    import optuna

MAX_LIMIT = 16
"""No model gets more than this many parallel requests in the search (beyond it, returns
vanish on every engine we measured and the space only grows)."""

NUM_CTX_CHOICES = (2048, 4096, 8192, 16384, 32768)
MAX_NUM_PARALLEL = 8
"""Largest ``OLLAMA_NUM_PARALLEL`` searched (FACTS.md's batching curve flattens past 8–16)."""
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
SLOT_CHOICES = (1, 2, 4, 6, 8, 12, 16)
"""``num_parallel`` searched for an embedded model (1: instances), up to its limit's bound:
FACTS.md's CPU batching curve loses at 2–4 sequences and wins from about 8."""
Choice = int | str


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable value: its dotted name and the values it may take (in order)."""

    name: str
    choices: tuple[Choice, ...]

    @property
    def is_range(self) -> bool:
        """Whether the choices are every integer from the first to the last."""
        ints = [c for c in self.choices if isinstance(c, int)]
        if len(ints) != len(self.choices):
            return False
        return tuple(ints) == tuple(range(ints[0], ints[-1] + 1))


def limit_bound(profile: Profile, model: ModelConfig, *, slots: bool = True) -> int:
    """The largest ``concurrent_limit`` the machine's memory allows for ``model`` (≥ 1).

    Embedded: the sequences whose KV cache fits RAM beside the weights (instances or
    batched contexts; :func:`~orchbench.tune._feasible.repair_embedded` keeps the copies
    to twice the cores); without ``slots`` (instances only) also twice the cores.
    CPU-only on a server: each instance is a full copy of weights and context in RAM,
    and more than twice the cores only queue. On a GPU: parallel slots share the
    weights and each needs its KV cache in VRAM (:func:`orchbench.planning.max_slots`).
    """
    from orchbench import planning

    _, _, usable = planning.capacity_of(profile.hardware)
    ctx = planning.context_of(model, profile.hardware)
    if profile.hardware.kind == "gpu" and planning.uses_server(profile):
        # Its limit is feasible only up to num_parallel, which it must hold in memory.
        own = planning.max_slots(model, min(num_ctx_choices(profile, model)), usable, "q4_0")
        hosts = max(1, len(model.deployments))  # a fleet: that many slots on every host
        return max(1, min(own, num_parallel_bound(profile)) * hosts)
    if is_embedded(profile, model):
        bound = planning.max_slots(model, ctx, usable)
        if not slots:
            bound = min(bound, COPIES_PER_CORE * profile.hardware.cpu_cores)
    elif profile.hardware.kind == "cpu":
        per_instance = planning.estimate_vram_gb(model, ctx, 1)
        bound = min(int(usable / per_instance), 2 * profile.hardware.cpu_cores)
    else:
        bound = planning.max_slots(model, ctx, usable)
    return max(1, min(bound, MAX_LIMIT))


def num_parallel_bound(profile: Profile) -> int:
    """The largest ``num_parallel`` worth searching: the most slots any model could hold
    alone at its smallest searched context with a q4_0 KV cache (capped)."""
    from orchbench import planning

    _, _, usable = planning.capacity_of(profile.hardware)
    best = 1
    for model in profile.models.values():
        ctx = min(num_ctx_choices(profile, model))
        best = max(best, planning.max_slots(model, ctx, usable, "q4_0"))
    return max(1, min(best, MAX_NUM_PARALLEL))


def server_params(profile: Profile) -> list[Param]:
    """The Ollama server knobs a tune searches (none for a profile without a server)."""
    from orchbench import planning

    if not planning.uses_server(profile):
        return []
    models = len(profile.models)
    return [
        Param("server.num_parallel", tuple(range(1, num_parallel_bound(profile) + 1))),
        Param("server.max_loaded_models", tuple(range(1, min(models, 6) + 1))),
        Param("server.kv_cache_type", KV_CACHE_TYPES),
    ]


def num_ctx_choices(
    profile: Profile, model: ModelConfig, longest_prompt_tokens: int = 0
) -> tuple[int, ...]:
    """Context sizes the model was trained for whose one-slot footprint fits in VRAM and
    that hold ``max_tokens`` plus the longest prompt (the profile's own when none does)."""
    from orchbench import planning

    _, _, usable = planning.capacity_of(profile.hardware)
    trained = model.context_length or NUM_CTX_CHOICES[-1]
    floor = model.max_tokens + longest_prompt_tokens
    fits = [
        c
        for c in (*NUM_CTX_CHOICES, *([model.num_ctx] if model.num_ctx else []))
        if floor <= c <= trained and planning.estimate_vram_gb(model, c, 1) <= usable
    ]
    return tuple(sorted(set(fits))) or (model.num_ctx or NUM_CTX_CHOICES[0],)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The parameters a tune may change, derived from a profile.

    >>> from orchbench import load_profile                               # doctest: +SKIP
    >>> space = SearchSpace.from_profile(load_profile("embedded"))      # doctest: +SKIP
    >>> [p.name for p in space.params]                                  # doctest: +SKIP
    ['models.gemma3-270m.concurrent_limit', 'models.gemma3-270m.n_threads',
     'models.gemma3-270m.num_parallel', 'settings.max_concurrent_tasks']
    """

    params: tuple[Param, ...]

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        *,
        tune_num_ctx: bool | None = None,
        longest_prompt_tokens: int = 0,
        slots: bool = True,
    ) -> SearchSpace:
        """Every parameter ``profile`` allows tuning (see the module docstring).

        ``tune_num_ctx`` defaults to "on a GPU profile that does not run embedded";
        ``longest_prompt_tokens`` (the suite's) bounds the contexts from below;
        ``slots=False`` searches embedded models as instances only (no ``num_parallel``,
        limits up to twice the cores).
        """
        hw = profile.hardware
        params: list[Param] = []
        total = 0
        for name, model in profile.models.items():
            prefix = f"models.{name}."
            bound = limit_bound(profile, model, slots=slots)
            total += bound
            params.append(Param(prefix + "concurrent_limit", tuple(range(1, bound + 1))))
            if len(profile.models) > 1:
                params.append(Param(prefix + "priority", tuple(range(1, 11))))
            if is_embedded(profile, model):
                params.append(Param(prefix + "n_threads", tuple(range(1, hw.cpu_cores + 1))))
                if slots:
                    per = tuple(c for c in SLOT_CHOICES if c <= bound)
                    params.append(Param(prefix + "num_parallel", per))
            elif tune_num_ctx if tune_num_ctx is not None else hw.kind == "gpu":
                choices = num_ctx_choices(profile, model, longest_prompt_tokens)
                if len(choices) > 1:
                    params.append(Param(prefix + "num_ctx", choices))
        params.append(Param("settings.max_concurrent_tasks", tuple(range(1, total + 1))))
        params.extend(server_params(profile))
        params.append(Param(PRIMARIES, resident_choices(profile)))
        return cls(tuple(p for p in params if len(p.choices) > 1))

    @property
    def names(self) -> list[str]:
        """The parameter names, in order."""
        return [p.name for p in self.params]

    def grid(self) -> dict[str, list[Choice]]:
        """Every parameter's values, as :class:`optuna.samplers.GridSampler` wants them."""
        return {p.name: list(p.choices) for p in self.params}

    def size(self) -> int:
        """How many distinct configurations the space holds."""
        return math.prod(len(p.choices) for p in self.params)

    def suggest(self, trial: optuna.Trial) -> dict[str, Choice]:
        """Ask ``trial`` for one value of every parameter."""
        values: dict[str, Choice] = {}
        for p in self.params:
            if p.is_range:
                low, high = int(p.choices[0]), int(p.choices[-1])
                values[p.name] = trial.suggest_int(p.name, low, high)
            else:
                picked = trial.suggest_categorical(p.name, list(p.choices))
                values[p.name] = picked if isinstance(picked, str) else int(picked or 0)
        return values

    def starts(self, profile: Profile) -> list[dict[str, Choice]]:
        """Where a search starts: the profile's own values, then (each when it differs)
        the memory-derived densest configuration on an Ollama server
        (:func:`orchbench.tune._feasible.derived_start`) and, when embedded models'
        ``num_parallel`` is searched, each of them as one deep batched context
        (:func:`orchbench.tune._feasible.batched_start`)."""
        own = self.values_of(profile)
        choices = {p.name: p.choices for p in self.params}
        starts = [own]
        if "server.num_parallel" in self.names:
            starts.append({**own, **derived_start(choices)})
        batched = batched_start(choices)
        if batched:
            starts.append({**own, **batched})
        return [s for i, s in enumerate(starts) if s not in starts[:i]]

    def values_of(self, profile: Profile) -> dict[str, Choice]:
        """The profile's own values of the space's parameters, clamped into the space.

        This is the trial the tune enqueues first, so the result is never worse than the
        starting point. ``n_threads`` unset means "all cores" to llama.cpp.
        """
        values: dict[str, Choice] = {}
        resolved = profile.model_copy(update={"server": profile.server.resolved(profile.hardware)})
        for p in self.params:
            current = read_param(resolved, p.name)
            if current is None:
                current = profile.hardware.cpu_cores if p.name.endswith("n_threads") else 0
            values[p.name] = min(p.choices, key=partial(_distance, current))
        return values


def _distance(current: Choice, choice: Choice) -> tuple[int, int]:
    if isinstance(current, str) or isinstance(choice, str):
        return (0 if current == choice else 1, 0)
    return (abs(choice - current), choice)


def read_param(profile: Profile, name: str) -> Any:
    """The value of the dotted parameter ``name`` in ``profile``."""
    if name == PRIMARIES:
        return primaries_of(profile)
    owner, field = _owner(profile, name)
    return getattr(owner, field)


def apply_params(profile: Profile, params: Mapping[str, Any]) -> Profile:
    """A deep copy of ``profile`` with every ``params`` value set, repaired to be feasible
    (:func:`orchbench.tune._feasible.repair`); the original is unchanged."""
    candidate = profile.model_copy(deep=True)
    for name, value in params.items():
        if name == PRIMARIES:
            keep_primaries(candidate, int(value), resident_order(profile))
            continue
        owner, field = _owner(candidate, name)
        try:
            setattr(owner, field, value)
        except ValueError as exc:
            raise ConfigError(f"parameter {name!r}: value {value!r} is not valid: {exc}") from None
    return repair(candidate) if params else candidate


def _owner(profile: Profile, name: str) -> tuple[Any, str]:
    if name.startswith("server."):
        field = name.removeprefix("server.")
        if field in type(profile.server).model_fields:
            return profile.server, field
    if name.startswith("settings."):
        field = name.removeprefix("settings.")
        if field in type(profile.settings).model_fields:
            return profile.settings, field
    elif name.startswith("models."):
        model, _, field = name.removeprefix("models.").rpartition(".")
        if model in profile.models and field in ModelConfig.model_fields:
            return profile.models[model], field
    raise ConfigError(
        f"parameter {name!r} names nothing in profile {profile.name!r}; valid: "
        f"settings.<field>, server.<field> or models.<model>.<field> with models "
        f"{', '.join(profile.models)}"
    )
