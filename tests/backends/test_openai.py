"""The OpenAI-compatible engine against a stand-in server.

:class:`FakeOpenAIServer` (pytest-httpserver, threaded) stands in for an OpenAI-compatible
server such as llama.cpp's ``llama-server``: ``/v1/completions`` and
``/v1/chat/completions`` stream server-sent events in the documented shapes (a usage
event last when ``stream_options.include_usage`` is set, and llama.cpp's ``timings`` when
asked to), ``/v1/models`` lists ids, unknown models get 404 and the model ``busy`` 503.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from orchbench.backends import OpenAIBackend, make_backend
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest
from orchbench.errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotFound,
    ServerMisconfigured,
)
from orchbench.testing import CONTRACT_CHECKS, ContractCase

PIECES = ["\n", "    return", " s", "[::-1]"]


class FakeOpenAIServer:
    """A stand-in for an OpenAI-compatible server (documented SSE shapes, no model runs)."""

    def __init__(self, server: HTTPServer, *, llama_timings: bool = False) -> None:
        self.server = server
        self.models = ["tiny"]
        self.llama_timings = llama_timings
        self.bodies: list[dict] = []
        self.broken = False
        self.send_usage = True
        self.usage_extra: dict = {}
        self.cut = False
        """End every stream after its text with ``[DONE]`` and no finish reason."""
        for path in ("/v1/completions", "/v1/chat/completions"):
            server.expect_request(path, method="POST").respond_with_handler(self._complete)
        server.expect_request("/v1/models").respond_with_json(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        )

    @property
    def host(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _complete(self, request: Request) -> Response:
        body = request.get_json()
        self.bodies.append(body)
        if self.broken:  # malformed events: not JSON, then JSON of the wrong shape
            events = 'data: {not json\n\ndata: {"choices": 7}\n\ndata: [DONE]\n\n'
            return Response(events, mimetype="text/event-stream")
        if body["model"] == "busy":
            return Response(json.dumps({"error": {"message": "Server busy"}}), status=503)
        if body["model"] not in self.models:
            error = {"error": {"message": f"The model `{body['model']}` does not exist"}}
            return Response(json.dumps(error), status=404)
        chat = request.path.endswith("/chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        stream = self._events(body, chat, slow=prompt == "slow")
        return Response(stream, mimetype="text/event-stream")

    def _events(self, body: dict, chat: bool, slow: bool) -> Iterator[str]:
        pieces = PIECES[: body["max_tokens"]]
        for piece in pieces:
            if slow:
                time.sleep(1.0)
            choice = (
                {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            )
            yield f"data: {json.dumps({'choices': [{**choice, 'finish_reason': None}]})}\n\n"
        if self.cut:
            yield "data: [DONE]\n\n"
            return
        reason = "length" if len(pieces) < len(PIECES) else "stop"
        end = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
        last: dict = {"choices": [{**end, "finish_reason": reason}]}
        if self.llama_timings:
            last["timings"] = {
                "prompt_n": 9,
                "prompt_ms": 30.0,
                "predicted_n": 5,
                "cache_n": 20,
                "predicted_ms": 80.0,
            }
        yield f"data: {json.dumps(last)}\n\n"
        if self.send_usage and body.get("stream_options", {}).get("include_usage"):
            usage = {"prompt_tokens": 9, "completion_tokens": len(pieces), "total_tokens": 13}
            usage.update(self.usage_extra)
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"


@pytest.fixture
def openai(server: HTTPServer) -> Iterator[FakeOpenAIServer]:
    yield FakeOpenAIServer(server)
    server.clear()


def model(name: str = "tiny", style: str = "completion", limit: int = 2) -> ModelConfig:
    return ModelConfig(
        name=name, task_types=["coding"], tier="fast", prompt_style=style, concurrent_limit=limit
    )


def request(
    m: ModelConfig, prompt: str = "def reverse_string(s):", **kw: object
) -> GenerateRequest:
    base = {"max_tokens": 16, "temperature": 0.0, "timeout_s": 10.0}
    return GenerateRequest(model=m, prompt=prompt, **{**base, **kw})  # type: ignore[arg-type]


def generate(backend: OpenAIBackend, req: GenerateRequest):
    async def go():
        try:
            return await backend.generate(req)
        finally:
            await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract(check, openai: FakeOpenAIServer):
    case = ContractCase(
        lambda: OpenAIBackend(openai.host),
        model("tiny"),
        model("absent"),
        break_engine=lambda _backend: setattr(openai, "broken", True),
    )
    check(case)


def test_completion_streams_with_usage(openai: FakeOpenAIServer):
    result = generate(OpenAIBackend(openai.host + "/v1"), request(model(), stop=["\n\n"], seed=2))
    assert result.text == "".join(PIECES)
    assert result.finish_reason == "stop"
    t = result.timings
    assert (t.prompt_tokens, t.completion_tokens) == (9, 4)
    assert t.ttft_s is not None and t.prompt_s == t.ttft_s
    assert t.completion_s == pytest.approx(t.total_s - t.ttft_s)
    assert t.token_times is not None and len(t.token_times) == len(PIECES)
    assert t.token_times[0] == t.ttft_s and t.token_times == sorted(t.token_times)
    sent = openai.bodies[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (sent["prompt"], sent["stop"], sent["seed"]) == ("def reverse_string(s):", ["\n\n"], 2)


def test_chat_style_and_length_cut(openai: FakeOpenAIServer):
    result = generate(OpenAIBackend(openai.host), request(model(style="chat"), "Hi", max_tokens=2))
    assert result.text == "".join(PIECES[:2])
    assert result.finish_reason == "length"
    assert openai.bodies[-1]["messages"] == [{"role": "user", "content": "Hi"}]


def test_llama_cpp_timings_are_used_when_sent(openai: FakeOpenAIServer):
    openai.llama_timings = True
    t = generate(OpenAIBackend(openai.host), request(model())).timings
    assert (t.prompt_s, t.completion_s) == pytest.approx((0.030, 0.080))
    assert (t.prompt_tokens, t.completion_tokens) == (9, 4)


def test_error_mapping(openai: FakeOpenAIServer):
    with pytest.raises(ModelNotFound, match=r"'absent'.*does not exist"):
        generate(OpenAIBackend(openai.host), request(model("absent")))
    with pytest.raises(BackendBusy):
        generate(OpenAIBackend(openai.host), request(model("busy")))
    with pytest.raises(BackendTimeout):
        generate(OpenAIBackend(openai.host), request(model(), "slow", timeout_s=0.2))


def test_connection_refused_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match="no OpenAI-compatible server"):
        generate(OpenAIBackend(f"http://127.0.0.1:{port}"), request(model()))


def test_list_models_and_factory(openai: FakeOpenAIServer):
    backend = make_backend("openai", host=openai.host)
    assert isinstance(backend, OpenAIBackend)

    async def go():
        try:
            return await backend.list_models()
        finally:
            await backend.close()

    assert asyncio.run(go()) == ["tiny"]


def test_usage_wins_over_llama_timings_and_cached_tokens_are_kept(openai: FakeOpenAIServer):
    openai.llama_timings = True
    openai.usage_extra = {"prompt_tokens": 29, "prompt_tokens_details": {"cached_tokens": 20}}
    t = generate(OpenAIBackend(openai.host), request(model())).timings
    assert (t.prompt_tokens, t.cached_prompt_tokens, t.completion_tokens) == (29, 20, 4)


def test_llama_timings_are_the_fallback_counts_without_usage(openai: FakeOpenAIServer):
    # llama-server's prompt_n counts only tokens after the prompt cache: cache_n is added.
    openai.llama_timings = True
    openai.send_usage = False
    t = generate(OpenAIBackend(openai.host), request(model())).timings
    assert (t.prompt_tokens, t.cached_prompt_tokens, t.completion_tokens) == (9 + 20, 20, 5)


def test_content_events_are_the_last_resort_count(openai: FakeOpenAIServer):
    openai.send_usage = False
    t = generate(OpenAIBackend(openai.host), request(model())).timings
    assert (t.prompt_tokens, t.cached_prompt_tokens, t.completion_tokens) == (None, None, 4)


def test_served_name_is_what_the_request_names(openai: FakeOpenAIServer):
    served = model("gemma-local").model_copy(update={"served_name": "tiny"})
    result = generate(OpenAIBackend(openai.host), request(served))
    assert result.text == "".join(PIECES)
    assert openai.bodies[-1]["model"] == "tiny"


def test_a_stream_cut_without_another_request_is_a_retryable_error(openai: FakeOpenAIServer):
    openai.cut = True
    with pytest.raises(BackendError, match="without a finish reason") as caught:
        generate(OpenAIBackend(openai.host), request(model()))
    assert caught.value.retryable and not isinstance(caught.value, ServerMisconfigured)


class InterruptingServer:
    """A stand-in for llama_cpp.server with its default ``interrupt_requests``: a new request
    aborts the stream in flight, which ends with ``[DONE]`` and no finish reason."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.requests = 0
        self.lock = threading.Lock()
        server.expect_request("/v1/completions", method="POST").respond_with_handler(self._answer)

    @property
    def host(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _answer(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
            mine = self.requests
        return Response(self._events(mine), mimetype="text/event-stream")

    def _events(self, mine: int) -> Iterator[str]:
        for piece in PIECES:
            time.sleep(0.15)
            if self.requests != mine:  # another request arrived: abort this one
                yield "data: [DONE]\n\n"
                return
            yield f"data: {json.dumps({'choices': [{'index': 0, 'text': piece}]})}\n\n"
        last = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
        yield f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n"


def test_a_server_that_aborts_streams_in_flight_is_named_once(server: HTTPServer, caplog):
    standin = InterruptingServer(server)
    backend = OpenAIBackend(standin.host)

    async def go():
        try:
            first = asyncio.create_task(backend.generate(request(model())))
            await asyncio.sleep(0.05)
            both = await asyncio.gather(
                first, backend.generate(request(model())), return_exceptions=True
            )
            with pytest.raises(ServerMisconfigured):  # later requests: at once, not sent
                await backend.generate(request(model()))
            return both
        finally:
            await backend.close()

    with caplog.at_level("WARNING", logger="orchbench"):
        both = asyncio.run(go())
    # Whichever reached the server first was aborted by the other, which finished.
    cut = [r for r in both if isinstance(r, BaseException)]
    done = [r for r in both if not isinstance(r, BaseException)]
    assert len(cut) == 1 and [r.text for r in done] == ["".join(PIECES)]
    first = cut[0]
    assert isinstance(first, ServerMisconfigured) and not first.retryable
    assert "--interrupt_requests False" in str(first) and "-np N" in str(first)
    assert standin.requests == 2
    assert [r.message for r in caplog.records].count(str(first)) == 1
    server.clear()


def model_dict(**fields: object) -> dict:
    return {"task_types": ["coding"], "tier": "fast", "prompt_style": "completion", **fields}


def test_the_scheduler_does_not_retry_aborted_streams_into_a_speedup(server: HTTPServer):
    from orch_helpers import make_profile, orchestrator

    standin = InterruptingServer(server)
    profile = make_profile(
        {"tiny": model_dict(concurrent_limit=2)},
        {"coding": {"primary": ["tiny"]}},
        retry_attempts=3,
        max_concurrent_tasks=2,
    )
    backend = OpenAIBackend(standin.host)

    async def go():
        try:
            orch = orchestrator(profile, backend)  # type: ignore[arg-type]
            return await orch.execute_parallel_tasks([("coding", "def f():")] * 4)
        finally:
            await backend.close()

    results = asyncio.run(go())
    failed = [r for r in results if not r.success]
    assert failed and all("--interrupt_requests False" in (r.error or "") for r in failed), [
        r.error for r in failed
    ]
    assert all(len(r.attempts) == 1 for r in failed)  # not retried
    assert standin.requests <= 3  # nothing sent once the setting is known
    server.clear()
