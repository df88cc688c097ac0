"""A run's warm-up that keeps going: a model that fails to load is left out, not fatal.

:func:`warm_up_available` loads every model of a profile one after another, as
:func:`orchbench.bench.runner.warm_up` does, but a model whose load fails — the engine
answers busy (503), a server error (500), "not found", the server is gone, or the load
runs past ``settings.default_timeout`` — is marked unavailable for the run with the
reason, and the run goes on with :func:`without_models`: the profile minus those models,
its routes rewritten so their tasks go to the fallbacks (what the scheduler does for a
failing model in the library). Only when no model is left does the warm-up fail.

>>> warm = await warm_up_available(profile, backend)     # doctest: +SKIP
>>> warm.unavailable                                     # doctest: +SKIP
{'big': 'Ollama at http://127.0.0.1:11434 is busy (HTTP 503: server busy) ...'}
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchbench.bench.runner import Scorer, profile_for_mode
from orchbench.config import Profile, Route
from orchbench.engine import Backend
from orchbench.errors import BackendError, BackendUnavailable
from orchbench.records import TaskSpec


@dataclass
class WarmUp:
    """What a warm-up found: load seconds of the models that loaded, the reason of each
    that did not, and the profile the run goes on with (without those)."""

    profile: Profile
    load_s: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


async def warm_up_available(
    profile: Profile,
    backend: Backend,
    tasks: Sequence[TaskSpec] = (),
    *,
    scorer: Scorer | None = None,
) -> WarmUp:
    """Load each model of ``profile`` (a failure marks it unavailable), then run ``tasks``
    untimed on the models that loaded.

    Raises :class:`~orchbench.errors.BackendUnavailable` naming every model and its
    reason when none loaded.
    """
    from orchbench.scheduler import Orchestrator

    timeout_s = profile.settings.default_timeout
    warm = WarmUp(profile=profile)
    for name, model in profile.models.items():
        try:
            async with asyncio.timeout(timeout_s):
                warm.load_s[name] = await backend.warmup(model)
        except TimeoutError:
            warm.unavailable[name] = f"did not load within {timeout_s:g} s (default_timeout)"
        except BackendError as exc:
            warm.unavailable[name] = f"{type(exc).__name__}: {exc}"
    warm.profile = without_models(profile, warm.unavailable)
    if tasks:
        shaped = profile_for_mode(warm.profile, "parallel")
        orchestrator = Orchestrator(shaped, backend, scorer=scorer)
        await orchestrator.execute_parallel_tasks(list(tasks))
    return warm


def without_models(profile: Profile, reasons: Mapping[str, str]) -> Profile:
    """``profile`` without the models in ``reasons``; routes keep the models left.

    A route whose primary models are all gone promotes its fallbacks; a route with no model
    left is dropped (a task of that type then goes to any model listing its type). Raises
    :class:`~orchbench.errors.BackendUnavailable` when no model is left.
    """
    if not reasons:
        return profile
    left = {n: m.model_copy(deep=True) for n, m in profile.models.items() if n not in reasons}
    if not left:
        why = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        raise BackendUnavailable(f"profile {profile.name!r}: every model failed to load ({why})")
    routing = {}
    for task_type, route in profile.routing.items():
        primary = [n for n in route.primary if n in left]
        fallback = [n for n in route.fallback if n in left]
        if not primary:
            primary, fallback = fallback, []
        if primary:
            routing[task_type] = Route(
                primary=primary, fallback=fallback, complexity=route.complexity
            )
    return profile.model_copy(deep=True, update={"models": left, "routing": routing})
