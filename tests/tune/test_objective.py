"""Objectives, constraints and durations: parsing, directions, violation values."""

import pytest

from orchbench.errors import ConfigError
from orchbench.tune import OBJECTIVES, parse_constraint, parse_duration, parse_objective


@pytest.mark.parametrize(
    ("name", "metric", "direction"),
    [
        ("throughput", "tasks_per_s", "maximize"),
        ("makespan", "total_s", "minimize"),
        ("p95-latency", "p95_latency_s", "minimize"),
        ("tokens-per-s", "tokens_per_s", "maximize"),
    ],
)
def test_objective_directions(name, metric, direction):
    objective = parse_objective(name)
    assert (objective.metric, objective.direction) == (metric, direction)


def test_better_and_gain_follow_the_direction():
    assert OBJECTIVES["throughput"].better(2.0, 1.0)
    assert not OBJECTIVES["makespan"].better(2.0, 1.0)
    assert OBJECTIVES["throughput"].gain_pct(1.5, 1.0) == pytest.approx(50.0)
    # half the makespan is twice as fast: +100 %
    assert OBJECTIVES["makespan"].gain_pct(5.0, 10.0) == pytest.approx(100.0)
    assert OBJECTIVES["makespan"].gain_pct(20.0, 10.0) == pytest.approx(-50.0)


def test_unknown_objective_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="throughput, makespan, p95-latency, tokens-per-s"):
        parse_objective("speed")


@pytest.mark.parametrize(
    ("text", "key", "op", "value"),
    [
        ("p95<30s", "p95_latency_s", "<", 30.0),
        ("p95 <= 500ms", "p95_latency_s", "<=", 0.5),
        ("makespan<2m", "total_s", "<", 120.0),
        ("ttft<1.5", "mean_ttft_s", "<", 1.5),
        ("quality>=0.7", "mean_quality", ">=", 0.7),
        ("pass_at_1>=0.05", "pass_at_1", ">=", 0.05),
        ("errors==0", "failures", "==", 0.0),
        ("throughput>1", "tasks_per_s", ">", 1.0),
    ],
)
def test_constraints_parse_with_units(text, key, op, value):
    c = parse_constraint(text)
    assert (c.key, c.op) == (key, op)
    assert c.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95 less than 30", "cannot parse"),
        ("latency<3s", "unknown metric 'latency'"),
        ("p95<30parsecs", "unknown time unit 'parsecs'"),
        ("quality>=70%", "cannot parse"),
        ("errors==0s", "takes no unit"),
        ("", "cannot parse"),
    ],
)
def test_malformed_constraints_say_what_is_valid(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_constraint(text)
    assert "metrics: p95, p50" in str(info.value)
    assert "operators: <=, >=, ==, <, >" in str(info.value)


def test_violation_is_zero_when_met_and_positive_when_missed():
    p95 = parse_constraint("p95<30s")
    assert p95.violation({"p95_latency_s": 29.0}) == 0.0
    assert p95.violation({"p95_latency_s": 35.0}) == pytest.approx(5.0)
    # a strict bound met with equality is missed
    assert p95.violation({"p95_latency_s": 30.0}) > 0
    errors = parse_constraint("errors==0")
    assert errors.holds({"failures": 0})
    assert errors.violation({"failures": 2}) == pytest.approx(2.0)
    # a metric the run did not produce does not pass
    assert not parse_constraint("quality>=0.7").holds({})
    assert parse_constraint("quality>=0.7").violation({}) > 0


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2.5m", 150)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "0s", "-5m"])
def test_bad_durations(text):
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


def test_pass_at_1_counts_the_trials_tested_tasks_and_an_untested_trial_misses_it():
    from orchbench.bench.aggregate import aggregate
    from orchbench.config import Complexity, TaskType
    from orchbench.records import TaskResult
    from orchbench.tune._evaluate import numeric

    def trial(*verdicts):
        done = [TaskResult(i, TaskType.CODING, Complexity.SIMPLE, "p", "m", True, 1.0,
                           tests_passed=v) for i, v in enumerate(verdicts)]  # fmt: skip
        return numeric(aggregate(done, [], 1.0))

    bound = parse_constraint("pass_at_1>=0.05")
    assert bound.holds(trial(True, False, None, None))  # 1 of 2 tested; the rest left out
    assert not bound.holds(trial(False, False, None)) and bound.violation(trial(False)) > 0
    assert bound.violation(trial(None, None)) == 1e9  # no tested task: not measured at all


def test_a_pass_at_1_constraint_needs_tests_and_a_real_engine():
    from orchbench.tune._objective import check_measurable

    bound = (parse_constraint("pass_at_1>=0.05"),)
    check_measurable(bound, suite="humaneval", tested=True, measured=True)
    check_measurable((parse_constraint("p95<3s"),), suite="smoke", tested=False, measured=False)
    with pytest.raises(ConfigError, match="suite 'smoke' has no task with tests"):
        check_measurable(bound, suite="smoke", tested=False, measured=True)
    with pytest.raises(ConfigError, match="needs a real engine"):
        check_measurable(bound, suite="humaneval", tested=True, measured=False)
