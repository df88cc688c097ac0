"""Quality scoring of model answers, with model code run only in an isolated sandbox.

>>> from orchbench.quality import score               # doctest: +SKIP
"""

from orchbench.quality._isolation import Isolation
from orchbench.quality._sandbox import Sandbox, TestOutcome, run_tests, sandbox_isolation
from orchbench.quality._scoring import (
    CUT_OFF_FACTOR,
    WEIGHTS,
    QualityReport,
    evaluate,
    extract_code,
    score,
    score_contains,
    score_parse,
    score_structure,
    score_substance,
)
from orchbench.quality._verdict import passed_tests

__all__ = [
    "CUT_OFF_FACTOR",
    "WEIGHTS",
    "Isolation",
    "QualityReport",
    "Sandbox",
    "TestOutcome",
    "evaluate",
    "extract_code",
    "passed_tests",
    "run_tests",
    "sandbox_isolation",
    "score",
    "score_contains",
    "score_parse",
    "score_structure",
    "score_substance",
]
