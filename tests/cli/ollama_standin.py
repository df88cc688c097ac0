"""A stand-in for an Ollama server, for the `setup` and `doctor` tests.

No Ollama server can run on our machines. This one (pytest-httpserver, threaded) answers
``/api/version``, ``/api/tags``, ``/api/ps`` and ``/api/pull`` in the shapes Ollama
documents, keeps the list of installed models, and refuses to pull a model named ``nonexistent``.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


class FakeOllama:
    """Installed models live in ``models``; pulls add to it and are recorded in ``pulled``."""

    def __init__(self, server: HTTPServer, models: list[str]) -> None:
        self.models = list(models)
        self.pulled: list[str] = []
        self.host = server.url_for("").rstrip("/")
        server.expect_request("/api/version").respond_with_json({"version": "0.30.0"})
        server.expect_request("/api/tags").respond_with_handler(self._tags)
        server.expect_request("/api/pull", method="POST").respond_with_handler(self._pull)
        self.loaded: list[dict[str, object]] = []
        """What ``/api/ps`` answers: name, size, size_vram, context_length (Ollama's fields)."""
        server.expect_request("/api/ps").respond_with_handler(self._ps)

    def _ps(self, request: Request) -> Response:
        return Response(json.dumps({"models": self.loaded}))

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


def unused_host() -> str:
    """A URL on which nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def write_profile(folder: Path, host: str, models: dict[str, float], vram_gb: float = 24) -> Path:
    """A small Ollama profile file: ``models`` maps names to their size in GB."""
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
    path = folder / "standin.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
