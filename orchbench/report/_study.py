"""Figures of a tuning study: optimisation history, parameter importances, Pareto front.

Optuna does the analysis (trial values, :func:`optuna.importance.get_param_importances`,
``study.best_trials``); the drawing is plain matplotlib so the figures match the run
figures and need neither plotly nor Optuna's experimental matplotlib module.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.engine import is_measured
from orchbench.report._canvas import new_figure, save

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure

logger = logging.getLogger("orchbench")


def _objective_names(study: optuna.Study) -> list[str]:
    # Optuna's own metric names first, then the names the tuner keeps as a user attribute.
    names = list(study.metric_names or study.user_attrs.get("objectives") or [])
    return [
        str(names[i]) if i < len(names) and names[i] else f"objective {i}"
        for i in range(len(study.directions))
    ]


def _stamp(study: optuna.Study) -> str:
    """The source line: the study's name and the backend its trials ran on, when recorded."""
    attrs = dict(study.user_attrs)
    for trial in reversed(study.get_trials(deepcopy=False)):
        if "backend" in trial.user_attrs:
            attrs = {**trial.user_attrs, **attrs}
            break
    text = f"study {study.study_name}"
    if "backend" in attrs:
        backend = attrs["backend"]
        text += f" · backend: {backend}"
        if not is_measured(attrs):
            text += " — SIMULATED (not measured)"
    return text


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def history_figure(study: optuna.Study) -> Figure | None:
    """Each complete trial's value per objective, with the best-so-far line; ``None`` if none."""
    import optuna

    trials = _complete(study)
    if not trials:
        return None
    names = _objective_names(study)
    fig = new_figure(10, 3.4 * len(names))
    axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        maximize = study.directions[i] == optuna.study.StudyDirection.MAXIMIZE
        numbers = [t.number for t in trials]
        values = [t.values[i] for t in trials]
        best, running = [], None
        for value in values:
            if running is None or (value > running if maximize else value < running):
                running = value
            best.append(running)
        ax.scatter(numbers, values, s=18, color="tab:blue", label="trial")
        ax.step(numbers, best, where="post", color="tab:red", label="best so far")
        ax.set_ylabel(f"{name} ({'max' if maximize else 'min'})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("trial")
    axes[-1].xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(
        f"Optimisation history — {len(trials)} complete trials\n{_stamp(study)}", fontsize=11
    )
    return fig


def importance_figure(study: optuna.Study) -> Figure | None:
    """Parameter importances per objective; ``None`` (with a log line) when Optuna cannot
    compute them, e.g. fewer than two complete trials or no varied parameter."""
    import optuna

    trials = _complete(study)
    if len(trials) < 2:
        logger.info("parameter importances need 2 complete trials; the study has %d", len(trials))
        return None
    names = _objective_names(study)
    results: list[dict[str, float]] = []
    for i in range(len(names)):
        target = None
        if len(names) > 1:
            # The default evaluator ranks parameters by how they lower the target.
            sign = -1.0 if study.directions[i] == optuna.study.StudyDirection.MAXIMIZE else 1.0
            target = lambda t, i=i, sign=sign: sign * t.values[i]  # noqa: E731
        try:
            with warnings.catch_warnings():
                # ...and warns that it does so whenever a target is given: handled above.
                warnings.filterwarnings(
                    "ignore", message=".*low `target` values", category=UserWarning
                )
                results.append(optuna.importance.get_param_importances(study, target=target))
        except (RuntimeError, ValueError) as exc:
            logger.info("parameter importances are not available: %s", exc)
            return None
    if not any(results):
        return None
    fig = new_figure(5 + 3 * len(names), 0.8 + 0.45 * max(len(r) for r in results) + 1.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name, importances in zip(axes, names, results, strict=True):
        params = list(importances)[::-1]
        ax.barh(params, [importances[p] for p in params], color="tab:green")
        ax.set_xlabel("importance (share of variation)")
        ax.set_title(name)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Parameter importances\n{_stamp(study)}", fontsize=11)
    return fig


def pareto_figure(study: optuna.Study) -> Figure | None:
    """The first two objectives of a multi-objective study, the Pareto front highlighted;
    ``None`` for a single-objective study or one without complete trials."""
    if len(study.directions) < 2:
        return None
    trials = _complete(study)
    if not trials:
        return None
    names = _objective_names(study)
    front = sorted(study.best_trials, key=lambda t: t.values[0])
    front_numbers = {t.number for t in front}
    fig = new_figure(7.5, 5.5)
    ax = fig.subplots()
    rest = [t for t in trials if t.number not in front_numbers]
    ax.scatter(
        [t.values[0] for t in rest],
        [t.values[1] for t in rest],
        s=18,
        color="lightgray",
        label="trial",
    )
    ax.plot(
        [t.values[0] for t in front],
        [t.values[1] for t in front],
        "o-",
        color="tab:red",
        label="Pareto front",
    )
    for t in front:
        ax.annotate(
            f"#{t.number}",
            (t.values[0], t.values[1]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel(f"{names[0]} ({study.directions[0].name.lower()})")
    ax.set_ylabel(f"{names[1]} ({study.directions[1].name.lower()})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    extra = f" (first 2 of {len(names)} objectives)" if len(names) > 2 else ""
    fig.suptitle(
        f"Pareto front{extra} — {len(front)} of {len(trials)} trials\n{_stamp(study)}", fontsize=11
    )
    return fig


def study_figures(study: optuna.Study, out_dir: str | Path) -> list[Path]:
    """Draw the study's figures into ``out_dir`` (PNG and SVG) and return the files written.

    ``study-history`` always (once a trial completed), ``study-importances`` when Optuna can
    rank the parameters (two or more complete trials), ``study-pareto`` for a
    multi-objective study. A study with no complete trial writes nothing.
    """
    out = Path(out_dir)
    figures: list[tuple[str, Any]] = [
        ("study-history", history_figure(study)),
        ("study-importances", importance_figure(study)),
        ("study-pareto", pareto_figure(study)),
    ]
    written: list[Path] = []
    for stem, fig in figures:
        if fig is not None:
            written += save(fig, out, stem)
    return written
