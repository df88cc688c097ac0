"""`orchbench run`: benchmark a profile on suites, sequential vs parallel, through pytest.

The CLI is the front door and pytest the engine: after checking the profile, the suites,
the engine and its models, it runs ``pytest`` over the suite test files with the
``--orchbench-*`` options, shows a progress bar fed by the plugin, and prints the tables.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from orchbench.bench.session import BenchObserver
from orchbench.errors import ConfigError, OrchbenchError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from orchbench.bench.outcome import BenchResult
    from orchbench.bench.runner import ModeRun
    from orchbench.bench.session import BenchSession

_MODES = ("compare", "models", "all")


class ProgressObserver(BenchObserver):
    """Drives a rich progress bar from the plugin: tasks done, and work in flight per model."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.results: list[BenchResult] = []
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""

    def run_started(self, session: BenchSession, total_tasks: int) -> None:
        """Open a bar for the run's timed tasks."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(session.workload.name, total=total_tasks)

    def mode_started(self, mode: str, repeat: int, n_tasks: int) -> None:
        """Name the mode being run."""
        if mode == "warmup":
            self.console.print(f"[dim]loading models and warming up ({n_tasks} task(s))…[/dim]")
            return
        self._label = f"{mode} · repeat {repeat + 1}"
        self._describe({})

    def event(self, event: Any) -> None:
        """Advance on each finished task; show requests in flight per model."""
        if self._progress is None or self._task is None:
            return
        if event.kind == "finished":
            self._progress.advance(self._task)
        self._describe(event.in_flight)

    def _describe(self, in_flight: dict[str, int]) -> None:
        if self._progress is None or self._task is None:
            return
        busy = ", ".join(f"{m} ×{n}" for m, n in in_flight.items() if n) or "idle"
        self._progress.update(self._task, description=f"{self._label} · in flight: {busy}")

    def mode_finished(self, run: ModeRun) -> None:
        """Log the mode's headline number above the bar."""
        agg = run.aggregates
        self.console.print(
            f"  {run.mode:<12} repeat {run.repeat + 1}: {agg['total_s']:.2f} s, "
            f"{agg['tasks_per_s'] or 0:.2f} tasks/s, {agg['failures']} failed",
            highlight=False,
        )

    def run_finished(self, result: BenchResult) -> None:
        """Close the bar and keep the result for the tables."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.results.append(result)


def _suite_test_files() -> list[Path]:
    from orchbench.bench.workload import search_path

    files: dict[str, Path] = {}
    for folder in search_path():
        if folder.is_dir():
            for path in sorted(folder.glob("test_*.py")):
                files.setdefault(path.name, path)
    if not files:
        raise ConfigError("no suite test files (suites/test_*.py) found; reinstall orchbench")
    return list(files.values())


def _pytest_args(
    files: list[Path], profile: str, backend: str, suite: str, options: dict[str, Any]
) -> list[str]:
    from orchbench.bench.workload import bundled_suites_dir

    args = [str(f) for f in files]
    ini = bundled_suites_dir() / "pytest.ini"
    if ini.is_file():
        args += ["-c", str(ini)]
    # -s: the progress bar must reach the terminal; --tb=line: a failed gate is one line.
    args += ["-q", "-s", "--no-header", "--tb=line", "-rfE", "-p", "no:cacheprovider"]
    # orchbench is imported before pytest starts, so pytest cannot rewrite its asserts.
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    entry_points = importlib.metadata.entry_points(group="pytest11")
    if not any(ep.value == "orchbench.bench.plugin" for ep in entry_points):
        args += ["-p", "orchbench.bench.plugin"]
    args += ["--orchbench-profile", profile, "--orchbench-backend", backend]
    args += ["--orchbench-suite", suite]
    for key, value in options.items():
        args += [f"--orchbench-{key}", str(value)]
    return args


def run(
    profile: Annotated[str, typer.Option("--profile", "-p", help="Profile name or path.")] = (
        "embedded"
    ),
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help="Suite name or path; repeat for several."),
    ] = None,
    backend: Annotated[
        str, typer.Option(help="auto, ollama, openai, embedded, sim (or fake, for tests).")
    ] = "auto",
    repeat: Annotated[int, typer.Option(min=1, help="Repeats of every mode.")] = 3,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up tasks.")] = 1,
    mode: Annotated[
        str, typer.Option(help="compare (sequential vs parallel), models (each alone), all.")
    ] = "compare",
    out: Annotated[Path, typer.Option(help="Folder for the run folders.")] = Path("results"),
    report: Annotated[bool, typer.Option("--report", help="Also write the HTML report.")] = False,
) -> None:
    """Benchmark a profile: each suite sequentially and in parallel, with the speedup.

    Example: orchbench run --profile embedded --suite code-completion --repeat 3
    """
    import pytest

    from orchbench.backends import BACKEND_KINDS, resolve_backend_kind
    from orchbench.bench.preflight import check_models, check_suites
    from orchbench.bench.runner import modes_for
    from orchbench.bench.store import new_run_dir
    from orchbench.bench.table import render
    from orchbench.bench.workload import default_suite, load_suite
    from orchbench.profiles import load_profile

    # Piped output gets a width that fits the tables instead of rich's 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    err = Console(stderr=True)
    if backend not in ("auto", *BACKEND_KINDS):
        raise ConfigError(
            f"--backend {backend!r} is not valid; valid: auto, {', '.join(BACKEND_KINDS)}"
        )
    if mode not in _MODES:
        raise ConfigError(f"--mode {mode!r} is not valid; valid: {', '.join(_MODES)}")
    prof = load_profile(profile)
    modes_for(prof, mode)
    suites = suite or [default_suite(prof)]
    workloads = [load_suite(s) for s in suites]
    for warning in check_suites(prof, workloads):
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    kind, note = resolve_backend_kind(prof, backend)
    if note:
        err.print(f"[yellow]{note}[/yellow]", highlight=False)
    check_models(prof, kind)
    files = _suite_test_files()
    failed = 0
    for name, workload in zip(suites, workloads, strict=True):
        console.print(
            f"[bold]{workload.name}[/bold] on [bold]{prof.name}[/bold] "
            f"({len(workload.tasks)} tasks, {mode}, {repeat} repeat(s), backend {kind})",
            highlight=False,
        )
        observer = ProgressObserver(console)
        run_dir = new_run_dir(out, prof.name, workload.name)
        options = {"repeat": repeat, "warmup": warmup, "mode": mode, "run-dir": run_dir}
        args = _pytest_args(files, profile, kind, name, options)
        args += ["--benchmark-json", str(run_dir / "benchmark.json")]
        code = pytest.main(args, plugins=[observer])
        for result in observer.results:
            console.print(render(result.summary))
            console.print(f"results: {result.run_dir}", highlight=False)
            if report and result.run_dir is not None:
                _write_report(result.run_dir, console, err)
        if code == pytest.ExitCode.INTERRUPTED:
            raise KeyboardInterrupt
        if code == pytest.ExitCode.TESTS_FAILED:
            failed += 1
        elif code != pytest.ExitCode.OK:
            raise OrchbenchError(f"pytest could not run suite {name!r} (exit code {int(code)})")
    if failed:
        err.print(f"[red]error:[/red] {failed} suite(s) had failing checks (see above)")
        raise typer.Exit(1)


def _write_report(run_dir: Path, console: Console, err: Console) -> None:
    try:
        from orchbench.report import write_report
    except ImportError:
        err.print("[yellow]--report: orchbench.report is not available[/yellow]")
        return
    path = write_report(run_dir)
    console.print(f"report: {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the `run` verb to ``app``."""
    app.command("run")(run)
