"""The data model: enums, defaults, limits, live edits and cross-field checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchbench.config import (
    Complexity,
    FieldProblems,
    HardwareSpec,
    ModelConfig,
    ModelTier,
    Profile,
    Route,
    Settings,
    TaskType,
)


def _model(**overrides: object) -> ModelConfig:
    fields: dict[str, object] = {"name": "m", "task_types": ["coding"], "tier": "fast"}
    return ModelConfig(**{**fields, **overrides})


def _profile(**overrides: object) -> Profile:
    data: dict[str, object] = {
        "name": "p",
        "hardware": {"name": "h", "bandwidth_gbs": 100, "ram_gb": 16, "cpu_cores": 4},
        "models": {"a": {"task_types": ["coding", "review"], "tier": "fast"}},
        "routing": {"coding": {"primary": ["a"]}},
    }
    return Profile.model_validate({**data, **overrides})


def test_enums_are_the_original_designs() -> None:
    assert [t.value for t in TaskType] == [
        "planning", "coding", "review", "testing", "documentation", "debugging"
    ]  # fmt: skip
    assert [t.value for t in ModelTier] == ["fast", "balanced", "powerful"]
    assert [c.value for c in Complexity] == ["simple", "medium", "complex"]
    assert [t.rank for t in ModelTier] == [0, 1, 2]
    assert Complexity.COMPLEX.preferred_tier is ModelTier.POWERFUL
    assert Complexity.SIMPLE.preferred_tier is ModelTier.FAST


def test_settings_defaults_are_the_original_ones() -> None:
    settings = Settings()
    assert settings.max_concurrent_tasks == 4
    assert settings.default_timeout == 300
    assert settings.retry_attempts == 3
    assert settings.quality_threshold == 0.7


def test_model_config_converts_strings_and_keeps_optional_fields_empty() -> None:
    model = _model(task_types=["coding", "testing"], tier="powerful")
    assert model.task_types == [TaskType.CODING, TaskType.TESTING]
    assert model.tier is ModelTier.POWERFUL
    assert model.concurrent_limit == 1
    assert model.priority == 5
    assert model.n_layers is None and model.context_length is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", 0),
        ("priority", 11),
        ("concurrent_limit", 0),
        ("concurrent_limit", -1),
        ("temperature", 2.5),
        ("max_tokens", 0),
        ("task_types", []),
        ("tier", "huge"),
        ("n_kv_heads", 0),
    ],
)
def test_model_config_rejects_out_of_range(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _model(**{field: value})


def test_model_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="concurent_limit"):
        _model(concurent_limit=2)


def test_live_edits_are_validated() -> None:
    model = _model()
    model.concurrent_limit = 3
    assert model.concurrent_limit == 3
    with pytest.raises(ValidationError):
        model.concurrent_limit = 0
    assert model.concurrent_limit == 3


def test_profile_takes_model_names_from_keys() -> None:
    profile = _profile()
    assert profile.models["a"].name == "a"
    assert profile.routing[TaskType.CODING] == Route(primary=["a"])
    assert profile.routing[TaskType.CODING].complexity is Complexity.MEDIUM
    assert profile.model_list() == [profile.models["a"]]
    assert isinstance(profile.hardware, HardwareSpec)


def test_reference_problems_carry_their_field_paths() -> None:
    with pytest.raises(ValidationError) as info:
        _profile(routing={"coding": {"primary": ["a", "ghost"]}, "testing": {"primary": ["a"]}})
    error = info.value.errors()[0]["ctx"]["error"]
    assert isinstance(error, FieldProblems)
    assert [loc for loc, _ in error.problems] == [
        ("routing", "coding", "primary"),
        ("routing", "testing", "primary"),
    ]
    assert "'ghost' is not defined" in error.problems[0][1]
    assert "does not list 'testing'" in error.problems[1][1]


def test_name_must_match_key() -> None:
    with pytest.raises(ValidationError, match="must equal its key"):
        _profile(models={"a": {"name": "b", "task_types": ["coding"], "tier": "fast"}})
