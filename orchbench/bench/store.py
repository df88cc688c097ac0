"""The results folder of one run, written as the run goes.

Layout (``results/<YYYYmmdd-HHMMSS>-<profile>-<suite>/``)::

    records.jsonl     one line per attempt (AttemptRecord + mode, repeat, task_name)
    tasks.jsonl       one line per task result
    records.csv       records.jsonl as CSV (lists such as token_times as JSON text)
    tasks.csv         tasks.jsonl as CSV
    resources.jsonl   CPU / memory samples (see orchbench.bench.sampler)
    summary.json      machine, versions, profile, backend, suite, aggregates, speedup

JSON lines are appended after each finished mode, the CSV files are rewritten from them
(atomically, with pandas) and ``summary.json`` is replaced atomically after each mode
with ``"status": "partial"``, then ``"complete"`` at the end: a run stopped at any
instant leaves files that load, clearly marked as partial.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.bench.aggregate import tpot
from orchbench.bench.slo import meets
from orchbench.errors import ResultsError
from orchbench.profiles import write_atomic
from orchbench.results import RECORDS, RESOURCES, SUMMARY, TASKS, read_jsonl

if TYPE_CHECKING:
    from orchbench.bench.runner import ModeRun

SCHEMA = 1


def csv_name(jsonl: str) -> str:
    """The CSV file beside a JSON-lines file: ``records.jsonl`` → ``records.csv``."""
    return jsonl.removesuffix(".jsonl") + ".csv"


def _cell(value: Any) -> Any:
    """A CSV cell: lists and tables as JSON text, everything else as it is."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def new_run_dir(out: Path, profile: str, suite: str, *, now: float | None = None) -> Path:
    """Create and return a fresh ``out/<timestamp>-<profile>-<suite>`` folder (never reused)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = f"{stamp}-{_slug(profile)}-{_slug(suite)}"
    for n in range(1, 1000):
        path = Path(out) / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ResultsError(f"cannot create results folder {path}: {exc.strerror}") from None
        return path
    raise ResultsError(f"cannot create a results folder under {out}: too many runs named {base}")


class RunStore:
    """Appends a run's rows and rewrites its summary in one results folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def resources_path(self) -> Path:
        """Where the resource sampler writes."""
        return self.path / RESOURCES

    def _append(self, name: str, rows: list[dict[str, Any]]) -> None:
        # One write of whole lines: a crash can cut at most the final line, which the
        # reader reports rather than silently skipping.
        text = "".join(json.dumps(row, default=str) + "\n" for row in rows)
        with (self.path / name).open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()

    def append_mode(self, run: ModeRun, slos: Mapping[str, float] | None = None) -> None:
        """Append one finished mode run's attempts and task results (with ``slo_met`` per
        task when ``slos`` are given, ``None`` otherwise)."""
        names = dict(enumerate(run.task_names))
        by_task = {result.task_id: names.get(i) for i, result in enumerate(run.results)}
        points = dict(enumerate(run.task_points))  # concurrency / sweep: the point of each
        point_of = {result.task_id: points.get(i) for i, result in enumerate(run.results)}
        records = [
            {
                **rec.to_dict(),
                "mode": run.mode,
                "repeat": run.repeat,
                "task_name": by_task.get(rec.task_id),
                **({"point": point_of.get(rec.task_id)} if points else {}),
            }
            for rec in run.records
        ]
        tasks = [
            {
                "mode": run.mode,
                "repeat": run.repeat,
                "task_id": result.task_id,
                "task_name": names.get(i),
                **({"point": points.get(i)} if points else {}),
                "task_type": result.task_type.value,
                "complexity": result.complexity.value,
                "model_name": result.model_name,
                "success": result.success,
                "response_time": result.response_time,
                "quality_score": result.quality_score,
                "tests_passed": result.tests_passed,
                "error": result.error,
                "completion_tokens": result.timings.completion_tokens if result.timings else None,
                "ttft_s": result.timings.ttft_s if result.timings else None,
                "attempts": len(result.attempts),
                "tpot_s": tpot(result.timings),
                "slo_met": meets(result, slos) if slos else None,
                "prompt": result.prompt,
                "text": result.text,
            }
            for i, result in enumerate(run.results)
        ]
        self._append(RECORDS, records)
        self._append(TASKS, tasks)
        self._write_csv(RECORDS)
        self._write_csv(TASKS)

    def _write_csv(self, name: str) -> None:
        """Rewrite ``name``'s CSV twin (``records.jsonl`` → ``records.csv``) atomically."""
        import pandas as pd

        rows = read_jsonl(self.path / name)
        frame = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in rows])
        write_atomic(self.path / csv_name(name), frame.to_csv(index=False))

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Replace ``summary.json`` atomically."""
        write_atomic(self.path / SUMMARY, json.dumps(summary, indent=2, default=str) + "\n")
