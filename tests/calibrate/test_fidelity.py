"""The fidelity check's arithmetic (Kendall τ, MAPE) and its plumbing, with a fake engine."""

from __future__ import annotations

import pytest

from orchbench.calibrate._fidelity import (
    CheckConfig,
    ConfigOutcome,
    FidelityReport,
    check_fidelity,
    default_check_configs,
    kendall_tau,
)
from orchbench.config import TaskType
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.profiles import load_profile
from orchbench.records import QualityChecks, TaskSpec
from orchbench.sim import Calibration
from orchbench.testing import FakeBackend


def test_kendall_tau_perfect_reversed_and_tied():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # One discordant pair of six: (5 - 1) / 6.
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # Ties in one ranking (τ-b): 2 concordant, 1 tied in y → 2 / sqrt(3 * 2).
    assert kendall_tau([1, 2, 3], [1, 2, 2]) == pytest.approx(2 / 6**0.5)
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1], [1])


def test_report_mape_and_tau():
    def outcome(measured: float, predicted: float) -> ConfigOutcome:
        return ConfigOutcome(CheckConfig(1, 1, 1), measured, predicted, 10.0, 11.0)

    report = FidelityReport([outcome(10, 11), outcome(20, 18), outcome(40, 40)])
    assert report.mape == pytest.approx(100 * (0.1 + 0.1 + 0) / 3)
    assert report.throughput_mape == pytest.approx(10.0)
    assert report.kendall_tau == 1.0
    assert report.outcomes[1].error == pytest.approx(-0.1)


def test_default_configs_span_at_least_six_settings():
    for name in ("embedded", "rtx4090"):
        configs = default_check_configs(load_profile(name))
        assert len(set(configs)) >= 6


def test_config_applies_to_a_copy_of_every_model():
    profile = load_profile("embedded")
    shaped = CheckConfig(3, 2, 4).apply(profile)
    assert shaped.settings.max_concurrent_tasks == 4
    assert all(m.concurrent_limit == 3 and m.n_threads == 2 for m in shaped.models.values())
    assert profile.models["gemma3-270m"].concurrent_limit == 2  # the original is untouched


def test_check_runs_both_sides_and_replays_measured_lengths():
    profile = load_profile("embedded")
    tasks = [
        TaskSpec(
            TaskType.CODING,
            f"def f{i}(x):\n",
            max_tokens=32,
            checks=QualityChecks(tests="assert False"),
        )
        for i in range(4)
    ]
    configs = [CheckConfig(1, 1, 1), CheckConfig(2, 1, 2)]
    report = check_fidelity(
        profile,
        lambda: FakeBackend(latency=0.01, completion_tokens=7),
        tasks,
        Calibration(),
        configs,
    )
    assert [o.config for o in report.outcomes] == configs
    for o in report.outcomes:
        assert o.measured_s > 0 and o.predicted_s > 0
        assert o.failures == 0
        # The simulator replayed the fake's 7 tokens per task, not max_tokens.
        assert o.predicted_tps * o.predicted_s == pytest.approx(4 * 7)


def test_repeatability_is_the_engine_against_itself():
    from orchbench.calibrate._fidelity import ConfigOutcome, FidelityReport

    outcomes = [ConfigOutcome(CheckConfig(n, 1, n), 10.0, 10.0, 1.0, 1.0) for n in (1, 2, 3)]
    assert FidelityReport(outcomes).repeatability is None  # one repeat: nothing to compare
    report = FidelityReport(outcomes, [[10.0, 11.0], [20.0, 20.0], [30.0, 27.0]])
    mape, tau = report.repeatability
    assert mape == pytest.approx(100 * (0.1 + 0.0 + 3 / 27) / 3)
    assert tau == pytest.approx(1.0)
    # More repeats: the median of the odd runs against the median of the even ones.
    five = FidelityReport(outcomes, [[10, 14, 11, 10, 10], [20] * 5, [30, 27, 33, 30, 31]])
    mape, _ = five.repeatability
    assert mape == pytest.approx(100 * (2 / 10 + 0.0 + 2.5 / 28.5) / 3)  # 10 vs 12, 31 vs 28.5


def test_the_check_keeps_each_configurations_median_run():
    profile = load_profile("embedded")
    tasks = [TaskSpec(TaskType.CODING, f"def f{i}(x):\n", max_tokens=8) for i in range(2)]
    latencies = iter([0.05, 0.01, 0.02] * 10)

    class Drifting(FakeBackend):
        async def generate(self, request: GenerateRequest) -> GenerateResult:
            self.latency = next(latencies)
            return await super().generate(request)

    report = check_fidelity(
        profile,
        lambda: Drifting(latency=0.01),
        tasks,
        Calibration(),
        [CheckConfig(1, 1, 1)],
        repeats=3,
    )
    walls = report.repeats[0]
    assert report.outcomes[0].measured_s == pytest.approx(sorted(walls)[1])


def test_an_engine_that_batches_slots_is_checked_on_batched_settings_too():
    from orchbench import load_profile

    profile = load_profile("embedded")
    plain = default_check_configs(profile)
    batched = default_check_configs(profile, slots=True)
    assert len(plain) == 7 and len(batched) == 8
    assert all(c.num_parallel is None for c in plain)
    shapes = {c.label for c in batched if c.num_parallel}
    assert shapes == {"1×12 seq×2t, max 12", "2×6 seq×1t, max 12"}
    applied = batched[-1].apply(profile)
    assert all(m.num_parallel == 6 and m.concurrent_limit == 12 for m in applied.models.values())
