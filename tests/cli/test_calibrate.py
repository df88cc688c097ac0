"""`orchbench calibrate`: the file is written only when the check meets its goals (or --force).

The engine measurements and the fidelity check are replaced by stand-ins here (named as
such): these tests are about what the command writes and its exit code, not the numbers.
"""

import shutil

import pytest

from orchbench.calibrate._fidelity import CheckConfig, ConfigOutcome, FidelityReport
from orchbench.cli import _calibrate, main
from orchbench.profiles import bundled_profiles_dir
from orchbench.sim import Calibration


def _report(errors):
    """A stand-in fidelity report whose predictions are off by ``errors`` (fractions)."""
    outcomes = [
        ConfigOutcome(CheckConfig(n, 1, n), 10.0 * n, 10.0 * n * (1 + e), 50.0, 50.0)
        for n, e in enumerate(errors, start=1)
    ]
    return FidelityReport(outcomes)


def test_goals_are_mape_and_rank_agreement():
    assert _calibrate.missed_goals(_report([0.02, -0.03, 0.04, 0.0])) == []
    missed = _calibrate.missed_goals(_report([0.3, 0.25, 0.2, 0.4]))
    assert missed[0].startswith("makespan MAPE") and "> 5%" in missed[0]
    # every prediction 4 % too fast: within the MAPE goal, but a systematic bias
    (biased,) = _calibrate.missed_goals(_report([-0.04, -0.04, -0.04, -0.04]))
    assert biased.startswith("mean signed error -4.0%")
    # predictions in the wrong order miss the rank goal
    backwards = FidelityReport(
        [ConfigOutcome(CheckConfig(n, 1, n), 10.0 * n, 10.0 / n, 1.0, 1.0) for n in (1, 2, 3)]
    )
    assert any("Kendall" in m for m in _calibrate.missed_goals(backwards))


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A profile in a temporary folder, and stand-ins for measuring and checking."""
    shutil.copy(bundled_profiles_dir() / "embedded.toml", tmp_path / "box.toml")
    monkeypatch.chdir(tmp_path)
    stand_in = Calibration(provenance={"engine": "stand-in"}, device={"contention": 0.2})
    monkeypatch.setattr(_calibrate, "_measure", lambda *args: stand_in)
    monkeypatch.setattr(_calibrate, "machine_noise", lambda *args: {"noisy": False})
    return tmp_path


class StandInRuns:
    """A stand-in for the check's measured runs: compares to a fixed report."""

    def __init__(self, report: FidelityReport) -> None:
        self.report = report

    def compare(self, calibration: Calibration) -> FidelityReport:
        return self.report


def _calibrate_box(box, monkeypatch, errors, *extra):
    monkeypatch.setattr(_calibrate, "_check_runs", lambda *args: StandInRuns(_report(errors)))
    return main(["calibrate", "--profile", str(box / "box.toml"), "--backend", "embedded", *extra])


def test_a_check_that_misses_its_goals_writes_nothing_and_exits_1(box, monkeypatch, capsys):
    assert _calibrate_box(box, monkeypatch, [0.4, 0.3, 0.5]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "not written" in err and "MAPE" in err and "--force" in err
    assert not (box / "box.calibration.toml").exists()


def test_force_writes_an_off_goal_calibration_but_still_exits_1(box, monkeypatch, capsys):
    assert _calibrate_box(box, monkeypatch, [0.4, 0.3, 0.5], "--force") == 1
    assert (box / "box.calibration.toml").is_file()
    assert "off goal" in capsys.readouterr().out


def test_a_check_that_meets_its_goals_writes_and_exits_0(box, monkeypatch, capsys):
    assert _calibrate_box(box, monkeypatch, [0.02, 0.01, -0.03]) == 0
    assert "contention" in (box / "box.calibration.toml").read_text()
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "MAPE" in captured.out  # results on stdout


def test_a_busy_machine_is_refused_before_measuring(box, monkeypatch, capsys):
    busy = {"noisy": True, "reasons": ["other processes used 180 % of a core on average"]}
    monkeypatch.setattr(_calibrate, "machine_noise", lambda *args: busy)
    monkeypatch.setattr(_calibrate, "_measure", lambda *args: pytest.fail("measured"))
    code = main(["calibrate", "--profile", str(box / "box.toml"), "--backend", "embedded"])
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "busy" in err and "180 %" in err and "--force" in err and "Traceback" not in err
    assert not (box / "box.calibration.toml").exists()


def test_force_calibrates_a_busy_machine_and_records_it(box, monkeypatch):
    busy = {"noisy": True, "reasons": ["load"]}
    monkeypatch.setattr(_calibrate, "machine_noise", lambda *args: busy)
    assert _calibrate_box(box, monkeypatch, [0.02, 0.01, -0.01], "--force") == 0
    assert "noisy = true" in (box / "box.calibration.toml").read_text()


def test_a_degenerate_fit_is_one_line_and_exit_2(box, monkeypatch, capsys):
    from orchbench.calibrate._lsq import DegenerateFit

    def degenerate(*args):
        raise DegenerateFit("calibration: contention fitted at its bound 0 …; measure X")

    monkeypatch.setattr(_calibrate, "_measure", degenerate)
    code = main(["calibrate", "--profile", str(box / "box.toml"), "--backend", "embedded"])
    assert code == 2
    assert "measure X" in capsys.readouterr().err
    assert not (box / "box.calibration.toml").exists()


def test_no_check_needs_force_and_fails_before_measuring(box, monkeypatch, capsys):
    monkeypatch.setattr(_calibrate, "_measure", lambda *args: pytest.fail("measured"))
    code = main(["calibrate", "--profile", str(box / "box.toml"), "--no-check"])
    assert code == 2
    assert "only with --force" in " ".join(capsys.readouterr().err.split())
    assert not (box / "box.calibration.toml").exists()


def test_a_simulated_engine_cannot_be_calibrated(capsys):
    assert main(["calibrate", "--backend", "sim"]) == 2
    assert "calibration measures a real engine" in capsys.readouterr().err


def test_a_measured_batch_curve_is_printed_as_its_points():
    shown = _calibrate._curve_text([[1, 1.0], [2, 1.0812], [12, 2.4]])
    assert shown == "1: 1, 2: 1.08, 12: 2.4 (measured, batch: ratio)"
    errors = {"stderr.batch_curve.2": 0.0213, "stderr.batch_curve.12": 0.1}
    shown = _calibrate._curve_text([[1, 1.0], [2, 1.0812], [12, 2.4]], errors, "batch_curve")
    assert shown == "1: 1, 2: 1.08 ± 0.021, 12: 2.4 ± 0.1 (measured, batch: ratio)"


def test_a_check_noisier_than_its_goals_says_the_machine_is_too_noisy():
    report = _report([0.2, -0.1, 0.15, 0.0])
    report.repeats = [[10.0, 12.5], [20.0, 17.0], [30.0, 36.0], [40.0, 40.5]]
    floor = report.repeatability
    assert floor is not None and floor[0] > 5.0
    missed = _calibrate.missed_goals(report)
    assert "too noisy now" in missed[-1] and "differ by" in missed[-1]


def test_a_check_within_its_goals_needs_no_noise_note():
    report = _report([0.02, -0.03, 0.04, 0.0])
    report.repeats = [[10.0, 12.5], [20.0, 17.0], [30.0, 36.0], [40.0, 40.5]]
    assert _calibrate.missed_goals(report) == []


def test_the_check_goes_into_the_calibration_file():
    report = _report([0.2, -0.1, 0.15, 0.0])
    report.repeats = [[10.0, 12.5], [20.0, 17.0], [30.0, 36.0], [40.0, 40.5]]
    found = _calibrate.check_provenance(report, "code-completion", ["makespan MAPE"])
    assert found["check.goals_met"] is False and found["check.configurations"] == 4
    assert found["check.mape_percent"] == pytest.approx(11.25)
    assert "check.engine_repeat_mape_percent" in found
