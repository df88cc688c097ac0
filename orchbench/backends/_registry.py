"""Pick and build an engine: ``make_backend(kind)`` and ``resolve_backend_kind(profile, "auto")``.

Engine modules are imported only when their kind is asked for, so ``import orchbench``
never pulls in llama.cpp, the ollama client or the simulator.
"""

from __future__ import annotations

from orchbench.config import Profile
from orchbench.engine import Backend
from orchbench.errors import BackendUnavailable, ConfigError

BACKEND_KINDS = ("embedded", "ollama", "openai", "sim", "fake")
"""Kinds :func:`make_backend` builds (resolve ``"auto"`` with :func:`resolve_backend_kind`)."""


def profile_host(profile: Profile | None, host: str | None) -> str | None:
    """The host to use: the explicit one, else the profile's ``[backend] host``."""
    if host:
        return host
    return profile.backend.host if profile is not None else None


def is_embedded_profile(profile: Profile) -> bool:
    """Whether every model of ``profile`` names a GGUF file (or the bundled model)."""
    return all(model.gguf for model in profile.models.values())


def make_backend(kind: str, *, host: str | None = None, profile: Profile | None = None) -> Backend:
    """Build the engine ``kind`` (one of :data:`BACKEND_KINDS`).

    ``host`` (else the profile's ``[backend] host``) is where ``ollama`` / ``openai`` listen;
    ``sim`` needs the ``profile`` it simulates. Resolve ``"auto"`` with
    :func:`resolve_backend_kind` first.

    >>> make_backend("fake").name
    'fake'
    """
    host = profile_host(profile, host)
    if kind == "embedded":
        from orchbench.backends._embedded import EmbeddedBackend

        return EmbeddedBackend(profile.models if profile is not None else None)
    if kind == "ollama":
        from orchbench.backends._ollama import OllamaBackend

        timeout = profile.settings.default_timeout if profile is not None else 300.0
        return OllamaBackend(host, timeout_s=timeout)
    if kind == "openai":
        from orchbench.backends._openai import OpenAIBackend

        return OpenAIBackend(host)
    if kind == "sim":
        if profile is None:
            raise ConfigError("the sim backend needs the profile it simulates: pass profile=")
        from orchbench.sim import SimBackend

        return SimBackend(profile)
    if kind == "fake":
        from orchbench.testing._fake import FakeBackend

        return FakeBackend()
    raise ConfigError(f"unknown backend {kind!r}; valid: auto, {', '.join(BACKEND_KINDS)}")


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
    if kind == "ollama" and requested != "auto":
        if ollama_version(where) is None:
            raise BackendUnavailable(
                f"{unavailable_message(where)}, or use --profile embedded for a run "
                "that needs no server"
            )
        return "ollama", None
    if kind not in ("auto", "ollama"):
        return kind, None
    if kind == "auto" and is_embedded_profile(profile):
        return "embedded", None
    if ollama_version(where) is not None:
        return "ollama", None
    return "sim", (
        f"Ollama is not reachable at {where}; simulating this profile (backend: sim) — "
        "start `ollama serve` or use --profile embedded for measured numbers"
    )
