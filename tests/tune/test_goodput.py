"""The tuner optimises goodput: evaluators report it under --slo; without one it is refused."""

from __future__ import annotations

import pytest

from orchbench.bench.workload import workload_from_dict
from orchbench.cli import main
from orchbench.profiles import load_profile
from orchbench.tune import make_evaluator, parse_constraint, parse_objective


def _workload():
    return workload_from_dict(
        {
            "name": "g",
            "prompt_style": "chat",
            "defaults": {"type": "coding", "max_tokens": 32},
            "tasks": [{"name": f"t{i}", "prompt": f"task {i}"} for i in range(4)],
        }
    )


def test_a_simulated_run_reports_goodput_under_slos():
    profile = load_profile("rtx4090")
    evaluator = make_evaluator(
        "sim", _workload(), profile=profile, slos={"e2el_ms": 1e9, "ttft_ms": 1e9}
    )
    everything = evaluator.evaluate(profile)
    assert everything["slo_attainment_pct"] == 100.0
    assert everything["goodput"] == pytest.approx(everything["tasks_per_s"])
    nothing = make_evaluator("sim", _workload(), profile=profile, slos={"e2el_ms": 1e-3})
    assert nothing.evaluate(profile)["goodput"] == 0.0
    plain = make_evaluator("sim", _workload(), profile=profile)
    assert "goodput" not in plain.evaluate(profile)


def test_goodput_is_an_objective_and_a_constraint():
    assert parse_objective("goodput").metric == "goodput"
    assert parse_objective("goodput").direction == "maximize"
    assert parse_constraint("slo-attainment>=95").holds({"slo_attainment_pct": 96.0})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "goodput"], "--objective goodput (or a goodput/slo-attainment"),
        (["--constraint", "goodput>1"], "needs an SLO"),
        (["--objective", "goodput", "--slo", "ttft=1"], "--slo 'ttft=1' is not valid"),
    ],
)
def test_goodput_without_an_slo_is_one_clear_error(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--profile", "embedded", "--backend", "fake", *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
