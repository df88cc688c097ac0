"""A short real tune on the bundled model: two trials of the tiny smoke suite, one check run."""

import importlib.util

import pytest

from orchbench.cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)


@pytest.mark.embedded
def test_short_real_tune_on_the_embedded_profile(tmp_path, monkeypatch, capsys):
    from orchbench import load_profile
    from orchbench.profiles import find_profile

    monkeypatch.chdir(tmp_path)
    before = find_profile("embedded").read_bytes()
    code = main(
        [
            "tune",
            "--profile",
            "embedded",
            "--backend",
            "embedded",
            "--suite",
            "smoke",
            "--trials",
            "2",
            "--verify-repeat",
            "1",
            "--storage",
            str(tmp_path / "t.db"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    tuned = load_profile("embedded.tuned")
    assert tuned.tuned["backend"] == "embedded"
    assert tuned.tuned["trials"] == 2
    assert tuned.tuned["best_value"] > 0
    assert find_profile("embedded").read_bytes() == before
