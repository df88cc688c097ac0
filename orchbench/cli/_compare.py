"""`orchbench compare RUN_A RUN_B [RUN_C ...] [--fail-on RULE]`: runs side by side.

Exit codes: 0 when every rule holds, 1 when a ``--fail-on`` rule is broken (so it can
gate CI), 2 for bad input (a missing folder, a malformed rule, or a ``--fail-on`` gate
over a run the noise guard marked noisy, unless ``--allow-noisy``).

A noisy run's differences are never called "beyond noise": its column says "not judged".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from orchbench.report import Comparison, MetricRow


def _value(row: MetricRow, i: int) -> str:
    from orchbench.report._tables import fmt

    return fmt(row.values[i])


def _change(row: MetricRow, i: int) -> str:
    change = row.changes_pct[i]
    if change is None:
        return "–"
    good = change == 0 or (change > 0) == row.higher_is_better
    colour = "green" if good else "red"
    return f"[{colour}]{change:+.1f}%[/{colour}]"


def _noise(row: MetricRow, i: int, noisy: bool = False) -> str:
    if noisy:
        return "not judged: noisy"
    test = row.tests[i] if i < len(row.tests) else None
    if test is None or test.significant is None:
        return "too few repeats"
    return f"[bold]yes (p={test.p_value:.3f})[/bold]" if test.significant else "no"


def _too_few(comparison: Comparison) -> str | None:
    """The line explaining "too few repeats", when some row had too few."""
    from orchbench.bench.stats import needed_repeats

    short = [
        t for row in comparison.rows for t in row.tests[1:] if t is not None and t.p_value is None
    ]
    if not short:
        return None
    sizes = sorted({f"{t.n_a} vs {t.n_b}" for t in short})
    return (
        f"too few repeats to tell ({', '.join(sizes)}): an exact test needs at least "
        f"{needed_repeats()} repeats per run (orchbench run --repeat N)"
    )


def pair_table(comparison: Comparison) -> Table:
    """Two runs: metric, both values, the change, and whether it is significant."""
    from rich.table import Table

    a, b = comparison.runs
    noisy = bool(a.noisy or b.noisy)
    table = Table(title=f"{a.label} → {b.label}")
    for name in ("metric", a.label, b.label, "change", "beyond noise"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for row in comparison.rows:
        if all(v is None for v in row.values):
            continue
        cells = (_value(row, 0), _value(row, 1), _change(row, 1), _noise(row, 1, noisy))
        table.add_row(row.label, *cells)
    return table


def hardware_table(comparison: Comparison) -> Table:
    """Several runs (e.g. one profile on several machines): one column per run."""
    from rich.table import Table

    table = Table(title="Hardware comparison (change against the first run; * beyond noise)")
    table.add_column("metric")
    for run in comparison.runs:
        kind = "measured" if run.measured else "SIMULATED"
        table.add_column(
            f"{run.label}\n{run.machine}\nprofile {run.profile}\n{run.backend} ({kind})",
            justify="right",
        )
    for row in comparison.rows:
        if all(v is None for v in row.values):
            continue
        cells = [_value(row, 0)]
        for i in range(1, len(comparison.runs)):
            judged = not (comparison.runs[0].noisy or comparison.runs[i].noisy)
            star = "*" if row.beyond_noise[i] and judged else ""
            if row.values[i] is None:
                cells.append("–")
            else:
                cells.append(f"{_value(row, i)} ({_change(row, i)}){star}")
        table.add_row(row.label, *cells)
    return table


def register(app: typer.Typer) -> None:
    """Add the `compare` verb to ``app``."""

    @app.command("compare")
    def compare(
        runs: Annotated[
            list[Path],
            typer.Argument(help="Two or more results folders; the first is the baseline."),
        ],
        fail_on: Annotated[
            list[str] | None,
            typer.Option(
                "--fail-on",
                help="A rule METRIC OP THRESHOLD, e.g. 'throughput<-5%' (change in percent) or "
                "'p95_latency_s>0.5' (absolute change); repeatable. Exit 1 when one is broken.",
            ),
        ] = None,
        allow_noisy: Annotated[
            bool,
            typer.Option(
                "--allow-noisy/--refuse-noisy",
                help="Gate with --fail-on even when a run was marked noisy (default: refuse, "
                "exit 2: a busy machine's differences are not the change's).",
            ),
        ] = False,
    ) -> None:
        """Compare results folders side by side and gate on regressions.

        A change is "beyond noise" when an exact Mann–Whitney U test on the two runs'
        repeats gives p <= 0.05; that needs at least 4 repeats per run. Runs the noise guard
        marked noisy are flagged, their differences are not judged, and a --fail-on gate
        over them is refused (exit 2) unless --allow-noisy.

        Example: orchbench compare results/before results/after --fail-on "throughput<-5%"
        """
        from orchbench.cli._console import out_console
        from orchbench.report import compare_runs

        comparison = compare_runs(runs, fail_on or [])
        console = out_console()
        table = pair_table(comparison) if len(runs) == 2 else hardware_table(comparison)
        console.print(table)
        short = _too_few(comparison)
        if short:
            console.print(short, highlight=False)
        for run in comparison.noisy:
            console.print(
                f"[red]NOISY: {run.label}: {run.noisy}; its differences may be the "
                "machine's other load, not the change[/red]",
                highlight=False,
            )
        simulated = [r.label for r in comparison.runs if not r.measured]
        if simulated:
            console.print(f"[red]SIMULATED (not measured): {', '.join(simulated)}[/red]")
        if comparison.noisy and fail_on and not allow_noisy:
            _refuse_noisy_gate(comparison)
        for outcome in comparison.outcomes:
            colour = "red" if outcome.broken else "green"
            console.print(f"[{colour}]{outcome.message}[/{colour}]", highlight=False)
        if not comparison.ok:
            raise typer.Exit(1)


def _refuse_noisy_gate(comparison: Comparison) -> None:
    """Exit 2: a ``--fail-on`` gate over a noisy run would pass or fail on the noise."""
    from orchbench.cli._console import err_console

    labels = ", ".join(run.label for run in comparison.noisy)
    err_console().print(
        f"[red]error: refusing to gate on noisy run(s) {labels}: re-run them on a quiet "
        "machine, or pass --allow-noisy to gate anyway[/red]",
        highlight=False,
    )
    raise typer.Exit(2)
