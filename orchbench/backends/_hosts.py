"""Where a server engine's host comes from, and saying so.

One order for every verb: ``--host``, then the engine's environment variable
(``OLLAMA_HOST`` for Ollama, ``OPENAI_BASE_URL`` for an OpenAI-compatible server), then
the profile's ``[backend] host``, then the engine's default. The environment wins over
the profile because every shipped Ollama profile names the default host: a user who
exports ``OLLAMA_HOST`` means it.

>>> resolve_host("ollama", "gpu-box:11434", None, env={})
HostChoice(url='http://gpu-box:11434', source='--host')
>>> describe_host(resolve_host("ollama", None, None, env={}))
'http://127.0.0.1:11434 (default)'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orchbench.config import Profile
from orchbench.errors import redact

DEFAULT_HOSTS = {"ollama": "http://127.0.0.1:11434", "openai": "http://127.0.0.1:8080"}
"""Each server engine's default URL (Ollama's; llama.cpp server's)."""
HOST_ENV = {"ollama": "OLLAMA_HOST", "openai": "OPENAI_BASE_URL"}
"""The environment variable each server engine's own clients read."""
_API_SUFFIX = {"openai": "/v1"}  # paths are added per request


@dataclass(frozen=True, slots=True)
class HostChoice:
    """The URL an engine talks to and where it came from (``--host``, ``$OLLAMA_HOST``,
    ``profile [backend] host``, ``default``)."""

    url: str
    source: str


def normalize_host(kind: str, value: str) -> str:
    """``host:port`` gets ``http://``; no trailing ``/`` (nor ``/v1`` for OpenAI servers)."""
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url.removesuffix(_API_SUFFIX.get(kind, "\0"))


def resolve_host(
    kind: str,
    explicit: str | None,
    profile: Profile | None,
    env: Mapping[str, str] | None = None,
) -> HostChoice:
    """The host for engine ``kind`` (``ollama`` or ``openai``) and where it came from.

    ``env`` defaults to ``os.environ``. Kinds without a server (embedded, sim, fake)
    get the explicit or profile host as given, source ``unused``.
    """
    environ = os.environ if env is None else env
    if explicit:
        return HostChoice(normalize_host(kind, explicit), "--host")
    variable = HOST_ENV.get(kind)
    if variable and environ.get(variable):
        return HostChoice(normalize_host(kind, environ[variable]), f"${variable}")
    if profile is not None and profile.backend.host:
        return HostChoice(normalize_host(kind, profile.backend.host), "profile [backend] host")
    if kind in DEFAULT_HOSTS:
        return HostChoice(DEFAULT_HOSTS[kind], "default")
    return HostChoice("", "unused")


def describe_host(choice: HostChoice) -> str:
    """One phrase for a header or ``doctor``: ``http://127.0.0.1:11434 (from $OLLAMA_HOST)``.

    Credentials in the URL are masked (``http://***@host:port``).
    """
    if choice.source == "default":
        return f"{redact(choice.url)} (default)"
    return f"{redact(choice.url)} (from {choice.source})"


def host_note(kind: str, host: str | None, profile: Profile | None) -> str:
    """``", host URL (from SOURCE)"`` for a server engine, ``""`` for the others (headers)."""
    if kind not in DEFAULT_HOSTS:
        return ""
    return f", host {describe_host(resolve_host(kind, host, profile))}"
