"""Running an answer's tests in a subprocess: counting, failures, time limit, isolation."""

from __future__ import annotations

import os

from orchbench.quality._sandbox import TestOutcome, run_tests

ADD = "def add(a, b):\n    return a + b\n"


def test_counts_top_level_asserts_and_test_functions() -> None:
    tests = (
        "assert add(1, 2) == 3\n"
        "assert add(2, 2) == 5\n"
        "def test_negative():\n    assert add(-1, 1) == 0\n"
        "def test_wrong():\n    assert add(0, 0) == 1, 'zero'\n"
    )
    outcome = run_tests(ADD, tests)
    assert (outcome.passed, outcome.total) == (2, 4)
    assert outcome.fraction == 0.5
    assert not outcome.timed_out and outcome.error is None
    assert any("assert add(2, 2) == 5" in f for f in outcome.failures)
    assert any(f.startswith("test_wrong: AssertionError: zero") for f in outcome.failures)


def test_tests_without_asserts_pass_when_they_run_cleanly() -> None:
    assert run_tests(ADD, "add(1, 2)\n").fraction == 1.0
    assert run_tests(ADD, "add(1)\n").fraction == 0.0


def test_code_that_raises_on_import_fails_everything() -> None:
    outcome = run_tests("raise RuntimeError('boom')\n", "assert True\nassert True\n")
    assert outcome.passed == 0 and outcome.total == 2
    assert outcome.error is not None and "RuntimeError: boom" in outcome.error


def test_infinite_loop_hits_the_time_limit_and_keeps_finished_tests() -> None:
    code = "def spin():\n    while True:\n        pass\n"
    outcome = run_tests(code, "assert 1 + 1 == 2\nspin()\nassert False\n", timeout_s=1.0)
    assert outcome.timed_out
    assert outcome.error is not None and "timed out after 1 s" in outcome.error
    assert (outcome.passed, outcome.total) == (1, 2)


def test_code_runs_in_a_fresh_isolated_process_and_directory_the_tests_do_not() -> None:
    code = ADD + (
        "import os, sys\n"
        "def where():\n"
        "    return [os.getpid(), sys.flags.isolated, os.path.isfile('solution.py'),\n"
        "            'orchbench' in sys.modules, 'add' in globals()]\n"
    )
    tests = (
        "import os, sys\n"
        "pid, isolated, here, ours, named = where()\n"
        f"assert pid != {os.getpid()} and pid != os.getpid()\n"
        "assert isolated == 1 and here and not ours and named\n"
        "assert not os.path.isfile('solution.py')\n"  # the judge never sees the code's files
    )
    outcome = run_tests(code, tests)
    assert outcome.fraction == 1.0, outcome
    assert outcome.isolation in ("bwrap", "process")


def test_scoring_reports_the_isolation_used() -> None:
    from orchbench.quality import Sandbox, evaluate
    from orchbench.records import QualityChecks

    sandbox = Sandbox()
    report = evaluate("coding", "def add(a, b):", "```python\n" + ADD + "```",
                      QualityChecks(tests="assert add(1, 2) == 3\n"), sandbox=sandbox)  # fmt: skip
    assert report.to_dict()["tests"]["isolation"] == sandbox.isolation.kind
    assert report.parts["tests"] == 1.0


def test_exit_and_chdir_in_the_code_do_not_break_the_count(tmp_path: object) -> None:
    code = "import os, sys\nos.chdir('/')\ndef f():\n    sys.exit(3)\n"
    outcome = run_tests(code, "assert True\nf()\nassert True\n")
    assert (outcome.passed, outcome.total) == (2, 2)
    assert any("SystemExit" in f for f in outcome.failures)


def test_unparsable_tests_are_reported() -> None:
    outcome = run_tests(ADD, "assert (\n")
    assert outcome.passed == 0 and "tests do not parse" in (outcome.error or "")


def test_outcome_fraction_of_nothing_is_zero() -> None:
    assert TestOutcome(passed=0, total=0).fraction == 0.0
