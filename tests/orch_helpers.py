"""Small builders shared by the scheduler tests: an in-code profile and a fixed scorer."""

from __future__ import annotations

from typing import Any

from orchbench.config import Profile
from orchbench.scheduler import Orchestrator
from orchbench.testing import FakeBackend

ALL_TYPES = ["planning", "coding", "review", "testing", "documentation", "debugging"]


def model(tier: str = "fast", **fields: Any) -> dict[str, Any]:
    """A model table listing every task type unless ``task_types`` is given."""
    return {"task_types": ALL_TYPES, "tier": tier, **fields}


def make_profile(
    models: dict[str, dict[str, Any]],
    routing: dict[str, dict[str, Any]] | None = None,
    **settings: Any,
) -> Profile:
    """A validated profile with the given models, routing and settings."""
    settings.setdefault("retry_backoff_s", 0.0)
    return Profile.model_validate(
        {
            "name": "test",
            "hardware": {"name": "t", "bandwidth_gbs": 1, "ram_gb": 1, "cpu_cores": 1},
            "models": models,
            "routing": routing or {},
            "settings": settings,
        }
    )


def full_marks(*args: Any, **kwargs: Any) -> float:
    """A stand-in quality scorer that rates every answer 1.0."""
    return 1.0


def orchestrator(profile: Profile, fake: FakeBackend, scorer: Any = full_marks) -> Orchestrator:
    """An orchestrator on ``fake`` with a fixed scorer (quality is tested elsewhere)."""
    return Orchestrator(profile, fake, scorer=scorer)
