"""The search space derived from profiles, and applying a trial's values to a copy."""

import pytest

from orchbench import load_profile
from orchbench.config import HardwareSpec, ModelConfig, Profile, Route, TaskType
from orchbench.errors import ConfigError
from orchbench.planning import capacity_of, estimate_vram_gb, static_problems
from orchbench.tune import SearchSpace, apply_params
from orchbench.tune._space import limit_bound


def _gpu_profile(vram_gb: float = 24.0) -> Profile:
    return Profile(
        name="two-gpu-models",
        hardware=HardwareSpec(
            name="gpu", kind="gpu", vram_gb=vram_gb, bandwidth_gbs=1000, ram_gb=64, cpu_cores=16
        ),
        backend={"kind": "ollama"},
        models={
            "small": ModelConfig(
                name="small",
                task_types=[TaskType.CODING],
                tier="fast",
                size_gb=4.0,
                params_b=7.0,
                num_ctx=4096,
                concurrent_limit=2,
                n_layers=32,
                n_kv_heads=8,
                head_dim=128,
            ),
            "big": ModelConfig(
                name="big",
                task_types=[TaskType.CODING],
                tier="powerful",
                size_gb=19.0,
                params_b=33.0,
                num_ctx=4096,
                priority=8,
                n_layers=62,
                n_kv_heads=8,
                head_dim=128,
                context_length=16384,
            ),
        },
        routing={TaskType.CODING: Route(primary=["small"], fallback=["big"])},
    )


def test_embedded_space_has_limits_threads_slots_and_total():
    profile = load_profile("embedded-gemma")
    space = SearchSpace.from_profile(profile)
    grid = space.grid()
    cores = profile.hardware.cpu_cores
    assert grid["models.gemma3-270m.n_threads"] == list(range(1, cores + 1))
    limits = grid["models.gemma3-270m.concurrent_limit"]
    # sequences in batched contexts: bounded by the search's cap, not by 24 GB of RAM
    assert limits == list(range(1, 17))
    assert grid["models.gemma3-270m.num_parallel"] == [1, 2, 4, 6, 8, 12, 16]
    assert grid["settings.max_concurrent_tasks"] == limits
    # one model: its priority orders nothing, so it is not searched
    assert not any(name.endswith("priority") for name in grid)
    assert space.size() == len(limits) ** 2 * cores * 7


def test_instances_only_space_is_bounded_by_the_cores():
    profile = load_profile("embedded-gemma")
    space = SearchSpace.from_profile(profile, slots=False)
    grid = space.grid()
    cores = profile.hardware.cpu_cores
    limits = grid["models.gemma3-270m.concurrent_limit"]
    assert limits[0] == 1 and limits[-1] == 2 * cores
    assert "models.gemma3-270m.num_parallel" not in grid
    assert space.size() == len(limits) ** 2 * cores


def test_gpu_space_has_priorities_and_num_ctx_that_fit():
    profile = _gpu_profile()
    grid = SearchSpace.from_profile(profile).grid()
    assert grid["models.small.priority"] == list(range(1, 11))
    assert grid["models.big.priority"] == list(range(1, 11))
    assert "models.small.n_threads" not in grid
    # Ollama: the server's knobs are searched, and no client limit beyond num_parallel's range
    assert grid["server.kv_cache_type"] == ["f16", "q8_0", "q4_0"]
    assert grid["server.max_loaded_models"] == [1, 2]
    assert max(grid["models.big.concurrent_limit"]) <= max(grid["server.num_parallel"])
    assert max(grid["models.big.num_ctx"]) <= 16384
    big = profile.models["big"]
    usable = capacity_of(profile.hardware)[2]
    smallest = min(grid["models.big.num_ctx"])
    for slots in grid["models.big.concurrent_limit"]:  # at the smallest context, q4_0 KV
        assert estimate_vram_gb(big, smallest, slots, "q4_0") <= usable
    for ctx in grid["models.big.num_ctx"]:
        assert estimate_vram_gb(big, ctx, 1) <= usable
    assert sum(len(v) for v in grid.values()) > 0


def test_model_that_barely_fits_gets_one_slot_and_drops_out():
    profile = _gpu_profile(vram_gb=19.9)  # one q4_0 slot of 2k beside 19 GB of weights
    assert limit_bound(profile, profile.models["big"]) == 1
    grid = SearchSpace.from_profile(profile).grid()
    assert "models.big.concurrent_limit" not in grid  # a range of one value is not a choice


@pytest.mark.parametrize("name", ["rtx4090", "rtx3090", "cpu"])
def test_shipped_profiles_give_a_space_containing_their_own_config(name):
    try:
        profile = load_profile(name)
    except ConfigError:
        pytest.skip(f"profile {name} not shipped")
    space = SearchSpace.from_profile(profile)
    start = space.values_of(profile)
    grid = space.grid()
    assert set(start) == set(grid)
    for key, value in start.items():
        assert value in grid[key]


def test_apply_params_changes_a_copy_only():
    profile = load_profile("embedded-gemma")
    before = profile.model_dump()
    candidate = apply_params(
        profile,
        {
            "models.gemma3-270m.concurrent_limit": 3,
            "models.gemma3-270m.n_threads": 2,
            "settings.max_concurrent_tasks": 1,
        },
    )
    assert candidate.models["gemma3-270m"].concurrent_limit == 3
    assert candidate.models["gemma3-270m"].n_threads == 2
    assert candidate.settings.max_concurrent_tasks == 1
    assert profile.model_dump() == before


def test_values_of_reads_back_what_apply_params_wrote():
    profile = _gpu_profile()
    space = SearchSpace.from_profile(profile)
    values = {p.name: p.choices[0 if p.name.endswith("num_ctx") else -1] for p in space.params}
    assert space.values_of(apply_params(profile, values)) == values


def test_a_sampled_configuration_is_repaired_until_the_server_can_run_it():
    profile = _gpu_profile()
    space = SearchSpace.from_profile(profile, longest_prompt_tokens=200)
    largest = {p.name: p.choices[-1] for p in space.params}  # every slot at the longest context
    largest["server.kv_cache_type"] = "f16"
    assert static_problems(_unrepaired(profile, largest), 200)  # the server cannot hold it
    candidate = apply_params(profile, largest)
    assert 1 <= candidate.server.num_parallel < largest["server.num_parallel"]
    assert static_problems(candidate, 200) == []
    assert all(m.concurrent_limit <= candidate.server.num_parallel for m in candidate.model_list())


def test_contexts_searched_hold_max_tokens_and_the_longest_prompt():
    profile = load_profile("rtx4090")
    space = SearchSpace.from_profile(profile, longest_prompt_tokens=300)
    for name, model in profile.models.items():
        for ctx in space.grid().get(f"models.{name}.num_ctx", []):
            assert isinstance(ctx, int) and ctx >= model.max_tokens + 300
    assert "models.llama2:7b-chat.num_ctx" not in space.names  # only 4096 holds 2048 + 300


def test_every_random_configuration_of_the_rtx4090_space_is_feasible():
    import random

    profile = load_profile("rtx4090")
    space = SearchSpace.from_profile(profile, longest_prompt_tokens=300)
    rng = random.Random(0)
    for _ in range(200):
        params = {p.name: rng.choice(p.choices) for p in space.params}
        assert static_problems(apply_params(profile, params), 300) == [], params


def _unrepaired(profile: Profile, params: dict) -> Profile:
    copy = profile.model_copy(deep=True)
    copy.server.num_parallel = params["server.num_parallel"]
    copy.server.kv_cache_type = params["server.kv_cache_type"]
    for name, model in copy.models.items():
        model.num_ctx = params.get(f"models.{name}.num_ctx", model.num_ctx)
    return copy


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"models.nope.concurrent_limit": 2}, "names nothing"),
        ({"settings.nope": 2}, "names nothing"),
        ({"models.small.concurrent_limit": 0}, "not valid"),
    ],
)
def test_apply_params_rejects_what_the_profile_lacks(params, message):
    with pytest.raises(ConfigError, match=message):
        apply_params(_gpu_profile(), params)
