"""The HTML report: self-contained, complete, and model output shown as text only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchbench.errors import ResultsError
from orchbench.report import write_report
from orchbench.report._html import render_report
from orchbench.report._run import load_run


def test_report_is_written_self_contained_with_every_section(run_small: Path):
    path = write_report(run_small)
    assert path == run_small / "report.html"
    html = path.read_text(encoding="utf-8")
    pngs = sorted((run_small / "figures").glob("*.png"))
    assert len(pngs) == 6
    assert html.count('src="data:image/png;base64,') == len(pngs)
    for heading in (
        "Run",
        "Summary",
        "Figures",
        "Per model",
        "Recommendations",
        "Requests",
        "Tasks",
    ):
        assert f"<h2>{heading}" in html
    assert "embedded-duo" in html  # profile
    assert "tiny-dev" in html  # suite
    assert "test-box" in html  # machine
    assert "qwen2.5-0.5b" in html and "highest mean quality on coding" in html
    assert "1.92× [0.62, 5.98] (95 % CI, 2 pairs)" in html  # the speedup line
    # Nothing is fetched from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html
    # The committed run has a model output with a script in it: shown as text.
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html
    assert html.lower().count("<script") == 1  # the request table's own


def page(run: Path) -> str:
    """The page without figures (drawing them is what is slow; other tests cover it)."""
    return render_report(load_run(run), [])


def test_simulated_runs_get_a_banner_and_measured_runs_do_not(run_small: Path):
    assert 'id="simulated-banner"' in page(run_small)
    summary = json.loads((run_small / "summary.json").read_text())
    summary.update(backend="embedded", measured=True)
    (run_small / "summary.json").write_text(json.dumps(summary))
    assert 'id="simulated-banner"' not in page(run_small)


def test_model_output_is_escaped_never_markup(run_small: Path, inject):
    inject(run_small)
    html = page(run_small)
    assert html.lower().count("<script") == 1  # the request table's own, nothing injected
    assert "<img src=x" not in html
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html


def test_partial_runs_are_marked(run_small: Path):
    summary = json.loads((run_small / "summary.json").read_text())
    summary["status"] = "partial"
    (run_small / "summary.json").write_text(json.dumps(summary))
    assert "This run is partial" in page(run_small)


def test_noisy_runs_are_marked_and_quiet_ones_are_not(run_small: Path):
    assert 'id="noisy-banner"' not in page(run_small)
    summary = json.loads((run_small / "summary.json").read_text())
    summary["noise"] = {"noisy": True, "reasons": ["other processes used 90 % of a core"]}
    (run_small / "summary.json").write_text(json.dumps(summary))
    html = page(run_small)
    assert 'id="noisy-banner"' in html and "other processes used 90 % of a core" in html
    assert "NOISY: other processes used 90 % of a core" in html  # on the speedup line too


def test_report_of_a_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ResultsError, match="does not exist"):
        write_report(tmp_path / "missing")


def test_report_of_a_folder_with_corrupt_summary_names_it(run_small: Path):
    (run_small / "summary.json").write_text("{ half a file")
    with pytest.raises(ResultsError, match=r"summary\.json"):
        write_report(run_small)
    assert not (run_small / "report.html").exists()


def test_an_interrupted_run_with_only_a_summary_still_gets_a_page(tmp_path: Path):
    run = tmp_path / "bare"
    run.mkdir()
    summary = {"schema": 1, "status": "partial", "stopped": "KeyboardInterrupt", "backend": "sim"}
    (run / "summary.json").write_text(json.dumps(summary))
    html = write_report(run).read_text()
    assert "This run is partial" in html and "KeyboardInterrupt" in html
    assert "No figures could be drawn" in html
    assert 'id="simulated-banner"' in html  # "measured" missing: never claim a measurement
