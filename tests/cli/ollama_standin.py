"""Stand-ins for an Ollama server (stand-ins, not Ollama), for the CLI and engine tests.

No Ollama server can run on our machines. :class:`FakeOllama` (pytest-httpserver, threaded)
answers ``/api/version``, ``/api/tags``, ``/api/ps`` and ``/api/pull`` in the shapes Ollama
documents, keeps the list of installed models, and refuses to pull a model named
``nonexistent``; it generates nothing (a test adds its own ``/api/generate`` handler).

:class:`OllamaStandin` adds generation that behaves like Ollama's scheduler over HTTP
(``ollama_scheduler.py``): one ``num_parallel`` for every model, at most
``max_loaded_models`` loaded within a memory budget (the least recently used idle model
evicted), a FIFO queue, HTTP 503 "server busy" beyond ``max_queue``, a reload when
``num_ctx`` changes, ``/api/generate`` and ``/api/chat`` (NDJSON streams and
``"stream": false``) with Ollama's nanosecond timing fields, and ``/api/ps`` / ``/api/show``.
Its times are sleeps (``load_s``, ``token_s``), not a model: it tests scheduling logic.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ollama_scheduler import Grant, Scheduler, ServerBusy
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PIECES = ["\n", "    return", " s", "[::-1]", "\n"]
"""What the stand-in "generates", one piece per token, cycled up to ``num_predict``."""


class FakeOllama:
    """Installed models live in ``models``; pulls add to it and are recorded in ``pulled``."""

    def __init__(self, server: HTTPServer, models: list[str], version: str = "0.30.0") -> None:
        self.models = list(models)
        self.pulled: list[str] = []
        self.host = server.url_for("").rstrip("/")
        server.expect_request("/api/version").respond_with_json({"version": version})
        server.expect_request("/api/tags").respond_with_handler(self._tags)
        server.expect_request("/api/pull", method="POST").respond_with_handler(self._pull)
        self.loaded: list[dict[str, object]] = []
        """What ``/api/ps`` answers: name, size, size_vram, context_length (Ollama's fields)."""
        server.expect_request("/api/ps").respond_with_handler(self._ps)

    def _ps(self, request: Request) -> Response:
        return Response(json.dumps({"models": self.ps()}))

    def ps(self) -> list[dict[str, object]]:
        """The loaded models ``/api/ps`` lists."""
        return self.loaded

    def _tags(self, request: Request) -> Response:
        return Response(json.dumps({"models": [{"model": m, "size": 1} for m in self.models]}))

    def _pull(self, request: Request) -> Response:
        name = request.get_json()["model"]
        if name == "nonexistent":
            return Response(
                json.dumps({"error": "pull model manifest: file does not exist"}) + "\n"
            )
        self.pulled.append(name)
        self.models.append(name)
        steps = [
            {"status": "pulling manifest"},
            {
                "status": "pulling 6a0746a1ec1a",
                "digest": "sha256:6a07",
                "total": 1000,
                "completed": 400,
            },
            {
                "status": "pulling 6a0746a1ec1a",
                "digest": "sha256:6a07",
                "total": 1000,
                "completed": 1000,
            },
            {"status": "verifying sha256 digest"},
            {"status": "success"},
        ]
        return Response("".join(json.dumps(step) + "\n" for step in steps))


class OllamaStandin(FakeOllama):
    """A stand-in that schedules like Ollama (see the module docstring); not Ollama.

    ``sizes`` gives a model's size in GB (default 1); ``memory_gb`` is the budget all loaded
    models share. ``scheduler`` keeps what the server saw (``max_in_flight`` per model,
    ``max_total``, ``loads``, ``evictions``).
    """

    def __init__(
        self,
        server: HTTPServer,
        models: list[str],
        *,
        num_parallel: int = 1,
        max_loaded_models: int = 3,
        max_queue: int = 512,
        memory_gb: float = 24.0,
        sizes: dict[str, float] | None = None,
        load_s: float = 0.05,
        token_s: float = 0.02,
        version: str = "0.33.0",
    ) -> None:
        super().__init__(server, models, version=version)
        self.sizes = dict(sizes or {})
        self.token_s = token_s
        self.scheduler = Scheduler(
            num_parallel=num_parallel,
            max_loaded_models=max_loaded_models,
            max_queue=max_queue,
            memory_bytes=int(memory_gb * 1e9),
            load_s=load_s,
        )
        for path in ("/api/generate", "/api/chat"):
            server.expect_request(path, method="POST").respond_with_handler(self._generate)
        server.expect_request("/api/show", method="POST").respond_with_handler(self._show)

    def ps(self) -> list[dict[str, object]]:
        """The scheduler's loaded runners, in ``/api/ps``'s shape (expiry 5 minutes on)."""
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        return [
            {"name": r.name, "model": r.name, "size": r.size, "size_vram": r.size,
             "context_length": r.num_ctx, "expires_at": expires, "details": {}}
            for r in self.scheduler.loaded()
        ]  # fmt: skip

    def _size(self, name: str) -> int:
        return int(self.sizes.get(name, self.sizes.get(name.removesuffix(":latest"), 1.0)) * 1e9)

    def _known(self, name: str) -> str | None:
        for candidate in (name, f"{name}:latest"):
            if candidate in self.models:
                return candidate
        return None

    def _tags(self, request: Request) -> Response:
        models = [
            {"model": m, "name": m, "size": self._size(m),
             "details": {"parameter_size": "7B", "quantization_level": "Q4_0"}}
            for m in self.models
        ]  # fmt: skip
        return Response(json.dumps({"models": models}))

    def _show(self, request: Request) -> Response:
        name = request.get_json()["model"]
        if self._known(name) is None:
            return Response(json.dumps({"error": f"model '{name}' not found"}), status=404)
        info = {"general.architecture": "llama", "llama.block_count": 32,
                "llama.head_count_kv": 8, "llama.embedding_length": 4096,
                "llama.context_length": 8192}  # fmt: skip
        return Response(json.dumps({"model_info": info, "details": {"family": "llama"}}))

    def _generate(self, request: Request) -> Response:
        body = request.get_json()
        arrived = time.perf_counter()
        name = self._known(body["model"])
        if name is None:
            error = f"model '{body['model']}' not found, try pulling it first"
            return Response(json.dumps({"error": error}), status=404)
        options = body.get("options") or {}
        chat = request.path.endswith("/chat")
        prompt = (
            (body.get("messages") or [{}])[-1].get("content", "")
            if chat
            else body.get("prompt", "")
        )
        if not prompt and not chat:  # a load request (warm-up)
            options = {**options, "num_predict": 0}
        num_ctx = int(options.get("num_ctx") or 2048)
        try:
            grant = self.scheduler.acquire(name, num_ctx, self._size(name))
        except ServerBusy as exc:
            return Response(json.dumps({"error": str(exc)}), status=503)
        limit = int(options["num_predict"]) if options.get("num_predict") is not None else -1
        count = len(PIECES) if limit < 0 else limit
        lines = self._lines(name, chat, str(prompt), count, grant, arrived)
        if body.get("stream", True):
            return Response(lines, mimetype="application/x-ndjson")
        chunks = [json.loads(line) for line in lines]
        final = chunks[-1]
        text = "".join(_text(c) for c in chunks)
        final["message" if chat else "response"] = (
            {"role": "assistant", "content": text} if chat else text
        )
        return Response(json.dumps(final), mimetype="application/json")

    def _lines(
        self, name: str, chat: bool, prompt: str, count: int, grant: Grant, arrived: float
    ) -> Iterator[str]:
        """The NDJSON stream of one request; the slot is given back when it ends."""
        try:
            prompt_tokens = max(1, len(prompt.split()))
            eval_start = time.perf_counter()
            time.sleep(self.token_s)  # prompt evaluation
            prompt_ns = int((time.perf_counter() - eval_start) * 1e9)
            decode_start = time.perf_counter()
            for i in range(count):
                time.sleep(self.token_s)
                yield json.dumps(_chunk(name, chat, PIECES[i % len(PIECES)], False)) + "\n"
            eval_ns = int((time.perf_counter() - decode_start) * 1e9)
        finally:
            self.scheduler.release(grant)
        final: dict[str, Any] = _chunk(name, chat, "", True)
        final.update(
            done_reason="length" if count < len(PIECES) else "stop",
            total_duration=int((time.perf_counter() - arrived) * 1e9),
            load_duration=int(grant.loaded_s * 1e9),
            prompt_eval_count=prompt_tokens,
            prompt_eval_duration=prompt_ns,
            eval_count=count,
            eval_duration=eval_ns,
        )
        yield json.dumps(final) + "\n"


def _chunk(name: str, chat: bool, piece: str, done: bool) -> dict[str, Any]:
    content = {"message": {"role": "assistant", "content": piece}} if chat else {"response": piece}
    return {"model": name, "created_at": datetime.now(UTC).isoformat(), "done": done, **content}


def _text(chunk: dict[str, Any]) -> str:
    if "message" in chunk:
        return str(chunk["message"].get("content", ""))
    return str(chunk.get("response", ""))


def unused_host() -> str:
    """A URL on which nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def write_profile(
    folder: Path,
    host: str,
    models: dict[str, float],
    vram_gb: float = 24,
    server: dict[str, int] | None = None,
) -> Path:
    """A small Ollama profile file: ``models`` maps names to their size in GB; ``server`` is
    its ``[server]`` table."""
    lines = [
        'name = "standin"',
        "[hardware]",
        f'name = "test card"\nkind = "gpu"\nvram_gb = {vram_gb}',
        "bandwidth_gbs = 1000\nram_gb = 64\ncpu_cores = 8",
        "[backend]",
        f'kind = "ollama"\nhost = "{host}"',
    ]
    for name, size in models.items():
        lines += [
            f'[models."{name}"]',
            f'task_types = ["coding"]\ntier = "fast"\nsize_gb = {size}\nparams_b = {size * 2}',
            'quantization = "Q4_0"\nnum_ctx = 2048',
        ]
    if server:
        lines += ["[server]", *(f"{key} = {value}" for key, value in server.items())]
    path = folder / "standin.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
