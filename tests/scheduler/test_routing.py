"""Routing rules as pure functions: candidates, preference, choice, speed tracking."""

from __future__ import annotations

import logging

import pytest
from orch_helpers import make_profile, model

from orchbench.config import Complexity, ModelTier, TaskType
from orchbench.scheduler._routing import (
    Candidate,
    SpeedTracker,
    candidates,
    choose,
    default_complexity,
    stronger_than,
    tier_distance,
)


@pytest.fixture
def profile():
    return make_profile(
        {
            "fast": model("fast", priority=5),
            "mid": model("balanced", priority=5),
            "big": model("powerful", priority=5),
            "writer": model("fast", task_types=["documentation"], priority=7),
        },
        {
            "coding": {"primary": ["big", "mid"], "fallback": ["fast"], "complexity": "complex"},
            "documentation": {"primary": ["writer"], "fallback": ["fast"]},
        },
    )


def test_candidates_follow_the_table_primary_then_fallback(profile):
    found = candidates(TaskType.CODING, profile.routing, profile.models)
    assert found == [Candidate("big", False), Candidate("mid", False), Candidate("fast", True)]


def test_candidates_skip_models_that_vanished_or_do_not_list_the_type(profile):
    models = dict(profile.models)
    del models["mid"]
    models["fast"] = model_config("fast", ["review"])
    assert candidates(TaskType.CODING, profile.routing, models) == [Candidate("big", False)]


def model_config(name, task_types):
    from orchbench.config import ModelConfig

    return ModelConfig(name=name, task_types=task_types, tier="fast")


def test_a_type_without_a_route_may_use_every_model_listing_it(profile):
    found = candidates(TaskType.REVIEW, profile.routing, profile.models)
    assert [c.name for c in found] == ["fast", "mid", "big"]
    assert not any(c.fallback for c in found)


def test_default_complexity_comes_from_the_route(profile):
    assert default_complexity(TaskType.CODING, profile.routing) is Complexity.COMPLEX
    assert default_complexity(TaskType.REVIEW, profile.routing) is Complexity.MEDIUM


@pytest.mark.parametrize(
    ("tier", "complexity", "distance"),
    [("fast", "simple", 0), ("powerful", "simple", 2), ("balanced", "complex", 1),
     ("powerful", "complex", 0)],
)  # fmt: skip
def test_tier_distance(tier, complexity, distance):
    assert tier_distance(ModelTier(tier), Complexity(complexity)) == distance


def pick(profile, complexity, free=None, speeds=None, task_type=TaskType.CODING):
    options = candidates(task_type, profile.routing, profile.models)
    free = set(free) if free is not None else {c.name for c in options}
    return choose(options, free.__contains__, profile.models, Complexity(complexity),
                  speeds or {})  # fmt: skip


def test_complex_tasks_prefer_stronger_tiers_simple_ones_faster_tiers(profile):
    assert pick(profile, "complex") == "big"
    assert pick(profile, "medium") == "mid"
    # simple prefers fast, but "fast" is only a fallback here: the closest primary wins
    assert pick(profile, "simple") == "mid"
    assert pick(profile, "simple", task_type=TaskType.REVIEW) == "fast"


def test_fallbacks_are_chosen_only_when_no_primary_is_free(profile):
    assert pick(profile, "simple", free={"fast", "big"}) == "big"
    assert pick(profile, "simple", free={"fast"}) == "fast"
    assert pick(profile, "simple", free=set()) is None


def test_priority_then_speed_break_ties(profile):
    profile.models["mid"].tier = ModelTier.POWERFUL
    assert pick(profile, "complex", speeds={"big": 2.0, "mid": 1.0}) == "mid"
    profile.models["big"].priority = 6
    assert pick(profile, "complex", speeds={"big": 2.0, "mid": 1.0}) == "big"


def test_an_unmeasured_model_counts_as_average_speed(profile):
    profile.models["mid"].tier = ModelTier.POWERFUL
    # big unmeasured = mean of the measured (1.0): a tie on speed, table order decides
    assert pick(profile, "complex", speeds={"mid": 1.0}) == "big"


def test_choose_logs_its_reasons_at_debug(profile, caplog):
    with caplog.at_level(logging.DEBUG, logger="orchbench"):
        pick(profile, "complex", free={"mid", "fast"})
    assert "-> mid" in caplog.text and "busy or cooling: big" in caplog.text


def test_stronger_than_prefers_the_tasks_own_candidates(profile):
    options = candidates(TaskType.CODING, profile.routing, profile.models)
    assert [c.name for c in stronger_than(ModelTier.FAST, TaskType.CODING, options,
                                          profile.models)] == ["big", "mid"]  # fmt: skip
    for name in ("big", "mid"):
        profile.models[name].task_types = [TaskType.CODING]
    docs = candidates(TaskType.DOCUMENTATION, profile.routing, profile.models)
    # no stronger model in the docs route: any model listing documentation that is stronger
    assert stronger_than(ModelTier.FAST, TaskType.DOCUMENTATION, docs, profile.models) == []
    profile.models["big"].task_types.append(TaskType.DOCUMENTATION)
    found = stronger_than(ModelTier.FAST, TaskType.DOCUMENTATION, docs, profile.models)
    assert [c.name for c in found] == ["big"]


def test_speed_tracker_is_an_ewma():
    speeds = SpeedTracker(alpha=0.5)
    speeds.observe("m", 4.0)
    assert speeds.seconds["m"] == 4.0
    speeds.observe("m", 2.0)
    assert speeds.seconds["m"] == 3.0
    speeds.clear()
    assert speeds.seconds == {}


def test_a_chat_prompt_never_goes_to_a_completion_model_nor_the_reverse(profile, caplog):
    models = dict(profile.models)
    models["mid"] = models["mid"].model_copy(update={"prompt_style": "completion"})
    with caplog.at_level(logging.DEBUG, logger="orchbench"):
        chat = candidates(TaskType.CODING, profile.routing, models, "chat")
    assert chat == [Candidate("big", False), Candidate("fast", True)]
    assert "skip mid: it takes completion prompts" in caplog.text
    completion = candidates(TaskType.CODING, profile.routing, models, "completion")
    assert completion == [Candidate("mid", False)]
    assert len(candidates(TaskType.CODING, profile.routing, models)) == 3  # no style: any
    # a style no model takes at all is ignored (the suite check refused or warned already)
    assert len(candidates(TaskType.CODING, profile.routing, profile.models, "completion")) == 3


def test_an_escalation_outside_the_table_keeps_the_prompt_style(profile):
    models = dict(profile.models)
    models["mid"] = models["mid"].model_copy(update={"prompt_style": "completion"})
    docs = candidates(TaskType.DOCUMENTATION, profile.routing, models)
    found = stronger_than(ModelTier.FAST, TaskType.DOCUMENTATION, docs, models, "chat")
    assert [c.name for c in found] == ["big"]
    found = stronger_than(ModelTier.FAST, TaskType.DOCUMENTATION, docs, models, "completion")
    assert [c.name for c in found] == ["mid"]
