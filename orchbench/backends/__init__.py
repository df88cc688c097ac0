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
    from orchbench.backends._embedded import (
        BUNDLED,
        INSTALL_HINT,
        EmbeddedBackend,
        assemble_bundled_model,
        require_llama_cpp,
    )
    from orchbench.backends._ollama import OllamaBackend, is_installed, ollama_version
    from orchbench.backends._openai import OpenAIBackend

_LAZY = {
    "BUNDLED": "orchbench.backends._embedded",
    "INSTALL_HINT": "orchbench.backends._embedded",
    "EmbeddedBackend": "orchbench.backends._embedded",
    "assemble_bundled_model": "orchbench.backends._embedded",
    "require_llama_cpp": "orchbench.backends._embedded",
    "OllamaBackend": "orchbench.backends._ollama",
    "is_installed": "orchbench.backends._ollama",
    "ollama_version": "orchbench.backends._ollama",
    "OpenAIBackend": "orchbench.backends._openai",
}

__all__ = [
    "BACKEND_KINDS",
    "BUNDLED",
    "ENGINES",
    "INSTALL_HINT",
    "EmbeddedBackend",
    "EngineEntry",
    "HostChoice",
    "OllamaBackend",
    "OpenAIBackend",
    "assemble_bundled_model",
    "describe_host",
    "engine_class",
    "host_note",
    "is_embedded_profile",
    "is_installed",
    "make_backend",
    "ollama_version",
    "profile_host",
    "require_llama_cpp",
    "resolve_backend_kind",
    "resolve_host",
]


def __getattr__(name: str) -> Any:
    """Load an engine class on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
