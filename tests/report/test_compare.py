"""Run-vs-run comparison: the arithmetic, the noise test, and the --fail-on rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench.errors import ConfigError, ResultsError
from orchbench.report import compare_runs
from orchbench.report._compare import parse_rule


def edit_summary(run: Path, **changes: float) -> dict:
    """Scale parallel aggregates (median and every repeat) by the given factors."""
    path = run / "summary.json"
    summary = json.loads(path.read_text())
    block = summary["modes"]["parallel"]
    for key, factor in changes.items():
        block["median"][key] *= factor
        for repeat in block["runs"]:
            repeat[key] *= factor
    path.write_text(json.dumps(summary))
    return summary


def load(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_values_and_changes_come_from_the_summaries(run_small: Path, run_small_b: Path):
    comparison = compare_runs([run_small, run_small_b])
    a, b = load(run_small), load(run_small_b)
    row = comparison.row("throughput")
    assert row.metric == "parallel.tokens_per_s"
    base = a["modes"]["parallel"]["median"]["tokens_per_s"]
    other = b["modes"]["parallel"]["median"]["tokens_per_s"]
    assert row.values == (base, other)
    assert row.changes_pct[0] is None
    assert row.changes_pct[1] == pytest.approx((other - base) / base * 100)
    assert comparison.row("speedup").values == (a["speedup"]["median"], b["speedup"]["median"])
    assert [r.label for r in comparison.runs] == ["run-small", "run-small-b"]


def test_identical_runs_change_nothing_and_are_within_noise(run_small: Path):
    comparison = compare_runs([run_small, run_small])
    for row in comparison.rows:
        assert row.changes_pct[1] in (0.0, None)
        assert row.beyond_noise[1] in (False, None)


def with_repeats(run: Path, values: list[float], key: str = "tokens_per_s") -> Path:
    """Give ``run``'s parallel mode one repeat per value of ``key`` (median updated too)."""
    import statistics

    path = run / "summary.json"
    summary = json.loads(path.read_text())
    block = summary["modes"]["parallel"]
    template = block["runs"][0]
    block["runs"] = [{**template, "repeat": i, key: v} for i, v in enumerate(values)]
    block["median"][key] = statistics.median(values)
    path.write_text(json.dumps(summary))
    return run


def copy(run: Path, dest: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, dest))


def test_a_clear_change_over_enough_repeats_is_significant(run_small: Path, tmp_path: Path):
    base = with_repeats(run_small, [50.0, 52.0, 49.0, 51.0, 50.5])
    slower = with_repeats(copy(run_small, tmp_path / "slower"), [40.0, 41.0, 39.5, 40.5, 42.0])
    row = compare_runs([base, slower]).row("parallel.tokens_per_s")
    assert row.beyond_noise[1] is True
    assert row.verdict(1).startswith("significant (p = 0.0")
    assert row.changes_pct[1] == pytest.approx((40.5 - 50.5) / 50.5 * 100)


def test_overlapping_repeats_are_no_significant_difference(run_small: Path, tmp_path: Path):
    base = with_repeats(run_small, [50.0, 52.0, 49.0, 51.0, 50.5])
    other = with_repeats(copy(run_small, tmp_path / "other"), [51.5, 49.5, 50.2, 52.5, 48.8])
    row = compare_runs([base, other]).row("throughput")
    assert row.beyond_noise[1] is False
    assert row.verdict(1) == "no significant difference"


def test_three_repeats_are_too_few_to_tell_even_for_a_large_change(run_small: Path, tmp_path: Path):
    """The issue's case: +141 % between 3-repeat runs of one code is not called real."""
    base = with_repeats(run_small, [10.0, 11.0, 10.5])
    other = with_repeats(copy(run_small, tmp_path / "other"), [24.0, 25.0, 26.0])
    row = compare_runs([base, other]).row("throughput")
    assert row.beyond_noise[1] is None
    assert row.verdict(1) == "too few repeats to tell"


def test_a_noisy_run_is_flagged(run_small: Path, tmp_path: Path):
    noisy = copy(run_small, tmp_path / "noisy")
    summary = load(noisy)
    summary["noise"] = {"noisy": True, "reasons": ["other processes used 90 % of a core"]}
    (noisy / "summary.json").write_text(json.dumps(summary))
    comparison = compare_runs([run_small, noisy])
    assert [r.label for r in comparison.noisy] == ["noisy"]
    assert comparison.runs[1].noisy == "other processes used 90 % of a core"
    assert comparison.runs[0].noisy is None


def test_noise_is_unknown_with_a_single_repeat(run_small: Path, run_small_b: Path):
    for run in (run_small, run_small_b):
        summary = load(run)
        summary["modes"]["parallel"]["runs"] = summary["modes"]["parallel"]["runs"][:1]
        (run / "summary.json").write_text(json.dumps(summary))
    assert compare_runs([run_small, run_small_b]).row("throughput").beyond_noise[1] is None


def test_percent_rule_breaks_on_a_regression_and_holds_otherwise(run_small: Path, tmp_path: Path):
    import shutil

    slower = Path(shutil.copytree(run_small, tmp_path / "slower"))
    edit_summary(slower, tokens_per_s=0.9)
    broken = compare_runs([run_small, slower], ["throughput<-5%"])
    assert not broken.ok
    assert "-10.00%" in broken.broken[0].message
    assert compare_runs([run_small, slower], ["throughput<-15%"]).ok


def test_absolute_rule_compares_the_change_in_the_metric_unit(run_small: Path, tmp_path: Path):
    import shutil

    slower = Path(shutil.copytree(run_small, tmp_path / "slower"))
    base = load(run_small)["modes"]["parallel"]["median"]["p95_latency_s"]
    edit_summary(slower, p95_latency_s=1.5)  # +0.5 × base seconds
    assert not compare_runs([run_small, slower], [f"p95_latency_s>{base * 0.4:.3f}"]).ok
    assert compare_runs([run_small, slower], [f"p95_latency_s>{base * 0.6:.3f}"]).ok


def test_rules_apply_to_every_run_after_the_baseline(run_small: Path, run_small_b: Path):
    comparison = compare_runs([run_small, run_small_b, run_small], ["speedup<-1%"])
    assert [o.run for o in comparison.outcomes] == ["run-small-b", "run-small"]
    assert comparison.ok


def test_a_missing_metric_breaks_its_rule(run_small: Path, run_small_b: Path):
    summary = load(run_small_b)
    del summary["modes"]["parallel"]["median"]["tokens_per_s"]
    (run_small_b / "summary.json").write_text(json.dumps(summary))
    comparison = compare_runs([run_small, run_small_b], ["throughput<-5%"])
    assert not comparison.ok
    assert "missing" in comparison.broken[0].message


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold", "percent"),
    [
        ("throughput<-5%", "throughput", "<", -5.0, True),
        (" p95_latency_s >= 0.5 ", "p95_latency_s", ">=", 0.5, False),
        ("sequential.tasks_per_s<=+2.5%", "sequential.tasks_per_s", "<=", 2.5, True),
    ],
)
def test_parse_rule(text, metric, op, threshold, percent):
    rule = parse_rule(text)
    assert (rule.metric, rule.op, rule.threshold, rule.percent) == (metric, op, threshold, percent)


@pytest.mark.parametrize("text", ["throughput", "throughput<", "<5%", "throughput=5", "x<5%%"])
def test_malformed_rule_says_the_valid_form(text):
    with pytest.raises(ConfigError, match="METRIC OP THRESHOLD"):
        parse_rule(text)


def test_unknown_metric_lists_the_valid_ones(run_small: Path, run_small_b: Path):
    with pytest.raises(ConfigError, match=r"unknown metric 'speed'.*throughput"):
        compare_runs([run_small, run_small_b], ["speed<0"])


def test_compare_needs_two_existing_runs(run_small: Path, tmp_path: Path):
    with pytest.raises(ResultsError, match="at least two"):
        compare_runs([run_small])
    with pytest.raises(ResultsError, match="does not exist"):
        compare_runs([run_small, tmp_path / "nope"])
