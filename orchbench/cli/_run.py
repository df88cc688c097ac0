"""`orchbench run`: benchmark a profile on suites, sequential vs parallel, through pytest.

The CLI is the front door and pytest the engine: after checking the profile, the suites,
the engine and its models, it runs ``pytest`` over the suite test files with the
``--orchbench-*`` options (see :mod:`orchbench.cli._pytest`: pytest's own output only with
``--verbose``), shows a progress bar fed by the plugin on stderr, and prints the tables
on stdout.

Exit codes (also in ``orchbench run --help``): 0 every run complete; 1 a suite's check
failed; 2 bad input (nothing run); 3 a run failed (a mode over ``--max-failed`` failed
tasks, or no model loaded); 4 a run was degraded (a model failed its warm-up and the run
went on without it); 130 Ctrl-C, 143 SIGTERM (results marked partial).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from orchbench.bench.session import DEFAULT_MAX_FAILED, BenchObserver
from orchbench.bench.stats import DEFAULT_REPEAT
from orchbench.errors import ConfigError, OrchbenchError, Terminated

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from orchbench.bench.outcome import BenchResult
    from orchbench.bench.runner import ModeRun
    from orchbench.bench.session import BenchSession

_MODES = ("compare", "models", "all")
EXIT_CHECK_FAILED, EXIT_RUN_FAILED, EXIT_DEGRADED = 1, 3, 4
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
MAX_REPEAT = 1000


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

    def models_unavailable(self, reasons: dict[str, str]) -> None:
        """Say which models failed their warm-up; the run goes on without them."""
        for name, reason in reasons.items():
            self.console.print(
                f"[yellow]warning:[/yellow] model {escape(name)} is unavailable for this run "
                f"({escape(reason)}); its tasks go to the other models",
                highlight=False,
            )

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
    repeat: Annotated[
        int, typer.Option(min=1, max=MAX_REPEAT, help="Repeats of every mode.")
    ] = DEFAULT_REPEAT,
    seed: Annotated[
        int | None,
        typer.Option(min=0, help="Sampling seed sent with every request (engines that take one)."),
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up tasks.")] = 1,
    mode: Annotated[
        str, typer.Option(help="compare (sequential vs parallel), models (each alone), all.")
    ] = "compare",
    max_failed: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of a mode run's tasks that may fail before the run fails (exit 3).",
        ),
    ] = DEFAULT_MAX_FAILED,
    load: Annotated[
        str, typer.Option(help="Load pattern: batch (all at once), rate, concurrency, sweep.")
    ] = "batch",
    rate: Annotated[float | None, typer.Option(help="--load rate: tasks per second.")] = None,
    burstiness: Annotated[
        float | None, typer.Option(help="--load rate: gamma shape of the gaps (1 = Poisson).")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="--load rate: every arrival within this many seconds.")
    ] = None,
    tasks: Annotated[
        int | None, typer.Option(help="Tasks per mode run, cycling the suite (default: its own).")
    ] = None,
    concurrency: Annotated[
        str | None, typer.Option(help="--load concurrency: tasks in flight, e.g. 1,2,4,8.")
    ] = None,
    sweep_points: Annotated[
        int | None, typer.Option(help="--load sweep: points, synchronous to throughput (8).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder to write into (each run makes its own folder there).")
    ] = Path("results"),
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Also write the HTML report.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show pytest's own output too.")
    ] = False,
    slo: Annotated[
        list[str] | None,
        typer.Option(
            "--slo",
            help="Service-level objective NAME=MS (ttft_ms, tpot_ms, itl_ms, e2el_ms); "
            "repeat for several: goodput and SLO attainment are reported.",
        ),
    ] = None,
) -> None:
    """Benchmark a profile: each suite sequentially and in parallel, with the speedup.

    Tables and the results folder go to stdout; progress and errors to stderr.

    Exit codes: 0 complete; 1 a suite's check failed; 2 bad input; 3 a run failed (more
    than --max-failed of a mode's tasks failed, or no model loaded: no speedup is
    reported); 4 degraded (a model failed its warm-up, the run went on without it); 130
    Ctrl-C, 143 SIGTERM (the results folder is marked partial).

    Example: orchbench run --profile embedded --suite code-completion --repeat 5

    Load patterns: orchbench run --profile rtx4090 --backend sim --load sweep
    """
    from orchbench.backends import BACKEND_KINDS, host_note, resolve_backend_kind
    from orchbench.bench.drive import tasks_for
    from orchbench.bench.load import load_spec
    from orchbench.bench.preflight import check_models, check_suites
    from orchbench.bench.runner import modes_for
    from orchbench.bench.slo import parse_slos
    from orchbench.bench.store import new_run_dir
    from orchbench.bench.workload import default_suite, load_suite
    from orchbench.cli._console import err_console, out_console
    from orchbench.cli._outputs import check_out_dir
    from orchbench.profiles import load_profile

    console, err = out_console(), err_console()
    with _signals_raise():
        try:
            if backend not in ("auto", *BACKEND_KINDS):
                raise ConfigError(
                    f"--backend {backend!r} is not valid; valid: auto, {', '.join(BACKEND_KINDS)}"
                )
            if mode not in _MODES:
                raise ConfigError(f"--mode {mode!r} is not valid; valid: {', '.join(_MODES)}")
            check_out_dir(out, "--out")
            slos = parse_slos(slo or [])
            prof = load_profile(profile)
            modes_for(prof, mode)
            suites = suite or [default_suite(prof)]
            workloads = [load_suite(s) for s in suites]
            flags: dict[str, Any] = {"rate": rate, "burstiness": burstiness}
            flags |= {"duration": duration, "tasks": tasks, "concurrency": concurrency}
            flags["sweep-points"] = sweep_points
            spec = load_spec(kind=load, duration_s=duration, sweep_points=sweep_points,
                             seed=seed, rate=rate, burstiness=burstiness, tasks=tasks,
                             concurrency=concurrency)  # fmt: skip
            for workload in workloads:
                tasks_for(workload, spec)  # --tasks / --duration must suit the suite
            for warning in check_suites(prof, workloads):
                err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
            kind, note = resolve_backend_kind(prof, backend, host=host)
            if note:
                err.print(f"[yellow]{note}[/yellow]", highlight=False)
            check_models(prof, kind, host=host)
            verdicts: list[tuple[list[str], list[str]]] = []
            for name, workload in zip(suites, workloads, strict=True):
                err.print(
                    f"[bold]{workload.name}[/bold] on [bold]{prof.name}[/bold] "
                    f"({len(workload.tasks)} tasks, {mode}, --load {spec.kind}, "
                    f"{repeat} repeat(s), backend {kind}"
                    f"{host_note(kind, host, prof)})",
                    highlight=False,
                )
                options: dict[str, Any] = {"profile": profile, "backend": kind, "host": host}
                options |= {"suite": name, "repeat": repeat, "warmup": warmup, "mode": mode}
                options |= {"seed": seed, "max-failed": max_failed, "load": load, **flags}
                options["slo"] = ",".join(f"{k}={v:g}" for k, v in slos.items()) or None
                options["run-dir"] = new_run_dir(out, prof.name, workload.name)
                verdicts.append(_run_suite(options, verbose, console, err, report=report))
        except Terminated:
            err.print("[yellow]terminated[/yellow] (SIGTERM; the results folder is marked partial)")
            raise typer.Exit(EXIT_TERMINATED) from None
    raise typer.Exit(_exit_code(verdicts, err))


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`~orchbench.errors.Terminated` (a stop like Ctrl-C:
    cleanup runs, the results folder is marked partial) and SIGINT raises KeyboardInterrupt
    where the main thread is — not asyncio's default of cancelling the main task, which a
    task that handles its own cancellation could absorb (seen once on a loaded machine: a
    Ctrl-C the run went on through). The old handlers come back after."""

    def _terminate(signum: int, frame: object) -> None:
        raise Terminated()

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt()

    try:
        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate),
            signal.SIGINT: signal.signal(signal.SIGINT, _interrupt),
        }
    except ValueError:  # not the main thread: leave the signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_code(verdicts: list[tuple[list[str], list[str]]], err: Console) -> int:
    """Print each failed check and failed run; the exit code of the worst (see --help)."""
    checks = runs = degraded = 0
    for failures, statuses in verdicts:
        for line in failures:
            err.print(f"[red]failed:[/red] {escape(line)}", highlight=False)
        checks += bool(failures)
        runs += "failed" in statuses
        degraded += "degraded" in statuses
    if runs:
        err.print(f"[red]error:[/red] {runs} run(s) failed (see above); no speedup reported")
        return EXIT_RUN_FAILED
    if checks:
        err.print(f"[red]error:[/red] {checks} suite(s) had failing checks (see above)")
        return EXIT_CHECK_FAILED
    if degraded:
        err.print(
            f"[yellow]degraded:[/yellow] {degraded} run(s) went on without a model that "
            "failed to load (see above)"
        )
        return EXIT_DEGRADED
    return 0


def _run_suite(
    options: dict[str, Any], verbose: bool, console: Console, err: Console, *, report: bool
) -> tuple[list[str], list[str]]:
    """Run one suite through pytest; print its tables; return its failed checks and the
    statuses of its runs."""
    import pytest

    from orchbench.bench.table import render
    from orchbench.cli._pytest import Outcomes, pytest_args, suite_test_files

    observer, outcomes = ProgressObserver(err), Outcomes()
    args = pytest_args(suite_test_files(), options, verbose=verbose)
    code = pytest.main(args, plugins=[observer, outcomes])
    for result in observer.results:
        console.print(render(result.summary))
        marked = "" if result.status == "complete" else f" ({result.status})"
        console.print(f"results: {result.run_dir}{marked}", highlight=False)
        if result.status == "failed":
            err.print(f"[red]run failed:[/red] {escape(str(result.summary.get('stopped')))}")
        if report and result.run_dir is not None and result.status != "partial":
            _write_report(result.run_dir, console, err)
    if code == pytest.ExitCode.INTERRUPTED:
        if outcomes.terminated:
            raise Terminated()
        err.print("[yellow]interrupted[/yellow] (the results folder is marked partial)")
        raise typer.Exit(EXIT_INTERRUPTED)
    statuses = [result.status for result in observer.results]
    if code == pytest.ExitCode.TESTS_FAILED:
        return outcomes.failures or ["a check failed"], statuses
    if code != pytest.ExitCode.OK:
        detail = "; ".join(outcomes.failures) or f"pytest exit code {int(code)}"
        raise OrchbenchError(f"pytest could not run suite {options['suite']!r}: {detail}")
    return [], statuses


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
