"""The tuned profile: where it goes, written atomically, loadable, the original untouched."""

import os
import shutil

import pytest

from orchbench import load_profile
from orchbench.errors import ConfigError
from orchbench.profiles import bundled_profiles_dir, find_profile
from orchbench.tune._write import build_tuned_profile, tuned_path, write_tuned

PARAMS = {
    "models.gemma3-270m.concurrent_limit": 3,
    "models.gemma3-270m.n_threads": 1,
    "settings.max_concurrent_tasks": 3,
}
PROVENANCE = {
    "backend": "fake",
    "suite": "smoke",
    "objective": ["throughput"],
    "best_value": 2.0,
    "baseline_value": 1.79,
    "trials": 6,
    "study": "s",
    "seed": 0,
    "verify_gain_pct": 11.6,
}


def _write(tmp_path, monkeypatch, source="embedded", out=None):
    monkeypatch.chdir(tmp_path)
    profile = load_profile(source)
    tuned = build_tuned_profile(profile, PARAMS, PROVENANCE)
    return profile, write_tuned(tuned, tuned_path(source, profile.name, out))


def test_bundled_profile_is_tuned_into_local_profiles_and_loads_by_name(tmp_path, monkeypatch):
    original = find_profile("embedded")
    before = original.read_bytes()
    _, path = _write(tmp_path, monkeypatch)
    assert path == tmp_path / "profiles" / "embedded.tuned.toml"
    assert original.read_bytes() == before
    loaded = load_profile("embedded.tuned")
    assert loaded.name == "embedded.tuned"
    assert loaded.models["gemma3-270m"].concurrent_limit == 3
    assert loaded.settings.max_concurrent_tasks == 3
    tuned = loaded.tuned
    assert tuned["date"].startswith("20")
    assert tuned["source_profile"] == "embedded"
    assert tuned["best_value"] == 2.0 and tuned["baseline_value"] == 1.79
    assert tuned["verify_gain_pct"] == 11.6
    assert tuned["params"] == PARAMS
    # everything else is the original's
    assert loaded.routing == load_profile("embedded").routing
    from orchbench import get_orchestrator

    orchestrator = get_orchestrator("embedded.tuned", backend="fake")
    assert orchestrator.model_configs["gemma3-270m"].concurrent_limit == 3
    assert orchestrator.settings.max_concurrent_tasks == 3


def test_a_profile_from_a_folder_on_the_path_is_tuned_beside_it(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(bundled_profiles_dir() / "embedded.toml", mine / "box.toml")
    monkeypatch.setenv("ORCHBENCH_PROFILES", str(mine))
    profile, path = _write(tmp_path, monkeypatch, source="box")
    assert profile.name == "embedded"  # the file's own name field
    assert path.parent == mine
    assert find_profile(path.stem) == path


def test_out_is_the_folder_to_write_into(tmp_path, monkeypatch):
    _, path = _write(tmp_path, monkeypatch, out=tmp_path / "x")
    assert path == tmp_path / "x" / "embedded.tuned.toml"
    assert load_profile(path).models["gemma3-270m"].concurrent_limit == 3
    with pytest.raises(ConfigError, match="--out is a folder"):
        tuned_path("embedded", "embedded", out=tmp_path / "fast.toml")


def test_a_tuned_profile_may_not_replace_its_source(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(bundled_profiles_dir() / "embedded.toml", mine / "embedded.tuned.toml")
    with pytest.raises(ConfigError, match="never overwritten"):
        tuned_path(mine / "embedded.tuned.toml", "embedded.tuned", out=mine)


def test_an_existing_tuned_profile_is_replaced_only_with_force(tmp_path, monkeypatch):
    _, path = _write(tmp_path, monkeypatch)
    before = path.read_bytes()
    profile = load_profile("embedded")
    changed = build_tuned_profile(profile, {**PARAMS, "settings.max_concurrent_tasks": 1}, {})
    with pytest.raises(ConfigError, match=r"already exists.*--force"):
        write_tuned(changed, path)
    assert path.read_bytes() == before
    write_tuned(changed, path, force=True)
    assert load_profile(path).settings.max_concurrent_tasks == 1


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    _, path = _write(tmp_path, monkeypatch)
    before = path.read_bytes()

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    profile = load_profile("embedded")
    changed = build_tuned_profile(profile, {**PARAMS, "settings.max_concurrent_tasks": 1}, {})
    with pytest.raises(OSError, match="disk full"):
        write_tuned(changed, path, force=True)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
