"""One results folder read into memory: the summary and the tables the report draws.

Reading goes through :mod:`orchbench.results` (the one module that knows the folder
layout); this module only bundles what it returns and derives the labels every figure
and page shows (backend, and whether the numbers were measured or simulated).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.engine import is_measured
from orchbench.errors import ResultsError

if TYPE_CHECKING:
    import pandas as pd

MODE_ORDER = ("sequential", "parallel")


@dataclass(frozen=True)
class RunData:
    """A results folder loaded: ``summary.json`` plus records, tasks and resource samples.

    ``records`` has one row per attempt, ``tasks`` one per task result and ``resources``
    one per resource sample (empty when the run recorded none).
    """

    path: Path
    summary: dict[str, Any]
    records: pd.DataFrame
    tasks: pd.DataFrame
    resources: pd.DataFrame

    @property
    def backend(self) -> str:
        """The engine that produced the numbers (``"embedded"``, ``"sim"``, ...)."""
        return str(self.summary.get("backend", "unknown"))

    @property
    def measured(self) -> bool:
        """False when the numbers come from a simulator or a fake engine, not a real run
        (the one rule, :func:`orchbench.engine.is_measured`)."""
        return is_measured(self.summary)

    @property
    def stamp(self) -> str:
        """What every figure says about its source, e.g. ``"backend: sim — SIMULATED"``."""
        text = f"backend: {self.backend}"
        return text if self.measured else f"{text} — SIMULATED (not measured)"

    @property
    def label(self) -> str:
        """A short name for this run: its folder's name."""
        return self.path.name

    def mode_names(self) -> list[str]:
        """The modes of this run: sequential, parallel, then any ``model:<name>`` modes."""
        names = set(self.summary.get("modes", {}))
        if not self.records.empty and "mode" in self.records:
            names |= set(self.records["mode"].dropna().astype(str))
        return [m for m in MODE_ORDER if m in names] + sorted(names - set(MODE_ORDER))

    def main_modes(self) -> list[str]:
        """Sequential and parallel where the run has them (the comparison the run is for),
        otherwise every mode; figures that would drown in single-model modes use these."""
        return [m for m in self.mode_names() if m in MODE_ORDER] or self.mode_names()

    def model_names(self) -> list[str]:
        """The models in the profile's order, then any other model that served an attempt."""
        profile_models = list((self.summary.get("profile") or {}).get("models") or {})
        seen = [] if self.records.empty else list(dict.fromkeys(self.records["model"].astype(str)))
        return profile_models + [m for m in seen if m not in profile_models]


def load_summary(path: str | Path) -> dict[str, Any]:
    """The run's ``summary.json``; :class:`ResultsError` when the folder or file is bad."""
    from orchbench import results

    return results.summary(path)


def load_run(path: str | Path) -> RunData:
    """Read the results folder at ``path``; raise :class:`ResultsError` naming what is missing.

    Resource samples are optional (a run without them still has a report); records and
    tasks are required once the run's summary says it is complete.
    """
    from orchbench import results

    folder = results.run_dir(path)
    summary = results.summary(folder)
    records = results.load(folder)
    tasks = results.load_tasks(folder)
    resources = results.load_resources(folder)
    for column in ("mode", "model", "started_at", "queue_wait_s", "success"):
        if not records.empty and column not in records:
            raise ResultsError(
                f"{folder / 'records.jsonl'}: column {column!r} is missing; "
                "the file was not written by this version of `orchbench run`"
            )
    if not tasks.empty and "mode" not in tasks:
        raise ResultsError(f"{folder / 'tasks.jsonl'}: column 'mode' is missing")
    return RunData(folder, summary, records, tasks, resources)
