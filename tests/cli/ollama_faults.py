"""A stand-in Ollama server with injected faults, for the `orchbench run` failure tests.

No Ollama server can run on our machines. This FAULT-INJECTING stand-in (pytest-httpserver,
threaded) answers ``/api/version``, ``/api/tags``, ``/api/ps`` and ``/api/generate`` /
``/api/chat`` in Ollama's documented shapes (a warm-up is a generate with an empty prompt;
completions stream NDJSON chunks with Ollama's final-chunk timings), and fails as told:

- ``warmup_faults``: model → HTTP status its warm-up answers (503 "server busy", 500, 404);
- ``die_after_warmup``: once every model has warmed up, the server stops (connections are
  refused from then on), as an Ollama process that crashed would.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


class FaultyOllama:
    """A stand-in Ollama with faults; ``warmed`` lists the models whose warm-up succeeded."""

    def __init__(
        self,
        server: HTTPServer,
        models: list[str],
        *,
        warmup_faults: dict[str, int] | None = None,
        die_after_warmup: bool = False,
    ) -> None:
        self.server = server
        self.models = list(models)
        self.warmup_faults = dict(warmup_faults or {})
        self.die_after_warmup = die_after_warmup
        self.warm_ups: list[str] = []
        self.dead = False
        self.host = server.url_for("").rstrip("/")
        server.expect_request("/api/version").respond_with_json({"version": "0.33.0"})
        tags = {"models": [{"model": m, "name": m, "size": 1} for m in self.models]}
        server.expect_request("/api/tags").respond_with_json(tags)
        server.expect_request("/api/ps").respond_with_json({"models": []})
        for path in ("/api/generate", "/api/chat"):
            server.expect_request(path, method="POST").respond_with_handler(self._generate)

    def _generate(self, request: Request) -> Response:
        body = request.get_json()
        model = body["model"]
        if body.get("prompt") == "" and "messages" not in body:
            return self._warm_up(model)
        if self.dead:  # between the crash and the port closing: what a dying runner says
            error = {"error": "llama runner process has terminated: signal: killed"}
            return Response(json.dumps(error), status=500)
        return Response(_stream(model, chat="messages" in body), mimetype="application/x-ndjson")

    def _warm_up(self, model: str) -> Response:
        status = self.warmup_faults.get(model)
        self.warm_ups.append(model)
        if status is not None:
            text = {503: "server busy, please try again", 404: f"model '{model}' not found"}
            error = text.get(status, "llama runner process has terminated: exit status 2")
            return Response(json.dumps({"error": error}), status=status)
        if self.die_after_warmup and len(self.warm_ups) == len(self.models):
            # Dead from now on (no completion is ever served, however fast the client is);
            # the port closes just after this answer has gone out: connection refused.
            self.dead = True
            threading.Timer(0.2, self.server.stop).start()
        final = {**_final(model), "response": ""}
        return Response(json.dumps(final), mimetype="application/json")


def _final(model: str) -> dict[str, object]:
    return {
        "model": model,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "done": True,
        "done_reason": "stop",
        "total_duration": 40_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": 8,
        "prompt_eval_duration": 4_000_000,
        "eval_count": 3,
        "eval_duration": 30_000_000,
    }


def _stream(model: str, *, chat: bool) -> str:
    def piece(text: str) -> dict[str, object]:
        if chat:
            return {"message": {"role": "assistant", "content": text}}
        return {"response": text}

    chunks = [
        {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "done": False,
         **piece(word)}
        for word in ("    return", " a", " + b\n")
    ]  # fmt: skip
    chunks.append({**_final(model), **piece("")})
    return "".join(json.dumps(chunk) + "\n" for chunk in chunks)


def write_faulty_profile(folder: Path, host: str, models: list[str]) -> Path:
    """An Ollama profile: the first model is the primary for coding, the others fallbacks."""
    lines = [
        'name = "faulty"',
        "[hardware]",
        'name = "test card"\nkind = "gpu"\nvram_gb = 24',
        "bandwidth_gbs = 1000\nram_gb = 64\ncpu_cores = 8",
        "[backend]",
        f'kind = "ollama"\nhost = "{host}"',
        "[settings]",
        "retry_attempts = 1\nretry_backoff_s = 0.01\ndefault_timeout = 20",
    ]
    for name in models:
        lines += [
            f'[models."{name}"]',
            'task_types = ["coding"]\ntier = "fast"\nprompt_style = "completion"',
            "size_gb = 1.0\nnum_ctx = 2048\nconcurrent_limit = 2",
        ]
    primary, *fallback = models
    lines += ["[routing.coding]", f"primary = {json.dumps([primary])}"]
    lines += [f"fallback = {json.dumps(fallback)}"]
    path = folder / "faulty.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
