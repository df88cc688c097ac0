"""Routing rules: which models may serve a task, and which free one serves it best.

Pure functions over the live profile data, so each rule is tested on its own:

- :func:`candidates`: the routing table's primary models, then its fallbacks, keeping only
  models that exist in ``models``, list the task type and take the task's prompt style (a
  chat prompt never goes to a completion-only model, nor the reverse; each skip is logged at
  DEBUG). A task type with no route may go to every model that lists it.
- :func:`preference`: the sort key among candidates that have a free slot: primary before
  fallback, then distance from the tier the complexity prefers (complex → powerful,
  simple → fast), then higher ``priority``, then measured speed (faster first).
- :func:`choose`: the best free candidate, logging the decision and why at DEBUG on the
  ``orchbench`` logger.
- :func:`place`: which deployment (host) of a granted model serves the request.
- :class:`SpeedTracker`: the measured speed, an exponentially weighted moving average of
  each model's response time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from orchbench.config import Complexity, ModelConfig, ModelTier, Route, TaskType
from orchbench.scheduler._health import deployment_key

logger = logging.getLogger("orchbench")


class Candidate(NamedTuple):
    """A model a task may run on; ``fallback`` is true when it comes from the fallback list."""

    name: str
    fallback: bool


def candidates(
    task_type: TaskType,
    routing: Mapping[TaskType, Route],
    models: Mapping[str, ModelConfig],
    prompt_style: str | None = None,
) -> list[Candidate]:
    """Candidates for ``task_type`` in routing-table order (primary, then fallback).

    Models missing from ``models``, not listing the task type, or (when ``prompt_style`` is
    given) taking another prompt style are left out; a model named twice keeps its first
    place. Without a route, every model listing the type is a primary. When no model in
    ``models`` takes ``prompt_style`` at all, the style is ignored (the suite-level check,
    :func:`orchbench.bench.workload.style_problem`, has refused or warned already).

    >>> candidates(TaskType.CODING, {}, {})
    []
    """
    route = routing.get(task_type)
    if route is None:
        named: list[tuple[bool, list[str]]] = [
            (False, [n for n, m in models.items() if task_type in m.task_types])
        ]
    else:
        named = [(False, route.primary), (True, route.fallback)]
    if prompt_style is not None and all(m.prompt_style != prompt_style for m in models.values()):
        # No model at all takes this style: the suite check already refused (chat prompts on
        # base models) or warned (completion prompts on chat models), so serve it anyway.
        prompt_style = None
    seen: set[str] = set()
    found: list[Candidate] = []
    for fallback, names in named:
        for name in names:
            model = models.get(name)
            if name in seen or model is None or task_type not in model.task_types:
                continue
            seen.add(name)
            if not takes_style(model, prompt_style, task_type):
                continue
            found.append(Candidate(name, fallback))
    return found


def takes_style(model: ModelConfig, prompt_style: str | None, task_type: TaskType) -> bool:
    """Whether ``model`` takes prompts of ``prompt_style`` (any style when ``None``);
    a refusal is logged at DEBUG."""
    if prompt_style is None or model.prompt_style == prompt_style:
        return True
    logger.debug(
        "route %s task: skip %s: it takes %s prompts, the task's prompt is %s-style",
        task_type.value,
        model.name,
        model.prompt_style,
        prompt_style,
    )
    return False


def default_complexity(task_type: TaskType, routing: Mapping[TaskType, Route]) -> Complexity:
    """The complexity a task gets when it does not say: its route's typical one, else medium."""
    route = routing.get(task_type)
    return route.complexity if route is not None else Complexity.MEDIUM


def tier_distance(tier: ModelTier, complexity: Complexity) -> int:
    """How far ``tier`` is from the tier ``complexity`` prefers (0 = the preferred tier)."""
    return abs(tier.rank - complexity.preferred_tier.rank)


def preference(
    model: ModelConfig, fallback: bool, complexity: Complexity, seconds: float
) -> tuple[bool, int, int, float]:
    """Sort key among free candidates; smaller is better.

    ``seconds`` is the model's measured response time (a neutral value when unknown).
    """
    return (fallback, tier_distance(model.tier, complexity), -model.priority, seconds)


def choose(
    options: Sequence[Candidate],
    is_free: Callable[[str], bool],
    models: Mapping[str, ModelConfig],
    complexity: Complexity,
    speeds: Mapping[str, float],
    task_id: int | None = None,
) -> str | None:
    """The best candidate with a free slot (see :func:`preference`), or ``None`` if none is free.

    A model without a measured speed counts as the mean of the measured ones among the free
    candidates, so it is neither favoured nor shunned before it has run.
    """
    free = [c for c in options if is_free(c.name)]
    if not free:
        return None
    if len(free) == 1:
        best = free[0].name
        if logger.isEnabledFor(logging.DEBUG):
            _log_decision(task_id, best, free, options, models, complexity, speeds, None)
        return best
    known = [speeds[c.name] for c in free if c.name in speeds]
    neutral = sum(known) / len(known) if known else 0.0
    keys = {
        c.name: preference(models[c.name], c.fallback, complexity, speeds.get(c.name, neutral))
        for c in free
    }
    best = min(free, key=lambda c: keys[c.name]).name
    if logger.isEnabledFor(logging.DEBUG):
        _log_decision(task_id, best, free, options, models, complexity, speeds, keys)
    return best


def _log_decision(
    task_id: int | None,
    best: str,
    free: Sequence[Candidate],
    options: Sequence[Candidate],
    models: Mapping[str, ModelConfig],
    complexity: Complexity,
    speeds: Mapping[str, float],
    keys: Mapping[str, tuple[bool, int, int, float]] | None,
) -> None:
    def describe(c: Candidate) -> str:
        m = models[c.name]
        speed = f"{speeds[c.name]:.3f}s" if c.name in speeds else "unmeasured"
        role = "fallback" if c.fallback else "primary"
        return f"{c.name} ({role}, tier {m.tier.value}, priority {m.priority}, {speed})"

    busy = [c.name for c in options if c not in free]
    why = "only free candidate" if keys is None else "best by primary/tier/priority/speed"
    logger.debug(
        "route task %s (%s): -> %s [%s]; free: %s; busy or cooling: %s",
        task_id,
        complexity.value,
        best,
        why,
        "; ".join(describe(c) for c in free),
        ", ".join(busy) or "none",
    )


def place(model: str, free: Sequence[tuple[str, int]], speeds: Mapping[str, float]) -> str:
    """The host to send a request for ``model`` to, among its free deployments.

    ``free`` holds each free deployment's host and free slots; the one with the most free
    slots wins (least busy), then the fastest measured (``speeds`` by
    :func:`~orchbench.scheduler._health.deployment_key`; unmeasured counts as the mean),
    then the first listed.

    >>> place("m", [("a", 1), ("b", 2)], {})
    'b'
    >>> place("m", [("a", 1), ("b", 1)], {"m\x00a": 2.0, "m\x00b": 1.0})
    'b'
    """
    if len(free) == 1:
        return free[0][0]
    known = [speeds[k] for h, _ in free if (k := deployment_key(model, h)) in speeds]
    neutral = sum(known) / len(known) if known else 0.0

    def key(entry: tuple[str, int]) -> tuple[int, float]:
        return -entry[1], speeds.get(deployment_key(model, entry[0]), neutral)

    return min(free, key=key)[0]


class SpeedTracker:
    """Measured response time per model: an exponentially weighted moving average.

    ``alpha`` is the weight of the newest observation.

    >>> s = SpeedTracker(alpha=0.5); s.observe("m", 2.0); s.observe("m", 4.0); s.seconds["m"]
    3.0
    """

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self.seconds: dict[str, float] = {}

    def observe(self, model: str, seconds: float) -> None:
        """Fold one response time into the model's average."""
        old = self.seconds.get(model)
        self.seconds[model] = seconds if old is None else old + self.alpha * (seconds - old)

    def clear(self) -> None:
        """Forget every measurement."""
        self.seconds.clear()


def stronger_than(
    tier: ModelTier,
    task_type: TaskType,
    options: Sequence[Candidate],
    models: Mapping[str, ModelConfig],
    prompt_style: str | None = None,
) -> list[Candidate]:
    """Candidates of a stronger tier than ``tier`` for an escalation, strongest first.

    Taken from the task's own candidates; when none is stronger, from every model that lists
    the task type and takes ``prompt_style`` (an escalation may leave the routing table, as
    a person would, but not send a prompt to a model that cannot read it).
    """

    def pick(pool: Sequence[Candidate]) -> list[Candidate]:
        found = [c for c in pool if c.name in models and models[c.name].tier.rank > tier.rank]
        return sorted(found, key=lambda c: -models[c.name].tier.rank)

    found = pick(options)
    if found:
        return found
    pool = [
        Candidate(n, True)
        for n, m in models.items()
        if task_type in m.task_types and (prompt_style is None or m.prompt_style == prompt_style)
    ]
    return pick(pool)
