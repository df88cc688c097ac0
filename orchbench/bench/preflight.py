"""Checks made before a benchmark spends any time: suites fit the profile, models exist.

Each check raises an :class:`~orchbench.errors.OrchbenchError` whose message says what
to do (the exact ``ollama pull`` line, ``orchbench setup --profile NAME``, another suite),
or returns warnings to show.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from orchbench.bench.workload import Workload, style_problem
from orchbench.config import Profile
from orchbench.errors import BackendUnavailable, ConfigError, ModelNotFound, OrchbenchError


def check_suites(profile: Profile, workloads: Sequence[Workload]) -> list[str]:
    """Raise ConfigError if no model of ``profile`` can serve a suite's prompt style.

    Returns the warnings (some models cannot) to show before running.
    """
    warnings = []
    for workload in workloads:
        problem = style_problem(profile, workload)
        if problem is None:
            continue
        level, message = problem
        if level == "error":
            raise ConfigError(message)
        warnings.append(message)
    return warnings


def check_models(profile: Profile, kind: str, *, host: str | None = None) -> None:
    """Raise if a model of ``profile`` is not available on the ``kind`` engine.

    ``embedded``: llama-cpp-python is installed and every GGUF exists (the bundled model's
    package is installed). ``ollama`` / ``openai``: the server lists every model. ``sim``
    and ``fake`` need nothing.
    """
    from orchbench.backends import engine_class
    from orchbench.engine import model_source

    source = model_source(engine_class(kind))
    if source == "files":
        _check_embedded(profile)
    elif source == "server":
        _check_served(profile, kind, host)


def _check_embedded(profile: Profile) -> None:
    setup = f"run `orchbench setup --profile {profile.name}` or `pip install 'orchbench[embedded]'`"
    if importlib.util.find_spec("llama_cpp") is None:
        raise BackendUnavailable(
            f"the embedded engine needs llama-cpp-python, which is not installed: {setup}"
        )
    from orchbench.backends import bundled_installed, bundled_model, is_bundled

    for model in profile.model_list():
        if is_bundled(model.gguf):
            assert model.gguf is not None
            where = f'profile {profile.name!r}: models."{model.name}".gguf'
            found = bundled_model(model.gguf, where)
            if not bundled_installed(found):
                raise ModelNotFound(
                    f"model {model.name!r} is the bundled {found.description}, whose package "
                    f"{found.package} is not installed: {setup}"
                )
        elif model.gguf is None:
            raise ConfigError(
                f'profile {profile.name!r}: models."{model.name}".gguf is not set; the embedded '
                'engine needs "bundled" or the path of a .gguf file'
            )
        elif not Path(model.gguf).expanduser().is_file():
            raise ModelNotFound(
                f'profile {profile.name!r}: models."{model.name}".gguf file {model.gguf!r} '
                "does not exist"
            )


def _check_served(profile: Profile, kind: str, host: str | None) -> None:
    from orchbench.backends import engine_class, make_backend
    from orchbench.engine import display_name, speaks_ollama_api

    engine = engine_class(kind)
    backend = make_backend(kind, host=host, profile=profile)

    async def listed() -> list[str]:
        try:
            return await backend.list_models()
        finally:
            await backend.close()

    try:
        available = asyncio.run(listed())
    except OrchbenchError:
        raise
    except Exception as exc:  # a client library's own error: say where and what
        raise BackendUnavailable(
            f"could not list the models of the {display_name(engine)} at its host: {exc}"
        ) from exc
    missing = [
        name for name, m in profile.models.items() if not _has(available, m.served_name or name)
    ]
    if not missing:
        return
    if speaks_ollama_api(engine):
        pulls = "; ".join(f"ollama pull {m}" for m in missing)
        raise ModelNotFound(
            f"{len(missing)} model(s) of profile {profile.name!r} are not installed on Ollama: "
            f"{', '.join(missing)}; run `{pulls}` or `orchbench setup --profile {profile.name}`"
        )
    raise ModelNotFound(
        f"the {display_name(engine)} does not serve {', '.join(missing)} "
        f"(it lists: {', '.join(available) or 'nothing'}); load them, or name the server's "
        'id with served_name = "ID" under the model in the profile'
    )


def _has(available: Sequence[str], name: str) -> bool:
    # Ollama lists "mistral:latest" for a model pulled as "mistral".
    return name in available or (":" not in name and f"{name}:latest" in available)
