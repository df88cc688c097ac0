"""The OpenAI-compatible engine: llama.cpp's server, vLLM, LM Studio, Ollama's ``/v1``.

Spoken with plain ``httpx`` (not the ``openai`` package). Completion-style models go to
``POST /v1/completions``, chat-style ones to ``POST /v1/chat/completions`` with the prompt
as one user message. Requests stream (server-sent events)
with ``stream_options.include_usage`` so the last event carries token counts; where each
timing and count comes from is :mod:`orchbench.backends._openai_stream`'s docstring
(``usage`` first, llama-server's ``timings`` as the fallback). A model is asked for by its
``served_name`` when the profile gives one (the server's id, e.g. ``--alias``).

A server that aborts the stream in flight when another request arrives (llama_cpp.server's
default ``interrupt_requests``) is detected: a stream that ends, or whose connection
closes, without a finish reason while another request to the same server was in flight is
:class:`ServerMisconfigured`, logged once, and every later request fails with the same
message at once, so a run fails naming the setting instead of measuring aborted streams as a
speedup.

Errors map as for Ollama: refused connection → ``BackendUnavailable``, HTTP 404 or a
"model ... does not exist / not found" answer → ``ModelNotFound``, HTTP 503/429 →
``BackendBusy``, past ``timeout_s`` → ``BackendTimeout``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, ClassVar

import httpx

from orchbench.backends._openai_stream import StreamState, error_detail
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotFound,
    ServerMisconfigured,
)

logger = logging.getLogger("orchbench")
DEFAULT_OPENAI_HOST = "http://127.0.0.1:8080"
_CONNECT_TIMEOUT_S = 5.0


def openai_host(host: str | None = None) -> str:
    """The server's base URL: ``host``, else ``$OPENAI_BASE_URL``, else llama.cpp's default.

    A trailing ``/v1`` is dropped (paths are added per request).
    """
    value = (host or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_HOST).rstrip("/")
    if "://" not in value:
        value = f"http://{value}"
    return value.removesuffix("/v1")


class OpenAIBackend:
    """Generate through any OpenAI-compatible HTTP server.

    >>> backend = OpenAIBackend("http://127.0.0.1:8080/v1")
    >>> backend.host
    'http://127.0.0.1:8080'

    ``$OPENAI_API_KEY``, when set, is sent as a bearer token.
    """

    name = "openai"
    measured: ClassVar[bool] = True
    virtual_clock: ClassVar[bool] = False
    streams_tokens: ClassVar[bool] = True
    display_name: ClassVar[str] = "OpenAI-compatible server"
    model_source: ClassVar[str] = "server"
    ollama_api: ClassVar[bool] = False
    runs_instances: ClassVar[bool] = False
    prompt_time_includes_first_token: ClassVar[bool] = True

    def __init__(self, host: str | None = None, *, api_key: str | None = None) -> None:
        self.host = openai_host(host)
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._started = 0
        """Requests sent so far (a stream cut after a later one started was interrupted)."""
        self._in_flight = 0
        self._misconfigured: ServerMisconfigured | None = None

    def _get_client(self) -> httpx.AsyncClient:
        # A connection pool belongs to the event loop that opened it.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.host,
                headers=headers,
                timeout=httpx.Timeout(30.0, connect=_CONNECT_TIMEOUT_S),
            )
            self._client_loop = loop
        return self._client

    def _map_status(self, status: int, body: str, model: str | None) -> BackendError:
        detail = error_detail(body)
        lowered = detail.lower()
        if status == 404 or (
            "model" in lowered and ("not found" in lowered or "does not exist" in lowered)
        ):
            return ModelNotFound(
                f"model {model!r} is not available on the OpenAI-compatible server at "
                f"{self.host} (HTTP {status}: {detail}); load or serve it there first"
            )
        if status in (429, 503):
            return BackendBusy(f"the server at {self.host} is busy (HTTP {status}: {detail})")
        return BackendError(
            f"the server at {self.host} answered HTTP {status} for model {model!r}: {detail}"
        )

    def _map_error(self, exc: BaseException, model: str | None) -> BackendError:
        if isinstance(exc, httpx.ConnectError):
            return BackendUnavailable(
                f"no OpenAI-compatible server is running at {self.host}; start one "
                "(e.g. `python -m llama_cpp.server --model FILE`) or pass --host"
            )
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeout(f"the server at {self.host} did not answer in time for {model!r}")
        return BackendError(f"the server at {self.host} failed for model {model!r}: {exc!r}")

    def _body(self, request: GenerateRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": request.model.served_name or request.model.name,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if request.model.prompt_style == "completion":
            return "/v1/completions", {**body, "prompt": request.prompt}
        messages = [{"role": "user", "content": request.prompt}]
        return "/v1/chat/completions", {**body, "messages": messages}

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Stream one completion; see the module docstring for where each timing comes from."""
        if self._misconfigured is not None:
            raise self._misconfigured
        path, body = self._body(request)
        start = time.perf_counter()
        state = StreamState(start)
        self._started += 1
        mine, overlapped = self._started, self._in_flight > 0
        self._in_flight += 1
        try:
            async with asyncio.timeout(request.timeout_s):
                await self._send(path, body, request, state)
        except TimeoutError:
            raise BackendTimeout(
                f"model {request.model.name!r} on {self.host} ran past its timeout of "
                f"{request.timeout_s:g} s"
            ) from None
        except BackendError:
            raise
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if state.finished:
                raise self._map_error(exc, request.model.name) from exc
            # The connection closed mid-stream (llama_cpp.server cuts it that way).
        except Exception as exc:
            raise self._map_error(exc, request.model.name) from exc
        finally:
            self._in_flight -= 1
        if not state.finished:
            # Another request in flight at any moment of this one: the server aborted it.
            concurrent = overlapped or self._started > mine
            raise self._cut(request.model.name, interrupted=concurrent)
        return state.result(time.perf_counter() - start)

    async def _send(
        self, path: str, body: dict[str, Any], request: GenerateRequest, state: StreamState
    ) -> None:
        timeout = httpx.Timeout(request.timeout_s, connect=_CONNECT_TIMEOUT_S)
        client = self._get_client()
        async with client.stream("POST", path, json=body, timeout=timeout) as response:
            if response.status_code >= 400:
                text = (await response.aread()).decode(errors="replace")
                raise self._map_status(response.status_code, text, request.model.name)
            async for line in response.aiter_lines():
                state.feed(line)

    def _cut(self, model: str, *, interrupted: bool) -> BackendError:
        """A stream that ended without a finish reason; ``interrupted``: another request
        started meanwhile, so the server aborts streams in flight (said once, kept)."""
        if not interrupted:
            return BackendError(
                f"the server at {self.host} ended the stream for {model!r} without a finish "
                "reason (cut short)"
            )
        if self._misconfigured is None:
            self._misconfigured = ServerMisconfigured(
                f"the server at {self.host} aborted the stream for {model!r} when another "
                "request arrived: it serves one request at a time and interrupts the rest, so "
                "parallel runs would measure aborted answers. Start llama_cpp.server with "
                "`--interrupt_requests False` (it then queues), or llama.cpp's llama-server "
                "with `-np N` for N parallel slots"
            )
            logger.warning("%s", self._misconfigured)
        return self._misconfigured

    async def list_models(self) -> list[str]:
        """Model ids the server lists at ``GET /v1/models``."""
        try:
            response = await self._get_client().get("/v1/models")
        except Exception as exc:
            raise self._map_error(exc, None) from exc
        if response.status_code >= 400:
            raise self._map_status(response.status_code, response.text, None)
        return [str(item["id"]) for item in response.json().get("data", []) if "id" in item]

    async def warmup(self, model: ModelConfig) -> float:
        """Send a one-token request so the server has the model loaded; return its seconds."""
        request = GenerateRequest(
            model=model, prompt="Hello", max_tokens=1, temperature=0.0, timeout_s=300.0
        )
        result = await self.generate(request)
        return result.timings.total_s

    async def close(self) -> None:
        """Close the HTTP client (if the loop that opened it is still running)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()
        self._client_loop = None
