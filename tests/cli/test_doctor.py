"""`orchbench doctor`: engine reachable, models installed, memory enough (stand-in Ollama)."""

from __future__ import annotations

import pytest
from ollama_standin import FakeOllama, unused_host, write_profile

from orchbench.cli import main


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")


def test_all_installed_and_fitting_passes(server, tmp_path, capsys):
    ollama = FakeOllama(server, ["llama2:7b-chat", "mistral:latest"])
    names = {"llama2:7b-chat": 3.8, "mistral": 4.1}
    assert main(["doctor", "--profile", str(write_profile(tmp_path, ollama.host, names))]) == 0
    out = capsys.readouterr().out
    assert "version 0.30.0" in out
    assert "all checks passed" in out


def test_missing_model_fails_with_the_pull_command(server, tmp_path, capsys):
    ollama = FakeOllama(server, ["llama2:7b-chat"])
    profile = write_profile(tmp_path, ollama.host, {"llama2:7b-chat": 3.8, "codellama:13b": 7.4})
    assert main(["doctor", "--profile", str(profile)]) == 1
    out = capsys.readouterr().out
    assert "run `ollama pull codellama:13b`" in out
    assert "orchbench setup --profile standin" in out


def test_unreachable_server_fails_and_skips_models(tmp_path, capsys):
    profile = write_profile(tmp_path, unused_host(), {"llama2:7b-chat": 3.8})
    assert main(["doctor", "--profile", str(profile)]) == 1
    out = capsys.readouterr().out
    assert "start it with `ollama serve`" in out
    assert "server not reachable" in out


def test_a_model_larger_than_the_card_fails(tmp_path, capsys):
    profile = write_profile(tmp_path, unused_host(), {"deepseek-coder:33b": 19.0}, vram_gb=10)
    assert main(["doctor", "--profile", str(profile), "--backend", "sim"]) == 1
    out = capsys.readouterr().out
    assert "memory deepseek-coder:33b" in out and "FAIL" in out


def test_models_that_only_fit_one_at_a_time_are_a_warning(tmp_path, capsys):
    sizes = {"a:13b": 7.4, "b:13b": 7.4}
    profile = write_profile(tmp_path, unused_host(), sizes, vram_gb=10)
    assert main(["doctor", "--profile", str(profile), "--backend", "sim"]) == 0
    out = capsys.readouterr().out
    assert "they swap" in out and "warn" in out


@pytest.mark.embedded
def test_embedded_profile_passes(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "llama-cpp-python" in out and "gemma3-270m" in out


def test_help_has_examples(capsys):
    assert main(["doctor", "--help"]) == 0
    assert "orchbench doctor --profile rtx4090" in capsys.readouterr().out
