"""`orchbench tune`: fit a profile's limits to this machine with Optuna, write NAME.tuned.toml.

Parses and checks the options (every bad value is one line and exit 2 before anything
runs), builds the evaluators, calls :func:`orchbench.tune.tune` and prints what it found.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from orchbench.bench.workload import Workload
    from orchbench.config import Profile
    from orchbench.tune import Constraint, Evaluator, Objective, StudySpec, TuneResult

EXAMPLES = """
Examples:

  orchbench tune --profile embedded --trials 20

  orchbench tune --profile rtx4090 --backend sim --trials 300 --verify-backend ollama

  orchbench tune --profile embedded --objective throughput --objective p95-latency --pick 1

  orchbench tune --profile embedded --timeout 15m --constraint "p95<30s" --constraint "errors==0"

  orchbench tune --profile embedded --storage sqlite:///tune.db --study team

  (start the last one on several machines or processes: all add trials to one study)

  orchbench tune --profile embedded --trials 40 --workers 2

  orchbench tune --profile rtx4090 --backend sim --study team --storage postgresql://u:pw@db/tuning

  orchbench tune --profile rtx4090 --finish --study team --storage postgresql://u:pw@db/tuning

  orchbench tune --profile embedded --trials 20 --force

  (an existing profiles/NAME.tuned.toml is replaced only with --force; --out DIR writes
  DIR/NAME.tuned.toml instead)
"""

VERIFY_KINDS = ("embedded", "ollama", "openai", "fake")


def study_name(profile: str, suite: str, backend: str, objectives: list[Objective]) -> str:
    """The default study name: one per profile, suite, engine and objectives (so reruns resume)."""
    raw = f"{profile}-{suite}-{backend}-{'+'.join(o.name for o in objectives)}"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", raw)


def _forced_command(ctx: typer.Context, profile: str) -> str:
    """The command line that was run, with ``--force`` added (to show in a refusal)."""
    import shlex

    argv = (ctx.obj or {}).get("argv") if isinstance(ctx.obj, dict) else None
    if not argv:
        argv = ["tune", "--profile", profile]
    return "orchbench " + shlex.join([*argv, "--force"])


def _goals(
    objective: list[str] | None,
    constraint: list[str] | None,
    timeout: str | None,
    sampler: str,
    verify_backend: str | None,
) -> tuple[list[Objective], tuple[Constraint, ...], float | None]:
    """Parse what to optimise and the limits; every bad value is a ConfigError."""
    from orchbench.errors import ConfigError
    from orchbench.tune import SAMPLERS, parse_constraint, parse_duration, parse_objective

    objectives = [parse_objective(o) for o in objective or ["throughput"]]
    if len({o.name for o in objectives}) != len(objectives):
        raise ConfigError("--objective: each objective may be given once")
    constraints = tuple(parse_constraint(c) for c in constraint or [])
    timeout_s = parse_duration(timeout) if timeout is not None else None
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler: unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    if verify_backend is not None and verify_backend not in VERIFY_KINDS:
        raise ConfigError(
            f"--verify-backend: {verify_backend!r} is not a real engine; valid: "
            f"{', '.join(VERIFY_KINDS)}"
        )
    return objectives, constraints, timeout_s


def _slos(
    texts: list[str] | None, objectives: list[Objective], constraints: tuple[Constraint, ...]
) -> dict[str, float]:
    """The ``--slo`` bounds; goodput (objective or constraint) without any is a ConfigError."""
    from orchbench.bench.slo import parse_slos
    from orchbench.errors import ConfigError

    slos = parse_slos(texts or [])
    wants = {o.metric for o in objectives} | {c.key for c in constraints}
    if not slos and wants & {"goodput", "slo_attainment_pct"}:
        raise ConfigError(
            "--objective goodput (or a goodput/slo-attainment constraint) needs an SLO: "
            "add e.g. --slo ttft_ms=500 --slo e2el_ms=30000"
        )
    return slos


def _inputs(
    profile: str, suite: str | None, verify_suite: str | None, console: Console
) -> tuple[Profile, Workload, Workload]:
    """Load the profile and the suites; a suite the profile's models cannot serve is an error."""
    from orchbench.bench.workload import default_suite, load_suite, style_problem
    from orchbench.errors import ConfigError
    from orchbench.profiles import load_profile

    source = load_profile(profile)
    workload = load_suite(suite or default_suite(source))
    verify_workload = load_suite(verify_suite) if verify_suite else workload
    for checked in {workload.name: workload, verify_workload.name: verify_workload}.values():
        problem = style_problem(source, checked)
        if problem is not None and problem[0] == "error":
            raise ConfigError(problem[1])
        if problem is not None:
            console.print(f"[yellow]warning: {problem[1]}[/yellow]")
    return source, workload, verify_workload


def register(app: typer.Typer) -> None:
    """Add the `tune` verb to ``app``."""

    @app.command("tune", epilog=EXAMPLES)
    def tune_command(
        ctx: typer.Context,
        profile: Annotated[str, typer.Option("--profile", "-p", help="Profile name or path.")],
        suite: Annotated[
            str | None,
            typer.Option("--suite", "-s", help="Workload the trials run (default: as `run`)."),
        ] = None,
        backend: Annotated[
            str, typer.Option(help="auto|embedded|ollama|openai|sim|fake (sim: search fast).")
        ] = "auto",
        host: Annotated[str | None, typer.Option(help="Server URL for ollama/openai.")] = None,
        trials: Annotated[
            int | None, typer.Option(min=1, help="Trials to run now (default 20).")
        ] = None,
        timeout: Annotated[str | None, typer.Option(help="Stop after e.g. 15m or 1h.")] = None,
        objective: Annotated[
            list[str] | None,
            typer.Option(
                help="throughput|makespan|p95-latency|tokens-per-s|goodput (needs --slo); "
                "repeat for a Pareto set (default throughput)."
            ),
        ] = None,
        constraint: Annotated[
            list[str] | None,
            typer.Option(
                help="e.g. 'p95<30s', 'quality>=0.7', 'pass_at_1>=0.05', 'errors==0'; repeatable."
            ),
        ] = None,
        slo: Annotated[
            list[str] | None,
            typer.Option(help="SLO NAME=MS for goodput, as for `run --slo`; repeatable."),
        ] = None,
        pick: Annotated[int, typer.Option(min=0, help="Which Pareto configuration to keep.")] = 0,
        study: Annotated[
            str | None, typer.Option(help="Study name (same name + storage = resume).")
        ] = None,
        storage: Annotated[
            str | None,
            typer.Option(
                help="Optuna storage URL or file (.db SQLite, else journal) "
                "[default: results/tuning/STUDY.db]."
            ),
        ] = None,
        sampler: Annotated[str, typer.Option(help="tpe|random|grid.")] = "tpe",
        seed: Annotated[
            int, typer.Option(help="Sampler and engine seed (reproducible searches).")
        ] = 0,
        repeat: Annotated[int, typer.Option(min=1, help="Runs per trial; the median counts.")] = 1,
        verify_suite: Annotated[
            str | None, typer.Option(help="Workload for the final check (default: --suite).")
        ] = None,
        verify_repeat: Annotated[
            int, typer.Option(min=0, help="Alternating runs each of original and tuned (0: skip).")
        ] = 3,
        verify_backend: Annotated[
            str | None,
            typer.Option(
                help="embedded|ollama|openai: re-run the best configurations on this "
                "real engine and keep the one that really wins."
            ),
        ] = None,
        verify_top: Annotated[
            int,
            typer.Option(
                min=1, help="How many of the best configurations are re-run (median wins)."
            ),
        ] = 3,
        out: Annotated[
            str | None,
            typer.Option(
                help="Folder to write NAME.tuned.toml into, as for `run --out` "
                "(default: beside the profile, or ./profiles)."
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Replace an existing NAME.tuned.toml.")
        ] = False,
        workers: Annotated[
            int,
            typer.Option(
                min=1, max=64, help="Worker processes on one study, here (each its own engine)."
            ),
        ] = 1,
        finish: Annotated[
            bool,
            typer.Option(
                "--finish/--search",
                help="--finish: run no trial, rank the study's trials, verify, write "
                "NAME.tuned.toml.",
            ),
        ] = False,
        heartbeat: Annotated[
            int,
            typer.Option(
                min=1,
                max=3600,
                help="Seconds between a trial's heartbeats (database storages); a trial "
                "silent 3x as long is failed and run again.",
            ),
        ] = 10,
        worker_index: Annotated[int, typer.Option(min=0, hidden=True)] = 0,
    ) -> None:
        """Fit concurrency limits, priorities and threads to this machine; write NAME.tuned.toml.

        The profile's own configuration is the first trial: the search never ends worse.
        For an embedded model it chooses instances x slots x threads: concurrent_limit,
        num_parallel (sequences per llama.cpp context; 1 = one instance per request) and
        n_threads.

        The best configuration is then re-run side by side with the original (--verify-*).
        Several workers (--workers N here, or the same command on several machines with
        one --storage and --study) share the study; the worker that completes its last
        trial writes the result. Results go to stdout, progress and errors to stderr.
        """
        from orchbench.backends import engine_class, resolve_backend_kind
        from orchbench.bench.session import with_seed
        from orchbench.cli._console import err_console, out_console
        from orchbench.cli._outputs import check_outputs, check_pick
        from orchbench.cli._tune_show import print_outcome
        from orchbench.cli._tune_workers import Helpers, interrupted_line, search
        from orchbench.engine import engine_measured
        from orchbench.tune import StudySpec, VerifyPlan, make_evaluator, open_storage, tune
        from orchbench.tune._interrupt import Interrupted, StopSignals
        from orchbench.tune._objective import check_measurable
        from orchbench.tune._storage import storage_label, storage_url_for
        from orchbench.tune._write import refuse_to_replace, tuned_path

        objectives, constraints, timeout_s = _goals(
            objective, constraint, timeout, sampler, verify_backend
        )
        slos = _slos(slo, objectives, constraints)
        n_trials = trials if trials is not None or timeout_s is not None else 20
        helper = worker_index > 0  # started by `--workers N`: search only
        console, results = err_console(), out_console()
        source, workload, verify_workload = _inputs(profile, suite, verify_suite, console)
        # Refuse before any search: an existing tuned profile is replaced only when asked.
        target = tuned_path(profile, source.name, out)
        if not helper:
            refuse_to_replace(target, force=force, command=_forced_command(ctx, profile))
        check_outputs(target, storage)
        source = with_seed(source, seed)  # the engines' sampling seed, as the sampler's
        kind, reason = resolve_backend_kind(source, backend, host=host)
        if reason:
            console.print(f"[yellow]{reason}[/yellow]")
        tested = any(t.checks is not None and t.checks.tests for t in workload.tasks)
        measured = engine_measured(engine_class(kind))
        check_measurable(constraints, suite=workload.name, tested=tested, measured=measured)
        name = study or study_name(source.name, workload.name, kind, objectives)
        url, label = storage_url_for(storage, name), storage_label(storage, name)
        bounded = None if trials is None and timeout_s is not None else (0 if finish else n_trials)
        fresh = "://" not in url and not Path(url).exists()  # checked before it is created
        if fresh:
            check_pick(pick, 0, bounded)
        opened = open_storage(url, heartbeat)  # a bad URL fails now, not after setup
        if not fresh:
            check_pick(pick, _complete_trials(opened, name), bounded)

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        spec = StudySpec(
            objectives=tuple(objectives),
            constraints=constraints,
            trials=0 if finish else n_trials,
            timeout_s=timeout_s,
            repeat=repeat,
            seed=seed + worker_index,  # each worker samples its own points
            sampler=sampler,
            study_name=name,
            storage=storage,
            heartbeat_s=heartbeat,
            worker=f"w{worker_index}" if workers > 1 or helper else None,
            stop=StopSignals(),
        )
        assert spec.stop is not None

        def finish_study(evaluator: Evaluator, spec: StudySpec) -> TuneResult:
            """Rank the study, verify the best, write NAME.tuned.toml (once)."""
            checker = None
            if verify_backend is not None:
                checker = make_evaluator(
                    verify_backend, verify_workload, profile=source, host=host, slos=slos
                )
            elif verify_suite:
                checker = make_evaluator(
                    kind, verify_workload, profile=source, host=host, slos=slos
                )

            def on_run(label: str, rnd: int, value: float) -> None:
                first = objectives[0]
                console.print(f"  verify round {rnd + 1}: {label}: {value:.4g} {first.unit}")

            plan = VerifyPlan(
                evaluator=checker,
                suite=verify_workload.name,
                repeat=verify_repeat,
                top=verify_top,
                on_run=on_run,
            )
            try:
                return tune(
                    source, evaluator, spec, suite=workload.name, source=profile, pick=pick,
                    verification=plan, out=out, force=force,
                )  # fmt: skip
            finally:
                if checker is not None:
                    checker.close()

        helpers = Helpers()
        with spec.stop.installed():
            try:
                if workers > 1 and not finish:
                    argv = (ctx.obj or {}).get("argv") or []
                    helpers = Helpers.start(argv, name, url, workers - 1)
                evaluator = make_evaluator(kind, workload, profile=source, host=host, slos=slos)
                try:
                    what = "finishing" if finish else "tuning"
                    console.print(
                        f"{what} {source.name} on {kind} with suite {workload.name}: study "
                        f"{name!r} in {label}" + (f" ({workers} workers)" if workers > 1 else "")
                    )
                    found = search(source, evaluator, spec, console, helpers, quiet=helper)
                    if found is None:
                        return
                    result = finish_study(evaluator, replace(spec, trials=0, stop=None))
                finally:
                    evaluator.close()
            except Interrupted as stop:
                helpers.stop(stop.signum)
                console.print(f"[yellow]{interrupted_line(str(stop), name, label)}[/yellow]")
                raise typer.Exit(stop.exit_code) from None
            finally:
                helpers.stop()
        print_outcome(results, result, objectives, kind, verify_backend)


def _complete_trials(storage: object, name: str) -> int:
    """How many trials of study ``name`` in ``storage`` are complete (0: no such study)."""
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage)  # type: ignore[arg-type]
    except KeyError:
        return 0
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
