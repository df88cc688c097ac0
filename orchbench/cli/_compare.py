"""`orchbench compare RUN_A RUN_B [RUN_C ...] [--fail-on RULE]`: runs side by side.

Exit codes: 0 when every rule holds, 1 when a ``--fail-on`` rule is broken (so it can
gate CI), 2 for bad input (a missing folder, a malformed rule).
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


def _noise(row: MetricRow, i: int) -> str:
    return {True: "[bold]yes[/bold]", False: "no", None: "?"}[row.beyond_noise[i]]


def pair_table(comparison: Comparison) -> Table:
    """Two runs: metric, both values, the change, and whether it is beyond the noise."""
    from rich.table import Table

    a, b = comparison.runs
    table = Table(title=f"{a.label} → {b.label}")
    for name in ("metric", a.label, b.label, "change", "beyond noise"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for row in comparison.rows:
        if all(v is None for v in row.values):
            continue
        table.add_row(row.label, _value(row, 0), _value(row, 1), _change(row, 1), _noise(row, 1))
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
            star = "*" if row.beyond_noise[i] else ""
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
    ) -> None:
        """Compare results folders side by side and gate on regressions.

        A change is "beyond noise" when the repeats of the two runs do not overlap.

        Example: orchbench compare results/before results/after --fail-on "throughput<-5%"
        """
        from rich.console import Console

        from orchbench.report import compare_runs

        comparison = compare_runs(runs, fail_on or [])
        console = Console()
        table = pair_table(comparison) if len(runs) == 2 else hardware_table(comparison)
        console.print(table)
        simulated = [r.label for r in comparison.runs if not r.measured]
        if simulated:
            console.print(f"[red]SIMULATED (not measured): {', '.join(simulated)}[/red]")
        for outcome in comparison.outcomes:
            colour = "red" if outcome.broken else "green"
            console.print(f"[{colour}]{outcome.message}[/{colour}]", highlight=False)
        if not comparison.ok:
            raise typer.Exit(1)
