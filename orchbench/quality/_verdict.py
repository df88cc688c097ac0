"""The tests verdict of one answer: did the task's own tests all pass?

One definition of "passed" for pass@1, used by the scheduler's scoring and by the
HumanEval benchmark alike.
"""

from __future__ import annotations

from orchbench.quality._scoring import QualityReport
from orchbench.records import QualityChecks


def passed_tests(report: QualityReport | None, checks: QualityChecks | None) -> bool | None:
    """``None`` when the task has no tests; else whether the answer passed all of them.

    True only when every test ran and passed, none timed out, nothing raised outside a
    test, and the code tested is the model's code as written: code that had to be
    trimmed to parse after a cut-off at ``max_tokens`` (``parts["code"] == 0.5``) does
    not pass. Prose cut off after a complete code block does not matter. No report (the
    task got no answer, or scoring failed) or an empty answer is False.

    >>> from orchbench.quality._sandbox import TestOutcome
    >>> checks = QualityChecks(tests="assert f() == 1")
    >>> passed_tests(QualityReport(1.0, {"code": 1.0}, tests=TestOutcome(1, 1)), checks)
    True
    >>> passed_tests(None, QualityChecks()) is None
    True
    """
    if checks is None or not checks.tests:
        return None
    outcome = report.tests if report is not None else None
    if report is None or outcome is None:
        return False
    return (
        outcome.total > 0
        and outcome.passed == outcome.total
        and not outcome.timed_out
        and outcome.error is None
        and report.parts.get("code") == 1.0
    )
