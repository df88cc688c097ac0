"""How `orchbench run` drives pytest: the arguments, and the failures it reports itself.

pytest stays the engine (a suite is a pytest file a user can run with plain ``pytest``),
but by default its terminal reporter is left out (``-p no:terminal``): no progress dots,
no "1 passed in 18 s", no warnings summary, no ``!!!! KeyboardInterrupt !!!!``. pytest's
warnings plugin still records warnings per test, so none reach the terminal. Failed checks
are collected by :class:`Outcomes` and printed by the CLI as one line each. ``--verbose``
gives pytest its own terminal output back.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchbench.errors import ConfigError, Terminated

QUIET_ARGS = ("-p", "no:terminal", "-p", "no:benchmark")
"""pytest's reporter and pytest-benchmark's (its table belongs to tests/benchmarks only)."""

VERBOSE_ARGS = ("-rfE", "--tb=short")


def suite_test_files() -> list[Path]:
    """The suite test files (``test_*.py``) on the suite search path, first of a name wins."""
    from orchbench.bench.workload import search_path

    files: dict[str, Path] = {}
    for folder in search_path():
        if folder.is_dir():
            for path in sorted(folder.glob("test_*.py")):
                files.setdefault(path.name, path)
    if not files:
        raise ConfigError("no suite test files (suites/test_*.py) found; reinstall orchbench")
    return list(files.values())


def pytest_args(files: list[Path], options: dict[str, Any], *, verbose: bool = False) -> list[str]:
    """The ``pytest.main`` arguments: the files, the ini, quiet or verbose, ``--orchbench-*``.

    ``options`` maps an ``--orchbench-KEY`` option to its value; ``None`` values are left out.
    """
    from orchbench.bench.workload import bundled_suites_dir

    args = [str(f) for f in files]
    ini = bundled_suites_dir() / "pytest.ini"
    if ini.is_file():
        args += ["-c", str(ini)]
    # -s: the progress bar must reach the terminal (pytest would capture it).
    args += ["-s", "-p", "no:cacheprovider"]
    args += list(VERBOSE_ARGS if verbose else QUIET_ARGS)
    # orchbench is imported before pytest starts, so pytest cannot rewrite its asserts.
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    entry_points = importlib.metadata.entry_points(group="pytest11")
    if not any(ep.value == "orchbench.bench.plugin" for ep in entry_points):
        args += ["-p", "orchbench.bench.plugin"]
    for key, value in options.items():
        if value is not None:
            args += [f"--orchbench-{key}", str(value)]
    return args


@dataclass(eq=False)  # a plugin must stay hashable
class Outcomes:
    """A pytest plugin that keeps one line per failed test or collection error."""

    failures: list[str] = field(default_factory=list)
    terminated: bool = False
    """Whether the session was stopped by SIGTERM (:class:`~orchbench.errors.Terminated`)."""

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        """Note whether the interruption was SIGTERM rather than Ctrl-C."""
        self.terminated = isinstance(excinfo.value, Terminated)

    def pytest_runtest_logreport(self, report: Any) -> None:
        """Keep a failed test (or fixture) as ``test name: message``."""
        if report.failed:
            where = "" if report.when == "call" else f" ({report.when})"
            self.failures.append(f"{_test_name(report.nodeid)}{where}: {_message(report)}")

    def pytest_collectreport(self, report: Any) -> None:
        """Keep a file that could not be collected."""
        if report.failed:
            self.failures.append(f"{report.nodeid or 'collection'}: {_message(report)}")


def _test_name(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _message(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        text = str(crash.message)
    else:
        text = str(report.longrepr).strip() or "failed"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if crash is not None else lines[-1]
