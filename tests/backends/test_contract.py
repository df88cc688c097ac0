"""The shared Backend contract (``contract.py``) run over the fake engine.

The other engines run it in their own modules: ``test_embedded.py`` (the real bundled
model), ``test_ollama.py`` and ``test_openai.py`` (stand-in servers).
"""

from __future__ import annotations

import pytest

from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest
from orchbench.errors import BackendTimeout
from orchbench.testing import CONTRACT_CHECKS, ContractCase, FakeBackend


def times_out_when_slow(request: GenerateRequest, index: int) -> BaseException | None:
    # The fake does not watch the clock; it is told to fail the way a slow engine would.
    return BackendTimeout("the fake timed out on purpose") if request.prompt == "slow" else None


def make_fake() -> FakeBackend:
    return FakeBackend(
        models=["tiny"], latency=0.01, text="return s[::-1]", failures=times_out_when_slow
    )


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract_fake(check):
    model = ModelConfig(name="tiny", task_types=["coding"], tier="fast", concurrent_limit=3)
    missing = ModelConfig(name="absent", task_types=["coding"], tier="fast")
    check(ContractCase(make_fake, model, missing))


def test_package_exports_resolve_and_import_no_engine():
    import subprocess
    import sys

    code = (
        "import sys, orchbench.backends as b; b.make_backend('fake'); "
        "print(sorted(m for m in ('llama_cpp', 'ollama', 'orchbench.sim') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
