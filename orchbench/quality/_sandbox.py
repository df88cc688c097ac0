"""Run an answer's tests against its code with the verdict decided outside the code's process.

Three processes per run, none of them orchbench's own:

* the **box** (:mod:`orchbench.quality._box`) runs the model's code, isolated by
  :class:`~orchbench.quality._isolation.Isolation` (``bwrap`` namespaces where they work,
  else its own session) under CPU, memory, process, file-size and open-file limits;
* the **judge** (:mod:`orchbench.quality._judge`) runs the task's tests, in which the
  code's names are proxies: a call sends plain-data arguments to the box and decodes the
  reply into fresh built-in values, so every comparison, ``assert`` and exception handler
  runs in the judge, on data, never on an object of the model's;
* this module starts the judge, gives it the job on stdin and reads its counts.

What this defeats: the code cannot touch the verdict (no result file, no ``save()``, no
``atexit``, ``os._exit``, patched asserts, builtins or ``sys.modules``, always-equal
``__eq__``: none of them exist in the judge), and under ``bwrap`` it cannot signal
orchbench or the judge, read the home directory or the project, write outside its own
temporary directory, reach the network, or leave a process behind.

Limits, honestly: the box may still return hard-coded answers to the calls the tests make
(it never sees the tests or the expected values, only the arguments of each call); objects
that are not plain data (``int``, ``float``, ``str``, ``bytes``, ``list``, ``tuple``,
``dict``, ``set``) stay in the box and compare by identity; tests may pass only plain data
(and such objects) to the code. Without ``bwrap`` (``isolation == "process"``) the box is a
process of the same user: it can read the user's files, reach the network and signal other
processes of the user. The isolation used is on every :class:`TestOutcome`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchbench.quality._isolation import Isolation
from orchbench.records import TaskSpec

TEST_TIMEOUT_S = 10.0
"""Default wall-clock limit for one answer's tests."""
_HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What running a task's tests against an answer gave."""

    passed: int
    total: int
    timed_out: bool = False
    error: str | None = None
    """Why the code could not be tested at all (it raised on import, the tests do not parse...)."""
    failures: tuple[str, ...] = ()
    isolation: str = "none"
    """How the code was isolated: ``"bwrap"``, ``"process"``, or ``"none"`` (it never ran)."""

    __test__ = False  # not a pytest test class, despite the name

    @property
    def fraction(self) -> float:
        """Passed over total; 0 when there was nothing that ran."""
        return self.passed / self.total if self.total else 0.0


class Sandbox:
    """Runs tests against model code (see the module docstring); probes ``bwrap`` once."""

    def __init__(self, isolation: Isolation | None = None) -> None:
        self.isolation = isolation if isolation is not None else Isolation()

    def run(self, code: str, tests: str, *, timeout_s: float = TEST_TIMEOUT_S) -> TestOutcome:
        """Run ``tests`` against ``code``; the temporary directories are removed afterwards."""
        kind = self.isolation.kind
        with tempfile.TemporaryDirectory(
            prefix="orchbench-tests-", ignore_cleanup_errors=True
        ) as tmp:
            box = Path(tmp) / "box"
            box.mkdir()
            (box / "solution.py").write_text(code, encoding="utf-8")
            shutil.copyfile(_HERE / "_box.py", box / "_box.py")
            job = {
                "tests": tests,
                "timeout_s": timeout_s,
                "box": self.isolation.command(box),
                "box_dir": str(box),
                "limits": self.isolation.limits(timeout_s),
            }
            lines, killed = _judge(json.dumps(job).encode(), Path(tmp), timeout_s)
        return _outcome(lines, killed, timeout_s, kind)


def run_tests(
    code: str, tests: str, *, timeout_s: float = TEST_TIMEOUT_S, sandbox: Sandbox | None = None
) -> TestOutcome:
    """Run ``tests`` against ``code`` in a :class:`Sandbox` (a fresh one unless given).

    Each top-level ``assert`` of the tests and each ``test_*`` function counts as one test;
    tests without either count as one test that passes when they run without error. After
    ``timeout_s`` seconds the code is killed; tests that finished still count.
    """
    return (sandbox if sandbox is not None else Sandbox()).run(code, tests, timeout_s=timeout_s)


def sandbox_isolation(tasks: Iterable[TaskSpec]) -> str | None:
    """How tests of ``tasks`` run here (``"bwrap"`` or ``"process"``); ``None`` if none has tests.

    For a run's summary: the same probe every :class:`Sandbox` makes.
    """
    if not any(task.checks is not None and task.checks.tests for task in tasks):
        return None
    return Isolation().kind


def _judge(job: bytes, folder: Path, timeout_s: float) -> tuple[list[bytes], bool]:
    """Run the judge on ``job``; its output lines, and whether it had to be killed."""
    proc = subprocess.Popen(
        [sys.executable, "-I", str(_HERE / "_judge.py")],
        cwd=folder,
        env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = False
    try:
        out, _ = proc.communicate(job, timeout=timeout_s + 10)
    except subprocess.TimeoutExpired:
        killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out.splitlines(), killed


def _outcome(lines: list[bytes], killed: bool, timeout_s: float, kind: str) -> TestOutcome:
    data: dict[str, object] | None = None
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            break
    if not isinstance(data, dict):
        return TestOutcome(0, 1, killed, "the test process died", (), kind)
    timed_out = bool(data.get("timed_out")) or killed
    error = data.get("error")
    if timed_out:
        error = f"timed out after {timeout_s:g} s" + (f" ({error})" if error else "")
    failures = data.get("failures")
    return TestOutcome(
        passed=int(data.get("passed", 0)),  # type: ignore[call-overload]
        total=max(1, int(data.get("total", 1))),  # type: ignore[call-overload]
        timed_out=timed_out,
        error=None if error is None else str(error),
        failures=tuple(str(f) for f in failures) if isinstance(failures, list) else (),
        isolation=kind,
    )
