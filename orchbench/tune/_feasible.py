"""Keeping a trial feasible by construction: memory repair and which models are primaries.

:func:`repair` runs on every candidate :func:`~orchbench.tune._space.apply_params` builds:
on an Ollama server, ``num_parallel`` is lowered until every model holds that many
slots of its own context in memory (Ollama reserves them in every loaded model), and
no client limit exceeds it. What the sampler asked for stays in the trial; the profile
that runs (and is written) is the repaired one, so a sampled configuration is never
wasted on one the server could not run.

Routing: when memory cannot keep every model loaded at once (the server swaps them), the
tune chooses how many models keep their primary routes (parameter ``routing.primaries``):
the ``k`` models with the smallest memory need (:func:`resident_order`), ``k`` from 1 to
the most whose memory fits together, or all of them (the original routing). The
subsets searched are those prefixes, not all 2^n subsets: a subset that leaves a smaller
model out while a larger one swaps in and out gains nothing a search could find in tens of
trials. A dropped model stays in ``[models]`` and in its routes as the first fallback, so
the original roster still carries the task when the primaries are busy or fail; a route
whose primaries would all be dropped takes its first kept fallback as primary, or keeps
its primaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from orchbench.config import KV_CACHE_BYTES, Profile, Route

if TYPE_CHECKING:
    from orchbench.config import TaskType

Choice = int | str

PRIMARIES = "routing.primaries"
"""The parameter: how many models (smallest memory first) keep their primary routes."""


def repair(candidate: Profile) -> Profile:
    """Lower ``[server] num_parallel`` to what every model's memory holds, cap client limits.

    Modifies and returns ``candidate`` (a copy :func:`apply_params` made). A profile
    without a server is returned as is.
    """
    from orchbench import planning

    if not planning.uses_server(candidate):
        return candidate
    server = candidate.server.resolved(candidate.hardware)
    _, _, usable = planning.capacity_of(candidate.hardware)
    fits = [
        planning.max_slots(
            m, planning.context_of(m, candidate.hardware, server), usable, server.kv_cache_type
        )
        for m in candidate.models.values()
    ]
    candidate.server.num_parallel = max(1, min([candidate.server.num_parallel, *fits]))
    for model in candidate.models.values():
        if model.gguf is None:
            # A client limit above num_parallel only queues in Ollama (on a fleet: on
            # each host serving the model).
            slots = candidate.server.num_parallel * max(1, len(model.deployments))
            model.concurrent_limit = min(model.concurrent_limit, slots)
    return candidate


def resident_order(profile: Profile) -> list[str]:
    """The models in the order they are kept as primaries: smallest memory need first
    (one slot at the profile's contexts), the profile's order breaking ties."""
    from orchbench import planning

    names = list(profile.models)
    need = {
        n: planning.estimate_vram_gb(m, planning.context_of(m, profile.hardware), 1)
        for n, m in profile.models.items()
    }
    return sorted(names, key=lambda n: (round(need[n], 3), names.index(n)))


def resident_choices(profile: Profile) -> tuple[int, ...]:
    """How many models may keep their primary routes (``routing.primaries``): 1 … the
    largest number of smallest models whose memory fits together, and all of them (the
    original routing, last); empty when memory keeps every model loaded."""
    from orchbench import planning

    if len(profile.models) < 2 or planning.memory_plan(profile).fits_together:
        return ()
    _, _, usable = planning.capacity_of(profile.hardware)
    used, fit = 0.0, 0
    for name in resident_order(profile):
        model = profile.models[name]
        used += planning.estimate_vram_gb(model, planning.context_of(model, profile.hardware), 1)
        if used > usable:
            break
        fit += 1
    return tuple(sorted({*range(1, max(1, fit) + 1), len(profile.models)}))


def primaries_of(profile: Profile) -> int:
    """``routing.primaries`` of a profile as written: every model (the original routing)."""
    return len(profile.models)


def keep_primaries(candidate: Profile, count: int, order: list[str]) -> Profile:
    """Keep the ``count`` first models of ``order`` (:func:`resident_order` of the profile
    the candidate was made from) as primaries, drop the rest."""
    kept = set(order[:count])
    return drop_primaries(candidate, set(candidate.models) - kept)


def drop_primaries(candidate: Profile, dropped: set[str]) -> Profile:
    """Move every ``dropped`` model from the primaries to the front of the fallbacks.

    Modifies and returns ``candidate``; see the module docstring for a route that would
    be left without a primary.
    """
    routing: dict[TaskType, Route] = {}
    for task_type, route in candidate.routing.items():
        kept = [m for m in route.primary if m not in dropped]
        moved = [m for m in route.primary if m in dropped]
        fallback = [*moved, *route.fallback]
        if not kept:
            promoted = [m for m in route.fallback if m not in dropped][:1]
            if not promoted:
                routing[task_type] = route
                continue
            kept = promoted
            fallback = [m for m in fallback if m not in promoted]
        routing[task_type] = route.model_copy(update={"primary": kept, "fallback": fallback})
    candidate.routing = routing
    return candidate


def derived_start(params: Mapping[str, tuple[Choice, ...]]) -> dict[str, Choice]:
    """A second starting point derived from memory, not measured: the densest server the
    space allows (the smallest KV cache type, the most slots, the shortest contexts),
    every client limit at ``num_parallel``, the most models memory keeps loaded together
    as the primaries, and the global cap at the sum of their limits. The search starts
    from the profile's own configuration and this one; :func:`repair` makes it feasible.
    """
    start: dict[str, Choice] = {}
    for name, choices in params.items():
        start[name] = choices[-1]
        if name.endswith(".num_ctx"):
            start[name] = choices[0]
        elif name == "server.kv_cache_type":
            start[name] = min(choices, key=lambda c: KV_CACHE_BYTES.get(str(c), 2.0))
    if PRIMARIES in params:
        choices = params[PRIMARIES]
        start[PRIMARIES] = choices[-2] if len(choices) > 1 else choices[-1]
    parallel = start.get("server.num_parallel")
    if isinstance(parallel, int):
        for name, choices in params.items():
            if name.endswith(".concurrent_limit"):
                start[name] = _nearest(choices, parallel)
        kept = int(start.get(PRIMARIES, 0)) or sum(n.endswith(".concurrent_limit") for n in params)
        if "settings.max_concurrent_tasks" in params:
            cap = params["settings.max_concurrent_tasks"]
            start["settings.max_concurrent_tasks"] = _nearest(cap, parallel * kept)
        if "server.max_loaded_models" in params:
            start["server.max_loaded_models"] = _nearest(params["server.max_loaded_models"], kept)
    return start


def _nearest(choices: tuple[Choice, ...], value: int) -> Choice:
    ints = [c for c in choices if isinstance(c, int)]
    return min(ints, key=lambda c: (abs(c - value), c)) if ints else choices[-1]
