"""A fleet's runs say where the requests went: ``per_host_requests`` and its table rows."""

from __future__ import annotations

from rich.console import Console

from orchbench.bench.aggregate import aggregate
from orchbench.bench.table import mode_table
from orchbench.config import Complexity, TaskType
from orchbench.records import AttemptRecord, TaskResult


def record(host: str | None, ok: bool = True) -> AttemptRecord:
    return AttemptRecord(0, 1, "m", TaskType.CODING, Complexity.SIMPLE, "fake", 0.0, 0.0, ok,
                         host=host)  # fmt: skip


def result() -> TaskResult:
    return TaskResult(0, TaskType.CODING, Complexity.SIMPLE, "p", "m", True, 1.0, "ok", 1.0)


def test_requests_per_host_are_counted_and_shown_only_for_a_fleet() -> None:
    fleet = aggregate([result()], [record("box1"), record("box1", ok=False), record("box2")], 1.0)
    assert fleet["per_host_requests"] == {"box1": 2, "box2": 1}
    assert "per_host_requests" not in aggregate([result()], [record(None)], 1.0)
    summary = {"measured": False, "modes": {"parallel": {"median": fleet}}}
    console = Console(width=200, record=True)
    console.print(mode_table(summary))
    text = console.export_text()
    assert "requests on host box1" in text and "requests on host box2" in text
