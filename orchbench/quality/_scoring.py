"""Quality scores in [0, 1] from checks a person would accept.

:func:`score` combines up to five parts, each in [0, 1], with the weights in
:data:`WEIGHTS` (a part that does not apply to a task is left out and the rest are
renormalised):

========== ====== ==============================================================
part       weight what it checks
========== ====== ==============================================================
tests      0.55   the task's tests, run against the answer's code in a subprocess
code       0.15   the answer's Python code parses (``ast``)
contains   0.15   the strings the task says a good answer contains
structure  0.10   the shape its task type asks for (a list for planning, ...)
substance  0.05   enough words, not one line repeated over and over
========== ====== ==============================================================

Empty output scores 0. Output cut off at ``max_tokens`` (``finish_reason ==
"length"``) is incomplete by definition: its score is multiplied by
:data:`CUT_OFF_FACTOR`, and its code may lose a partial last line to parse.

Only tests take time (seconds, a subprocess); without ``checks.tests`` scoring is a
few regex and ``ast`` passes, cheap enough to run inline.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from orchbench.config import TaskType
from orchbench.quality._sandbox import TEST_TIMEOUT_S, Sandbox, TestOutcome, run_tests
from orchbench.records import QualityChecks

WEIGHTS = {"tests": 0.55, "code": 0.15, "contains": 0.15, "structure": 0.10, "substance": 0.05}
CUT_OFF_FACTOR = 0.85
_CODE_TASKS = (TaskType.CODING, TaskType.TESTING, TaskType.DEBUGGING)
_PYTHON_TAGS = ("python", "py", "python3")
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+•])\s+\S", re.M)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\S|^[^\n]+\n\s*(?:=+|-{3,})\s*$", re.M)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_ISSUE_WORDS = re.compile(
    r"\b(issue|bug|problem|error|risk|vulnerab\w*|missing|incorrect|wrong|edge case|leak)", re.I
)
_SUGGEST_WORDS = re.compile(
    r"\b(suggest\w*|recommend\w*|consider|should|could|instead|improve\w*|better|refactor)", re.I
)
_CAUSE_WORDS = re.compile(r"\b(because|cause[sd]?|the (?:problem|issue|bug)|fails?|raises?)", re.I)
_FIX_WORDS = re.compile(r"\b(fix\w*|instead|change|replace|correct\w*|should)", re.I)
_TEST_MARKERS = re.compile(
    r"^\s*(?:async\s+)?def test_\w+|\bassert\b|\bself\.assert\w+"
    r"|\bexpect\(|\b(?:it|test)\(\s*['\"]",
    re.M,
)


@dataclass(frozen=True, slots=True)
class QualityReport:
    """A score and how it was reached: each part's value, the weights used, and notes."""

    score: float
    parts: dict[str, float]
    cut_off: bool = False
    notes: tuple[str, ...] = ()
    tests: TestOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        data: dict[str, Any] = {
            "score": self.score,
            "parts": dict(self.parts),
            "cut_off": self.cut_off,
            "notes": list(self.notes),
        }
        if self.tests is not None:
            data["tests"] = {
                "passed": self.tests.passed,
                "total": self.tests.total,
                "timed_out": self.tests.timed_out,
                "error": self.tests.error,
                "isolation": self.tests.isolation,
            }
        return data


def score(
    task_type: TaskType | str,
    prompt: str,
    text: str,
    checks: QualityChecks | None = None,
    *,
    prompt_style: str = "chat",
    finish_reason: str | None = None,
    test_timeout_s: float = TEST_TIMEOUT_S,
    sandbox: Sandbox | None = None,
) -> float:
    """The quality of ``text`` as an answer to ``prompt``, in [0, 1]; see the module docstring.

    Blocks for up to ``test_timeout_s`` when ``checks.tests`` is set (call it through
    ``asyncio.to_thread`` then). ``sandbox`` runs the tests (pass one to probe its
    isolation once for many answers; a fresh one otherwise).

    >>> score(TaskType.PLANNING, "Plan a login page", "1. A form\\n2. Validation\\n3. Unit tests")
    1.0
    """
    return evaluate(
        task_type, prompt, text, checks,
        prompt_style=prompt_style, finish_reason=finish_reason, test_timeout_s=test_timeout_s,
        sandbox=sandbox,
    ).score  # fmt: skip


def evaluate(
    task_type: TaskType | str,
    prompt: str,
    text: str,
    checks: QualityChecks | None = None,
    *,
    prompt_style: str = "chat",
    finish_reason: str | None = None,
    test_timeout_s: float = TEST_TIMEOUT_S,
    sandbox: Sandbox | None = None,
) -> QualityReport:
    """Like :func:`score`, but returns every part and a note on each (for reports)."""
    task_type = TaskType(task_type)
    checks = checks or QualityChecks()
    cut_off = finish_reason == "length"
    if not text.strip():
        return QualityReport(0.0, {"substance": 0.0}, cut_off, ("empty output",))
    parts: dict[str, float] = {}
    notes: list[str] = []
    outcome: TestOutcome | None = None

    code = extract_code(text, prompt, prompt_style)
    wants_python = bool(checks.tests) or (checks.language or "").lower() in _PYTHON_TAGS
    if (
        code is not None
        or wants_python
        or (prompt_style == "completion" and task_type in _CODE_TASKS)
    ):
        parse_score, runnable, why = score_parse(code or "", allow_trim=cut_off)
        parts["code"] = parse_score
        if why:
            notes.append(why)
        if checks.tests:
            if runnable is None:
                # Code that does not parse fails every test; no process needed to know that.
                outcome = TestOutcome(0, 1, error="the code does not parse")
            else:
                outcome = run_tests(
                    runnable, checks.tests, timeout_s=test_timeout_s, sandbox=sandbox
                )
            parts["tests"] = outcome.fraction
            notes.append(_describe(outcome))
    if checks.contains:
        parts["contains"] = score_contains(text, checks.contains)
    parts["structure"] = score_structure(task_type, text, prompt_style, has_code=code is not None)
    # A completion continues the prompt, so a few words can be a whole answer.
    parts["substance"] = score_substance(text, 2 if prompt_style == "completion" else 8)

    total_weight = sum(WEIGHTS[name] for name in parts)
    value = sum(WEIGHTS[name] * part for name, part in parts.items()) / total_weight
    if cut_off:
        value *= CUT_OFF_FACTOR
        notes.append(f"cut off at max_tokens: x{CUT_OFF_FACTOR}")
    return QualityReport(round(min(1.0, max(0.0, value)), 4), parts, cut_off, tuple(notes), outcome)


def extract_code(text: str, prompt: str = "", prompt_style: str = "chat") -> str | None:
    """The Python code of an answer, or ``None`` when it has none.

    Completion style: the prompt plus the completion (the prompt is the start of the
    code). Chat style: the ```` ``` ```` fenced blocks tagged ``python``/``py`` or
    untagged, joined; an unclosed fence (a cut-off answer) runs to the end. Blocks in
    another language (``js``, ``tsx``...) are not Python and give ``None``.
    """
    if prompt_style == "completion":
        return prompt + text
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in (*_PYTHON_TAGS, "")]
    return "\n\n".join(blocks) if blocks else None


def score_parse(code: str, *, allow_trim: bool = False) -> tuple[float, str | None, str | None]:
    """Whether ``code`` parses as Python: ``(score, code that parses, note)``.

    1.0 when all of it parses. When ``allow_trim`` (the answer was cut off), trailing
    lines are dropped until it parses, for 0.5: the code is incomplete but what is
    there can still be tested. 0.0 with the syntax error's line otherwise.
    """
    if not code.strip():
        return 0.0, None, "no Python code in the answer"
    try:
        ast.parse(code)
        return 1.0, code, None
    except SyntaxError as exc:
        error = f"SyntaxError at line {exc.lineno}: {exc.msg}"
    if allow_trim:
        lines = code.splitlines()
        for end in range(len(lines) - 1, 0, -1):
            head = "\n".join(lines[:end])
            try:
                ast.parse(head)
            except SyntaxError:
                continue
            if head.strip():
                return (
                    0.5,
                    head + "\n",
                    f"cut-off code parses after dropping {len(lines) - end} line(s)",
                )
    return 0.0, None, error


def score_contains(text: str, expected: tuple[str, ...] | list[str]) -> float:
    """The fraction of ``expected`` strings that occur in ``text``, ignoring case."""
    if not expected:
        return 1.0
    low = text.lower()
    return sum(1 for item in expected if item.lower() in low) / len(expected)


def score_structure(
    task_type: TaskType, text: str, prompt_style: str = "chat", *, has_code: bool = False
) -> float:
    """Whether the answer has the shape its task type asks for.

    - planning: a numbered or bulleted list (3+ items: 1.0, 2: 0.7, 1: 0.4, none: 0);
    - documentation: a heading and 2+ paragraphs (chat); 2+ sentences (completion);
    - review: names issues (bug, risk, missing...) and suggests (should, consider...);
    - testing: test functions or assertions (3+: 1.0, 2: 0.8, 1: 0.6, none: 0);
    - debugging: explains a cause and proposes a fix (words or a code block);
    - coding: contains code (a fenced block, or a completion).
    """
    if task_type is TaskType.PLANNING:
        items = len(_LIST_ITEM.findall(text))
        return {0: 0.0, 1: 0.4, 2: 0.7}.get(items, 1.0)
    if task_type is TaskType.DOCUMENTATION:
        sentences = min(1.0, len(_SENTENCE_END.findall(text)) / 2)
        if prompt_style == "completion":
            return sentences
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        heading = 1.0 if _HEADING.search(text) else 0.0
        return 0.5 * heading + 0.5 * min(1.0, len(paragraphs) / 2)
    if task_type is TaskType.REVIEW:
        return 0.5 * bool(_ISSUE_WORDS.search(text)) + 0.5 * bool(_SUGGEST_WORDS.search(text))
    if task_type is TaskType.TESTING:
        markers = len(_TEST_MARKERS.findall(text))
        return {0: 0.0, 1: 0.6, 2: 0.8}.get(markers, 1.0)
    if task_type is TaskType.DEBUGGING:
        cause = bool(_CAUSE_WORDS.search(text))
        fix = has_code or "```" in text or bool(_FIX_WORDS.search(text))
        return 0.5 * cause + 0.5 * fix
    return 1.0 if has_code or "```" in text else 0.0


def score_substance(text: str, min_words: int = 8) -> float:
    """Enough words (``min_words`` for full marks) and not degenerate repetition.

    An answer whose non-blank lines are mostly the same line repeated (a model stuck
    in a loop) loses in proportion to the share of repeated lines.
    """
    words = len(text.split())
    value = min(1.0, words / min_words)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 4:
        unique = len(set(lines)) / len(lines)
        value *= min(1.0, 2 * unique)
    return value


def _describe(outcome: TestOutcome) -> str:
    text = f"{outcome.passed}/{outcome.total} tests passed"
    if outcome.error:
        text += f"; {outcome.error}"
    return text
