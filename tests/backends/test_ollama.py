"""The Ollama engine against a stand-in server.

No Ollama server can run on our machines, so :class:`FakeOllamaServer` (pytest-httpserver,
threaded) stands in for one: it answers ``/api/generate``, ``/api/chat``, ``/api/tags``,
``/api/ps``, ``/api/pull`` and ``/api/version`` with the response shapes Ollama documents
(NDJSON streams whose final chunk carries the nanosecond timing fields), 404 for a model
it does not have, and 503 for the model named ``busy``. A real server is exercised only
by tests marked ``needs_ollama``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from orchbench.backends import OllamaBackend, make_backend, resolve_backend_kind
from orchbench.config import ModelConfig, Profile
from orchbench.engine import GenerateRequest
from orchbench.errors import BackendBusy, BackendTimeout, BackendUnavailable, ModelNotFound
from orchbench.testing import CONTRACT_CHECKS, ContractCase

PIECES = ["\n", "    return", " s", "[::-1]", "\n"]
FINAL = {
    "total_duration": 1_000_000_000,
    "load_duration": 100_000_000,
    "prompt_eval_count": 7,
    "prompt_eval_duration": 200_000_000,
    "eval_count": 5,
    "eval_duration": 500_000_000,
}


class FakeOllamaServer:
    """A stand-in for an Ollama server (documented response shapes, no model runs)."""

    def __init__(self, server: HTTPServer, models: tuple[str, ...] = ("tiny:latest",)) -> None:
        self.server = server
        self.models = list(models)
        self.bodies: list[dict] = []
        self.broken = False
        for path in ("/api/generate", "/api/chat"):
            server.expect_request(path, method="POST").respond_with_handler(self._generate)
        server.expect_request("/api/tags").respond_with_handler(self._tags)
        server.expect_request("/api/ps").respond_with_json(
            {"models": [{"model": "tiny:latest", "size": 300, "size_vram": 200}]}
        )
        server.expect_request("/api/version").respond_with_json({"version": "0.30.0"})
        server.expect_request("/api/pull", method="POST").respond_with_handler(self._pull)

    @property
    def host(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _known(self, name: str) -> bool:
        return name in self.models or f"{name}:latest" in self.models

    def _tags(self, request: Request) -> Response:
        return Response(json.dumps({"models": [{"model": m, "size": 300} for m in self.models]}))

    def _pull(self, request: Request) -> Response:
        body = request.get_json()
        self.models.append(body["model"])
        steps = [
            {"status": "pulling manifest"},
            {"status": "downloading", "digest": "sha256:ab", "total": 100, "completed": 50},
            {"status": "downloading", "digest": "sha256:ab", "total": 100, "completed": 100},
            {"status": "success"},
        ]
        return Response("".join(json.dumps(s) + "\n" for s in steps))

    def _generate(self, request: Request) -> Response:
        body = request.get_json()
        self.bodies.append(body)
        if self.broken:  # a proxy's error page where Ollama's JSON lines should be
            return Response("<html><body>502 Bad Gateway</body></html>\n")
        model = body["model"]
        if model == "busy":
            return Response(json.dumps({"error": "server busy, please try again"}), status=503)
        if not self._known(model):
            error = f"model '{model}' not found, try pulling it first"
            return Response(json.dumps({"error": error}), status=404)
        if body.get("prompt") == "" and not body.get("stream", True):
            return Response(
                json.dumps({"model": model, "done": True, "load_duration": 1_500_000_000})
            )
        chat = request.path.endswith("/chat")
        text = (body.get("messages") or [{}])[-1].get("content") if chat else body.get("prompt")
        limit = body.get("options", {}).get("num_predict", len(PIECES))
        return Response(self._stream(model, chat, text == "slow", limit))

    def _stream(self, model: str, chat: bool, slow: bool, limit: int) -> Iterator[str]:
        pieces = PIECES[:limit]
        for piece in pieces:
            if slow:
                time.sleep(1.0)
            content = (
                {"message": {"role": "assistant", "content": piece}}
                if chat
                else {"response": piece}
            )
            yield json.dumps({"model": model, "done": False, **content}) + "\n"
        reason = "length" if len(pieces) < len(PIECES) else "stop"
        last = {"message": {"role": "assistant", "content": ""}} if chat else {"response": ""}
        yield json.dumps({"model": model, "done": True, "done_reason": reason, **last, **FINAL})
        yield "\n"


@pytest.fixture
def ollama(server: HTTPServer) -> Iterator[FakeOllamaServer]:
    yield FakeOllamaServer(server)
    server.clear()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def model(name: str = "tiny", style: str = "completion", limit: int = 2) -> ModelConfig:
    return ModelConfig(
        name=name, task_types=["coding"], tier="fast", prompt_style=style, concurrent_limit=limit
    )


def request(
    m: ModelConfig, prompt: str = "def reverse_string(s):", **kw: object
) -> GenerateRequest:
    base = {"max_tokens": 16, "temperature": 0.0, "timeout_s": 10.0}
    return GenerateRequest(model=m, prompt=prompt, **{**base, **kw})  # type: ignore[arg-type]


def generate(backend: OllamaBackend, req: GenerateRequest):
    async def go():
        try:
            return await backend.generate(req)
        finally:
            await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract(check, ollama: FakeOllamaServer):
    case = ContractCase(
        lambda: OllamaBackend(ollama.host),
        model("tiny"),
        model("absent"),
        break_engine=lambda _backend: setattr(ollama, "broken", True),
    )
    check(case)


def test_completion_uses_raw_generate_and_ollama_timings(ollama: FakeOllamaServer):
    result = generate(OllamaBackend(ollama.host), request(model(), seed=3, stop=["\n\n"]))
    assert result.text == "".join(PIECES)
    assert result.finish_reason == "stop"
    t = result.timings
    assert (t.load_s, t.prompt_s, t.completion_s) == pytest.approx((0.1, 0.2, 0.5))
    assert t.queue_s == pytest.approx(0.2)  # 1.0 total - 0.1 load - 0.2 prompt - 0.5 eval
    assert (t.prompt_tokens, t.completion_tokens) == (7, 5)
    assert t.ttft_s is not None and t.ttft_s <= t.total_s
    assert t.token_times is not None and len(t.token_times) == len(PIECES)
    assert t.token_times[0] == t.ttft_s
    sent = ollama.bodies[-1]
    assert sent["raw"] is True
    assert sent["options"] == {"num_predict": 16, "temperature": 0.0, "seed": 3, "stop": ["\n\n"]}


def test_chat_style_uses_api_chat_and_cut_reports_length(ollama: FakeOllamaServer):
    result = generate(OllamaBackend(ollama.host), request(model(style="chat"), "Hi", max_tokens=2))
    assert result.text == "".join(PIECES[:2])
    assert result.finish_reason == "length"
    assert ollama.bodies[-1]["messages"] == [{"role": "user", "content": "Hi"}]


def test_host_comes_from_argument_then_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:11434")
    assert OllamaBackend().host == "http://10.0.0.5:11434"
    assert OllamaBackend("http://box:1/").host == "http://box:1"
    monkeypatch.delenv("OLLAMA_HOST")
    assert OllamaBackend().host == "http://127.0.0.1:11434"


def test_connection_refused_says_start_ollama():
    host = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(BackendUnavailable, match=r"not running at .*`ollama serve`"):
        generate(OllamaBackend(host), request(model()))


def test_missing_model_says_ollama_pull(ollama: FakeOllamaServer):
    with pytest.raises(ModelNotFound, match=r"run `ollama pull mistral:7b`"):
        generate(OllamaBackend(ollama.host), request(model("mistral:7b")))


def test_503_is_busy_and_retryable(ollama: FakeOllamaServer):
    with pytest.raises(BackendBusy) as info:
        generate(OllamaBackend(ollama.host), request(model("busy")))
    assert info.value.retryable


def test_timeout_is_backend_timeout(ollama: FakeOllamaServer):
    with pytest.raises(BackendTimeout, match=r"timeout of 0\.2 s"):
        generate(OllamaBackend(ollama.host), request(model(), "slow", timeout_s=0.2))


def test_list_ps_warmup_and_pull(ollama: FakeOllamaServer):
    backend = OllamaBackend(ollama.host)

    async def go():
        names = await backend.list_models()
        loaded = await backend.ps()
        load = await backend.warmup(model())
        progress = [p async for p in backend.pull("new:7b")]
        after = await backend.list_models()
        await backend.close()
        return names, loaded, load, progress, after

    names, loaded, load, progress, after = asyncio.run(go())
    assert names == ["tiny:latest"]
    assert loaded[0]["size_vram"] == 200
    assert load == pytest.approx(1.5)
    assert progress[-1]["status"] == "success"
    assert progress[2]["completed"] == 100
    assert "new:7b" in after


def gpu_profile(host: str) -> Profile:
    return Profile(
        name="gpu",
        hardware={
            "name": "card",
            "vram_gb": 24,
            "bandwidth_gbs": 1000,
            "ram_gb": 64,
            "cpu_cores": 16,
        },
        backend={"kind": "auto", "host": host},
        models={"tiny": {"task_types": ["coding"], "tier": "fast"}},
    )


def test_auto_picks_ollama_when_it_answers(ollama: FakeOllamaServer):
    assert resolve_backend_kind(gpu_profile(ollama.host), "auto") == ("ollama", None)
    backend = make_backend("ollama", profile=gpu_profile(ollama.host))
    assert isinstance(backend, OllamaBackend) and backend.host == ollama.host


def test_auto_falls_back_to_sim_with_a_reason_and_explicit_ollama_fails():
    profile = gpu_profile(f"http://127.0.0.1:{unused_port()}")
    kind, reason = resolve_backend_kind(profile, "auto")
    assert kind == "sim"
    assert "not reachable" in reason and "--profile embedded" in reason
    with pytest.raises(BackendUnavailable, match="ollama serve"):
        resolve_backend_kind(profile, "ollama")
    assert resolve_backend_kind(profile, "fake") == ("fake", None)


@pytest.mark.needs_ollama
def test_a_real_server_lists_its_models():
    from orchbench.backends._ollama import ollama_version

    if ollama_version() is None:
        pytest.skip("no Ollama server answers at $OLLAMA_HOST or http://127.0.0.1:11434")

    async def go():
        backend = OllamaBackend()
        try:
            return await backend.list_models()
        finally:
            await backend.close()

    assert all(isinstance(name, str) for name in asyncio.run(go()))
