"""The OpenAI-compatible engine: llama.cpp's server, vLLM, LM Studio, Ollama's ``/v1``.

Spoken with plain ``httpx`` (not the ``openai`` package). Completion-style models go to
``POST /v1/completions``, chat-style ones to ``POST /v1/chat/completions`` with the prompt
as one user message. Requests stream (server-sent events) with
``stream_options.include_usage`` so the last event carries token counts:

- ``ttft_s``: from sending the request to the first event with text;
- ``prompt_tokens`` / ``completion_tokens``: the ``usage`` event (else the number of
  content events, one per token on the servers above);
- ``prompt_s`` / ``completion_s``: llama.cpp's ``timings`` (``prompt_ms``, ``predicted_ms``)
  when the server sends them, else time to first token and the rest of the stream.

Errors map as for Ollama: refused connection → ``BackendUnavailable``, HTTP 404 or a
"model ... does not exist / not found" answer → ``ModelNotFound``, HTTP 503/429 →
``BackendBusy``, past ``timeout_s`` → ``BackendTimeout``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
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
)
from orchbench.records import Timings

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
        detail = _error_detail(body)
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
            "model": request.model.name,
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
        path, body = self._body(request)
        start = time.perf_counter()
        state = _StreamState()
        try:
            async with asyncio.timeout(request.timeout_s):
                timeout = httpx.Timeout(request.timeout_s, connect=_CONNECT_TIMEOUT_S)
                client = self._get_client()
                async with client.stream("POST", path, json=body, timeout=timeout) as response:
                    if response.status_code >= 400:
                        text = (await response.aread()).decode(errors="replace")
                        raise self._map_status(response.status_code, text, request.model.name)
                    async for line in response.aiter_lines():
                        state.feed(line, start)
        except TimeoutError:
            raise BackendTimeout(
                f"model {request.model.name!r} on {self.host} ran past its timeout of "
                f"{request.timeout_s:g} s"
            ) from None
        except BackendError:
            raise
        except Exception as exc:
            raise self._map_error(exc, request.model.name) from exc
        return state.result(time.perf_counter() - start)

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


class _StreamState:
    """What the server-sent events of one request add up to."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.content_events = 0
        self.first_token_at: float | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.server_timings: dict[str, Any] | None = None

    def feed(self, line: str, start: float) -> None:
        """Take one SSE line (``data: {...}``; comments and ``[DONE]`` are ignored)."""
        if not line.startswith("data:"):
            return
        data = line.removeprefix("data:").strip()
        if not data or data == "[DONE]":
            return
        event = json.loads(data)
        if "error" in event:
            raise BackendError(f"the server reported an error mid-stream: {event['error']}")
        self.usage = event.get("usage") or self.usage
        self.server_timings = event.get("timings") or self.server_timings
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text = choice.get("text") if "text" in choice else delta.get("content")
            if text:
                if self.first_token_at is None:
                    self.first_token_at = time.perf_counter() - start
                self.parts.append(text)
                self.content_events += 1
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def result(self, total_s: float) -> GenerateResult:
        """The result, with timings from usage / llama.cpp timings where the server sent them."""
        ttft = self.first_token_at
        usage = self.usage or {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens", self.content_events)
        prompt_s = ttft
        completion_s = total_s - ttft if ttft is not None else None
        if self.server_timings:
            t = self.server_timings
            prompt_tokens = t.get("prompt_n", prompt_tokens)
            completion_tokens = t.get("predicted_n", completion_tokens)
            if t.get("prompt_ms") is not None:
                prompt_s = t["prompt_ms"] / 1000
            if t.get("predicted_ms") is not None:
                completion_s = t["predicted_ms"] / 1000
        return GenerateResult(
            text="".join(self.parts),
            timings=Timings(
                total_s=total_s,
                ttft_s=ttft,
                prompt_tokens=prompt_tokens,
                prompt_s=prompt_s,
                completion_tokens=completion_tokens,
                completion_s=completion_s,
            ),
            finish_reason=self.finish_reason,
        )


def _error_detail(body: str) -> str:
    """The message inside an OpenAI-style error body, else the body itself (shortened)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(error)[:200]
