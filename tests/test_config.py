"""The data model: enums, defaults, limits, live edits and cross-field checks."""

from __future__ import annotations

import math

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
    ServerSettings,
    Settings,
    TaskType,
    keep_alive_seconds,
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


def _hardware(vram_gb: float, kind: str = "gpu") -> HardwareSpec:
    return HardwareSpec(
        name="h", kind=kind, vram_gb=vram_gb, bandwidth_gbs=1, ram_gb=1, cpu_cores=1
    )


def test_server_defaults_are_ollamas() -> None:
    server = ServerSettings()
    assert (server.num_parallel, server.max_queue, server.keep_alive) == (1, 512, "5m")
    assert server.kv_cache_type == "f16" and not server.flash_attention
    assert server.max_loaded_models is None and server.context_length is None
    # Resolved per machine as Ollama does it: 3 models per GPU, context by total VRAM.
    assert server.resolved(_hardware(10)).context_length == 4096
    assert server.resolved(_hardware(24)).context_length == 32768
    assert server.resolved(_hardware(32)).context_length == 32768
    assert server.resolved(_hardware(48)).context_length == 262144
    assert server.resolved(_hardware(0, "cpu")).context_length == 4096
    assert server.resolved(_hardware(0, "cpu")).max_loaded_models == 3
    assert server.resolved(_hardware(24)).max_loaded_models == 3
    assert ServerSettings(max_loaded_models=2).resolved(_hardware(24)).max_loaded_models == 2


def test_server_env_names_ollamas_variables() -> None:
    env = ServerSettings(num_parallel=4, flash_attention=True).env(_hardware(24))
    assert env["OLLAMA_NUM_PARALLEL"] == "4" and env["OLLAMA_FLASH_ATTENTION"] == "1"
    assert env["OLLAMA_MAX_LOADED_MODELS"] == "3" and env["OLLAMA_CONTEXT_LENGTH"] == "32768"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5m", 300.0), ("1h30m", 5400.0), ("90", 90.0), (0, 0.0), (-1, math.inf), ("-1m", math.inf)],
)
def test_keep_alive_parses_like_ollama(value: str | int, seconds: float) -> None:
    assert keep_alive_seconds(value) == seconds


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("keep_alive", "5 min", "not a duration"),
        ("kv_cache_type", "q5_1", "q8_0"),
        ("num_parallel", 0, "greater than or equal to 1"),
    ],
)
def test_bad_server_values_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServerSettings(**{field: value})


def test_profile_has_server_table() -> None:
    profile = _profile(server={"num_parallel": 2})
    assert profile.server.num_parallel == 2
    assert _profile().server == ServerSettings()


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Settings, "retry_backoff_s", math.inf),
        (Settings, "default_timeout", math.nan),
        (Settings, "default_timeout", 1e308),
        (Settings, "cooldown_s", 1e12),
        (HardwareSpec, "bandwidth_gbs", math.inf),
        (ModelConfig, "size_gb", math.inf),
        (ModelConfig, "num_ctx", 1_099_511_627_776),
        (ModelConfig, "num_ctx", 1_048_577),
    ],
)
def test_numbers_are_finite_and_bounded(model, field, value):
    base = {
        Settings: {},
        HardwareSpec: {"name": "h", "bandwidth_gbs": 1.0, "ram_gb": 1.0, "cpu_cores": 1},
        ModelConfig: {"name": "m", "task_types": ["coding"], "tier": "fast"},
    }[model]
    with pytest.raises(ValidationError):
        model(**{**base, field: value})


def test_num_ctx_may_not_pass_the_models_context_length():
    assert _model(num_ctx=4096, context_length=4096).num_ctx == 4096
    with pytest.raises(ValidationError, match="more than the model's context_length 4096"):
        _model(num_ctx=8192, context_length=4096)


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".", "a\\b", "tab\tx", "x" * 129])
def test_a_profile_name_is_a_plain_file_name(name):
    from orchbench.profiles import profile_from_dict

    data = {
        "name": name,
        "hardware": {"name": "h", "bandwidth_gbs": 1.0, "ram_gb": 1.0, "cpu_cores": 1},
        "models": {"m": {"task_types": ["coding"], "tier": "fast"}},
    }
    with pytest.raises(Exception, match="field 'name'"):
        profile_from_dict(data, "p.toml")
    assert profile_from_dict({**data, "name": "my-rig.v2"}).name == "my-rig.v2"


@pytest.mark.parametrize("value", [True, 1.5, ["5m"], "soon"])
def test_a_bad_keep_alive_is_one_problem(value):
    with pytest.raises(ValidationError) as caught:
        ServerSettings(keep_alive=value)
    assert caught.value.error_count() == 1
