"""Stand-ins for several Ollama hosts, each on its own loopback port (no model runs).

No Ollama server can run on our machines. :class:`StandInHost` (pytest-httpserver, threaded)
answers ``/api/generate`` and ``/api/chat`` with Ollama's NDJSON stream shape after a fixed
delay, and counts at the server what a real host would see: requests served, and the most
requests in flight at once. :meth:`StandInHost.kill` stops it mid-run: new connections are
refused and the streams in flight are cut off, as when a box goes down.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FINAL = {
    "total_duration": 200_000_000,
    "load_duration": 0,
    "prompt_eval_count": 4,
    "prompt_eval_duration": 10_000_000,
    "eval_count": 2,
    "eval_duration": 100_000_000,
}


class StandInHost:
    """One stand-in Ollama host; ``served`` and ``peak_in_flight`` are measured at it."""

    def __init__(self, delay_s: float = 0.2) -> None:
        self.delay_s = delay_s
        self.server = HTTPServer(host="127.0.0.1", threaded=True)
        for path in ("/api/generate", "/api/chat"):
            self.server.expect_request(path, method="POST").respond_with_handler(self._answer)
        self.server.expect_request("/api/version").respond_with_json({"version": "0.33.0"})
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.served = 0
        self.dead = False

    def start(self) -> StandInHost:
        self.server.start()
        return self

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def kill(self) -> None:
        """Go down: refuse new connections, cut the streams in flight."""
        self.dead = True
        if self.server.is_running():
            self.server.stop()

    def _answer(self, request: Request) -> Response:
        body = request.get_json()
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        chat = request.path.endswith("/chat")
        return Response(self._stream(body["model"], chat))

    def _stream(self, model: str, chat: bool) -> Iterator[str]:
        try:
            piece = (
                {"message": {"role": "assistant", "content": "ok"}} if chat else {"response": "ok"}
            )
            yield json.dumps({"model": model, "done": False, **piece}) + "\n"
            end = time.monotonic() + self.delay_s
            while time.monotonic() < end:
                if self.dead:
                    raise ConnectionResetError("stand-in host killed mid-stream")
                time.sleep(0.01)
            last = {"message": {"role": "assistant", "content": ""}} if chat else {"response": ""}
            final = {"model": model, "done": True, "done_reason": "stop", **last, **FINAL}
            yield json.dumps(final) + "\n"
            with self._lock:
                self.served += 1
        finally:
            with self._lock:
                self.in_flight -= 1
