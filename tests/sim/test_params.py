"""Calibration files: round trip, automatic loading next to the profile, clear errors."""

from __future__ import annotations

import pytest

from orchbench.config import HardwareSpec
from orchbench.errors import ConfigError
from orchbench.profiles import load_profile
from orchbench.sim import (
    Calibration,
    ModelParams,
    SimBackend,
    calibration_path,
    default_device_params,
    load_calibration,
    save_calibration,
)

PROFILE = """
name = "tiny"
[hardware]
name = "test box"
kind = "cpu"
bandwidth_gbs = 20
ram_gb = 8
cpu_cores = 2
[backend]
kind = "embedded"
[models.m]
task_types = ["coding"]
tier = "fast"
size_gb = 0.25
gguf = "bundled:gemma3-270m"
"""


@pytest.fixture
def profiles_dir(tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "tiny.toml").write_text(PROFILE)
    monkeypatch.setenv("ORCHBENCH_PROFILES", str(folder))
    return folder


def test_save_and_load_round_trip(tmp_path):
    calibration = Calibration(
        provenance={"date": "2026-11-25", "backend": "embedded", "machine": "box"},
        device={"contention": 0.3, "thread_scaling": 0.5},
        models={"m": ModelParams(decode_tps=50.0, load_s=0.5)},
    )
    path = save_calibration(calibration, tmp_path / "x.calibration.toml")
    assert load_calibration(path) == calibration
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left over


def test_calibration_next_to_the_profile_is_used_automatically(profiles_dir):
    save_calibration(
        Calibration(device={"contention": 0.123}, models={"m": ModelParams(decode_tps=42.0)}),
        profiles_dir / "tiny.calibration.toml",
    )
    profile = load_profile("tiny")
    assert calibration_path("tiny") == profiles_dir / "tiny.calibration.toml"
    assert calibration_path("tiny.tuned") == profiles_dir / "tiny.calibration.toml"
    backend = SimBackend(profile)
    assert backend.params.contention == 0.123
    assert backend.perf_model(profile.models["m"]).decode_tps == pytest.approx(42.0)


def test_without_a_file_the_defaults_apply(profiles_dir):
    profile = load_profile("tiny")
    backend = SimBackend(profile)
    assert backend.calibration is None
    assert backend.params == default_device_params(profile.hardware, True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[device]\ncontention = -1\n", r"field 'contention'"),
        ("[device]\nbandwidth_fudge = 2\n", r"field 'device\.bandwidth_fudge'.*valid parameters"),
        ('[models.m]\ndecode_tps = "fast"\n', r"field 'models\.m\.decode_tps'"),
        ("[models.m]\nspeed = 3\n", r"field 'models\.m\.speed': unknown field"),
        ("[device\ncontention = 1\n", r"not valid TOML"),
        ("colour = 'blue'\n", r"field 'colour'"),
    ],
)
def test_bad_calibration_files_name_the_file_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.calibration.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_calibration(path)
    assert str(path) in str(info.value)


def test_bad_file_next_to_profile_fails_when_the_backend_is_built(profiles_dir):
    (profiles_dir / "tiny.calibration.toml").write_text("[device]\nefficiency = 0\n")
    with pytest.raises(ConfigError, match="efficiency"):
        SimBackend(load_profile("tiny"))


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_calibration(tmp_path / "nope.toml")


def test_cpu_defaults_differ_from_gpu_defaults():
    cpu = default_device_params(
        HardwareSpec(name="c", kind="cpu", bandwidth_gbs=20, ram_gb=8, cpu_cores=2), True
    )
    gpu = default_device_params(
        HardwareSpec(name="g", vram_gb=24, bandwidth_gbs=1008, ram_gb=64, cpu_cores=8), False
    )
    assert not cpu.batching and gpu.batching
    assert cpu.contention < gpu.contention
    assert cpu.max_loaded_models == 0 and gpu.max_loaded_models == 3
