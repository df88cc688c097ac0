"""Fixtures: private copies of the committed (fake, not measured) results folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def run_small(tmp_path: Path) -> Path:
    """A writable copy of tests/data/run-small (reports write into the run's folder)."""
    return Path(shutil.copytree(DATA / "run-small", tmp_path / "run-small"))


@pytest.fixture
def run_small_b(tmp_path: Path) -> Path:
    """A writable copy of tests/data/run-small-b (has GPU samples; a faster parallel mode)."""
    return Path(shutil.copytree(DATA / "run-small-b", tmp_path / "run-small-b"))


PAYLOAD = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


@pytest.fixture
def inject() -> Callable[[Path], None]:
    """A function that puts an HTML payload in every task's output, name and error."""

    def put(run: Path, payload: str = PAYLOAD) -> None:
        path = run / "tasks.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            row.update(text=payload, task_name=payload, error=payload)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    return put
