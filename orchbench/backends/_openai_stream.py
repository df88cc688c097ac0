"""What the server-sent events of one OpenAI-compatible request add up to.

Where each number comes from, best source first:

- ``prompt_tokens``: ``usage.prompt_tokens`` (every prompt token, cached ones included);
  else llama-server's ``timings.prompt_n + timings.cache_n`` (``prompt_n`` alone counts only
  the tokens evaluated after the prompt cache).
- ``cached_prompt_tokens``: ``usage.prompt_tokens_details.cached_tokens``; else llama-server's
  ``timings.cache_n``.
- ``completion_tokens``: ``usage.completion_tokens``; else llama-server's
  ``timings.predicted_n`` (which counts the stop token when the model stopped by itself);
  else the number of content events (one per token on llama.cpp's servers).
- ``prompt_s`` / ``completion_s``: llama-server's ``timings.prompt_ms`` / ``predicted_ms``;
  else the time to first token and the rest of the stream.
- ``token_times``: when each content event arrived, seconds since the request was sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

from orchbench.engine import GenerateResult
from orchbench.errors import BackendError
from orchbench.records import Timings


class StreamState:
    """The events of one request, fed line by line (:meth:`feed`), then :meth:`result`."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.parts: list[str] = []
        self.token_times: list[float] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.server_timings: dict[str, Any] | None = None

    @property
    def first_token_at(self) -> float | None:
        """Seconds from sending the request to the first event with text."""
        return self.token_times[0] if self.token_times else None

    @property
    def finished(self) -> bool:
        """Whether the server said why it stopped (a stream cut short never does)."""
        return self.finish_reason is not None

    def feed(self, line: str) -> None:
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
                self.token_times.append(time.perf_counter() - self.start)
                self.parts.append(text)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def result(self, total_s: float) -> GenerateResult:
        """The result, with the counts and times described in the module docstring."""
        ttft = self.first_token_at
        prompt_s = ttft
        completion_s = total_s - ttft if ttft is not None else None
        t = self.server_timings or {}
        if t.get("prompt_ms") is not None:
            prompt_s = t["prompt_ms"] / 1000
        if t.get("predicted_ms") is not None:
            completion_s = t["predicted_ms"] / 1000
        prompt, cached, completion = _token_counts(self.usage or {}, t, len(self.parts))
        timings = Timings(
            total_s=total_s,
            ttft_s=ttft,
            prompt_tokens=prompt,
            prompt_s=prompt_s,
            completion_tokens=completion,
            completion_s=completion_s,
            cached_prompt_tokens=cached,
            token_times=list(self.token_times) or None,
        )
        return GenerateResult(
            text="".join(self.parts), timings=timings, finish_reason=self.finish_reason
        )


def _token_counts(
    usage: dict[str, Any], timings: dict[str, Any], events: int
) -> tuple[int | None, int | None, int]:
    """(prompt, cached prompt, completion) tokens: ``usage`` first, llama-server's timings
    as the fallback, the count of content events last (completion only)."""
    cache_n = _int(timings.get("cache_n"))
    prompt = _int(usage.get("prompt_tokens"))
    if prompt is None and _int(timings.get("prompt_n")) is not None:
        prompt = (_int(timings.get("prompt_n")) or 0) + (cache_n or 0)
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else None
    if cached is None:
        cached = cache_n
    completion = _int(usage.get("completion_tokens"))
    if completion is None:
        completion = _int(timings.get("predicted_n"))
    return prompt, cached, events if completion is None else completion


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def error_detail(body: str) -> str:
    """The message inside an OpenAI-style error body, else the body itself (shortened)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(error)[:200]
