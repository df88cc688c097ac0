"""The engine contract: one small protocol the scheduler knows, nothing else.

A backend turns a :class:`GenerateRequest` into a :class:`GenerateResult` carrying the
text and the :class:`~orchbench.records.Timings` it really measured.

Contract every backend keeps (checked by ``tests/backends/contract.py``):

- ``generate`` raises only :class:`~orchbench.errors.BackendError` subclasses for engine
  failures (``BackendTimeout`` when ``request.timeout_s`` passes, ``ModelNotFound`` for a
  model it does not have, ``BackendUnavailable`` when the engine cannot be reached,
  ``BackendBusy`` for load shedding); ``asyncio.CancelledError`` propagates.
- It may be called concurrently: the orchestrator guarantees at most
  ``model.concurrent_limit`` requests in flight per model, and the backend must be able
  to serve that many at once (the embedded engine keeps that many model instances).
- ``warmup`` loads a model so that the next request does not pay load time; it returns
  the load seconds it measured (0.0 if already loaded).
- ``close`` releases everything; a closed backend is not used again.

Every engine class also states what it is, as class attributes (its *capabilities*):
``measured`` (its timings come from a real engine, not a model of one), ``virtual_clock``
(it must run on :func:`orchbench.sim.run_virtual`'s loop) and ``streams_tokens`` (it
reports a measured time to first token). Code asks these, never the engine's name:
:func:`is_measured` is the one rule for "measured or simulated".

Optional capabilities (an engine that does not state one gets the default shown) say how
an engine is set up, checked and modelled, so ``setup``, ``doctor``, the pre-flight check,
calibration and the tuner never compare kind strings:

- ``display_name`` (the class name): what to call it in messages, e.g. ``"Ollama"``;
- ``model_source`` (``"none"``): where its models come from — ``"files"`` (model files on
  this machine, loaded in process), ``"server"`` (a server that lists and serves them) or
  ``"none"`` (nothing to install: a simulator or a fake);
- ``ollama_api`` (False): it talks to Ollama's native API, so ``/api/version``,
  ``/api/ps`` and ``ollama pull`` apply;
- ``runs_instances`` (False): requests run at once on copies of the model in this
  process (``concurrent_limit`` instances), not batched by a server;
- ``prompt_time_includes_first_token`` (True): its prompt time is the time to the first
  token, one decode step included (Ollama reports prompt evaluation on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from orchbench.config import ModelConfig
from orchbench.records import Timings


@dataclass(slots=True)
class GenerateRequest:
    """One completion request for one model."""

    model: ModelConfig
    prompt: str
    max_tokens: int
    temperature: float
    timeout_s: float
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    host: str = ""
    """The deployment's host (a ``[hosts]`` name or URL); ``""``: the profile's own host."""


@dataclass(slots=True)
class GenerateResult:
    """The engine's answer: text, measured timings, and why it stopped."""

    text: str
    timings: Timings
    finish_reason: str | None = None
    """``"stop"``, ``"length"`` (cut off at max_tokens) or engine-specific."""
    instance: int | None = None


@runtime_checkable
class Backend(Protocol):
    """An engine that generates completions. ``name`` labels every record it produces."""

    name: str
    measured: ClassVar[bool]
    """True when the timings are measured on a real engine (False: simulated or faked)."""
    virtual_clock: ClassVar[bool]
    """True when the engine only works on the simulator's virtual-clock event loop."""
    streams_tokens: ClassVar[bool]
    """True when the engine measures the time to first token of each request."""

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Generate a completion; see the module docstring for the error contract."""
        ...

    async def list_models(self) -> list[str]:
        """Names of the models this engine can serve right now."""
        ...

    async def warmup(self, model: ModelConfig) -> float:
        """Load ``model`` (all its instances); return the load seconds measured."""
        ...

    async def close(self) -> None:
        """Release connections, threads and loaded models."""
        ...


def engine_measured(backend: object) -> bool:
    """Whether ``backend`` (an engine or engine class) produces measured numbers.

    An engine that does not state ``measured`` counts as not measured: orchbench never
    claims a measurement it cannot vouch for.
    """
    return bool(getattr(backend, "measured", False))


def on_virtual_clock(backend: object) -> bool:
    """Whether ``backend`` (an engine or engine class) must run on the virtual clock."""
    return bool(getattr(backend, "virtual_clock", False))


def display_name(backend: object) -> str:
    """What to call ``backend`` (an engine or engine class) in a message."""
    cls = backend if isinstance(backend, type) else type(backend)
    return str(getattr(backend, "display_name", cls.__name__))


def model_source(backend: object) -> str:
    """Where ``backend``'s models come from: ``"files"``, ``"server"`` or ``"none"``."""
    return str(getattr(backend, "model_source", "none"))


def speaks_ollama_api(backend: object) -> bool:
    """Whether ``backend`` talks to Ollama's native API (version, ``/api/ps``, pull)."""
    return bool(getattr(backend, "ollama_api", False))


def runs_instances(backend: object) -> bool:
    """Whether ``backend`` runs concurrent requests on model instances in this process."""
    return bool(getattr(backend, "runs_instances", False))


def batches_slots(backend: object) -> bool:
    """Whether ``backend`` runs a model's ``num_parallel`` requests as sequences of one
    batched context (the embedded engine's slots), so calibration can measure its curve."""
    return bool(getattr(backend, "batches_slots", False))


def prompt_time_includes_first_token(backend: object) -> bool:
    """Whether ``backend``'s prompt time is its time to first token (one decode step in)."""
    return bool(getattr(backend, "prompt_time_includes_first_token", True))


def is_measured(source: Mapping[str, Any] | object) -> bool:
    """The one rule for "measured or simulated", used by every table, page and report.

    ``source`` is a stored document (a run's ``summary.json``, a tuning trial's
    attributes: its ``"measured"`` field decides, and a document without one is *not*
    measured) or an engine (its ``measured`` capability decides).
    """
    if isinstance(source, Mapping):
        return bool(source.get("measured", False))
    return engine_measured(source)
