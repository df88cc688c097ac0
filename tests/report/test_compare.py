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


def test_a_change_is_beyond_noise_when_repeats_do_not_overlap(run_small: Path, tmp_path: Path):
    import shutil

    slower = Path(shutil.copytree(run_small, tmp_path / "slower"))
    edit_summary(slower, tokens_per_s=0.5, mean_quality=1.01)
    comparison = compare_runs([run_small, slower])
    assert comparison.row("parallel.tokens_per_s").beyond_noise[1] is True
    assert comparison.row("parallel.tokens_per_s").changes_pct[1] == pytest.approx(-50)
    assert comparison.row("quality").beyond_noise[1] is False  # 1 % inside the repeats' spread


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
