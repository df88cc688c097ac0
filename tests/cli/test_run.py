"""`orchbench run`: bad input is one clear error and exit 2; a run leaves a results folder."""

import json
import subprocess
import sys

import pytest

from orchbench.cli import main


def _run_cli(capsys, *args):
    code = main(["run", *args])
    captured = capsys.readouterr()
    return code, " ".join(captured.err.split())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "no-such-profile"], "no profile named 'no-such-profile'"),
        (["--suite", "no-such-suite"], "no suite named 'no-such-suite'"),
        (["--backend", "warp"], "--backend 'warp' is not valid"),
        (["--mode", "fast"], "--mode 'fast' is not valid"),
        (["--suite", "dev-pipeline"], "code-completion"),
    ],
)
def test_bad_input_is_one_error_and_exit_2(capsys, args, expected):
    code, err = _run_cli(capsys, *args)
    assert code == 2
    assert "error:" in err and expected in err
    assert "Traceback" not in err


def _orchbench(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "orchbench", "run", *args, "--out", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )


def test_run_on_the_fake_engine_end_to_end(tmp_path):
    done = _orchbench(
        tmp_path,
        "--profile",
        "embedded",
        "--backend",
        "fake",
        "--suite",
        "smoke",
        "--repeat",
        "2",
        "--mode",
        "all",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for expected in (
        "Total time",
        "Speedup parallel vs sequential",
        "Model Performance",
        "SIMULATED (fake)",
        "results: ",
    ):
        assert expected in done.stdout, expected
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert set(summary["modes"]) == {"sequential", "parallel", "model:gemma3-270m"}
    assert len(summary["speedup"]["values"]) == 2
    assert (run_dir / "benchmark.json").is_file()


@pytest.mark.embedded
def test_run_on_the_bundled_model_end_to_end(tmp_path):
    done = _orchbench(tmp_path, "--profile", "embedded", "--suite", "smoke", "--repeat", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "measured on embedded" in done.stdout
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["backend"] == "embedded" and summary["measured"] is True
    assert summary["modes"]["parallel"]["median"]["tasks"] == 3
    assert summary["modes"]["sequential"]["median"]["completion_tokens"] > 0
    assert summary["speedup"]["median"] > 0
    records = (run_dir / "records.jsonl").read_text().splitlines()
    assert len(records) >= 6 and all(json.loads(r)["backend"] == "embedded" for r in records)
