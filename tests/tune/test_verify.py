"""Side-by-side verification: rotating order, the winner, the gain and the plain verdict."""

import pytest
from tune_fakes import FakeEvaluator

from orchbench import load_profile
from orchbench.tune import apply_params, parse_objective, verify

LIMIT = "models.gemma3-270m.concurrent_limit"
THREADS = "models.gemma3-270m.n_threads"
TOTAL = "settings.max_concurrent_tasks"


def _config(limit, threads, total):
    return apply_params(
        load_profile("embedded-gemma"), {LIMIT: limit, THREADS: threads, TOTAL: total}
    )


class RecordingFake(FakeEvaluator):
    """The fake landscape, remembering the order in which configurations ran."""

    def __init__(self):
        super().__init__()
        self.order = []

    def evaluate(self, profile, repeat=0):
        self.order.append(profile.models["gemma3-270m"].concurrent_limit)
        return super().evaluate(profile, repeat)


def test_runs_alternate_and_the_gain_is_paired():
    evaluator = RecordingFake()
    original = _config(2, 1, 2)
    tuned = _config(3, 1, 3)
    result = verify(evaluator, original, [tuned], parse_objective("throughput"), repeat=4)
    assert evaluator.order == [2, 3, 3, 2, 2, 3, 3, 2]  # rotated each round
    assert result.rounds == 4
    assert result.winner == 0
    # 96 tok/s against 86 tok/s
    assert result.gain_pct == pytest.approx((96 / 86 - 1) * 100)
    assert result.beats_original
    assert "NOT" not in result.summary()
    table = result.provenance()
    assert table["verify_repeat"] == 4
    assert table["verify_gain_min_pct"] <= table["verify_gain_pct"] <= table["verify_gain_max_pct"]


def test_a_worse_configuration_is_called_worse():
    original = _config(2, 1, 2)
    oversubscribed = _config(2, 2, 2)
    result = verify(FakeEvaluator(), original, [oversubscribed], parse_objective("throughput"))
    assert result.gain_pct < 0
    assert not result.beats_original
    assert "does NOT beat the original" in result.summary()
    assert result.provenance()["verify_beats_original"] is False


def test_several_candidates_keep_the_one_that_really_wins():
    original = _config(1, 1, 1)
    candidates = [_config(2, 2, 2), _config(3, 1, 3), _config(2, 1, 2)]
    result = verify(FakeEvaluator(), original, candidates, parse_objective("makespan"), repeat=3)
    assert result.winner == 1
    assert result.objective.name == "makespan"
    assert result.gain_pct > 0  # a shorter makespan is a positive gain


def test_noisy_rounds_give_a_spread():
    evaluator = FakeEvaluator(noise={0: 0.0, 1: 0.2, 2: -0.2})
    original = _config(2, 1, 2)
    result = verify(evaluator, original, [original], parse_objective("throughput"), repeat=3)
    # the same configuration against itself: noise hits both alike, so no gain
    assert result.gains_pct == pytest.approx((0.0, 0.0, 0.0))
    assert not result.beats_original
