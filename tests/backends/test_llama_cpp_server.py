"""The OpenAI-compatible engine against a real ``python -m llama_cpp.server`` serving the
bundled Gemma 3 270M (llama-cpp-python's ``server`` extra): what it reports, and its default
``interrupt_requests``, which aborts the stream in flight whenever a new request arrives."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from orchbench.backends import OpenAIBackend, assemble_bundled_model
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import ServerMisconfigured

pytestmark = [pytest.mark.embedded, pytest.mark.slow]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def llama_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A real llama_cpp.server on a free port, with the flags the test is parametrized with."""
    pytest.importorskip("uvicorn", reason="llama-cpp-python[server] is not installed")
    port = _port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model",
               str(assemble_bundled_model("bundled")), "--n_ctx", "1024", "--n_threads", "1",
               "--port", str(port), "--model_alias", "gemma", *request.param]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{host}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start in 120 s")
        yield host
    finally:
        proc.terminate()
        proc.wait(30)


def two_overlapping(host: str) -> list[GenerateResult | BaseException]:
    model = ModelConfig(name="gemma3", served_name="gemma", task_types=["coding"], tier="fast",
                        prompt_style="completion")  # fmt: skip
    request = GenerateRequest(model, "def reverse_string(s):", 32, 0.0, 120.0)
    backend = OpenAIBackend(host)

    async def go() -> list[GenerateResult | BaseException]:
        try:
            first = asyncio.create_task(backend.generate(request))
            await asyncio.sleep(0.3)
            return await asyncio.gather(first, backend.generate(request), return_exceptions=True)
        finally:
            await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize("llama_server", [[]], indirect=True, ids=["default"])
def test_its_default_interrupt_requests_is_named_with_the_fix(llama_server: str):
    first, second = two_overlapping(llama_server)
    assert isinstance(first, ServerMisconfigured)
    assert "--interrupt_requests False" in str(first)
    assert isinstance(second, GenerateResult) and second.finish_reason == "length"


@pytest.mark.parametrize(
    "llama_server", [["--interrupt_requests", "False"]], indirect=True, ids=["queued"]
)
def test_with_interrupt_requests_off_both_finish_and_counts_are_measured(llama_server: str):
    results = two_overlapping(llama_server)
    assert all(isinstance(r, GenerateResult) for r in results), results
    for result in results:
        assert isinstance(result, GenerateResult)
        t = result.timings
        # llama_cpp.server streams no usage and no timings: one content event per token.
        assert t.completion_tokens == 32 and t.prompt_tokens is None
        assert t.token_times is not None and len(t.token_times) == 32
