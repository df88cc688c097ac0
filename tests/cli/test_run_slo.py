"""`orchbench run --slo`: a bad SLO is one line and exit 2, before anything runs."""

import pytest

from orchbench.cli import main


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ttft=500", "--slo 'ttft=500' is not valid"),
        ("tpot_ms=abc", "'abc' is not a positive number of milliseconds"),
        ("e2el_ms=0", "'0' is not a positive number of milliseconds"),
    ],
)
def test_a_bad_slo_is_one_error_and_exit_2(capsys, tmp_path, value, expected):
    code = main(["run", "--backend", "sim", "--out", str(tmp_path), "--slo", value])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "error:" in err and expected in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written
