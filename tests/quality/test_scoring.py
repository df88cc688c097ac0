"""Quality scores with real answers: passing and failing tests, syntax errors, structure."""

from __future__ import annotations

import pytest

from orchbench.config import TaskType
from orchbench.quality import (
    CUT_OFF_FACTOR,
    WEIGHTS,
    evaluate,
    extract_code,
    score,
    score_contains,
    score_parse,
    score_structure,
    score_substance,
)
from orchbench.records import QualityChecks

REVERSE_TESTS = QualityChecks(
    tests="assert reverse_string('abc') == 'cba'\nassert reverse_string('') == ''\n"
)
REVERSE_PROMPT = 'def reverse_string(s):\n    """Return s reversed."""\n'


def test_weights_sum_to_one() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_output_scores_zero(text: str) -> None:
    assert score(TaskType.CODING, "x", text, REVERSE_TESTS) == 0.0


def test_completion_that_passes_its_tests_scores_high() -> None:
    report = evaluate(
        TaskType.CODING, REVERSE_PROMPT, "    return s[::-1]\n", REVERSE_TESTS,
        prompt_style="completion", finish_reason="stop",
    )  # fmt: skip
    assert report.tests is not None and report.tests.passed == 2
    assert report.parts["tests"] == 1.0 and report.parts["code"] == 1.0
    assert report.score >= 0.95


def test_completion_that_fails_its_tests_scores_low() -> None:
    good = score(TaskType.CODING, REVERSE_PROMPT, "    return s[::-1]\n", REVERSE_TESTS,
                 prompt_style="completion")  # fmt: skip
    half = score(TaskType.CODING, REVERSE_PROMPT, "    return s[::-1] if s else None\n",
                 REVERSE_TESTS, prompt_style="completion")  # fmt: skip
    bad = score(TaskType.CODING, REVERSE_PROMPT, "    return None\n", REVERSE_TESTS,
                prompt_style="completion")  # fmt: skip
    assert good > half > bad
    assert bad < 0.7  # below the default quality_threshold


def test_syntax_error_scores_zero_for_code_and_skips_the_tests() -> None:
    answer = "```python\ndef reverse_string(s)\n    return s[::-1]\n```"
    report = evaluate(TaskType.CODING, "Write reverse_string", answer, REVERSE_TESTS)
    assert report.parts["code"] == 0.0 and report.parts["tests"] == 0.0
    assert any("SyntaxError at line 1" in note for note in report.notes)
    assert report.score < 0.3


def test_infinite_loop_hits_the_time_limit() -> None:
    answer = "    while True:\n        pass\n"
    report = evaluate(TaskType.CODING, REVERSE_PROMPT, answer, REVERSE_TESTS,
                      prompt_style="completion", test_timeout_s=1.0)  # fmt: skip
    assert report.tests is not None and report.tests.timed_out
    assert report.parts["tests"] == 0.0


def test_cut_off_output_is_trimmed_tested_and_marked_down() -> None:
    cut = "    return s[::-1]\n\n\ndef other(x):\n    return [x for"
    report = evaluate(TaskType.CODING, REVERSE_PROMPT, cut, REVERSE_TESTS,
                      prompt_style="completion", finish_reason="length")  # fmt: skip
    assert report.cut_off and report.parts["code"] == 0.5
    assert report.parts["tests"] == 1.0
    whole = evaluate(TaskType.CODING, REVERSE_PROMPT, "    return s[::-1]\n", REVERSE_TESTS,
                     prompt_style="completion", finish_reason="length")  # fmt: skip
    assert whole.score == pytest.approx(
        CUT_OFF_FACTOR * evaluate(TaskType.CODING, REVERSE_PROMPT, "    return s[::-1]\n",
                                  REVERSE_TESTS, prompt_style="completion").score, abs=1e-3
    )  # fmt: skip


def test_chat_code_is_taken_from_python_fences_only() -> None:
    text = "Here:\n```python\nx = 1\n```\nand\n```js\nlet y = 2;\n```\n```\nz = 3\n```"
    assert extract_code(text) == "x = 1\n\n\nz = 3\n"
    assert extract_code("```tsx\n<App />\n```") is None
    assert extract_code("no code at all") is None
    assert extract_code("    return 1\n", "def f():\n", "completion") == "def f():\n    return 1\n"
    assert extract_code("```python\nunclosed = True\n") == "unclosed = True\n"


def test_parse_scores() -> None:
    assert score_parse("x = 1\n")[0] == 1.0
    assert score_parse("x = (\n")[0] == 0.0
    assert score_parse("x = 1\ny = (", allow_trim=True)[:2] == (0.5, "x = 1\n")
    assert score_parse("")[0] == 0.0


def test_contains_is_a_case_insensitive_fraction() -> None:
    assert score_contains("Use a useEffect HOOK", ["useeffect", "hook", "redux"]) == 2 / 3
    checks = QualityChecks(contains=("validation", "password"))
    full = score(TaskType.PLANNING, "p", "1. Password field\n2. Validation\n3. Tests", checks)
    none = score(TaskType.PLANNING, "p", "1. Header\n2. Footer\n3. Tests", checks)
    assert full > none


@pytest.mark.parametrize(
    ("task_type", "good", "bad"),
    [
        (TaskType.PLANNING, "1. Design\n2. Build\n3. Test", "We will design and build it."),
        (
            TaskType.DOCUMENTATION,
            "# Login\n\nThe page signs users in.\n\n## Usage\n\nCall login().",
            "login page",
        ),
        (
            TaskType.REVIEW,
            "There is a bug: the password is logged. You should remove the log line.",
            "Looks fine to me.",
        ),
        (
            TaskType.TESTING,
            "def test_ok():\n    assert f(1) == 2\n\ndef test_zero():\n    assert f(0) == 1\n",
            "You could test it by hand.",
        ),
        (
            TaskType.DEBUGGING,
            "It fails because i starts at 1. Change the loop to range(0, n).",
            "Hmm.",
        ),
        (TaskType.CODING, "```python\nprint(1)\n```", "I would write a function."),
    ],
)
def test_structure_per_task_type(task_type: TaskType, good: str, bad: str) -> None:
    assert score_structure(task_type, good, has_code="```" in good) == 1.0
    assert score_structure(task_type, bad) <= 0.4
    assert score(task_type, "prompt", good) > score(task_type, "prompt", bad)


def test_completion_documentation_needs_sentences_not_headings() -> None:
    text = "Returns the sum of a and b. Both must be numbers."
    assert score_structure(TaskType.DOCUMENTATION, text, "completion") == 1.0
    assert score_structure(TaskType.DOCUMENTATION, text, "chat") < 1.0


def test_repetition_loses_substance() -> None:
    assert score_substance("one two three four five six seven eight") == 1.0
    assert score_substance("") == 0.0
    looped = "return s[::-1]\n" * 10
    assert score_substance(looped) < 0.3


def test_report_is_json_able() -> None:
    report = evaluate(TaskType.CODING, REVERSE_PROMPT, "    return s[::-1]\n", REVERSE_TESTS,
                      prompt_style="completion")  # fmt: skip
    data = report.to_dict()
    assert data["tests"] == {"passed": 2, "total": 2, "timed_out": False, "error": None,
                             "isolation": data["tests"]["isolation"]}  # fmt: skip
    assert data["tests"]["isolation"] in ("bwrap", "process")
    assert set(data["parts"]) == {"code", "tests", "structure", "substance"}


def test_language_python_asks_for_a_parse_check_without_tests() -> None:
    checks = QualityChecks(language="python")
    broken = score(TaskType.DOCUMENTATION, "p", "```\ndef f(:\n```\nA text. More.", checks)
    fine = score(TaskType.DOCUMENTATION, "p", "```\ndef f(): ...\n```\nA text. More.", checks)
    assert fine > broken
