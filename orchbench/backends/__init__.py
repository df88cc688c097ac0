"""Engines behind one :class:`Backend` protocol: embedded llama.cpp, Ollama, OpenAI-compatible
servers, the simulator and a fake for tests.

Engine classes are loaded on first use (``from orchbench.backends import OllamaBackend``
imports only that engine's module), so importing this package stays cheap.

>>> from orchbench.backends import make_backend
>>> make_backend("fake").name
'fake'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orchbench.backends._base import Backend, GenerateRequest, GenerateResult
from orchbench.backends._factory import BACKEND_KINDS, make_backend, resolve_backend_kind

if TYPE_CHECKING:
    from orchbench.backends._embedded import EmbeddedBackend
    from orchbench.backends._fake import FakeBackend
    from orchbench.backends._ollama import OllamaBackend
    from orchbench.backends._openai import OpenAIBackend

_LAZY = {
    "EmbeddedBackend": "orchbench.backends._embedded",
    "FakeBackend": "orchbench.backends._fake",
    "OllamaBackend": "orchbench.backends._ollama",
    "OpenAIBackend": "orchbench.backends._openai",
}

__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "EmbeddedBackend",
    "FakeBackend",
    "GenerateRequest",
    "GenerateResult",
    "OllamaBackend",
    "OpenAIBackend",
    "make_backend",
    "resolve_backend_kind",
]


def __getattr__(name: str) -> Any:
    """Load an engine class on first access (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
