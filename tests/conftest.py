"""Fixtures shared across the test packages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

CHECKOUT = Path(__file__).resolve().parents[1]
NOT_OURS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache",
            ".hypothesis", ".benchmarks"}  # fmt: skip
"""Folders of tools and caches: whatever the run writes there is not the tests' doing."""


def checkout_files(root: Path = CHECKOUT) -> dict[str, tuple[int, int]]:
    """Every file in the checkout (git-ignored ones too, e.g. under ``results/``) with its
    size and modification time, leaving out :data:`NOT_OURS`."""
    files: dict[str, tuple[int, int]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NOT_OURS and not d.endswith(".egg-info")]
        for name in names:
            path = Path(folder, name)
            try:
                stat = path.stat()
            except OSError:  # removed meanwhile
                continue
            files[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return files


@pytest.fixture(scope="session", autouse=True)
def _checkout_stays_untouched() -> Iterator[None]:
    """Fail the run if a test created, changed or removed a file in the checkout.

    Tests write under ``tmp_path`` (or ``monkeypatch.chdir(tmp_path)`` for code that
    writes relative paths such as ``results/``). Like ``git status --porcelain`` before
    and after, but it sees git-ignored files too.
    """
    before = checkout_files()
    yield
    after = checkout_files()
    touched = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if touched:
        shown = ", ".join(touched[:10]) + (
            f" and {len(touched) - 10} more" if len(touched) > 10 else ""
        )
        message = f"the tests wrote into the checkout {CHECKOUT} (or it was edited meanwhile): "
        pytest.fail(message + shown, pytrace=False)


@pytest.fixture(scope="module")
def _threaded_http_server() -> Iterator[HTTPServer]:
    # Threaded: the engines under test send concurrent requests to the stand-in servers.
    httpserver = HTTPServer(threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def server(_threaded_http_server: HTTPServer) -> Iterator[HTTPServer]:
    """A local HTTP server that stands in for Ollama or an OpenAI-compatible server.

    One per test module; every test starts with no handlers.
    """
    _threaded_http_server.clear()
    yield _threaded_http_server
    _threaded_http_server.clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    # llama-cpp-python opens /dev/null twice at import and never closes it; without this
    # every test run ends with two "ResourceWarning: unclosed file '/dev/null'" lines.
    from orchbench.cli import close_library_devnull

    close_library_devnull()
