"""Engines registered by kind, and building one: ``make_backend(kind)``,
``resolve_backend_kind(profile, "auto")``.

:data:`ENGINES` maps each kind to the engine class it names (``"module:Class"``) and how
to build it from a profile and a host. A class is imported only when its kind is asked
for (:func:`engine_class`), so ``import orchbench`` never pulls in llama.cpp, the ollama
client or the simulator. What an engine *is* (measured, on the virtual clock, ...) is
stated by its class (see :mod:`orchbench.engine`), never derived from its kind here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from orchbench.config import Profile
from orchbench.engine import Backend, engine_measured, speaks_ollama_api
from orchbench.errors import BackendUnavailable, ConfigError


def profile_host(profile: Profile | None, host: str | None, kind: str = "ollama") -> str | None:
    """The host to use: ``--host``, then the engine's env variable, then the profile's
    ``[backend] host``, then the default (:func:`orchbench.backends._hosts.resolve_host`)."""
    from orchbench.backends._hosts import resolve_host

    return resolve_host(kind, host, profile).url or None


def is_embedded_profile(profile: Profile) -> bool:
    """Whether every model of ``profile`` names a GGUF file (or the bundled model)."""
    return all(model.gguf for model in profile.models.values())


Builder = Callable[[Any, "str | None", "Profile | None"], Backend]


@dataclass(frozen=True)
class EngineEntry:
    """One registered engine: its kind, where its class lives, how to build it."""

    kind: str
    target: str
    """``"package.module:ClassName"``, imported on first use."""
    build: Builder
    """``build(cls, host, profile)`` returns a new engine of class ``cls``."""

    def load(self) -> type:
        """Import and return the engine class."""
        module, _, name = self.target.partition(":")
        cls: type = getattr(importlib.import_module(module), name)
        return cls


def _embedded(cls: Any, host: str | None, profile: Profile | None) -> Backend:
    backend: Backend = cls(profile.models if profile is not None else None)
    return backend


def _ollama(cls: Any, host: str | None, profile: Profile | None) -> Backend:
    timeout = profile.settings.default_timeout if profile is not None else 300.0
    backend: Backend = cls(host, timeout_s=timeout)
    return backend


def _host_only(cls: Any, host: str | None, profile: Profile | None) -> Backend:
    backend: Backend = cls(host)
    return backend


def _for_profile(cls: Any, host: str | None, profile: Profile | None) -> Backend:
    if profile is None:
        raise ConfigError(f"the {cls.name} backend needs the profile it simulates: pass profile=")
    backend: Backend = cls(profile)
    return backend


def _no_args(cls: Any, host: str | None, profile: Profile | None) -> Backend:
    backend: Backend = cls()
    return backend


ENGINES: Mapping[str, EngineEntry] = MappingProxyType(
    {
        entry.kind: entry
        for entry in (
            EngineEntry("embedded", "orchbench.backends._embedded:EmbeddedBackend", _embedded),
            EngineEntry("ollama", "orchbench.backends._ollama:OllamaBackend", _ollama),
            EngineEntry("openai", "orchbench.backends._openai:OpenAIBackend", _host_only),
            EngineEntry("sim", "orchbench.sim:SimBackend", _for_profile),
            EngineEntry("fake", "orchbench.testing._fake:FakeBackend", _no_args),
        )
    }
)
"""The engine registry: kind → :class:`EngineEntry` (read-only)."""

BACKEND_KINDS = tuple(ENGINES)
"""Kinds :func:`make_backend` builds (resolve ``"auto"`` with :func:`resolve_backend_kind`)."""


def _entry(kind: str) -> EngineEntry:
    try:
        return ENGINES[kind]
    except KeyError:
        raise ConfigError(
            f"unknown backend {kind!r}; valid: auto, {', '.join(BACKEND_KINDS)}"
        ) from None


def engine_class(kind: str) -> type:
    """The engine class registered for ``kind`` (imported now); its capabilities say what
    it is: ``engine_class(kind).measured``, ``.virtual_clock``, ``.streams_tokens``."""
    return _entry(kind).load()


def make_backend(kind: str, *, host: str | None = None, profile: Profile | None = None) -> Backend:
    """Build the engine ``kind`` (one of :data:`BACKEND_KINDS`).

    ``host`` (else the profile's ``[backend] host``) is where ``ollama`` / ``openai`` listen;
    ``sim`` needs the ``profile`` it simulates. Resolve ``"auto"`` with
    :func:`resolve_backend_kind` first. A profile with deployments on several hosts gets
    one engine per host behind a fleet (:mod:`orchbench.backends._fleet`).

    >>> make_backend("fake").name
    'fake'
    """
    if profile is not None and any(m.deployments for m in profile.models.values()):
        from orchbench.backends._fleet import build_fleet

        forced = not engine_measured(engine_class(kind))
        return build_fleet(kind, host, profile, _make_one, forced=forced)
    return _make_one(kind, host, profile)


def _make_one(kind: str, host: str | None, profile: Profile | None) -> Backend:
    entry = _entry(kind)
    return entry.build(entry.load(), profile_host(profile, host, kind), profile)


def resolve_backend_kind(
    profile: Profile, requested: str = "auto", *, host: str | None = None
) -> tuple[str, str | None]:
    """Turn ``requested`` (``auto`` or a kind) into the kind to build, plus a reason to show.

    ``auto`` takes the profile's ``[backend] kind`` when it names one; otherwise the
    embedded engine for a profile whose models are GGUF files, Ollama when it answers at
    the host, and else the simulator, with a one-line reason saying why and what to do.
    An explicit ``ollama`` that does not answer raises :class:`BackendUnavailable`.
    """
    from orchbench.backends._ollama import ollama_host, ollama_version, unavailable_message

    kind = requested
    if kind == "auto" and profile.backend.kind != "auto":
        kind = profile.backend.kind
    if kind != "auto" and kind not in BACKEND_KINDS:
        raise ConfigError(f"unknown backend {kind!r}; valid: auto, {', '.join(BACKEND_KINDS)}")
    where = ollama_host(profile_host(profile, host))
    ollama_api = kind != "auto" and speaks_ollama_api(engine_class(kind))
    if ollama_api and requested != "auto":
        if ollama_version(where) is None:
            raise BackendUnavailable(
                f"{unavailable_message(where)}, or use --profile embedded for a run "
                "that needs no server"
            )
        return kind, None
    if kind != "auto" and not ollama_api:
        return kind, None
    if kind == "auto" and is_embedded_profile(profile):
        return "embedded", None
    if ollama_version(where) is not None:
        return "ollama", None
    return "sim", (
        f"Ollama is not reachable at {where}; simulating this profile (backend: sim) — "
        "start `ollama serve` or use --profile embedded for measured numbers"
    )
