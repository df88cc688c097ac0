"""The report's summary table adds latency percentiles and goodput where the run has them;
per-model and per-type tables come from the parallel mode's breakdowns."""

from __future__ import annotations

from orchbench.metrics import METRICS, is_metric_header
from orchbench.report._tables import breakdown_tables, summary_table


def _summary(**median):
    return {"modes": {"parallel": {"median": {"total_s": 2.0, **median}, "runs": []}}}


def test_goodput_and_percentile_rows_only_where_measured():
    labels = [row[0] for row in summary_table(_summary()).rows]
    assert METRICS["goodput"].header not in labels
    table = summary_table(_summary(goodput=0.5, slo_attainment_pct=80.0, p99_ttft_s=0.25))
    rows = {row[0]: row[1] for row in table.rows}
    assert rows[METRICS["goodput"].header] == "0.5"
    assert rows[METRICS["slo_attainment_pct"].header] == "80"
    assert rows[METRICS["p99_ttft_s"].header] == "0.25"
    assert METRICS["mean_itl_s"].header not in rows  # nothing streamed: no row
    assert all(is_metric_header(label) for label in rows)


def test_breakdown_per_model_and_per_task_type():
    summary = _summary(
        by_model={"gemma": {"tasks": 3, "p99_ttft_s": 0.5}},
        by_task_type={"coding": {"tasks": 2}, "review": {"tasks": 1}},
    )
    by_model, by_type = breakdown_tables(summary)
    assert by_model.rows[0][0] == "gemma"
    assert by_model.rows[0][by_model.columns.index(METRICS["p99_ttft_s"].header)] == "0.5"
    assert [row[0] for row in by_type.rows] == ["coding", "review"]
    assert all(is_metric_header(column) for column in by_model.columns)
    assert breakdown_tables(_summary()) == []
