"""Engines behind one :class:`Backend` protocol: embedded llama.cpp, Ollama, OpenAI-compatible
servers (the simulator and the fake register here too).
The contract they keep is :mod:`orchbench.engine`.

Engine classes are loaded on first use (``from orchbench.backends import OllamaBackend``
imports only that engine's module), so importing this package stays cheap.

>>> from orchbench.backends import make_backend
>>> make_backend("fake").name
'fake'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orchbench.backends._hosts import HostChoice, describe_host, host_note, resolve_host
from orchbench.backends._registry import (
    BACKEND_KINDS,
    ENGINES,
    EngineEntry,
    engine_class,
    is_embedded_profile,
    make_backend,
    profile_host,
    resolve_backend_kind,
)

if TYPE_CHECKING:
    from orchbench.backends._bundled import (
        BUNDLED,
        BUNDLED_MODELS,
        BundledModel,
        bundled_model,
        is_bundled,
        missing_hint,
        ready_path,
    )
    from orchbench.backends._bundled import is_installed as bundled_installed
    from orchbench.backends._embedded import (
        INSTALL_HINT,
        EmbeddedBackend,
        assemble_bundled_model,
        require_llama_cpp,
    )
    from orchbench.backends._fleet import FleetBackend, fleet_hosts, fleet_profiles, host_profile
    from orchbench.backends._ollama import OllamaBackend, is_installed, ollama_version
    from orchbench.backends._openai import OpenAIBackend

_LAZY = {
    "BUNDLED": "orchbench.backends._bundled",
    "BUNDLED_MODELS": "orchbench.backends._bundled",
    "BundledModel": "orchbench.backends._bundled",
    "bundled_model": "orchbench.backends._bundled",
    "is_bundled": "orchbench.backends._bundled",
    "missing_hint": "orchbench.backends._bundled",
    "ready_path": "orchbench.backends._bundled",
    "INSTALL_HINT": "orchbench.backends._embedded",
    "EmbeddedBackend": "orchbench.backends._embedded",
    "assemble_bundled_model": "orchbench.backends._embedded",
    "require_llama_cpp": "orchbench.backends._embedded",
    "OllamaBackend": "orchbench.backends._ollama",
    "is_installed": "orchbench.backends._ollama",
    "ollama_version": "orchbench.backends._ollama",
    "OpenAIBackend": "orchbench.backends._openai",
    "FleetBackend": "orchbench.backends._fleet",
    "fleet_hosts": "orchbench.backends._fleet",
    "fleet_profiles": "orchbench.backends._fleet",
    "host_profile": "orchbench.backends._fleet",
}

__all__ = [
    "BACKEND_KINDS",
    "BUNDLED",
    "BUNDLED_MODELS",
    "ENGINES",
    "INSTALL_HINT",
    "BundledModel",
    "EmbeddedBackend",
    "EngineEntry",
    "FleetBackend",
    "HostChoice",
    "OllamaBackend",
    "OpenAIBackend",
    "assemble_bundled_model",
    "bundled_installed",
    "bundled_model",
    "describe_host",
    "engine_class",
    "fleet_hosts",
    "fleet_profiles",
    "host_note",
    "host_profile",
    "is_bundled",
    "is_embedded_profile",
    "is_installed",
    "make_backend",
    "missing_hint",
    "ollama_version",
    "profile_host",
    "ready_path",
    "require_llama_cpp",
    "resolve_backend_kind",
    "resolve_host",
]


def __getattr__(name: str) -> Any:
    """Load an engine class on first access (PEP 562)."""
    if name == "bundled_installed":
        return importlib.import_module("orchbench.backends._bundled").is_installed
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
