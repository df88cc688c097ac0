"""`orchbench profiles`: list profiles, show one with its memory plan, detect this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from orchbench.errors import ConfigError, OrchbenchError

if TYPE_CHECKING:
    from orchbench.planning import Plan

_HELP = """List hardware profiles, show one, or find the one closest to this machine.

Examples:

  orchbench profiles                  # every profile on the search path

  orchbench profiles show rtx4090     # the resolved profile as TOML, with its memory plan

  orchbench profiles show rtx4090 > profiles/mine.toml   # a starting point to edit

  orchbench profiles detect           # this machine, and the closest profile

"""
_HELP += (
    "Profiles are looked up in $ORCHBENCH_PROFILES (folders separated by ':'), then "
    "./profiles, then the profiles shipped with orchbench; the first match wins."
)


def register(app: typer.Typer) -> None:
    """Add the `profiles` verb (with `list`, `show` and `detect`) to ``app``."""
    group = typer.Typer(help=_HELP, no_args_is_help=False, rich_markup_mode=None)

    @group.callback(invoke_without_command=True)
    def profiles(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            list_profiles()

    group.command("list", help="List every profile: hardware, models, backend, file.")(
        list_profiles
    )
    group.command(
        "show",
        help="Print a profile resolved (extends applied) as TOML, then its memory plan "
        "as TOML comments.\n\nExample: orchbench profiles show rtx3080",
    )(show_profile)
    group.command(
        "detect",
        help="Describe this machine (CPU, cores, RAM, NVIDIA GPUs) and suggest the closest "
        "profile.\n\nExample: orchbench profiles detect",
    )(detect_machine)
    app.add_typer(group, name="profiles")


def list_profiles(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every profile on the search path; an invalid one is listed with its error."""
    from orchbench.profiles import iter_profile_files, load_profile

    rows: list[dict[str, Any]] = []
    for path in iter_profile_files():
        try:
            profile = load_profile(path)
        except OrchbenchError as exc:
            rows.append({"name": path.stem, "error": str(exc).splitlines()[0], "path": str(path)})
            continue
        hw = profile.hardware
        memory = f"{hw.vram_gb:g} GB VRAM" if hw.kind == "gpu" else f"{hw.ram_gb:g} GB RAM"
        rows.append(
            {
                "name": profile.name,
                "hardware": hw.name,
                "memory": memory,
                "models": len(profile.models),
                "backend": profile.backend.kind,
                "path": _display_path(path),
                "tuned": profile.tuned is not None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="orchbench profiles")
    for column in ("name", "hardware", "memory", "models", "backend", "file"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if "error" in row:
            table.add_row(
                row["name"], f"[red]invalid: {row['error']}[/red]", "", "", "", row["path"]
            )
        else:
            name = row["name"] + (" (tuned)" if row["tuned"] else "")
            table.add_row(
                name,
                row["hardware"],
                row["memory"],
                str(row["models"]),
                row["backend"],
                row["path"],
            )
    Console().print(table)


def show_profile(
    name: Annotated[str, typer.Argument(help="Profile name (rtx4090) or path to a .toml file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the profile and its plan as JSON.")
    ] = False,
) -> None:
    """Print the resolved profile as TOML followed by its memory plan as comments."""
    import tomli_w

    from orchbench.planning import memory_plan
    from orchbench.profiles import find_profile, load_profile, profile_to_dict

    source = find_profile(name)
    profile = load_profile(source)
    plan: Plan | None = None
    try:
        plan = memory_plan(profile)
        lines = plan_lines(plan)
    except ConfigError as exc:  # a model without size_gb/params_b: still show the profile
        plan, lines = None, [f"memory plan unavailable: {exc}"]
    if as_json:
        data = {
            "source": str(source),
            "profile": profile_to_dict(profile),
            "plan": plan.to_dict() if plan else None,
        }
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"# profile {profile.name!r} from {source} (extends resolved)")
    typer.echo(tomli_w.dumps(profile_to_dict(profile)))
    for line in lines:
        typer.echo(f"# {line}" if line else "#")


def plan_lines(plan: Plan) -> list[str]:
    """The memory plan as plain lines (used as TOML comments by ``show``, and by ``doctor``)."""
    label = "VRAM" if plan.memory == "vram" else "RAM"
    kv_type = plan.server.kv_cache_type if plan.server else "f16"
    lines = server_lines(plan)
    lines += [
        f"memory plan: {label} {plan.capacity_gb:.1f} GB, {plan.usable_gb:.1f} GB usable "
        f"(decimal GB; weights + {kv_type} KV cache x slots + runner overhead)",
        "",
        f"{'model':<26} {'ctx':>6} {'slots':>5} {'weights':>8} {'kv':>6} {'need':>6} "
        f"{'max slots':>9}",
    ]
    for m in plan.models:
        mark = "" if m.fits_alone else "  DOES NOT FIT"
        guess = "~" if not m.kv_exact else ""
        lines.append(
            f"{m.name:<26} {m.num_ctx:>6} {m.slots:>5} {m.weights_gb:>8.1f} "
            f"{guess + format(m.kv_gb, '.1f'):>6} {m.need_gb:>6.1f} {m.max_slots:>9}{mark}"
        )
    together = "yes" if plan.fits_together else "no"
    lines += ["", f"all models loaded at once: {plan.total_gb:.1f} GB, fits: {together}"]
    if plan.server is not None and not plan.fits_together:
        lines.append(f"models that stay loaded together (file order): {plan.fits_loaded}")
    lines += [f"warning: {w}" for w in plan.warnings]
    return lines


def server_lines(plan: Plan) -> list[str]:
    """The Ollama server settings the plan assumes (empty when no server is involved)."""
    server = plan.server
    if server is None:
        return []
    env = " ".join(f"{k}={v}" for k, v in server.env().items())
    return [
        f"server (Ollama, [server] with its defaults filled in): num_parallel "
        f"{server.num_parallel} (slots in every loaded model), max_loaded_models "
        f"{server.max_loaded_models}, max_queue {server.max_queue}, keep_alive "
        f"{server.keep_alive}, context_length {server.context_length}, kv_cache_type "
        f"{server.kv_cache_type}, flash_attention {server.flash_attention}",
        f"start it with: {env} ollama serve",
        "",
    ]


def detect_machine(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Describe this machine and name the closest profile."""
    from orchbench.bench.machine import machine_info
    from orchbench.planning import closest_profile
    from orchbench.profiles import iter_profile_files, load_profile

    info = machine_info()
    profiles = []
    for path in iter_profile_files():
        try:
            profiles.append(load_profile(path))
        except OrchbenchError:
            continue  # `orchbench profiles` lists invalid files with their error
    suggestion, reason = closest_profile(info, profiles)
    if as_json:
        payload = {"machine": info, "suggested_profile": suggestion, "reason": reason}
        typer.echo(json.dumps(payload, indent=2))
        return
    console = Console()
    table = Table(title="this machine", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("CPU", str(info.get("cpu") or "unknown"))
    cores = f"{info.get('cpu_cores_physical')} physical, {info.get('cpu_cores_logical')} logical"
    table.add_row("cores", cores)
    table.add_row("RAM", f"{info.get('ram_gb')} GiB")
    gpus = info.get("gpus") or []
    table.add_row(
        "GPUs",
        ", ".join(f"{g['name']} ({g['memory_gb']} GiB)" for g in gpus) or "none (no nvidia-smi)",
    )
    console.print(table)
    console.print(f"closest profile: [bold]{suggestion}[/bold] — {reason}", highlight=False)
    console.print(
        f"try: orchbench run --profile {suggestion}   "
        f"(or copy it: orchbench profiles show {suggestion} > profiles/mine.toml)",
        highlight=False,
        markup=False,
    )


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
