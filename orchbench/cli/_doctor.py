"""`orchbench doctor`: is the engine up, are the models there, do they fit in memory?

Prints one table row per check (ok / FAIL / warn / skip) with what to do about each
failure, then the memory plan's notes; exits 1 when any check failed. Nothing is
downloaded or loaded: ``orchbench setup`` does that.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from orchbench.cli._checks import Check, Status
from orchbench.cli._probe import PROBE, PROBE_TIMEOUT_S, probe_check, version_check

if TYPE_CHECKING:
    from orchbench.config import Profile

EXAMPLES = """
Examples:

  orchbench doctor

  orchbench doctor --profile rtx4090

  orchbench doctor --profile rtx4090 --host http://gpu-box:11434

  orchbench doctor --profile rtx4090.tuned --no-probe
"""

_STYLE = {"ok": "[green]ok[/green]", "fail": "[red]FAIL[/red]", "warn": "[yellow]warn[/yellow]",
          "skip": "[dim]skip[/dim]"}  # fmt: skip


def embedded_checks(profile: Profile) -> list[Check]:
    """llama-cpp-python installed; each GGUF present (the bundled one assembled)."""
    import importlib.metadata
    from pathlib import Path

    from orchbench.backends import (
        INSTALL_HINT,
        bundled_installed,
        bundled_model,
        is_bundled,
        missing_hint,
        ready_path,
    )
    from orchbench.errors import ModelNotFound

    try:
        version = importlib.metadata.version("llama-cpp-python")
        checks = [Check("llama-cpp-python", "ok", f"version {version}")]
    except importlib.metadata.PackageNotFoundError:
        checks = [Check("llama-cpp-python", "fail", INSTALL_HINT)]
    setup = f"run `orchbench setup --profile {profile.name}`"
    for model in profile.models.values():
        name = f"model {model.name}"
        if model.gguf is None:
            checks.append(
                Check(name, "fail", 'no gguf: set gguf = "bundled:gemma3-270m" or a .gguf path')
            )
        elif is_bundled(model.gguf):
            try:
                found = bundled_model(model.gguf, f'models."{model.name}".gguf')
            except ModelNotFound as exc:
                checks.append(Check(name, "fail", str(exc)))
                continue
            if not bundled_installed(found):
                checks.append(Check(name, "fail", missing_hint(found)))
                continue
            path = ready_path(found)
            if path is not None:
                checks.append(Check(name, "ok", f"{path} ({path.stat().st_size / 1e6:.0f} MB)"))
            else:
                checks.append(
                    Check(name, "warn", f"not assembled yet (done on first use); {setup}")
                )
        else:
            path = Path(model.gguf).expanduser()
            ok = path.is_file()
            detail = str(path) if ok else f"file {str(path)!r} does not exist"
            checks.append(Check(name, "ok" if ok else "fail", detail))
    return checks


async def server_checks(
    profile: Profile,
    kind: str,
    host: str | None,
    *,
    probe: bool = False,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
) -> list[Check]:
    """Server reachable (with its version for Ollama) and each model installed; for Ollama
    also what it has loaded and, with ``probe``, how many requests it runs at once."""
    from orchbench.backends import engine_class, make_backend, ollama_version
    from orchbench.engine import display_name, speaks_ollama_api
    from orchbench.errors import BackendError

    backend = make_backend(kind, host=host, profile=profile)
    where = getattr(backend, "host", "?")
    engine = engine_class(kind)
    label, ollama_api = display_name(engine), speaks_ollama_api(engine)
    try:
        installed = await backend.list_models()
    except BackendError as exc:
        skipped = [Check(f"model {m}", "skip", "server not reachable") for m in profile.models]
        return [Check(label, "fail", str(exc)), *skipped]
    finally:
        await backend.close()
    version = await asyncio.to_thread(ollama_version, where) if ollama_api else None
    checks = [Check(label, "ok", f"{'version ' + version + ' ' if version else ''}at {where}")]
    if version is not None:
        checks.append(version_check(version))
        checks += await asyncio.to_thread(loaded_checks, profile, where)
    checks += model_checks(profile, installed, ollama_api)
    if version is not None and probe:
        checks.append(await probe_check(profile, where, installed, probe_timeout_s))
    return checks


def model_checks(profile: Profile, installed: list[str], ollama_api: bool) -> list[Check]:
    """Each model of the profile installed (Ollama) or served (OpenAI-compatible)."""
    from orchbench.backends import is_installed

    checks = []
    for name, model in profile.models.items():
        served = model.served_name or name
        if ollama_api:
            found = is_installed(served, installed)
            advice = (
                f"not installed: run `ollama pull {served}` "
                f"(or `orchbench setup --profile {profile.name}`)"
            )
        else:
            found = served in installed
            advice = (
                f"not served (the server lists {', '.join(installed) or 'nothing'}); "
                'if it serves it under another id, set served_name = "ID" for this model'
            )
        checks.append(
            Check(f"model {name}", "ok" if found else "fail", "installed" if found else advice)
        )
    return checks


async def fleet_checks(
    profile: Profile, kind: str, host: str | None, *, probe: bool, probe_timeout_s: float
) -> list[Check]:
    """:func:`server_checks` on every host of a fleet (each line says which host)."""
    from orchbench.backends import fleet_profiles

    checks: list[Check] = []
    for name, seen in fleet_profiles(profile):
        where = seen.backend.host if name else host
        found = await server_checks(seen, kind, where, probe=probe, probe_timeout_s=probe_timeout_s)
        checks += (
            [Check(f"{c.name} on {name}", c.status, c.detail) for c in found] if name else found
        )
    return checks


def loaded_checks(profile: Profile, host: str, timeout_s: float = 5.0) -> list[Check]:
    """What Ollama has loaded now (``GET /api/ps``): spilled to the CPU (``size_vram < size``),
    a context other than the profile's, more models than ``[server] max_loaded_models``."""
    import httpx

    from orchbench.planning import context_of

    try:
        response = httpx.get(f"{host}/api/ps", timeout=timeout_s)
        response.raise_for_status()
        loaded = list(response.json().get("models") or [])
    except (httpx.HTTPError, ValueError) as exc:
        return [Check("loaded models (/api/ps)", "warn", f"could not read /api/ps: {exc}")]
    server = profile.server.resolved(profile.hardware)
    checks = [Check("loaded models (/api/ps)", "ok", f"{len(loaded)} loaded")]
    for entry in loaded:
        name = str(entry.get("name") or entry.get("model") or "?")
        size, vram = int(entry.get("size") or 0), int(entry.get("size_vram") or 0)
        ctx = entry.get("context_length")
        problems = []
        if vram < size:
            problems.append(f"{(size - vram) / 1e9:.1f} of {size / 1e9:.1f} GB spilled to the CPU")
        model = profile.models.get(name) or profile.models.get(name.removesuffix(":latest"))
        expected = context_of(model, profile.hardware, server) if model is not None else None
        if ctx is not None and expected is not None and int(ctx) != expected:
            problems.append(f"context_length {ctx}, the profile expects {expected}")
        status: Status = "warn" if problems else "ok"
        detail = "; ".join(problems) or f"on the GPU, context_length {ctx}"
        checks.append(Check(f"loaded {name}", status, detail))
    limit = server.max_loaded_models or len(loaded)
    if len(loaded) > limit:
        checks.append(
            Check(
                "max_loaded_models",
                "warn",
                f"{len(loaded)} models loaded, the profile's [server] allows {limit}: the "
                "server runs with other settings",
            )
        )
    return checks


def memory_checks(profile: Profile) -> tuple[list[Check], list[str]]:
    """Each model fits alone, and all fit together, in VRAM (GPU) or RAM; plus the plan's notes."""
    from orchbench.errors import ConfigError
    from orchbench.planning import memory_plan

    try:
        plan = memory_plan(profile)
    except ConfigError as exc:
        return [Check("memory", "fail", str(exc))], []
    unit = plan.memory.upper()
    checks = []
    for model in plan.models:
        detail = (
            f"{model.need_gb:.1f} GB with {model.slots} slot(s) of {model.num_ctx} tokens "
            f"(at most {model.max_slots} slot(s) alone)"
        )
        checks.append(Check(f"memory {model.name}", "ok" if model.fits_alone else "fail", detail))
    together = f"{plan.total_gb:.1f} GB of {plan.usable_gb:.1f} GB usable {unit}"
    if plan.fits_together:
        checks.append(Check("memory: all models at once", "ok", together))
    else:
        # Not fatal: the server swaps models, and the run shows it as load time.
        checks.append(Check("memory: all models at once", "warn", f"{together}: they swap"))
    return checks, list(plan.warnings)


def static_checks(profile: Profile, longest_prompt_tokens: int = 0) -> list[Check]:
    """What a real server needs of the profile, checked without one (the tuner's rule too):
    memory fits with ``[server] num_parallel`` slots, ``max_tokens`` + the longest prompt
    fits ``num_ctx``, no client limit above ``num_parallel``
    (:func:`orchbench.planning.static_problems`)."""
    from orchbench.errors import ConfigError
    from orchbench.planning import static_problems

    try:
        problems = static_problems(profile, longest_prompt_tokens)
    except ConfigError as exc:
        return [Check("static checks", "fail", str(exc))]
    if not problems:
        return [Check("static checks", "ok", "memory, contexts and limits fit the server")]
    return [Check("static checks", "fail", problem) for problem in problems]


def server_command(profile: Profile) -> list[str]:
    """How to start Ollama with the profile's ``[server]``: a shell line and systemd lines."""
    env = profile.server.env(profile.hardware)
    line = " ".join(f"{k}={v}" for k, v in env.items()) + " ollama serve"
    systemd = [f'Environment="{k}={v}"' for k, v in env.items()]
    return [
        f"start Ollama with: {line}",
        "or, for the systemd service (`systemctl edit ollama`, under [Service]): "
        + " ".join(systemd),
    ]


def doctor_kind(profile: Profile, requested: str) -> str:
    """The engine to check: ``requested``, or for ``auto`` the one the profile runs on."""
    from orchbench.cli._setup import setup_kind

    return setup_kind(profile, requested)


async def run_checks(
    profile: Profile,
    kind: str,
    host: str | None,
    *,
    probe: bool = False,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
) -> tuple[list[Check], list[str]]:
    """Every check for ``profile`` on engine ``kind``, and the memory plan's notes (with how
    to start Ollama with the profile's ``[server]`` when the profile or the server needs it).
    ``probe``: measure how many requests a running Ollama serves at once."""
    from orchbench.backends import engine_class
    from orchbench.engine import model_source

    source = model_source(engine_class(kind))
    if source == "files":
        checks = embedded_checks(profile)
    elif source == "server":
        checks = await fleet_checks(
            profile, kind, host, probe=probe, probe_timeout_s=probe_timeout_s
        )
    else:
        checks = [Check(f"backend {kind}", "ok", "simulated: no engine to check")]
    memory, notes = memory_checks(profile)
    static = static_checks(profile)
    from orchbench.planning import uses_server

    differs = [c for c in checks if c.name in (PROBE, "max_loaded_models") and c.status == "warn"]
    if uses_server(profile) and (differs or any(c.status == "fail" for c in static)):
        notes += server_command(profile)
    return checks + memory + static, notes


def register(app: typer.Typer) -> None:
    """Add the `doctor` verb to ``app``."""

    @app.command("doctor", epilog=EXAMPLES)
    def doctor_command(
        profile: Annotated[
            str, typer.Option("--profile", "-p", help="Profile name or path.")
        ] = "embedded",
        backend: Annotated[
            str, typer.Option(help="auto|embedded|ollama|openai|sim (auto: the profile's engine).")
        ] = "auto",
        host: Annotated[str | None, typer.Option(help="Server URL for ollama/openai.")] = None,
        probe: Annotated[
            bool,
            typer.Option(
                "--probe/--no-probe",
                help="Measure how many requests a running Ollama serves at once "
                "(num_parallel + 1 short requests to the smallest installed model).",
            ),
        ] = True,
        probe_timeout: Annotated[
            float, typer.Option(help="Seconds the parallelism probe may take.", min=1.0)
        ] = PROBE_TIMEOUT_S,
    ) -> None:
        """Check a profile: engine reachable, models installed, memory enough for them; for a
        running Ollama also its version, what it has loaded, and a short parallelism probe.

        Exits 1 if any check fails, and says for each failure what to run.
        """
        from rich.console import Console
        from rich.table import Table

        from orchbench.profiles import load_profile

        source = load_profile(profile)
        kind = doctor_kind(source, backend)
        checks, notes = asyncio.run(
            run_checks(source, kind, host, probe=probe, probe_timeout_s=probe_timeout)
        )
        console = Console()
        table = Table(title=f"orchbench doctor: profile {source.name}, backend {kind}")
        for column in ("check", "status", "detail"):
            table.add_column(column, overflow="fold")
        for check in checks:
            table.add_row(check.name, _STYLE[check.status], check.detail)
        console.print(table)
        for note in notes:
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        failed = [c for c in checks if c.status == "fail"]
        if failed:
            console.print(f"[red]{len(failed)} check(s) failed[/red]")
            raise typer.Exit(1)
        console.print("[green]all checks passed[/green]")
