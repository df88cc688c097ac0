"""The report in a real browser: headless Chromium renders the figures and runs no script
that model output tried to smuggle in."""

from __future__ import annotations

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


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``page`` with no network chatter and a throwaway profile."""
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
        page.resolve().as_uri(),
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
    assert "<script" not in dom.lower()
    assert '<img src="x"' not in dom


def test_figures_are_inline_and_rendered(report: Path, tmp_path: Path):
    from matplotlib.image import imread

    dom = chromium(report, tmp_path / "profile", "--dump-dom").stdout
    assert dom.count('src="data:image/png;base64,iVBOR') == 5  # base64 of the PNG signature
    shot = tmp_path / "shot.png"
    chromium(report, tmp_path / "profile2", "--window-size=1280,2600", f"--screenshot={shot}")
    pixels = imread(shot)[..., :3]
    # Only the figures draw blue (matplotlib's tab:blue); the page itself is grey and red.
    blue = (pixels[..., 2] - pixels[..., 0]) > 0.3
    assert blue.sum() > 2000
