"""The live view of a running tune: trial n/N, the best so far, a table of recent trials.

:class:`TuneDisplay` is an Optuna callback (``display(study, trial)``) that redraws a
:class:`rich.live.Live` after every finished trial; use it as a context manager.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchbench.tune._objective import Objective

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


_SHORT = {
    "concurrent_limit": "limit",
    "n_threads": "threads",
    "priority": "prio",
    "num_ctx": "ctx",
    "max_concurrent_tasks": "total",
}


def format_params(params: dict[str, Any], relative_to: dict[str, Any] | None = None) -> str:
    """A trial's parameters on one short line: ``limit=2 threads=1 total=2``.

    Model names are kept only when the parameters span several models. With
    ``relative_to`` (the original's values) only the changed ones are shown, as
    ``limit=2→3``, and an unchanged configuration reads ``(original)``.
    """
    models = {
        k.removeprefix("models.").rpartition(".")[0] for k in params if k.startswith("models.")
    }
    parts = []
    for key, value in params.items():
        shown = value
        if relative_to is not None:
            if relative_to.get(key) == value:
                continue
            shown = f"{relative_to.get(key)}→{value}"
        owner, _, field = key.rpartition(".")
        label = _SHORT.get(field, field)
        if owner.startswith("models.") and len(models) > 1:
            label = f"{owner.removeprefix('models.')}.{label}"
        parts.append(f"{label}={shown}")
    if relative_to is not None and not parts:
        return "(original)"
    return " ".join(parts)


class TuneDisplay:
    """Redraws the progress of a study after each trial (an Optuna callback)."""

    def __init__(
        self,
        objectives: Sequence[Objective],
        total: int | None,
        *,
        console: Console | None = None,
        keep: int = 8,
        title: str = "orchbench tune",
    ) -> None:
        self._objectives = list(objectives)
        self._total = total
        self._recent: deque[FrozenTrial] = deque(maxlen=keep)
        self._done = 0
        self._best: FrozenTrial | None = None
        self._baseline: dict[str, Any] | None = None
        self._title = title
        self._console = console or Console(stderr=True)
        self._live = Live(self._render(), console=self._console, refresh_per_second=4)

    def __enter__(self) -> TuneDisplay:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Record ``trial`` and redraw."""
        self._done += 1
        self._recent.append(trial)
        if trial.user_attrs.get("baseline") and self._baseline is None:
            self._baseline = dict(trial.params)
        if self._is_better(trial):
            self._best = trial
        self._live.update(self._render())

    def _is_better(self, trial: FrozenTrial) -> bool:
        if trial.values is None or not trial.user_attrs.get("feasible", True):
            return False
        if self._best is None or self._best.values is None:
            return True
        return self._objectives[0].better(trial.values[0], self._best.values[0])

    def _value_text(self, trial: FrozenTrial) -> str:
        if trial.values is None:
            return str(trial.user_attrs.get("error", trial.state.name.lower()))[:40]
        return ", ".join(
            f"{v:.4g} {o.unit}" for v, o in zip(trial.values, self._objectives, strict=False)
        )

    def _config(self, trial: FrozenTrial) -> str:
        # Few parameters: show them all; many (a multi-model GPU profile): only the changes.
        if len(trial.params) <= 4 or self._baseline is None:
            text = format_params(trial.params)
            return text + (" (original)" if trial.user_attrs.get("baseline") else "")
        return format_params(trial.params, self._baseline)

    def _render(self) -> Group:
        of = f"/{self._total}" if self._total else ""
        head = Text(f"{self._title}: trial {self._done}{of}", style="bold")
        best = Text("best so far: —")
        if self._best is not None:
            best = Text(
                f"best so far: trial {self._best.number}: {self._value_text(self._best)}  "
                f"({self._config(self._best)})",
                style="green",
            )
        table = Table(show_header=True, header_style="bold", expand=False)
        table.add_column("#", justify="right")
        table.add_column(" / ".join(o.name for o in self._objectives))
        table.add_column("ok")
        table.add_column("configuration")
        for t in self._recent:
            feasible = t.user_attrs.get("feasible")
            mark = "—" if feasible is None else ("yes" if feasible else "[red]no[/red]")
            table.add_row(str(t.number), self._value_text(t), mark, self._config(t))
        return Group(head, best, table)
