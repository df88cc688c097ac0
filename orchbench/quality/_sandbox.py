"""Run an answer's tests in a separate Python process, never in ours.

:func:`run_tests` writes the answer's code and the task's tests into a temporary
directory and runs them with ``python -I`` (isolated: no user site-packages, no
``PYTHON*`` variables, not even the script's directory on ``sys.path``) under a time
limit, a CPU-time limit and an address-space limit. Output is discarded; the
process reports through a ``result.json`` it rewrites after every test, so a test
that hangs still leaves the count of those that finished.

This is isolation against accidents (an infinite loop, a crash, ``sys.exit``, a
memory blow-up), not a security sandbox against hostile code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEST_TIMEOUT_S = 10.0
"""Default wall-clock limit for one answer's tests."""


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What running a task's tests against an answer gave."""

    passed: int
    total: int
    timed_out: bool = False
    error: str | None = None
    """Why the code could not be tested at all (it raised on import, the tests do not parse...)."""
    failures: tuple[str, ...] = ()

    __test__ = False  # not a pytest test class, despite the name

    @property
    def fraction(self) -> float:
        """Passed over total; 0 when there was nothing that ran."""
        return self.passed / self.total if self.total else 0.0


def run_tests(code: str, tests: str, *, timeout_s: float = TEST_TIMEOUT_S) -> TestOutcome:
    """Run ``tests`` against ``code`` in a fresh ``python -I`` subprocess; never in process.

    The code and tests are written to a temporary directory that is the process's
    working directory and is removed afterwards. Each top-level ``assert`` of the tests
    and each ``test_*`` function counts as one test; tests without either count as one
    test that passes when they run without error. The process gets ``timeout_s``
    seconds (then it and its children are killed; tests that finished still count), a
    CPU-time limit and, on POSIX, a 2 GiB address-space limit.
    """
    with tempfile.TemporaryDirectory(prefix="orchbench-tests-") as tmp:
        folder = Path(tmp)
        (folder / "solution.py").write_text(code, encoding="utf-8")
        (folder / "tests.py").write_text(tests, encoding="utf-8")
        (folder / "runner.py").write_text(_RUNNER, encoding="utf-8")
        timed_out = _run_isolated(folder, timeout_s)
        try:
            data = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {"passed": 0, "total": 1, "failures": [], "error": "the test process died"}
    error = data.get("error")
    if timed_out:
        error = f"timed out after {timeout_s:g} s" + (f" ({error})" if error else "")
    return TestOutcome(
        passed=int(data["passed"]),
        total=max(1, int(data["total"])),
        timed_out=timed_out,
        error=error,
        failures=tuple(data.get("failures", ())),
    )


def _run_isolated(folder: Path, timeout_s: float) -> bool:
    """Run runner.py in ``folder``; True when it had to be killed for time."""
    env = {"PATH": os.environ.get("PATH", ""), "ORCHBENCH_TEST_CPU_S": str(int(timeout_s) + 1)}
    # Output goes nowhere: an answer printing in a loop must not fill memory or disk.
    proc = subprocess.Popen(
        [sys.executable, "-I", "runner.py"],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=timeout_s)
        return False
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        return True


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    # start_new_session made the runner a process-group leader: kill what it spawned too.
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()


# Runs in the subprocess. Writes result.json after every test, so a test that hangs
# until the time limit still leaves the count of those that finished.
_RUNNER = r"""
import ast, json, os

def limit():
    try:
        import resource
    except ImportError:
        return
    cpu = int(os.environ.get("ORCHBENCH_TEST_CPU_S", "11"))
    for name, value in (("RLIMIT_CPU", cpu), ("RLIMIT_AS", 2 << 30)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError, AttributeError):
            pass

result = {"passed": 0, "total": 1, "failures": [], "error": None}
HERE = os.getcwd()  # the code under test may chdir

def save():
    tmp = os.path.join(HERE, "result.tmp")
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, os.path.join(HERE, "result.json"))

def describe(exc):
    return f"{type(exc).__name__}: {exc}"[:300]

def main():
    limit()
    source = open("tests.py").read()
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        result["error"] = f"the tests do not parse: {exc}"
        return save()
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)
                 and n.name.startswith("test")]
    asserts = sum(isinstance(n, ast.Assert) for n in tree.body)
    result["total"] = max(1, asserts + len(functions))
    save()
    ns = {"__name__": "solution"}
    try:
        exec(compile(open("solution.py").read(), "solution.py", "exec"), ns)
    except BaseException as exc:
        result["error"] = "the code raised " + describe(exc)
        return save()
    ok = True
    for node in tree.body:
        try:
            exec(compile(ast.Module([node], []), "tests.py", "exec"), ns)
            result["passed"] += isinstance(node, ast.Assert)
        except BaseException as exc:
            ok = False
            what = describe(exc)
            if isinstance(exc, AssertionError) and not str(exc):
                what = "failed: " + (ast.get_source_segment(source, node) or "assert")[:200]
            result["failures"].append(f"line {node.lineno}: " + what)
        save()
    for name in functions:
        try:
            ns[name]()
            result["passed"] += 1
        except BaseException as exc:
            ok = False
            result["failures"].append(f"{name}: " + describe(exc))
        save()
    if not asserts and not functions:
        result["passed"] = int(ok)
    save()

main()
"""
