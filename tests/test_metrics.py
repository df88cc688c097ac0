"""One vocabulary: every table header and stored key is a metric of orchbench.metrics, defined
in docs/metrics.md; one percentile, one decode rate, one median over repeats."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table as RichTable

from orchbench import metrics
from orchbench.bench.session import BenchSession
from orchbench.bench.table import mode_table, model_table
from orchbench.bench.workload import workload_from_dict
from orchbench.metrics import (
    METRICS,
    decode_rate,
    decode_rate_over,
    is_metric_header,
    median_of_repeats,
    percentile,
)
from orchbench.profiles import profile_from_dict
from orchbench.records import Timings
from orchbench.report import _compare
from orchbench.report._tables import summary_table, tables_from
from orchbench.testing import FakeBackend

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
TYPES = ["planning", "coding", "review", "testing", "documentation", "debugging"]


def _profile():
    return profile_from_dict(
        {
            "name": "duo",
            "hardware": {
                "name": "t",
                "kind": "cpu",
                "bandwidth_gbs": 10,
                "ram_gb": 8,
                "cpu_cores": 2,
            },
            "backend": {"kind": "fake"},
            "settings": {"max_concurrent_tasks": 2, "retry_attempts": 1},
            "models": {
                "small": {
                    "task_types": TYPES,
                    "tier": "fast",
                    "concurrent_limit": 2,
                    "prompt_style": "completion",
                },
                "big": {"task_types": ["coding"], "tier": "powerful", "prompt_style": "completion"},
            },
            "routing": {"coding": {"primary": ["big"], "fallback": ["small"]}},
        }
    )


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    workload = workload_from_dict(
        {
            "name": "tiny",
            "prompt_style": "completion",
            "defaults": {"max_tokens": 8, "complexity": "simple"},
            "tasks": [
                {"name": "c1", "type": "coding", "prompt": "def a():"},
                {"name": "p1", "type": "planning", "prompt": "1."},
            ],
        }
    )
    profile = _profile()
    modes = ["sequential", "parallel", "model:small", "model:big"]
    fake = FakeBackend(latency=0.001)
    return BenchSession(profile, "fake", workload, modes=modes, backend=fake).run().summary


def _rich_headers(table: RichTable) -> list[str]:
    return [str(column.header) for column in table.columns]


def _row_labels(table: RichTable) -> list[str]:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(table)
    return [str(cell) for cell in table.columns[0].cells]


def _nested_keys(report: dict[str, Any]) -> set[str]:
    """Keys of the performance report; model names and task types (data) skipped."""
    keys = set(report)
    keys |= set(report["tasks"])
    for stats in report["models"].values():
        keys |= set(stats)
        keys |= set(stats["service_time_s"])
    for stats in report["quality_by_task_type"].values():
        keys |= set(stats)
    return keys


def test_the_terminal_tables_print_only_metric_names(summary):
    table = mode_table(summary)
    assert table is not None
    labels = [label for label in _row_labels(table) if not label.endswith("(mean latency)")]
    assert labels and all(is_metric_header(label) for label in labels), labels
    models = model_table(summary)
    assert models is not None
    assert all(is_metric_header(h) for h in _rich_headers(models)), _rich_headers(models)


def test_the_report_and_compare_tables_print_only_metric_names(summary):
    table = summary_table(summary)
    assert all(is_metric_header(row[0]) for row in table.rows), [r[0] for r in table.rows]
    data = set(summary["profile"]["models"])  # the distribution table has a column per model
    for built in tables_from(summary["performance_report"], "Performance report"):
        headers = [c for c in built.columns if c not in data]
        assert all(is_metric_header(c) for c in headers), (built.title, built.columns)
    for built in tables_from(summary["recommendations"], "Ranked"):
        assert all(is_metric_header(c) for c in built.columns), built.columns
    for _key, header, _better in _compare.METRICS:
        assert is_metric_header(header), header
    for name, header, _better in _compare._metric_names([summary]):
        assert is_metric_header(header.split(": ", 1)[-1]), (name, header)


def test_the_library_report_keys_are_metric_names(summary):
    report = summary["performance_report"]
    json.dumps(report)
    assert all(key in METRICS for key in _nested_keys(report)), _nested_keys(report) - set(METRICS)
    for model in summary["models"].values():
        assert set(model) <= set(METRICS), set(model) - set(METRICS)
    for mode in summary["modes"].values():
        assert set(mode["median"]) <= set(METRICS), set(mode["median"]) - set(METRICS)


def test_a_header_outside_the_vocabulary_is_caught():
    assert not is_metric_header("Tokens / s")  # the old, ambiguous label
    assert is_metric_header("Output tokens / s") and is_metric_header("Latency p95 (s)")


def test_docs_list_every_metric_as_the_module_defines_it():
    text = DOCS.read_text(encoding="utf-8")
    assert metrics.markdown() in text, "regenerate the table in docs/metrics.md"
    for metric in METRICS.values():
        assert f"`{metric.name}`" in text


def test_one_percentile_linear_interpolation():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([3.0, 1.0, 2.0], 95) == pytest.approx(2.9)


def test_one_median_over_repeats():
    merged = median_of_repeats(
        [
            {"total_s": 1.0, "failures": 0, "per_type_s": {"coding": 1.0}, "x": None},
            {"total_s": 3.0, "failures": 2, "per_type_s": {"coding": 3.0, "review": 1.0}},
            {"total_s": 2.0, "failures": 1, "per_type_s": {"coding": 2.0}, "y": 4.0},
        ]
    )
    assert merged == {
        "total_s": 2.0,
        "failures": 1,
        "per_type_s": {"coding": 2.0, "review": 1.0},
        "x": None,
        "y": 4.0,
    }
    assert isinstance(merged["failures"], int)


def test_decode_rate_counts_only_requests_that_measured_both():
    assert decode_rate(20, 4.0) == 5.0 and decode_rate(None, 1.0) is None
    timings = [
        Timings(total_s=1.0, completion_tokens=10, completion_s=2.0),
        Timings(total_s=1.0, completion_tokens=30, completion_s=None),
        None,
        Timings(total_s=1.0, completion_tokens=10, completion_s=2.0),
    ]
    assert decode_rate_over(timings) == pytest.approx(20 / 4.0)
    assert decode_rate_over([]) is None
    assert timings[0].decode_rate == 5.0
