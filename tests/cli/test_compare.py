"""`orchbench compare`: exit 0 when every rule holds, 1 when one breaks, 2 for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchbench.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
A, B = str(DATA / "run-small"), str(DATA / "run-small-b")


@pytest.fixture
def regressed(tmp_path: Path) -> str:
    """run-small with its parallel throughput 20 % lower in every repeat."""
    run = Path(shutil.copytree(DATA / "run-small", tmp_path / "regressed"))
    summary = json.loads((run / "summary.json").read_text())
    block = summary["modes"]["parallel"]
    for aggregates in [block["median"], *block["runs"]]:
        aggregates["tokens_per_s"] *= 0.8
    (run / "summary.json").write_text(json.dumps(summary))
    return str(run)


def test_two_runs_print_a_side_by_side_table(capsys):
    assert main(["compare", A, B]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines
    assert "run-small → run-small-b" in out
    assert "beyond noise" in out
    assert "tokens/s" in out
    assert "SIMULATED" in out
    assert "too few repeats to tell" in out  # 2 repeats per run


def test_noisy_inputs_are_flagged(tmp_path: Path, capsys):
    run = Path(shutil.copytree(DATA / "run-small", tmp_path / "busy"))
    summary = json.loads((run / "summary.json").read_text())
    summary["noise"] = {"noisy": True, "reasons": ["other processes used 90 % of a core"]}
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["compare", A, str(run)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "NOISY: busy: other processes used 90 % of a core" in out
    assert "not judged: noisy" in out and "yes (p=" not in out


def _noisy_copy(source: str, where: Path) -> str:
    run = Path(shutil.copytree(source, where))
    summary = json.loads((run / "summary.json").read_text())
    summary["noise"] = {"noisy": True, "reasons": ["load average 3.1 on 2 cores"]}
    (run / "summary.json").write_text(json.dumps(summary))
    return str(run)


def test_a_gate_over_a_noisy_run_is_refused_unless_allowed(regressed: str, tmp_path, capsys):
    noisy = _noisy_copy(regressed, tmp_path / "noisy-regressed")
    assert main(["compare", A, noisy, "--fail-on", "throughput<-5%"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "refusing to gate on noisy run(s) noisy-regressed" in err and "--allow-noisy" in err
    assert main(["compare", A, noisy, "--fail-on", "throughput<-5%", "--allow-noisy"]) == 1


def test_a_broken_rule_exits_1_and_says_which(regressed: str, capsys):
    assert main(["compare", A, regressed, "--fail-on", "throughput<-5%"]) == 1
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines
    assert "throughput<-5%" in out
    assert "BROKEN" in out


def test_rules_that_hold_exit_0(regressed: str):
    assert main(["compare", A, regressed, "--fail-on", "throughput<-25%"]) == 0


def test_more_runs_give_the_hardware_comparison(capsys):
    assert main(["compare", A, B, A]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines
    assert "Hardware comparison" in out
    assert "gpu-box" in out and "test-box" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([A, B, "--fail-on", "throughput<<5"], "METRIC OP THRESHOLD"),
        ([A, B, "--fail-on", "warp<5%"], "unknown metric"),
        ([A, "/nonexistent/run"], "does not exist"),
        ([A], "at least two"),
    ],
)
def test_bad_input_exits_2_with_a_clear_error(args, message, capsys):
    assert main(["compare", *args]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines
    assert message in err
    assert "Traceback" not in err
