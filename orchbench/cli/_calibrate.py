"""`orchbench calibrate`: fit the simulator to a real engine, and check how right it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from orchbench.calibrate import Observation
    from orchbench.calibrate._fidelity import FidelityReport
    from orchbench.config import Profile
    from orchbench.sim import Calibration

EXAMPLES = """
Examples:

  orchbench calibrate --profile embedded

  orchbench calibrate --profile embedded --check

  orchbench calibrate --profile rtx4090 --backend ollama
"""


def engine_kind(profile: Profile, requested: str) -> str:
    """The real engine to measure: ``requested``, or the one the profile runs on."""
    from orchbench.backends import BACKEND_KINDS, engine_class, is_embedded_profile
    from orchbench.engine import engine_measured
    from orchbench.errors import ConfigError

    kind = requested
    if kind == "auto":
        kind = profile.backend.kind
    if kind == "auto":
        kind = "embedded" if is_embedded_profile(profile) else "ollama"
    if kind not in BACKEND_KINDS or not engine_measured(engine_class(kind)):
        raise ConfigError(
            f"--backend {kind!r}: calibration measures a real engine; "
            "valid: embedded, ollama, openai"
        )
    return kind


def print_report(report: FidelityReport, console: Console) -> None:
    """The per-configuration table and the summary line of a fidelity check."""
    from rich.table import Table

    table = Table(title="simulator vs real engine (makespan of the whole workload)")
    for column in (
        "configuration",
        "measured s",
        "predicted s",
        "error",
        "measured tok/s",
        "predicted tok/s",
    ):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for o in report.outcomes:
        table.add_row(
            o.config.label,
            f"{o.measured_s:.2f}",
            f"{o.predicted_s:.2f}",
            f"{100 * o.error:+.1f}%",
            f"{o.measured_tps:.1f}",
            f"{o.predicted_tps:.1f}",
        )
    console.print(table)
    console.print(
        f"makespan MAPE {report.mape:.1f}% (goal ≤ 10%), throughput MAPE "
        f"{report.throughput_mape:.1f}%, Kendall τ {report.kendall_tau:.2f} (goal ≥ 0.8) "
        f"over {len(report.outcomes)} configurations"
    )


def register(app: typer.Typer) -> None:
    """Add the `calibrate` verb to ``app``."""

    @app.command(
        help="Measure a real engine, fit the simulator to it, write "
        "profiles/NAME.calibration.toml.\n" + EXAMPLES
    )
    def calibrate(
        profile: Annotated[str, typer.Option(help="Profile name or path.")] = "embedded",
        backend: Annotated[
            str, typer.Option(help="auto|embedded|ollama|openai: the real engine to measure.")
        ] = "auto",
        host: Annotated[str | None, typer.Option(help="Server URL (ollama/openai).")] = None,
        check: Annotated[
            bool,
            typer.Option(help="Afterwards, compare simulator and engine on ≥ 6 settings."),
        ] = False,
        suite: Annotated[
            str, typer.Option(help="Workload for --check (a suite name or path).")
        ] = "code-completion",
        max_tokens: Annotated[int, typer.Option(help="Tokens per measured request.")] = 48,
        repeats: Annotated[
            int,
            typer.Option(help="Times the plan is run (--check: each setting twice); best kept."),
        ] = 3,
    ) -> None:
        import asyncio

        from rich.console import Console

        from orchbench.backends import make_backend
        from orchbench.calibrate._measure import calibrate as run_calibration
        from orchbench.calibrate._measure import calibration_target
        from orchbench.profiles import load_profile
        from orchbench.sim import save_calibration

        console = Console()
        loaded = load_profile(profile)
        kind = engine_kind(loaded, backend)
        target = calibration_target(profile)

        async def measure() -> tuple[Calibration, list[Observation]]:
            engine = make_backend(kind, host=host, profile=loaded)
            try:
                with console.status("measuring…") as status:
                    return await run_calibration(
                        loaded,
                        engine,
                        engine=kind,
                        max_tokens=max_tokens,
                        progress=lambda label: status.update(f"measuring {label}"),
                    )
            finally:
                await engine.close()

        calibration, _ = asyncio.run(measure())
        save_calibration(calibration, target)
        console.print(f"[green]✓[/green] wrote {target}")
        for name, value in sorted(calibration.device.items()):
            console.print(f"  device.{name} = {value:.4g}")
        for model, params in calibration.models.items():
            console.print(
                f"  {model}: decode {params.decode_tps or 0:.1f} tok/s, prompt "
                f"{params.prompt_tps or 0:.0f} tok/s, load {params.load_s or 0:.2f} s"
            )
        if check:
            from orchbench.bench.workload import load_suite
            from orchbench.calibrate._fidelity import check_fidelity

            workload = load_suite(suite)
            with console.status("checking…") as status:
                report = check_fidelity(
                    loaded,
                    lambda: make_backend(kind, host=host, profile=loaded),
                    workload.tasks,
                    calibration,
                    repeats=max(1, min(repeats, 2)),
                    progress=status.update,
                )
            print_report(report, console)
