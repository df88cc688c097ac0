"""Read a results folder written by ``orchbench run`` (see :mod:`orchbench.bench.store`).

>>> from orchbench import results
>>> df = results.load("results/20250101-120000-embedded-code-completion")  # doctest: +SKIP
>>> df.groupby("mode")["total_s"].mean()                                   # doctest: +SKIP

Every problem is a :class:`~orchbench.errors.ResultsError` naming the folder or file and
what is missing or corrupt. A run that was interrupted loads fine; its summary says
``"status": "partial"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.errors import ResultsError

if TYPE_CHECKING:
    import pandas as pd

RECORDS = "records.jsonl"
TASKS = "tasks.jsonl"
RESOURCES = "resources.jsonl"
SUMMARY = "summary.json"


def run_dir(path: str | Path) -> Path:
    """The results folder ``path`` names (a folder, or any file inside one)."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise ResultsError(f"results folder {str(path)!r} does not exist")
    if not (folder / SUMMARY).is_file():
        raise ResultsError(
            f"{folder} is not an orchbench results folder: {SUMMARY} is missing "
            "(pass a folder made by `orchbench run`, e.g. results/<timestamp>-<profile>-<suite>)"
        )
    return folder


def summary(path: str | Path) -> dict[str, Any]:
    """The run's ``summary.json`` as a dict (machine, profile, backend, aggregates...)."""
    file = run_dir(path) / SUMMARY
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{file}: corrupt JSON at line {exc.lineno}: {exc.msg}") from None
    except OSError as exc:
        raise ResultsError(f"{file}: cannot be read: {exc.strerror}") from None
    if not isinstance(data, dict) or "schema" not in data:
        raise ResultsError(f"{file}: not an orchbench summary (no 'schema' field)")
    return data


def read_jsonl(file: Path, *, required: bool = True) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a corrupt line is an error naming its number.

    A missing file is an error when ``required``, else no rows.
    """
    if not file.is_file():
        if required:
            raise ResultsError(f"{file} is missing")
        return []
    rows = []
    with file.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ResultsError(f"{file}: line {number} is corrupt JSON ({exc.msg})") from None
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows)


def load(path: str | Path) -> pd.DataFrame:
    """Every attempt of the run, one row each (``records.jsonl``), as a pandas DataFrame.

    Columns: ``mode``, ``repeat``, ``task_name``, ``task_id``, ``attempt``, ``model``,
    ``task_type``, ``complexity``, ``backend``, ``success``, ``error``, ``queue_wait_s``,
    ``total_s``, ``ttft_s``, ``prompt_tokens``, ``completion_tokens``, ``quality``... .
    A run with no finished mode yet gives an empty frame.
    """
    folder = run_dir(path)
    required = summary(folder).get("status") == "complete"
    return _frame(read_jsonl(folder / RECORDS, required=required))


def load_tasks(path: str | Path) -> pd.DataFrame:
    """Every task result of the run (``tasks.jsonl``) as a pandas DataFrame.

    ``tests_passed`` (the tests verdict, ``None`` for a task without tests) is ``None`` in
    every row of a run written before it existed.
    """
    folder = run_dir(path)
    required = summary(folder).get("status") == "complete"
    rows = read_jsonl(folder / TASKS, required=required)
    return _frame([{**row, "tests_passed": row.get("tests_passed")} for row in rows])


def load_resources(path: str | Path) -> pd.DataFrame:
    """The resource samples (``resources.jsonl``; empty for simulated runs)."""
    return _frame(read_jsonl(run_dir(path) / RESOURCES, required=False))
