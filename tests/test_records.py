"""Attempt records flatten to the rows of records.jsonl, per-token times included."""

from __future__ import annotations

from orchbench.config import Complexity, TaskType
from orchbench.records import AttemptRecord, Timings


def _record(timings: Timings | None) -> AttemptRecord:
    return AttemptRecord(
        0, 1, "m", TaskType.CODING, Complexity.SIMPLE, "fake", 0.0, 0.0, True, timings=timings
    )


def test_token_times_are_stored_rounded_to_10_microseconds():
    row = _record(Timings(total_s=1.0, token_times=[0.1234567, 0.2, 0.30000001])).to_dict()
    assert row["token_times"] == [0.12346, 0.2, 0.3]


def test_no_token_times_is_stored_as_none():
    assert _record(Timings(total_s=1.0)).to_dict()["token_times"] is None
    assert _record(None).to_dict()["token_times"] is None
