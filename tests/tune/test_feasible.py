"""Trials feasible by construction: memory repair, and which models stay primaries."""

from __future__ import annotations

from orchbench import load_profile
from orchbench.planning import memory_plan, static_problems
from orchbench.tune import SearchSpace, apply_params
from orchbench.tune._feasible import PRIMARIES, resident_choices, resident_order


def test_a_card_that_cannot_keep_the_roster_loaded_searches_how_many_models_stay_primary():
    profile = load_profile("rtx4090")
    assert not memory_plan(profile).fits_together
    choices = resident_choices(profile)
    assert choices[0] == 1 and choices[-1] == len(profile.models)  # last: the original
    space = SearchSpace.from_profile(profile)
    assert space.values_of(profile)[PRIMARIES] == len(profile.models)


def test_dropped_models_stay_in_the_file_as_fallbacks():
    profile = load_profile("rtx4090")
    order = resident_order(profile)
    kept = set(order[:3])
    tuned = apply_params(profile, {PRIMARIES: 3})
    assert set(tuned.models) == set(profile.models)  # the original roster stays
    for task_type, route in tuned.routing.items():
        original = profile.routing[task_type]
        assert set(route.primary) <= kept, (task_type, route.primary)
        # every model the route named is still named, primary or fallback
        assert set(route.primary) | set(route.fallback) == set(original.primary) | set(
            original.fallback
        )
        assert all(m in route.fallback for m in original.primary if m not in kept)
    assert profile.routing["coding"].primary[0] == "deepseek-coder:33b"  # original untouched


def test_all_models_as_primaries_is_the_original_routing():
    profile = load_profile("rtx4090")
    tuned = apply_params(profile, {PRIMARIES: len(profile.models)})
    assert tuned.routing == profile.routing


def test_dropping_primaries_keeps_the_profile_valid_and_feasible():
    profile = load_profile("rtx4090")
    for count in resident_choices(profile):
        tuned = apply_params(profile, {PRIMARIES: count, "server.num_parallel": 4})
        assert static_problems(tuned, 200) == []
        type(tuned).model_validate(tuned.model_dump())  # routes still name capable models
