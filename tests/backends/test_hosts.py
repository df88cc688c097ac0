"""Where the host comes from: --host, then the engine's env variable, then the profile."""

from __future__ import annotations

import pytest

from orchbench.backends import describe_host, host_note, make_backend, resolve_host
from orchbench.profiles import load_profile


def test_order_is_flag_env_profile_default() -> None:
    profile = load_profile("rtx4090")  # [backend] host = http://127.0.0.1:11434
    profile.backend.host = "http://profile-box:11434"
    env = {"OLLAMA_HOST": "env-box:18101"}
    assert resolve_host("ollama", "flag-box:1", profile, env).source == "--host"
    choice = resolve_host("ollama", None, profile, env)
    assert (choice.url, choice.source) == ("http://env-box:18101", "$OLLAMA_HOST")
    choice = resolve_host("ollama", None, profile, {})
    assert (choice.url, choice.source) == ("http://profile-box:11434", "profile [backend] host")
    profile.backend.host = None
    assert resolve_host("ollama", None, profile, {}).url == "http://127.0.0.1:11434"


def test_openai_reads_openai_base_url_and_drops_v1() -> None:
    choice = resolve_host("openai", None, None, {"OPENAI_BASE_URL": "http://llama:8080/v1/"})
    assert (choice.url, choice.source) == ("http://llama:8080", "$OPENAI_BASE_URL")
    # OLLAMA_HOST is Ollama's, not an OpenAI-compatible server's.
    assert resolve_host("openai", None, None, {"OLLAMA_HOST": "x:1"}).source == "default"


def test_descriptions_name_the_source() -> None:
    choice = resolve_host("ollama", None, None, {"OLLAMA_HOST": "h:1"})
    assert describe_host(choice) == "http://h:1 (from $OLLAMA_HOST)"
    assert host_note("sim", None, None) == ""
    assert host_note("ollama", "h:2", None) == ", host http://h:2 (from --host)"


def test_ollama_host_env_beats_the_profiles_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:18101")
    backend = make_backend("ollama", profile=load_profile("rtx4090"))
    assert backend.host == "http://127.0.0.1:18101"  # type: ignore[attr-defined]
    explicit = make_backend("ollama", host="http://other:1", profile=load_profile("rtx4090"))
    assert explicit.host == "http://other:1"  # type: ignore[attr-defined]
