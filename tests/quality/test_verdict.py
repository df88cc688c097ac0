"""The tests verdict behind pass@1: real answers through the real sandbox, plus canned
reports (a timeout, a code error) where producing one for real would cost seconds."""

from __future__ import annotations

import pytest

from orchbench.config import TaskType
from orchbench.quality import QualityReport, TestOutcome, evaluate, passed_tests
from orchbench.records import QualityChecks

CHECKS = QualityChecks(
    tests="assert reverse_string('abc') == 'cba'\nassert reverse_string('') == ''\n"
)
PROMPT = 'def reverse_string(s):\n    """Return s reversed."""\n'


def _completion(text: str, finish_reason: str = "stop") -> QualityReport:
    style = {"prompt_style": "completion", "finish_reason": finish_reason}
    return evaluate(TaskType.CODING, PROMPT, text, CHECKS, **style)


def test_an_answer_passing_every_test_passes() -> None:
    assert passed_tests(_completion("    return s[::-1]\n"), CHECKS) is True


def test_an_answer_failing_one_test_fails() -> None:
    report = _completion("    return s[::-1] or 'x'\n")  # right for 'abc', wrong for ''
    assert report.tests is not None and report.tests.passed == 1 and report.tests.total == 2
    assert passed_tests(report, CHECKS) is False


def test_code_that_cannot_run_fails() -> None:
    assert passed_tests(_completion("    return (((\n"), CHECKS) is False  # does not parse
    raised = _completion("    return s[::-1]\nraise SystemExit(3)\n")  # raises on import
    assert passed_tests(raised, CHECKS) is False


def test_an_empty_answer_and_no_answer_fail() -> None:
    assert passed_tests(_completion(""), CHECKS) is False
    assert passed_tests(None, CHECKS) is False


def test_code_trimmed_after_a_cut_off_fails_even_if_what_is_left_passes() -> None:
    report = _completion("    return s[::-1]\n    x = (", finish_reason="length")
    assert report.tests is not None and report.tests.passed == report.tests.total == 2
    assert passed_tests(report, CHECKS) is False


def test_prose_cut_off_after_a_complete_code_block_still_passes() -> None:
    answer = "```python\ndef reverse_string(s):\n    return s[::-1]\n```\nThis works because"
    report = evaluate(TaskType.CODING, "Write reverse_string", answer, CHECKS,
                      finish_reason="length")  # fmt: skip
    assert report.cut_off and passed_tests(report, CHECKS) is True


@pytest.mark.parametrize(
    "outcome",
    [
        TestOutcome(2, 2, timed_out=True, isolation="process"),  # canned: a timed-out run
        TestOutcome(2, 2, error="the tests do not parse", isolation="process"),
        TestOutcome(0, 0, isolation="process"),  # nothing ran
    ],
)
def test_a_timeout_an_error_or_no_test_run_fails(outcome: TestOutcome) -> None:
    report = QualityReport(0.6, {"code": 1.0, "tests": 1.0}, tests=outcome)
    assert passed_tests(report, CHECKS) is False


@pytest.mark.parametrize("checks", [None, QualityChecks(), QualityChecks(contains=("x",))])
def test_a_task_without_tests_has_no_verdict(checks: QualityChecks | None) -> None:
    report = evaluate(TaskType.CODING, PROMPT, "    return s[::-1]\n", checks,
                      prompt_style="completion")  # fmt: skip
    assert passed_tests(report, checks) is None
