"""`orchbench doctor`: engine reachable, models installed, memory enough (stand-in Ollama)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ollama_standin import FakeOllama, OllamaStandin, unused_host, write_profile

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


def test_static_checks_pass_on_the_shipped_profiles():
    from orchbench.cli._doctor import static_checks
    from orchbench.profiles import load_profile

    for name in ("rtx4090", "rtx3090", "rtx3080", "rtx5090", "cpu"):
        checks = static_checks(load_profile(name), longest_prompt_tokens=200)
        assert [c.status for c in checks] == ["ok"], (name, checks)


def test_static_checks_name_what_a_server_cannot_run(capsys):
    from orchbench.cli._doctor import static_checks
    from orchbench.profiles import load_profile

    profile = load_profile("rtx4090")
    profile.models["llama2:7b-chat"].concurrent_limit = 4
    profile.models["mistral:7b-instruct"].num_ctx = 2048
    profile.server.num_parallel = 2
    details = [c.detail for c in static_checks(profile, longest_prompt_tokens=100)]
    assert "llama2:7b-chat: concurrent_limit 4 > [server] num_parallel 2" in details
    assert any(d.startswith("mistral:7b-instruct: max_tokens 2048 + the longest") for d in details)
    profile.server.num_parallel = 9  # a 33B with 9 slots of 4k does not fit 24 GB
    assert any("deepseek-coder:33b: needs" in c.detail for c in static_checks(profile))


def test_doctor_prints_how_to_start_ollama_when_the_profile_needs_it(tmp_path, capsys):
    path = tmp_path / "p.toml"
    text = (Path(__file__).parents[2] / "profiles" / "rtx4090.toml").read_text()
    path.write_text(
        text.replace("num_parallel = 1 ", "num_parallel = 2 ", 1).replace(
            "concurrent_limit = 1", "concurrent_limit = 3", 1
        )
    )
    assert main(["doctor", "--profile", str(path), "--backend", "sim"]) == 1
    out = capsys.readouterr().out
    assert "OLLAMA_NUM_PARALLEL=2 OLLAMA_MAX_LOADED_MODELS=3" in out
    assert 'Environment="OLLAMA_NUM_PARALLEL=2"' in out


def test_loaded_models_spilled_or_with_another_context_are_flagged(server, tmp_path, capsys):
    ollama = FakeOllama(server, ["llama2:7b-chat", "mistral:latest"])
    ollama.loaded = [
        {
            "name": "llama2:7b-chat",
            "size": 8_000_000_000,
            "size_vram": 5_000_000_000,
            "context_length": 4096,
        },
        {
            "name": "mistral:latest",
            "size": 5_000_000_000,
            "size_vram": 5_000_000_000,
            "context_length": 8192,
        },
    ]
    names = {"llama2:7b-chat": 3.8, "mistral": 4.1}
    main(["doctor", "--profile", str(write_profile(tmp_path, ollama.host, names))])
    out = " ".join(capsys.readouterr().out.split())
    assert "2 loaded" in out
    assert "3.0 of 8.0 GB spilled to the CPU" in out
    # write_profile sets num_ctx = 2048: a runner loaded with 8192 is not the profile's
    assert "context_length 8192, the profile expects 2048" in out


@pytest.mark.parametrize("num_parallel", [1, 2])
def test_the_probe_finds_the_servers_num_parallel(server, tmp_path, capsys, num_parallel):
    standin = OllamaStandin(server, ["small:latest", "big:latest"], num_parallel=num_parallel)
    sizes = {"small": 1.0, "big": 4.0}
    profile = write_profile(tmp_path, standin.host, sizes, server={"num_parallel": 2})
    assert main(["doctor", "--profile", str(profile)]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert f"runs {num_parallel} request(s) of small at once" in out
    assert "profile assumes num_parallel=2; 3 sent" in out
    assert standin.scheduler.max_in_flight == {"small:latest": num_parallel}  # only the smallest
    assert "probing" in captured.err and "3 overlapping requests of small" in captured.err
    if num_parallel == 1:
        assert "the server runs with other settings" in out
        assert "OLLAMA_NUM_PARALLEL=2 OLLAMA_MAX_LOADED_MODELS=3" in out
        assert 'Environment="OLLAMA_NUM_PARALLEL=2"' in out
    else:
        assert "start Ollama with" not in out


def test_no_probe_sends_nothing_and_an_old_ollama_is_a_warning(server, tmp_path, capsys):
    standin = OllamaStandin(server, ["small:latest"], version="0.9.6")
    profile = write_profile(tmp_path, standin.host, {"small": 1.0})
    assert main(["doctor", "--profile", str(profile), "--no-probe"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Ollama 0.9.6 is older than 0.10.0" in out and "OLLAMA_NUM_PARALLEL explicitly" in out
    assert "parallelism probe" not in out and standin.scheduler.loads == []


def test_overlap_counts_back_to_back_requests_as_one():
    from orchbench.cli._probe import at_once

    assert at_once([(0.0, 1.0), (1.02, 2.0), (1.98, 3.0)]) == 1  # queued, jittery ends
    assert at_once([(0.0, 1.0), (0.1, 1.1), (0.05, 0.9), (1.0, 2.0)]) == 3
    assert at_once([]) == 0
