"""The trusted side of the sandbox: runs a task's tests and decides every verdict.

Runs as a script (``python -I _judge.py``), started by :mod:`orchbench.quality._sandbox`,
with its job as one JSON object on stdin: ``tests`` (source), ``timeout_s``, ``box`` (the
command that starts ``_box.py`` in the sandbox), ``box_dir`` (its working directory) and
``limits`` (resource limits for the box). The model's code runs only in the box; here the
tests see its names as proxies (:mod:`orchbench.quality._proxy`, loaded from beside this
file). Each top-level ``assert`` and each ``test_*`` function counts as one test; tests
with neither count as one that passes when everything ran without error.

The judge prints one JSON line of the counts after every test; the last line is final, so a
run cut short still leaves the tests that finished. On a normal end, a time-out or a
watchdog stop it kills the box's process group and every process left under it (the judge
is a child subreaper, so orphans of the box come back to it).
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _load_proxy() -> Any:
    path = Path(__file__).with_name("_proxy.py")
    spec = importlib.util.spec_from_file_location("orchbench_sandbox_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


class Report:
    """The counts so far; :meth:`emit` prints them as one JSON line."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            "passed": 0, "total": 1, "failures": [], "error": None, "timed_out": False,
            "done": False,
        }  # fmt: skip
        self.lock = threading.Lock()

    def emit(self, **changes: Any) -> None:
        """Update and print (the watchdog thread may call this too)."""
        with self.lock:
            self.data.update(changes)
            sys.stdout.write(json.dumps(self.data) + "\n")
            sys.stdout.flush()

    def fail(self, where: str, exc: BaseException, source: str, node: ast.AST | None) -> None:
        """Note one failed test."""
        what = f"{type(exc).__name__}: {exc}"[:300]
        if isinstance(exc, AssertionError) and not str(exc) and node is not None:
            what = "failed: " + (ast.get_source_segment(source, node) or "assert")[:200]
        if len(self.data["failures"]) < 50:
            self.data["failures"].append(f"{where}: {what}")


def _limits(limits: dict[str, int]) -> None:
    # In the box's process just before exec (the judge has no other thread yet).
    for name, value in limits.items():
        with contextlib.suppress(ValueError, OSError, AttributeError):
            resource.setrlimit(getattr(resource, name), (value, value))
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def start_box(job: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the box process in its own session, limited, its stdio our pipes."""
    limits = {str(k): int(v) for k, v in job["limits"].items()}
    return subprocess.Popen(
        [str(a) for a in job["box"]],
        cwd=job["box_dir"],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: _limits(limits),
    )


def sweep(proc: subprocess.Popen[bytes]) -> None:
    """Kill the box's process group, then every process still under the judge."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()
    proc.wait()
    for _ in range(50):
        children = _children()
        if not children:
            return
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def _children() -> list[int]:
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == me:
                found.append(int(entry))
    return found


def run(job: dict[str, Any], report: Report) -> None:
    """Parse the tests, start the box, run each test against its proxies, report."""
    proxy = _load_proxy()
    source = str(job["tests"])
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return report.emit(error=f"the tests do not parse: {exc}", done=True)
    functions = [n.name for n in tree.body
                 if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]  # fmt: skip
    asserts = sum(isinstance(n, ast.Assert) for n in tree.body)
    report.emit(total=max(1, asserts + len(functions)))
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    proc = start_box(job)
    link = proxy.Link(proc, time.monotonic() + float(job["timeout_s"]))
    guard = threading.Timer(float(job["timeout_s"]) + 1.0, _watchdog, (proc, report))
    guard.daemon = True
    guard.start()
    try:
        _run_tests(proxy, link, tree, source, functions, asserts, report)
    finally:
        sweep(proc)
        guard.cancel()
    report.emit(timed_out=link.timed_out, done=True)


def _run_tests(proxy: Any, link: Any, tree: ast.Module, source: str, functions: list[str],
               asserts: int, report: Report) -> None:  # fmt: skip
    try:
        ready = link.read()
    except (proxy.CandidateError, proxy.CandidateTimeout) as exc:
        return report.emit(error=f"the code could not be loaded: {exc}")
    if type(ready) is not dict or "ready" not in ready:
        error = ready.get("error") if type(ready) is dict else None
        return report.emit(error=str(error or "the code could not be loaded")[:300])
    ns = proxy.namespace(link, ready["ready"])
    ok = True
    for node in tree.body:
        if link.timed_out:
            break
        try:
            exec(compile(ast.Module([node], []), "tests.py", "exec"), ns)
            report.data["passed"] += isinstance(node, ast.Assert)
        except BaseException as exc:
            ok = False
            report.fail(f"line {node.lineno}", exc, source, node)
        report.emit()
    for name in functions:
        if link.timed_out:
            break
        try:
            ns[name]()
            report.data["passed"] += 1
        except BaseException as exc:
            ok = False
            report.fail(name, exc, source, None)
        report.emit()
    if not asserts and not functions:
        report.data["passed"] = int(ok and not link.timed_out)


def _watchdog(proc: subprocess.Popen[bytes], report: Report) -> None:
    # The tests themselves hang (not the code): stop everything and say so.
    sweep(proc)
    report.emit(timed_out=True, done=True)
    os._exit(0)


def main() -> None:
    """Read the job from stdin and run it."""
    job = json.loads(sys.stdin.read())
    run(job, Report())


if __name__ == "__main__":
    main()
