"""The tuner's space on a fleet: a model's limit may reach num_parallel on every host serving it."""

from __future__ import annotations

from orchbench.profiles import load_profile
from orchbench.tune._space import apply_params, limit_bound


def test_a_two_box_model_keeps_a_slot_on_each_box() -> None:
    profile = load_profile("rtx4090x2")
    tuned = apply_params(profile, {"server.num_parallel": 1})
    assert all(m.concurrent_limit == 2 for m in tuned.models.values())
    one_box = load_profile("rtx4090")
    name = "mistral:7b-instruct"
    assert limit_bound(profile, profile.models[name]) == 2 * limit_bound(
        one_box, one_box.models[name]
    )
