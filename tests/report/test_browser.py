"""The report in a real browser: headless Chromium renders the figures and runs no script
that model output tried to smuggle in."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orchbench.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless Chromium is not installed (Debian: apt-get install chromium)",
    ),
]


def chromium(
    page: Path, profile: Path, *args: str, fragment: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``page`` (``#fragment``) with no network chatter and a
    throwaway profile."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri() + (f"#{fragment}" if fragment else ""),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture
def report(run_small: Path, inject) -> Path:
    inject(run_small)
    return write_report(run_small)


def test_script_in_model_output_does_not_run(report: Path, tmp_path: Path):
    dom = chromium(report, tmp_path / "profile", "--dump-dom").stdout
    assert "<title>orchbench report — run-small</title>" in dom
    assert "pwned" in dom  # the payload is there...
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # ...as text
    assert dom.lower().count("<script") == 1  # the request table's own, allowed by its hash
    assert '<img src="x"' not in dom


def test_figures_are_inline_and_rendered(report: Path, tmp_path: Path):
    from matplotlib.image import imread

    dom = chromium(report, tmp_path / "profile", "--dump-dom").stdout
    assert dom.count('src="data:image/png;base64,iVBOR') == 6  # base64 of the PNG signature
    shot = tmp_path / "shot.png"
    chromium(report, tmp_path / "profile2", "--window-size=1280,2600", f"--screenshot={shot}")
    pixels = imread(shot)[..., :3]
    # Only the figures draw blue (matplotlib's tab:blue); the page itself is grey and red.
    blue = (pixels[..., 2] - pixels[..., 0]) > 0.3
    assert blue.sum() > 2000


def _request_rows(dom: str) -> list[tuple[bool, list[str]]]:
    """(shown, cell texts) of each row of the request table, in page order."""
    body = dom.split('<table id="requests">', 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr( hidden=\"\")?>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [(not hidden, re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)) for hidden, cells in rows]


def test_the_request_table_sorts_and_filters_in_the_browser(report: Path, tmp_path: Path):
    from orchbench.report._requests import COLUMNS

    column = {key: i for i, (key, _header) in enumerate(COLUMNS)}
    dom = chromium(
        report,
        tmp_path / "profile",
        "--virtual-time-budget=5000",
        "--dump-dom",
        fragment="sort=-latency&filter=parallel%20coding",
    ).stdout
    rows = _request_rows(dom)
    assert len(rows) == 32  # every repeat of every mode is in the page
    shown = [cells for visible, cells in rows if visible]
    assert shown and len(shown) < len(rows)
    assert all(c[column["mode"]] == "parallel" and c[column["type"]] == "coding" for c in shown)
    latency = [float(c[column["latency"]]) for c in shown]
    assert latency == sorted(latency, reverse=True) and len(set(latency)) > 1
    assert f"{len(shown)} of 32 requests shown" in dom
    assert 'aria-sort="descending"' in dom

    by_model = chromium(
        report, tmp_path / "profile2", "--virtual-time-budget=5000", "--dump-dom",
        fragment="sort=model",
    ).stdout  # fmt: skip
    models = [c[column["model"]] for _visible, c in _request_rows(by_model)]
    assert models == sorted(models) and len(set(models)) > 1
