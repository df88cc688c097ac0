"""A tuned Ollama profile is one a real server can run: doctor's static checks pass on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench.bench.workload import default_suite, load_suite
from orchbench.cli import main
from orchbench.cli._doctor import static_checks
from orchbench.planning import prompt_tokens_estimate
from orchbench.profiles import load_profile
from orchbench.tune import SearchSpace, apply_params


@pytest.mark.parametrize("name", ["rtx4090", "rtx3080", "rtx5090"])
def test_tuned_profiles_pass_doctors_static_checks(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    out = tmp_path / f"{name}.tuned.toml"
    args = ["tune", "--profile", name, "--backend", "sim", "--trials", "8"]
    args += ["--verify-repeat", "0", "--storage", str(tmp_path / "s.db"), "--out", str(tmp_path)]
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = " ".join((captured.out + captured.err).split())
    tuned = load_profile(out)
    assert f"OLLAMA_NUM_PARALLEL={tuned.server.num_parallel} " in printed
    assert "[server]" in out.read_text()  # the settings it was tuned for travel with it
    workload = load_suite(default_suite(tuned))
    longest = max(prompt_tokens_estimate(t.prompt) for t in workload.tasks)
    assert [c.status for c in static_checks(tuned, longest)] == ["ok"]


def test_client_limits_are_capped_at_num_parallel() -> None:
    profile = load_profile("rtx4090")
    space = SearchSpace.from_profile(profile)
    params = dict(space.values_of(profile))
    params["server.num_parallel"] = 2
    params["models.llama2:7b-chat.concurrent_limit"] = 5
    candidate = apply_params(profile, params)
    assert candidate.models["llama2:7b-chat"].concurrent_limit == 2
    assert candidate.server.num_parallel == 2
    assert profile.server.num_parallel == 1  # the original is untouched


@pytest.mark.parametrize("name", ["rtx4090", "rtx3080", "rtx5090"])
def test_a_tuned_profile_with_models_dropped_from_the_primaries_passes_the_checks(
    name: str, tmp_path: Path
) -> None:
    from orchbench.tune._feasible import PRIMARIES, resident_choices
    from orchbench.tune._write import build_tuned_profile, write_tuned

    profile = load_profile(name)
    choices = resident_choices(profile)
    if not choices:
        pytest.skip(f"{name} keeps every model loaded: nothing to drop")
    workload = load_suite(default_suite(profile))
    longest = max(prompt_tokens_estimate(t.prompt) for t in workload.tasks)
    space = SearchSpace.from_profile(profile, longest_prompt_tokens=longest)
    params = {p.name: p.choices[-1] for p in space.params}  # the most of everything
    params[PRIMARIES] = choices[0]  # only the smallest model keeps its primary routes
    tuned = build_tuned_profile(profile, params, {"trial": 0})
    path = write_tuned(tuned, tmp_path / f"{name}.tuned.toml", force=False)
    again = load_profile(path)
    assert set(again.models) == set(profile.models)  # the roster stays, as fallbacks
    assert any(again.routing[t].primary != profile.routing[t].primary for t in again.routing)
    assert [c.status for c in static_checks(again, longest)] == ["ok"]
