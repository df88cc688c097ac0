"""The shared Backend contract (``contract.py``) run over the fake engine.

The other engines run it in their own modules: ``test_embedded.py`` (the real bundled
model), ``test_ollama.py`` and ``test_openai.py`` (stand-in servers).
"""

from __future__ import annotations

import asyncio

import pytest

from orchbench.config import ModelConfig
from orchbench.engine import Backend, GenerateRequest, GenerateResult
from orchbench.errors import BackendError, BackendTimeout
from orchbench.testing import CONTRACT_CHECKS, ContractCase, FakeBackend


class SlowFake(FakeBackend):
    """The fake engine, taking 10 s on the prompt "slow" and honouring ``timeout_s`` then."""

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        if request.prompt != "slow":
            return await super().generate(request)
        try:
            async with asyncio.timeout(request.timeout_s):
                await asyncio.sleep(10.0)
        except TimeoutError:
            raise BackendTimeout("the fake timed out") from None
        raise AssertionError("the slow request should have been stopped")


def make_fake() -> FakeBackend:
    return SlowFake(models=["tiny"], latency=0.01, text="return s[::-1]")


def break_fake(backend: Backend) -> None:
    # The fake has no library underneath: it is told to fail the way a wrapped one does.
    assert isinstance(backend, FakeBackend)
    backend.failures = {"tiny": BackendError("the fake's engine broke")}


CHECKS = {check.__name__: check for check in CONTRACT_CHECKS}


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract_fake(check):
    model = ModelConfig(name="tiny", task_types=["coding"], tier="fast", concurrent_limit=3)
    missing = ModelConfig(name="absent", task_types=["coding"], tier="fast")
    check(ContractCase(make_fake, model, missing, break_engine=break_fake))


def test_contract_catches_a_swallowed_cancel():
    class Swallows(SlowFake):
        async def generate(self, request: GenerateRequest) -> GenerateResult:
            try:
                return await super().generate(request)
            except asyncio.CancelledError:
                raise BackendError("cancelled") from None

    model = ModelConfig(name="tiny", task_types=["coding"], tier="fast")
    case = ContractCase(lambda: Swallows(models=["tiny"]), model, model)
    with pytest.raises(AssertionError, match="BackendError"):
        CHECKS["check_cancel_propagates"](case)


def test_contract_catches_a_leaked_library_error():
    def leak(backend: Backend) -> None:
        assert isinstance(backend, FakeBackend)
        backend.failures = {"tiny": KeyError("choices")}

    model = ModelConfig(name="tiny", task_types=["coding"], tier="fast")
    case = ContractCase(lambda: FakeBackend(models=["tiny"]), model, model, break_engine=leak)
    with pytest.raises(AssertionError, match="KeyError escaped"):
        CHECKS["check_only_backend_errors_escape"](case)


def test_package_exports_resolve_and_import_no_engine():
    import subprocess
    import sys

    code = (
        "import sys, orchbench.backends as b; b.make_backend('fake'); "
        "print(sorted(m for m in ('llama_cpp', 'ollama', 'orchbench.sim') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
