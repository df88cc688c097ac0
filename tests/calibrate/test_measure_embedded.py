"""`orchbench calibrate` end to end on the real bundled model (short: one repeat, 16 tokens)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchbench.cli import main
from orchbench.profiles import load_profile
from orchbench.sim import SimBackend, load_calibration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.embedded
def test_calibrate_writes_a_file_the_simulator_then_uses(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    folder = tmp_path / "profiles"
    folder.mkdir()
    shutil.copy(REPO / "profiles" / "embedded.toml", folder / "embedded.toml")
    monkeypatch.setenv("ORCHBENCH_PROFILES", str(folder))

    # Measuring and writing is what this tests; the fidelity check (and its goals, which a
    # loaded shared machine can miss) is tested on its own, so it is skipped here.
    args = ["--max-tokens", "16", "--repeat", "1", "--no-check", "--force"]
    code = main(["calibrate", "--profile", "embedded", *args])

    assert code == 0
    path = folder / "embedded.calibration.toml"
    calibration = load_calibration(path)
    assert calibration.provenance["backend"] == "embedded"
    assert {"date", "machine"} <= set(calibration.provenance)
    measured = calibration.models["gemma3-270m"]
    assert measured.decode_tps and 1 < measured.decode_tps < 1000
    assert measured.load_s is not None and measured.load_s > 0
    fitted = {"thread_scaling", "contention", "time_slicing_gain", "oversubscription_step_s"}
    assert fitted <= set(calibration.device)
    backend = SimBackend(load_profile("embedded"))
    assert backend.calibration == calibration


def test_calibrate_refuses_the_simulator_as_engine(capsys):
    assert main(["calibrate", "--profile", "embedded", "--backend", "sim"]) == 2
    assert "calibration measures a real engine" in capsys.readouterr().err
