"""Keeping a trial feasible by construction: memory repair and which models are primaries.

:func:`repair` runs on every candidate :func:`~orchbench.tune._space.apply_params` builds.
An embedded model (llama.cpp in process, :func:`is_embedded`) runs ``ceil(concurrent_limit
/ num_parallel)`` copies (instances, or batched contexts of ``num_parallel`` sequences) of
``n_threads`` threads each: ``num_parallel`` is lowered to ``concurrent_limit`` (and to
an even share of it per context), written as unset when 1 (instances), the copies are
kept to at most twice the cores (:data:`COPIES_PER_CORE`) and the sequences to what memory holds
(:func:`orchbench.planning.estimate_vram_gb`); copies x threads beyond the cores stay
allowed (the engine and the simulator pay for it). On an Ollama server, ``num_parallel``
is lowered until every model holds that many slots of its own context in memory (Ollama
reserves them in every loaded model), and no client limit exceeds it. What the sampler
asked for stays in the trial; the profile that runs (and is written) is the repaired one,
so a sampled configuration is never wasted on one the server could not run.

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

from orchbench.backends import engine_class
from orchbench.config import KV_CACHE_BYTES, ModelConfig, Profile, Route
from orchbench.engine import runs_instances

if TYPE_CHECKING:
    from orchbench.config import TaskType

Choice = int | str

PRIMARIES = "routing.primaries"
"""The parameter: how many models (smallest memory first) keep their primary routes."""
COPIES_PER_CORE = 2
"""At most this many copies (instances or batched contexts) of one embedded model per
core: beyond it they only queue inside llama.cpp."""


def is_embedded(profile: Profile, model: ModelConfig) -> bool:
    """Whether ``model`` runs in process (llama.cpp instances) rather than on a server."""
    kind = profile.backend.kind
    return model.gguf is not None or (kind != "auto" and runs_instances(engine_class(kind)))


def repair(candidate: Profile) -> Profile:
    """Keep every embedded model's copies and sequences feasible, lower ``[server]
    num_parallel`` to what every model's memory holds, cap client limits at it.

    Modifies and returns ``candidate`` (a copy :func:`apply_params` made).
    """
    from orchbench import planning

    for model in candidate.models.values():
        if is_embedded(candidate, model):
            repair_embedded(candidate, model)
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


def repair_embedded(profile: Profile, model: ModelConfig) -> None:
    """Make ``model``'s copies x sequences feasible on ``profile``'s machine (in place):
    ``num_parallel`` ≤ ``concurrent_limit`` (``None`` for instances), at most
    :data:`COPIES_PER_CORE` copies per core, every sequence's KV cache in memory, and the
    limit spread evenly over the contexts (16 requests at 12 per context: 2 contexts of 8)
    — the engine hands each request to the least busy context, so a deeper one would hold
    cells no request uses."""
    from orchbench import planning

    _, _, usable = planning.capacity_of(profile.hardware)
    per = max(1, min(model.num_parallel or 1, model.concurrent_limit))
    limit = min(model.concurrent_limit, per * COPIES_PER_CORE * profile.hardware.cpu_cores)
    ctx = planning.context_of(model, profile.hardware)
    while limit > 1 and planning.estimate_vram_gb(model, ctx, -(-limit // per) * per) > usable:
        limit -= 1
        per = min(per, limit)
    per = -(-limit // -(-limit // per))  # the same contexts, evenly filled
    model.concurrent_limit = limit
    model.num_parallel = per if per > 1 else None


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
    as the primaries, and the global cap at the sum of their limits. An embedded model
    (one whose ``n_threads`` is searched) starts as the instances it runs as by default:
    one instance of one thread per core, no batched slots. The search starts from the
    profile's own configuration and this one; :func:`repair` makes it feasible.
    """
    start: dict[str, Choice] = {}
    embedded = _embedded_prefixes(params)
    for name, choices in params.items():
        start[name] = choices[-1]
        if name.endswith(".num_ctx"):
            start[name] = choices[0]
        elif name == "server.kv_cache_type":
            start[name] = min(choices, key=lambda c: KV_CACHE_BYTES.get(str(c), 2.0))
    for prefix in embedded:
        cores = int(params.get(prefix + "n_threads", (1,))[-1])  # n_threads ranges to the cores
        start.update(_embedded_start(params, prefix, num_parallel=1, n_threads=1, limit=cores))
    if PRIMARIES in params:
        choices = params[PRIMARIES]
        start[PRIMARIES] = choices[-2] if len(choices) > 1 else choices[-1]
    parallel = start.get("server.num_parallel")
    if isinstance(parallel, int):
        for name, choices in params.items():
            if name.endswith(".concurrent_limit") and name.rpartition(".")[0] + "." not in embedded:
                start[name] = _nearest(choices, parallel)
        kept = int(start.get(PRIMARIES, 0)) or sum(n.endswith(".concurrent_limit") for n in params)
        if "settings.max_concurrent_tasks" in params:
            cap = params["settings.max_concurrent_tasks"]
            start["settings.max_concurrent_tasks"] = _nearest(cap, parallel * kept)
        if "server.max_loaded_models" in params:
            start["server.max_loaded_models"] = _nearest(params["server.max_loaded_models"], kept)
    return start


def batched_start(params: Mapping[str, tuple[Choice, ...]]) -> dict[str, Choice]:
    """A starting point for embedded models, derived from the batching curve, not
    measured: every model whose ``num_parallel`` is searched as one batched context of
    its largest limit on all the cores (FACTS.md: deep batches beat instances on a CPU),
    the global cap at the sum of the limits; empty when no ``num_parallel`` is searched."""
    start: dict[str, Choice] = {}
    for prefix in _embedded_prefixes(params):
        if prefix + "num_parallel" not in params:
            continue
        limit = max(int(c) for c in params[prefix + "concurrent_limit"])
        threads = params[prefix + "n_threads"][-1] if prefix + "n_threads" in params else 0
        start.update(_embedded_start(params, prefix, limit, int(threads), limit))
    if start and "settings.max_concurrent_tasks" in params:
        start["settings.max_concurrent_tasks"] = params["settings.max_concurrent_tasks"][-1]
    return start


def _embedded_prefixes(params: Mapping[str, tuple[Choice, ...]]) -> list[str]:
    """``models.<name>.`` of every model whose ``n_threads`` or ``num_parallel`` is searched."""
    fields = (".n_threads", ".num_parallel")
    found = (
        n.rpartition(".")[0] + "." for n in params if n.startswith("models.") and n.endswith(fields)
    )
    return list(dict.fromkeys(found))


def _embedded_start(
    params: Mapping[str, tuple[Choice, ...]],
    prefix: str,
    num_parallel: int,
    n_threads: int,
    limit: int,
) -> dict[str, Choice]:
    wanted = {"num_parallel": num_parallel, "n_threads": n_threads, "concurrent_limit": limit}
    return {
        prefix + field: _nearest(params[prefix + field], value)
        for field, value in wanted.items()
        if prefix + field in params
    }


def _nearest(choices: tuple[Choice, ...], value: int) -> Choice:
    ints = [c for c in choices if isinstance(c, int)]
    return min(ints, key=lambda c: (abs(c - value), c)) if ints else choices[-1]
