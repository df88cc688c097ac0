"""What `orchbench tune` prints at the end: the best configurations and the file written."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from orchbench.tune import Objective, TuneResult


def _print_result(
    console: Console, result: TuneResult, objectives: list[Objective], backend: str
) -> None:
    from rich.table import Table

    from orchbench.tune._display import format_params

    multi = len(objectives) > 1
    title = "Pareto set (choose with --pick N)" if multi else "Best configurations"
    table = Table(title=title)
    table.add_column("pick" if multi else "rank", justify="right")
    table.add_column("trial", justify="right")
    for o in objectives:
        table.add_column(f"{o.name} ({o.unit})", justify="right")
    base = result.baseline.params if result.baseline is not None else None
    relative = base if base is not None and len(base) > 4 else None
    table.add_column("configuration" if relative is None else "changes from the original")
    shown = 10 if relative is None else 5  # many parameters: fewer, longer rows
    for i, trial in enumerate(result.ranked[:shown]):
        chosen = " ←" if trial.params == result.picked.params else ""
        values = [f"{v:.4g}" for v in trial.values]
        config = format_params(trial.params, relative)
        table.add_row(str(i), str(trial.number), *values, config + chosen)
    console.print(table)
    if result.baseline is not None and result.baseline.values:
        first = objectives[0]
        base, best = result.baseline.values[0], result.picked.values[0]
        console.print(
            f"search: original {base:.4g} {first.unit} → tuned {best:.4g} {first.unit} "
            f"({first.gain_pct(best, base):+.1f} %) on {backend}"
        )
    for note in result.notes:
        failed = "NOT beat" in note
        console.print(f"[yellow]{note}[/yellow]" if failed else note, highlight=False)


def print_outcome(
    results: Console,
    result: TuneResult,
    objectives: list[Objective],
    kind: str,
    verify_backend: str | None,
) -> None:
    """The result table, what it was measured on, and the file written."""
    from orchbench.backends import engine_class
    from orchbench.engine import on_virtual_clock
    from orchbench.planning import start_command
    from orchbench.tune._write import resolves_by_name

    results.print()
    _print_result(results, result, objectives, kind)
    if on_virtual_clock(engine_class(kind)) and verify_backend is None:
        results.print(
            "[yellow]searched and checked on the simulator: predictions, not measurements; "
            "add --verify-backend embedded|ollama to confirm on a real engine[/yellow]"
        )
    if result.path is None:
        return
    results.print(f"wrote [bold]{result.path}[/bold] (the original profile is unchanged)")
    results.print(start_command(result.tuned) or "", markup=False, highlight=False)
    if resolves_by_name(result.path, result.tuned.name):
        results.print(f"use it: orchbench run --profile {result.tuned.name}")
    else:
        results.print(
            f"[yellow]note: `--profile {result.tuned.name}` finds another file first; "
            f"use --profile {result.path}[/yellow]"
        )
