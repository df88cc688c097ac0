"""Memory planning: the KV-cache formula, fits, the largest slot counts, profile suggestions."""

from __future__ import annotations

import pytest

from orchbench.config import ModelConfig, Profile
from orchbench.errors import ConfigError
from orchbench.planning import (
    GIB_IN_GB,
    closest_profile,
    estimate_vram_gb,
    kv_bytes_per_token,
    kv_cache_gb,
    max_slots,
    memory_plan,
    runner_overhead_gb,
)
from orchbench.profiles import load_profile


def _model(**fields: object) -> ModelConfig:
    base: dict[str, object] = {"name": "m", "task_types": ["coding"], "tier": "fast"}
    return ModelConfig(**{**base, **fields})


LLAMA2_7B = {"size_gb": 3.8, "params_b": 6.7, "n_layers": 32, "n_kv_heads": 32, "head_dim": 128}
MISTRAL_7B = {"size_gb": 4.1, "params_b": 7.2, "n_layers": 32, "n_kv_heads": 8, "head_dim": 128}


def test_kv_cache_follows_the_formula() -> None:
    model = _model(**LLAMA2_7B)
    # 2 (K, V) x 32 layers x 32 heads x 128 dims x 2 bytes = 512 KiB per token
    assert kv_bytes_per_token(model) == (524288.0, True)
    assert kv_cache_gb(model, 4096, 1) == pytest.approx(2.147, abs=1e-3)
    assert kv_cache_gb(model, 4096, 3) == pytest.approx(3 * kv_cache_gb(model, 4096, 1))
    gqa = _model(**MISTRAL_7B)
    assert kv_cache_gb(gqa, 4096, 1) == pytest.approx(kv_cache_gb(model, 4096, 1) / 4)


def test_estimate_adds_weights_kv_and_overhead() -> None:
    model = _model(**MISTRAL_7B, num_ctx=8192, concurrent_limit=2)
    expected = 4.1 + kv_cache_gb(model, 8192, 2) + runner_overhead_gb(model)
    assert estimate_vram_gb(model) == pytest.approx(expected)  # defaults: its own ctx and limit
    assert estimate_vram_gb(model, 8192, 2) == pytest.approx(expected)
    assert estimate_vram_gb(model, 2048, 1) < expected
    assert 0.5 <= runner_overhead_gb(model) <= 1.5


def test_unknown_shape_is_guessed_and_flagged() -> None:
    model = _model(size_gb=4.0, params_b=7.0)
    per_token, exact = kv_bytes_per_token(model)
    assert not exact and per_token > 0


def test_weights_from_params_when_size_unknown() -> None:
    assert estimate_vram_gb(_model(params_b=7.0, quantization="Q4_0"), 1, 1) > 3.5
    with pytest.raises(ConfigError, match=r"'m'.*size_gb"):
        estimate_vram_gb(_model(), 1024, 1)


def test_max_slots_is_the_largest_that_fits() -> None:
    model = _model(**LLAMA2_7B)
    usable = 20.0
    slots = max_slots(model, 4096, usable)
    assert estimate_vram_gb(model, 4096, slots) <= usable
    assert estimate_vram_gb(model, 4096, slots + 1) > usable
    assert max_slots(_model(size_gb=30.0, params_b=34.0), 4096, usable) == 0


def test_rtx4090_plan() -> None:
    plan = memory_plan(load_profile("rtx4090"))
    assert plan.memory == "vram"
    assert plan.capacity_gb == pytest.approx(24 * GIB_IN_GB)
    assert plan.usable_gb < plan.capacity_gb
    assert all(m.fits_alone for m in plan.models)
    assert not plan.fits_together  # seven models, ~80 GB of weights
    assert any("swaps" in w for w in plan.warnings)
    big = plan.model("deepseek-coder:33b")
    assert big.weights_gb == 18.8 and big.max_slots >= big.slots
    assert plan.server_parallel == 1  # Ollama's default, made explicit in the profile
    assert all(m.slots == 1 for m in plan.models)
    assert plan.server is not None and plan.server.context_length == 32768
    assert plan.fits_loaded == 3  # two 7B + one 13B, then the other 13B does not fit
    assert plan.to_dict()["models"][0]["name"] == "llama2:7b-chat"


def test_cpu_profile_plans_ram() -> None:
    plan = memory_plan(load_profile("cpu"))
    assert plan.memory == "ram"
    assert plan.capacity_gb == pytest.approx(32 * GIB_IN_GB)


def test_plan_flags_a_model_that_does_not_fit() -> None:
    profile = load_profile("rtx3080")
    profile.server.num_parallel = 4
    plan = memory_plan(profile)
    # Ollama reserves num_parallel slots in every model: both 13B models suffer.
    for name in ("codellama:13b-instruct", "llama2:13b-chat"):
        entry = plan.model(name)
        assert entry.slots == 4 and not entry.fits_alone
    assert any("lower [server] num_parallel to 1" in w for w in plan.warnings)


def test_plan_reserves_num_parallel_slots_with_the_kv_cache_type() -> None:
    profile = load_profile("rtx4090")
    name = "llama2:7b-chat"
    f16 = memory_plan(profile).model(name)
    profile.server.num_parallel = 4
    four = memory_plan(profile).model(name)
    assert four.kv_gb == pytest.approx(4 * f16.kv_gb)
    profile.server.kv_cache_type = "q8_0"
    assert memory_plan(profile).model(name).kv_gb == pytest.approx(2 * f16.kv_gb)
    profile.server.kv_cache_type = "q4_0"
    assert memory_plan(profile).model(name).kv_gb == pytest.approx(f16.kv_gb)


def test_client_limit_above_num_parallel_is_flagged() -> None:
    profile = load_profile("rtx4090")
    profile.models["mistral:7b-instruct"].concurrent_limit = 4
    warnings = memory_plan(profile).warnings
    assert any(
        "mistral:7b-instruct: concurrent_limit 4 > [server] num_parallel 1" in w for w in warnings
    )


def test_context_defaults_follow_ollama() -> None:
    profile = load_profile("rtx4090")
    model = profile.models["mistral:7b-instruct"]
    model.num_ctx = None
    assert memory_plan(profile).model(model.name).num_ctx == 32768  # 24 GiB card
    profile.server.context_length = 8192
    assert memory_plan(profile).model(model.name).num_ctx == 8192
    llama = profile.models["llama2:7b-chat"]
    llama.num_ctx = None  # trained on 4096: Ollama caps the default there
    assert memory_plan(profile).model(llama.name).num_ctx == 4096


def test_a_context_beyond_training_is_refused_before_any_plan() -> None:
    from pydantic import ValidationError

    profile = load_profile("rtx4090")
    with pytest.raises(ValidationError, match="context_length 4096"):
        profile.models["llama2:7b-chat"].num_ctx = 8192  # Llama 2 was trained on 4096


def test_embedded_plan_uses_n_ctx() -> None:
    plan = memory_plan(load_profile("embedded"))
    only = plan.models[0]
    assert only.num_ctx == 1024 and only.kv_exact
    assert plan.fits_together and plan.server_parallel is None


def test_embedded_plan_counts_every_sequence_of_its_batched_contexts() -> None:
    profile = load_profile("embedded-gemma")
    model = profile.models["gemma3-270m"]
    one_sequence = kv_cache_gb(model, 1024, 1)
    for limit, per, sequences in ((2, None, 2), (12, 12, 12), (5, 4, 8), (12, 6, 12)):
        model.concurrent_limit, model.num_parallel = limit, per
        entry = memory_plan(profile).models[0]
        # ceil(limit / per) contexts of per sequences, each with n_ctx tokens of KV cache
        assert entry.slots == sequences
        assert entry.kv_gb == pytest.approx(sequences * one_sequence)
        assert estimate_vram_gb(model) == pytest.approx(entry.need_gb)


def _profiles() -> list[Profile]:
    return [load_profile(n) for n in ("embedded", "cpu", "rtx3080", "rtx4090", "rtx5090")]


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ({"gpus": [{"name": "NVIDIA GeForce RTX 4090", "memory_gb": 23.99}]}, "rtx4090"),
        ({"gpus": [{"name": "NVIDIA GeForce RTX 3080", "memory_gb": 10.0}]}, "rtx3080"),
        ({"gpus": [{"name": "NVIDIA RTX A6000", "memory_gb": 48.0}]}, "rtx5090"),
        ({"gpus": [{"name": "Tesla T4", "memory_gb": 15.0}]}, "rtx3080"),
        ({"gpus": [], "ram_gb": 24}, "embedded"),
    ],
)
def test_closest_profile(machine: dict, expected: str) -> None:
    name, reason = closest_profile(machine, _profiles())
    assert name == expected
    assert reason


def test_closest_profile_without_gpu_or_embedded() -> None:
    candidates = [load_profile("cpu"), load_profile("rtx4090")]
    assert closest_profile({"ram_gb": 16}, candidates)[0] == "cpu"
    with pytest.raises(ConfigError):
        closest_profile({}, [])
