"""The composition root: load a profile, build its engine, hand both to the scheduler.

This is the one place that knows every layer (profiles, the engine registry, the
scheduler), so the scheduler itself depends on no concrete engine.

>>> from orchbench import get_orchestrator
>>> from orchbench.testing import FakeBackend
>>> get_orchestrator("embedded", backend=FakeBackend()).backend.name
'fake'
"""

from __future__ import annotations

import logging
from pathlib import Path

from orchbench.config import Profile
from orchbench.engine import Backend
from orchbench.scheduler import Orchestrator

logger = logging.getLogger("orchbench")


def get_orchestrator(
    profile: str | Path | Profile = "embedded", backend: Backend | str | None = None
) -> Orchestrator:
    """A fresh orchestrator for a profile (name, path or object, copied: no shared state).

    ``backend``: an engine object, a kind (``"embedded"``, ``"ollama"``, ``"sim"``,
    ``"auto"``, ...), or ``None`` for the profile's own ``backend.kind``.
    """
    if isinstance(profile, Profile):
        loaded = profile.model_copy(deep=True)
    else:
        from orchbench.profiles import load_profile

        loaded = load_profile(profile)
    if backend is None or isinstance(backend, str):
        from orchbench.backends import make_backend, resolve_backend_kind

        kind = backend or loaded.backend.kind
        if kind == "auto":
            kind, reason = resolve_backend_kind(loaded, "auto")
            if reason:
                logger.warning("backend auto -> %s: %s", kind, reason)
        backend = make_backend(kind, profile=loaded)  # host: $OLLAMA_HOST, then the profile
    return Orchestrator(loaded, backend)
