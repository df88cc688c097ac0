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
