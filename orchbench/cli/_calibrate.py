"""`orchbench calibrate`: fit the simulator to a real engine, and check how right it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console

    from orchbench.calibrate import Observation
    from orchbench.calibrate._fidelity import CheckRuns, FidelityReport
    from orchbench.config import Profile
    from orchbench.sim import Calibration

EXAMPLES = """
Examples:

  orchbench calibrate --profile embedded

  orchbench calibrate --profile embedded --suite smoke --repeat 1

  orchbench calibrate --profile embedded --no-check --force

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
        f"makespan MAPE {report.mape:.1f}% (goal ≤ {MAPE_GOAL:g}%), mean signed error "
        f"{report.bias:+.1f}% (goal within ±{BIAS_GOAL:g}%), throughput MAPE "
        f"{report.throughput_mape:.1f}%, Kendall τ {report.kendall_tau:.2f} "
        f"(goal ≥ {TAU_GOAL:g}) over {len(report.outcomes)} held-out configurations"
    )
    floor = report.repeatability
    if floor is not None:
        console.print(
            f"the real engine against itself (medians of its odd and even runs): makespan MAPE "
            f"{floor[0]:.1f}%, Kendall τ {floor[1]:.2f} — what any prediction is judged against"
        )


MAPE_GOAL = 5.0
"""The makespan error (percent) a calibration must stay within to be written."""
BIAS_GOAL = 3.0
"""The mean signed makespan error (percent) it must stay within: no systematic optimism."""
TAU_GOAL = 0.9
"""The rank agreement (Kendall τ) between predicted and measured makespans it must reach."""
NOISE_SECONDS = 3.0
"""How long the machine is watched before measuring (orchbench.bench.noise)."""


def missed_goals(report: FidelityReport) -> list[str]:
    """The fidelity goals ``report`` misses, one phrase each (empty: it meets them all)."""
    missed = []
    if report.mape > MAPE_GOAL:
        missed.append(f"makespan MAPE {report.mape:.1f}% > {MAPE_GOAL:g}%")
    if abs(report.bias) > BIAS_GOAL:
        missed.append(f"mean signed error {report.bias:+.1f}% beyond ±{BIAS_GOAL:g}%")
    if report.kendall_tau < TAU_GOAL:
        missed.append(f"Kendall τ {report.kendall_tau:.2f} < {TAU_GOAL:g}")
    floor = report.repeatability
    if missed and floor is not None and (floor[0] > MAPE_GOAL or floor[1] < TAU_GOAL):
        missed.append(
            f"the engine's own repeats differ by {floor[0]:.1f}% (τ {floor[1]:.2f}): "
            "this machine is too noisy now to judge the goals; calibrate when it is quiet"
        )
    return missed


def check_provenance(
    report: FidelityReport, suite: str, missed: list[str]
) -> dict[str, str | int | float | bool]:
    """What the check found, for the calibration file: its figures and whether it met
    the goals (a file written off goal with --force says so)."""
    found: dict[str, str | int | float | bool] = {
        "check.suite": suite,
        "check.configurations": len(report.outcomes),
        "check.mape_percent": round(report.mape, 2),
        "check.bias_percent": round(report.bias, 2),
        "check.kendall_tau": round(report.kendall_tau, 3),
        "check.goals_met": not missed,
    }
    floor = report.repeatability
    if floor is not None:
        found["check.engine_repeat_mape_percent"] = round(floor[0], 2)
        found["check.engine_repeat_kendall_tau"] = round(floor[1], 3)
    return found


def _measure(
    profile: Profile,
    kind: str,
    host: str | None,
    options: tuple[int, bool],
    err: Console,
    check: CheckRuns | None,
) -> Calibration:
    """Measure and fit; with ``check``, its passes run between the plan's repeats."""
    import asyncio

    from orchbench.backends import make_backend
    from orchbench.calibrate._measure import calibrate as run_calibration

    max_tokens, force = options

    async def measure() -> tuple[Calibration, list[Observation]]:
        engine = make_backend(kind, host=host, profile=profile)
        try:
            return await run_calibration(
                profile,
                engine,
                engine=kind,
                max_tokens=max_tokens,
                progress=lambda line: err.print(f"measuring {line}", highlight=False),
                strict=not force,
                check=check,
            )
        finally:
            await engine.close()

    calibration = asyncio.run(measure())[0]
    for key, why in calibration.provenance.items():
        if key.startswith("degenerate."):
            err.print(f"[yellow]warning (kept: --force): {why}[/yellow]", highlight=False)
    return calibration


def _check_runs(profile: Profile, kind: str, suite: str, repeat: int, err: Console) -> CheckRuns:
    """The fidelity check's real side, to be measured alongside the calibration."""
    from orchbench.backends import engine_class
    from orchbench.bench.workload import load_suite
    from orchbench.calibrate._fidelity import CheckRuns, default_check_configs
    from orchbench.engine import batches_slots

    configs = default_check_configs(profile, slots=batches_slots(engine_class(kind)))
    return CheckRuns(
        profile,
        load_suite(suite).tasks,
        configs,
        passes=repeat,
        progress=lambda line: err.print(line, highlight=False),
    )


def machine_noise(seconds: float = NOISE_SECONDS) -> dict[str, object]:
    """The noise guard's verdict on this machine over ``seconds`` (orchbench.bench.noise)."""
    import time

    from orchbench.bench.noise import NoiseProbe, assess

    probe = NoiseProbe()
    time.sleep(seconds)
    return assess([probe.sample()])


def refuse_if_noisy(noise: dict[str, object], force: bool) -> None:
    """Raise ConfigError when ``noise`` says the machine is busy, unless ``force``."""
    from orchbench.errors import ConfigError

    if noise.get("noisy") and not force:
        listed = noise.get("reasons")
        reasons = "; ".join(str(r) for r in listed) if isinstance(listed, list) else "noisy"
        raise ConfigError(
            f"the machine is busy ({reasons}): a calibration now would fit the other "
            "programs' load; run it on a quiet machine, or pass --force to calibrate anyway "
            "(the calibration records that it was noisy)"
        )


def _print_calibration(calibration: Calibration, console: Console) -> None:
    errors = calibration.provenance
    for name, value in sorted(calibration.device.items()):
        if not isinstance(value, int | float):
            console.print(f"  device.{name} = {_curve_text(value, errors, name)}")
            continue
        err = errors.get(f"stderr.{name}")
        spread = f" ± {err:.2g}" if isinstance(err, float) else " (uncertainty unknown)"
        console.print(f"  device.{name} = {value:.4g}{spread}")
    for model, params in calibration.models.items():
        console.print(
            f"  {model}: decode {params.decode_tps or 0:.1f} tok/s, prompt "
            f"{params.prompt_tps or 0:.0f} tok/s, load {params.load_s or 0:.2f} s"
        )


def _curve_text(points: object, errors: Mapping[str, object] | None = None, name: str = "") -> str:
    """A measured curve ``[[b, ratio], ...]`` as ``1: 1, 2: 1.08 ± 0.02, …``, each point's
    standard error from ``errors`` (``stderr.<name>.<b>``) where fitted; anything else as is."""
    if not (
        isinstance(points, list | tuple)
        and all(isinstance(p, list | tuple) and len(p) == 2 for p in points)
    ):
        return str(points)
    shown = []
    for b, r in points:
        err = (errors or {}).get(f"stderr.{name}.{b:g}")
        shown.append(f"{b:g}: {r:.3g}" + (f" ± {err:.2g}" if isinstance(err, float) else ""))
    return ", ".join(shown) + " (measured, batch: ratio)"


def register(app: typer.Typer) -> None:
    """Add the `calibrate` verb to ``app``."""

    @app.command(
        help="Measure a real engine, fit the simulator to it, check the fit, and write "
        "profiles/NAME.calibration.toml only when the check meets its goals "
        f"(makespan MAPE ≤ {MAPE_GOAL:g}%, mean signed error within ±{BIAS_GOAL:g}%, "
        f"Kendall τ ≥ {TAU_GOAL:g}) or with --force. Exit 1 when the check misses them; "
        "exit 2 on a busy machine or when the measurements cannot determine a parameter "
        "(--force keeps such a fit, with a warning). Results on stdout, progress on stderr.\n"
        + EXAMPLES
    )
    def calibrate(
        profile: Annotated[
            str, typer.Option("--profile", "-p", help="Profile name or path.")
        ] = "embedded",
        backend: Annotated[
            str, typer.Option(help="auto|embedded|ollama|openai: the real engine to measure.")
        ] = "auto",
        host: Annotated[str | None, typer.Option(help="Server URL (ollama/openai).")] = None,
        check: Annotated[
            bool,
            typer.Option(
                "--check/--no-check",
                help="Compare simulator and engine on ≥ 6 settings before writing "
                "(--no-check writes only with --force).",
            ),
        ] = True,
        suite: Annotated[
            str,
            typer.Option("--suite", "-s", help="Workload for the check (a suite name or path)."),
        ] = "code-completion",
        max_tokens: Annotated[int, typer.Option(help="Tokens per measured request.")] = 48,
        repeat: Annotated[
            int,
            typer.Option(
                min=1,
                max=10,
                help="Runs of each check setting, interleaved; the median is kept, and the "
                "medians of the odd and the even runs give the engine's own repeatability.",
            ),
        ] = 5,
        force: Annotated[
            bool,
            typer.Option("--force", help="Write the calibration even unchecked or off goal."),
        ] = False,
    ) -> None:
        from orchbench.calibrate._measure import calibration_target
        from orchbench.cli._console import err_console, out_console
        from orchbench.errors import ConfigError
        from orchbench.profiles import load_profile
        from orchbench.sim import save_calibration

        console, err = out_console(), err_console()
        loaded = load_profile(profile)
        kind = engine_kind(loaded, backend)
        target = calibration_target(profile)
        if not check and not force:
            raise ConfigError(
                f"--no-check: an unchecked calibration is written to {target} only with --force"
            )
        noise = machine_noise()
        refuse_if_noisy(noise, force)
        runs = _check_runs(loaded, kind, suite, repeat, err) if check else None
        calibration = _measure(loaded, kind, host, (max_tokens, force), err, runs)
        calibration.provenance["noisy"] = bool(noise.get("noisy"))
        _print_calibration(calibration, console)
        missed: list[str] = []
        if runs is not None:
            report = runs.compare(calibration)
            print_report(report, console)
            missed = missed_goals(report)
            calibration.provenance.update(check_provenance(report, suite, missed))
        if missed and not force:
            err.print(
                f"[red]not written:[/red] the check missed its goals ({'; '.join(missed)}); "
                f"{target} is unchanged (--force writes it anyway)",
                highlight=False,
            )
            raise typer.Exit(1)
        save_calibration(calibration, target)
        why = " (unchecked: --force)" if not check else " (off goal: --force)" if missed else ""
        console.print(f"[green]✓[/green] wrote {target}{why}", highlight=False)
        if missed:
            raise typer.Exit(1)
