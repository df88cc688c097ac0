"""`orchbench report`: writes the page, exit 0; a bad folder is one error line, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchbench.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"


def test_report_writes_the_page(tmp_path: Path, capsys):
    run = Path(shutil.copytree(DATA / "run-small", tmp_path / "run"))
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").is_file()
    assert "report.html" in capsys.readouterr().out


def test_report_of_a_missing_folder_exits_2_with_one_clear_line(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines
    assert "does not exist" in err
    assert "Traceback" not in err
