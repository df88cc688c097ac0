"""Attempt records flatten to the rows of records.jsonl, per-token times included."""

from __future__ import annotations

import json

from orchbench.config import Complexity, TaskType
from orchbench.records import AttemptRecord, TaskResult, Timings


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


def test_a_task_result_reads_back_what_it_wrote_and_old_results_have_no_verdict():
    timings = Timings(total_s=1.0, ttft_s=0.1, completion_tokens=3, token_times=[0.1, 0.2])
    attempt = AttemptRecord(
        0, 1, "m", TaskType.CODING, Complexity.SIMPLE, "fake", 5.0, 0.1, True, timings=timings,
        quality=0.7, host="h",
    )  # fmt: skip
    for verdict in (True, False, None):
        result = TaskResult(
            0, TaskType.CODING, Complexity.SIMPLE, "p", "m", True, 1.5, "t", 0.7, None, timings,
            [attempt], tests_passed=verdict,
        )  # fmt: skip
        data = json.loads(json.dumps(result.to_dict()))
        assert data["tests_passed"] is verdict
        assert TaskResult.from_dict(data) == result
    del data["tests_passed"]  # written before the verdict existed
    assert TaskResult.from_dict(data).tests_passed is None
