"""`orchbench setup`: the embedded model made ready, Ollama models pulled (stand-in server)."""

from __future__ import annotations

import pytest
from ollama_standin import FakeOllama, unused_host, write_profile

from orchbench.cli import main


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.embedded
def test_embedded_profile_assembles_the_bundled_model(capsys):
    assert main(["setup", "--profile", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "llama-cpp-python" in out
    assert "gemma-3-270m-q4_k_m.gguf (253 MB)" in out


def test_embedded_without_llama_cpp_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    assert main(["setup", "--profile", "embedded"]) == 2
    assert "pip install 'orchbench[embedded]'" in capsys.readouterr().err


def test_ollama_pulls_only_missing_models(server, tmp_path, capsys):
    ollama = FakeOllama(server, ["llama2:7b-chat"])
    profile = write_profile(
        tmp_path, ollama.host, {"llama2:7b-chat": 3.8, "mistral:7b-instruct": 4.1}
    )
    assert main(["setup", "--profile", str(profile)]) == 0
    assert ollama.pulled == ["mistral:7b-instruct"]
    out = capsys.readouterr().out
    assert "llama2:7b-chat is already installed" in out
    assert "mistral:7b-instruct pulled into Ollama" in out


def test_ollama_pull_of_an_unknown_model_is_one_clear_error(server, tmp_path, capsys):
    ollama = FakeOllama(server, [])
    profile = write_profile(tmp_path, ollama.host, {"nonexistent": 1.0})
    assert main(["setup", "--profile", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "could not pull 'nonexistent'" in err and "file does not exist" in err


def test_ollama_not_running_says_ollama_serve(tmp_path, capsys):
    profile = write_profile(tmp_path, unused_host(), {"llama2:7b-chat": 3.8})
    assert main(["setup", "--profile", str(profile)]) == 2
    assert "start it with `ollama serve`" in capsys.readouterr().err


def test_unknown_backend_is_rejected(capsys):
    assert main(["setup", "--backend", "vllm"]) == 2
    assert "unknown backend 'vllm'" in capsys.readouterr().err


def test_help_has_examples(capsys):
    assert main(["setup", "--help"]) == 0
    assert "orchbench setup --profile rtx4090" in capsys.readouterr().out
