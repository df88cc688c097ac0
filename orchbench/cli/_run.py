"""`orchbench run`: benchmark a profile on suites, sequential vs parallel, through pytest.

The CLI is the front door and pytest the engine: after checking the profile, the suites,
the engine and its models, it runs ``pytest`` over the suite test files with the
``--orchbench-*`` options (see :mod:`orchbench.cli._pytest`: pytest's own output only with
``--verbose``), shows a progress bar fed by the plugin on stderr, and prints the tables
on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from orchbench.bench.session import BenchObserver
from orchbench.bench.stats import DEFAULT_REPEAT
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
    host: Annotated[
        str | None, typer.Option(help="Server URL for ollama/openai (default: the profile's).")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Repeats of every mode.")] = DEFAULT_REPEAT,
    seed: Annotated[
        int | None,
        typer.Option(min=0, help="Sampling seed sent with every request (engines that take one)."),
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up tasks.")] = 1,
    mode: Annotated[
        str, typer.Option(help="compare (sequential vs parallel), models (each alone), all.")
    ] = "compare",
    out: Annotated[
        Path, typer.Option(help="Folder to write into (each run makes its own folder there).")
    ] = Path("results"),
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Also write the HTML report.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show pytest's own output too.")
    ] = False,
) -> None:
    """Benchmark a profile: each suite sequentially and in parallel, with the speedup.

    Tables and the results folder go to stdout; progress and errors to stderr.

    Example: orchbench run --profile embedded --suite code-completion --repeat 5
    """
    from orchbench.backends import BACKEND_KINDS, host_note, resolve_backend_kind
    from orchbench.bench.preflight import check_models, check_suites
    from orchbench.bench.runner import modes_for
    from orchbench.bench.store import new_run_dir
    from orchbench.bench.workload import default_suite, load_suite
    from orchbench.cli._console import err_console, out_console
    from orchbench.profiles import load_profile

    console, err = out_console(), err_console()
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
    kind, note = resolve_backend_kind(prof, backend, host=host)
    if note:
        err.print(f"[yellow]{note}[/yellow]", highlight=False)
    check_models(prof, kind, host=host)
    failed = 0
    for name, workload in zip(suites, workloads, strict=True):
        err.print(
            f"[bold]{workload.name}[/bold] on [bold]{prof.name}[/bold] "
            f"({len(workload.tasks)} tasks, {mode}, {repeat} repeat(s), backend {kind}"
            f"{host_note(kind, host, prof)})",
            highlight=False,
        )
        options: dict[str, Any] = {"profile": profile, "backend": kind, "host": host, "suite": name}
        options |= {"repeat": repeat, "warmup": warmup, "mode": mode, "seed": seed}
        options["run-dir"] = new_run_dir(out, prof.name, workload.name)
        failures = _run_suite(options, verbose, console, err, report=report)
        for line in failures:
            err.print(f"[red]failed:[/red] {escape(line)}", highlight=False)
        failed += bool(failures)
    if failed:
        err.print(f"[red]error:[/red] {failed} suite(s) had failing checks (see above)")
        raise typer.Exit(1)


def _run_suite(
    options: dict[str, Any], verbose: bool, console: Console, err: Console, *, report: bool
) -> list[str]:
    """Run one suite through pytest; print its tables; return its failed checks."""
    import pytest

    from orchbench.bench.table import render
    from orchbench.cli._pytest import Outcomes, pytest_args, suite_test_files

    observer, outcomes = ProgressObserver(err), Outcomes()
    args = pytest_args(suite_test_files(), options, verbose=verbose)
    code = pytest.main(args, plugins=[observer, outcomes])
    for result in observer.results:
        console.print(render(result.summary))
        partial = "" if result.status == "complete" else f" ({result.status})"
        console.print(f"results: {result.run_dir}{partial}", highlight=False)
        if report and result.run_dir is not None and result.status == "complete":
            _write_report(result.run_dir, console, err)
    if code == pytest.ExitCode.INTERRUPTED:
        err.print("[yellow]interrupted[/yellow] (the results folder is marked partial)")
        raise typer.Exit(130)
    if code == pytest.ExitCode.TESTS_FAILED:
        return outcomes.failures or ["a check failed"]
    if code != pytest.ExitCode.OK:
        detail = "; ".join(outcomes.failures) or f"pytest exit code {int(code)}"
        raise OrchbenchError(f"pytest could not run suite {options['suite']!r}: {detail}")
    return []


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
