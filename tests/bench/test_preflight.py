"""Checks before a run: a missing model names the exact command that fixes it."""

import pytest

import orchbench.backends
from orchbench.bench.preflight import check_models, check_suites
from orchbench.bench.workload import load_suite
from orchbench.errors import ConfigError, ModelNotFound
from orchbench.profiles import load_profile
from orchbench.testing import FakeBackend


def test_missing_ollama_models_name_the_pull_commands(monkeypatch, duo_profile):
    fake = FakeBackend(models=["small:latest"])
    monkeypatch.setattr(orchbench.backends, "make_backend", lambda kind, **kw: fake)
    with pytest.raises(ModelNotFound) as info:
        check_models(duo_profile, "ollama")
    message = str(info.value)
    assert "ollama pull big" in message and "orchbench setup --profile duo" in message
    assert "ollama pull small" not in message  # "small" is there as small:latest
    assert fake.closed


def test_all_models_present_passes(monkeypatch, duo_profile):
    fake = FakeBackend(models=["small", "big"])
    monkeypatch.setattr(orchbench.backends, "make_backend", lambda kind, **kw: fake)
    check_models(duo_profile, "ollama")
    check_models(duo_profile, "sim")  # needs nothing


def test_embedded_gguf_that_does_not_exist(tmp_path):
    profile = load_profile("embedded")
    profile.models["gemma3-270m"].gguf = str(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotFound, match=r"missing\.gguf"):
        check_models(profile, "embedded")


def test_chat_suite_on_a_base_model_profile_is_refused():
    embedded = load_profile("embedded")
    embedded.models["smollm2-135m"].prompt_style = "completion"  # base models only
    with pytest.raises(ConfigError, match="cannot follow chat prompts"):
        check_suites(embedded, [load_suite("dev-pipeline")])
    assert check_suites(embedded, [load_suite("smoke")]) == []


def test_completion_suite_on_chat_models_is_a_warning(duo_profile):
    chat = duo_profile.model_copy(deep=True)
    chat.models["big"].prompt_style = "chat"
    (warning,) = check_suites(chat, [load_suite("smoke")])
    assert "big" in warning
