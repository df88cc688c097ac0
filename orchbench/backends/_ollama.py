"""The Ollama engine: the official ``ollama.AsyncClient`` with a real timeout.

Completion-style models (``prompt_style = "completion"``) go to ``/api/generate`` with
``raw: true``, so a base model sees the prompt exactly as written; chat-style models go
to ``/api/chat`` with the prompt as one user message, so Ollama applies the model's own
template. Both stream, which gives the time to first token; the final chunk carries
Ollama's own timing fields (nanoseconds), which become the :class:`Timings`.

Errors map onto :mod:`orchbench.errors`: a refused connection is ``BackendUnavailable``
("start it with `ollama serve`"), HTTP 404 / "not found" is ``ModelNotFound`` ("run
`ollama pull X`"), HTTP 503 is ``BackendBusy`` (Ollama's queue is full; retryable), and
a request past its ``timeout_s`` is ``BackendTimeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx

from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotFound,
    redact,
)
from orchbench.records import Timings

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
_CONNECT_TIMEOUT_S = 5.0
_NS = 1e-9


def ollama_host(host: str | None = None) -> str:
    """The Ollama URL to use: ``host``, else ``$OLLAMA_HOST``, else the local default.

    A bare ``host:port`` (as ``OLLAMA_HOST`` is often written) gets ``http://``.
    """
    value = (host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST).rstrip("/")
    if "://" not in value:
        value = f"http://{value}"
    return value


def ollama_version(host: str | None = None, timeout_s: float = 1.0) -> str | None:
    """Ollama's version string if a server answers ``GET /api/version`` at ``host``, else None."""
    try:
        response = httpx.get(f"{ollama_host(host)}/api/version", timeout=timeout_s)
        response.raise_for_status()
        return str(response.json().get("version", "unknown"))
    except (httpx.HTTPError, ValueError):
        return None


def is_installed(name: str, installed: list[str]) -> bool:
    """Whether model ``name`` is among Ollama's ``installed`` names (``x`` means ``x:latest``)."""
    return name in installed or (":" not in name and f"{name}:latest" in installed)


def unavailable_message(host: str) -> str:
    """The one-line advice shown when no Ollama server answers at ``host``."""
    return redact(f"Ollama is not running at {host}; start it with `ollama serve`")


class OllamaBackend:
    """Generate through a running Ollama server.

    >>> backend = OllamaBackend()              # $OLLAMA_HOST or http://127.0.0.1:11434
    >>> backend.host                           # doctest: +SKIP
    'http://127.0.0.1:11434'

    The HTTP client is created lazily per event loop (an ``httpx`` connection pool belongs
    to the loop that opened it), so one backend may serve several ``asyncio.run`` calls.
    """

    name = "ollama"
    measured: ClassVar[bool] = True
    virtual_clock: ClassVar[bool] = False
    streams_tokens: ClassVar[bool] = True
    display_name: ClassVar[str] = "Ollama"
    model_source: ClassVar[str] = "server"
    ollama_api: ClassVar[bool] = True
    runs_instances: ClassVar[bool] = False
    prompt_time_includes_first_token: ClassVar[bool] = False

    def __init__(self, host: str | None = None, *, timeout_s: float = 300.0) -> None:
        self.host = ollama_host(host)
        self._timeout_s = timeout_s
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> Any:
        import ollama

        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            timeout = httpx.Timeout(self._timeout_s, connect=_CONNECT_TIMEOUT_S)
            self._client = ollama.AsyncClient(host=self.host, timeout=timeout)
            self._client_loop = loop
        return self._client

    def _map_error(self, exc: BaseException, model: str | None) -> BackendError:
        import ollama

        if isinstance(exc, ConnectionError | httpx.ConnectError):
            return BackendUnavailable(unavailable_message(self.host))
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return BackendTimeout(f"Ollama at {self.host} did not answer in time for {model!r}")
        if isinstance(exc, ollama.ResponseError):
            text = str(exc.error)
            if exc.status_code == 404 or "not found" in text.lower():
                return ModelNotFound(
                    f"model {model!r} is not installed on Ollama at {self.host}; "
                    f"run `ollama pull {model}`"
                )
            if exc.status_code == 503:
                return BackendBusy(
                    f"Ollama at {self.host} is busy (HTTP 503: {text}); retry later, "
                    "or raise OLLAMA_MAX_QUEUE"
                )
            return BackendError(
                f"Ollama at {self.host} answered HTTP {exc.status_code} for model {model!r}: {text}"
            )
        return BackendError(f"Ollama at {self.host} failed for model {model!r}: {exc!r}")

    def _options(self, request: GenerateRequest) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_predict": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.model.num_ctx is not None:
            options["num_ctx"] = request.model.num_ctx
        if request.seed is not None:
            options["seed"] = request.seed
        if request.stop:
            options["stop"] = list(request.stop)
        return options

    async def _stream(self, request: GenerateRequest) -> AsyncIterator[Any]:
        client = self._get_client()
        model = request.model
        if model.prompt_style == "completion":
            return await client.generate(
                model=model.served_name or model.name,
                prompt=request.prompt,
                raw=True,
                stream=True,
                options=self._options(request),
                keep_alive=model.keep_alive,
            )
        return await client.chat(
            model=model.served_name or model.name,
            messages=[{"role": "user", "content": request.prompt}],
            stream=True,
            options=self._options(request),
            keep_alive=model.keep_alive,
        )

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Stream one completion; timings come from Ollama's final chunk."""
        start = time.perf_counter()
        times: list[float] = []
        parts: list[str] = []
        final: Any = None
        try:
            async with asyncio.timeout(request.timeout_s):
                stream = await self._stream(request)
                # aclosing: a timed-out stream closes its HTTP response now, not at GC.
                async with contextlib.aclosing(stream):  # type: ignore[type-var]
                    async for chunk in stream:
                        piece = _chunk_text(chunk)
                        if piece:
                            times.append(time.perf_counter() - start)
                            parts.append(piece)
                        if chunk.done:
                            final = chunk
        except TimeoutError:
            raise BackendTimeout(
                f"model {request.model.name!r} on Ollama at {self.host} ran past its "
                f"timeout of {request.timeout_s:g} s"
            ) from None
        except BackendError:
            raise
        except Exception as exc:
            raise self._map_error(exc, request.model.name) from exc
        total = time.perf_counter() - start
        if final is None:
            raise BackendError(
                f"Ollama at {self.host} closed the stream for {request.model.name!r} "
                "without a final chunk"
            )
        return GenerateResult(
            text="".join(parts),
            timings=_timings(final, total, times),
            finish_reason=final.done_reason,
        )

    async def list_models(self) -> list[str]:
        """Installed models (``GET /api/tags``), as Ollama names them (``name:tag``)."""
        try:
            response = await self._get_client().list()
        except Exception as exc:
            raise self._map_error(exc, None) from exc
        return [m.model for m in response.models if m.model]

    async def warmup(self, model: ModelConfig) -> float:
        """Load ``model`` with an empty prompt; return Ollama's load seconds (else wall time)."""
        start = time.perf_counter()
        options = {"num_ctx": model.num_ctx} if model.num_ctx else None
        try:
            response = await self._get_client().generate(
                model=model.served_name or model.name,
                prompt="",
                keep_alive=model.keep_alive,
                options=options,
            )
        except Exception as exc:
            raise self._map_error(exc, model.name) from exc
        if response.load_duration is not None:
            return response.load_duration * _NS
        return time.perf_counter() - start

    async def pull(self, model: str) -> AsyncIterator[dict[str, Any]]:
        """Pull ``model``, yielding Ollama's progress: ``{status, completed, total, digest}``."""
        try:
            stream = await self._get_client().pull(model, stream=True)
            async with contextlib.aclosing(stream):
                async for part in stream:
                    yield {
                        "status": part.status,
                        "completed": part.completed,
                        "total": part.total,
                        "digest": part.digest,
                    }
        except Exception as exc:
            import ollama

            if isinstance(exc, ollama.ResponseError) and exc.status_code in (-1, 404, 500):
                raise ModelNotFound(
                    f"Ollama at {self.host} could not pull {model!r}: {exc.error}; "
                    "check the name at https://ollama.com/library"
                ) from exc
            raise self._map_error(exc, model) from exc

    async def ps(self) -> list[dict[str, Any]]:
        """Loaded models (``GET /api/ps``): name, size, size_vram, context_length, expires_at."""
        try:
            response = await self._get_client().ps()
        except Exception as exc:
            raise self._map_error(exc, None) from exc
        return [
            {
                "model": m.model,
                "size": m.size,
                "size_vram": m.size_vram,
                "context_length": m.context_length,
                "expires_at": m.expires_at.isoformat() if m.expires_at else None,
            }
            for m in response.models
        ]

    async def close(self) -> None:
        """Close the HTTP client (if the loop that opened it is still running)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.close()
        self._client_loop = None


def _chunk_text(chunk: Any) -> str:
    response = getattr(chunk, "response", None)
    if response is not None:
        return str(response)
    message = getattr(chunk, "message", None)
    return str(message.content or "") if message is not None else ""


def _seconds(ns: int | None) -> float | None:
    return ns * _NS if ns is not None else None


def _timings(final: Any, total_s: float, times: list[float]) -> Timings:
    """Timings from Ollama's final chunk; queue time is what its durations leave over.
    ``times``: when each streamed piece (one per token) arrived."""
    load = _seconds(final.load_duration)
    prompt = _seconds(final.prompt_eval_duration)
    completion = _seconds(final.eval_duration)
    server_total = _seconds(final.total_duration)
    queue: float | None = None
    if server_total is not None and None not in (load, prompt, completion):
        # Ollama does not report waiting for a parallel slot; it is the unexplained rest.
        queue = max(0.0, server_total - (load or 0.0) - (prompt or 0.0) - (completion or 0.0))
    return Timings(
        total_s=total_s,
        load_s=load,
        ttft_s=times[0] if times else None,
        prompt_tokens=final.prompt_eval_count,
        prompt_s=prompt,
        completion_tokens=final.eval_count,
        completion_s=completion,
        queue_s=queue,
        token_times=times or None,
    )
