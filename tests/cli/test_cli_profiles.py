"""`orchbench profiles`: list, show, detect, and errors as one red line with exit code 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from orchbench.cli import main
from orchbench.profiles import load_profile

DATA = Path(__file__).parent.parent / "data" / "profiles"


@pytest.fixture(autouse=True)
def _isolated_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHBENCH_PROFILES", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables at the terminal width


def test_list_shows_every_shipped_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    for name in ("embedded", "rtx4090", "rtx3090", "rtx3080", "rtx5090", "cpu"):
        assert name in out
    assert "10 GB VRAM" in out and "ollama" in out and "rtx3080.toml" in out


def test_list_json_and_invalid_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "broken.toml").write_text((DATA / "bad_priority.toml").read_text())
    monkeypatch.setenv("ORCHBENCH_PROFILES", str(extra))
    assert main(["profiles", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["rtx4090"]["models"] == 7 and rows["rtx4090"]["backend"] == "ollama"
    assert "between 1 and 10" in rows["broken"]["error"]


def test_show_prints_loadable_toml_with_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profiles", "show", "rtx3090"]) == 0
    out = capsys.readouterr().out
    assert "# memory plan: VRAM 25.8 GB" in out
    assert "deepseek-coder:33b" in out and "fits: no" in out
    assert "# server (Ollama, [server] with its defaults filled in): num_parallel 1" in out
    assert "OLLAMA_NUM_PARALLEL=1 OLLAMA_MAX_LOADED_MODELS=3" in out
    data = tomllib.loads(out)  # the plan is in comments: the output is a valid profile
    assert data["hardware"]["bandwidth_gbs"] == 936  # extends resolved
    copy = tmp_path / "copy.toml"
    copy.write_text(out)
    assert load_profile(copy) == load_profile("rtx3090")


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", "embedded", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["profile"]["backend"]["kind"] == "embedded"
    assert data["plan"]["fits_together"] is True


def test_show_unknown_profile_is_one_red_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", "rtx4900"]) == 2
    err = capsys.readouterr().err
    assert "no profile named 'rtx4900'" in err and "did you mean 'rtx4090'" in err
    assert "Traceback" not in err


def test_show_invalid_file_names_file_and_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "show", str(DATA / "bad_tier.toml")]) == 2
    err = capsys.readouterr().err
    assert "bad_tier.toml" in err and "'models.big.tier'" in err


def test_detect_describes_this_machine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchbench.bench import machine

    gpu = {"name": "NVIDIA GeForce RTX 3090", "memory_gb": 24.0}
    fake = {"cpu": "Fake CPU 9000", "cpu_cores_physical": 8, "cpu_cores_logical": 16,
            "ram_gb": 62.7, "gpus": [gpu]}  # fmt: skip
    monkeypatch.setattr(machine, "machine_info", lambda: fake)
    assert main(["profiles", "detect"]) == 0
    out = capsys.readouterr().out
    assert "Fake CPU 9000" in out and "RTX 3090" in out
    assert "closest profile: rtx3090" in out


def test_detect_json_on_the_real_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "detect", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["machine"]["cpu_cores_logical"] >= 1
    assert data["suggested_profile"] in {"embedded", "cpu", "rtx3080", "rtx3090", "rtx4090",
                                         "rtx5090"}  # fmt: skip


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--help"]) == 0
    out = capsys.readouterr().out
    assert "orchbench profiles show rtx4090" in out and "detect" in out


def test_show_without_sizes_still_prints_the_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (DATA / "good_base.toml").read_text()
    path = tmp_path / "nosize.toml"
    path.write_text(text.replace("size_gb = 4.0\nparams_b = 7.0\n", ""))
    assert main(["profiles", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "# memory plan unavailable: model 'small': set 'size_gb'" in out
    assert tomllib.loads(out)["name"] == "good_base"
