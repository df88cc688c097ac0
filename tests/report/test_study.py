"""Figures of a tuning study, from small in-memory Optuna studies."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from orchbench.report import study_figures
from orchbench.report._study import history_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _quiet_optuna():
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


def single(n_trials: int) -> optuna.Study:
    study = optuna.create_study(study_name="single", sampler=optuna.samplers.RandomSampler(seed=1))

    def objective(trial: optuna.Trial) -> float:
        limit = trial.suggest_int("concurrent_limit", 1, 4)
        aging = trial.suggest_float("aging_s", 1.0, 20.0)
        trial.set_user_attr("backend", "sim")
        return (limit - 2.5) ** 2 + 0.01 * aging

    study.optimize(objective, n_trials=n_trials)
    return study


def stems(paths: list[Path]) -> set[str]:
    return {p.stem for p in paths}


def test_single_objective_study_gets_history_and_importances(tmp_path: Path):
    paths = study_figures(single(8), tmp_path)
    assert stems(paths) == {"study-history", "study-importances"}
    for path in paths:
        assert path.stat().st_size > 1000
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG_MAGIC)


def test_best_so_far_line_never_gets_worse_and_source_is_named():
    study = single(10)
    fig = history_figure(study)
    best = next(line for line in fig.axes[0].get_lines() if line.get_label() == "best so far")
    ys = list(best.get_ydata())
    assert ys == sorted(ys, reverse=True)  # minimising
    assert ys[-1] == pytest.approx(study.best_value)
    assert "backend: sim — SIMULATED" in fig.get_suptitle()


def test_multi_objective_study_gets_a_pareto_front(tmp_path: Path):
    study = optuna.create_study(
        study_name="multi",
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=2),
    )
    study.set_user_attr("objectives", ["tokens_per_s", "p95_latency_s"])
    study.optimize(
        lambda t: (t.suggest_float("a", 0, 1) * 10, t.suggest_float("b", 0, 1) + t.params["a"]),
        n_trials=12,
    )
    paths = study_figures(study, tmp_path)
    assert stems(paths) == {"study-history", "study-importances", "study-pareto"}


def test_fewer_than_two_trials_skip_importances(tmp_path: Path):
    assert stems(study_figures(single(1), tmp_path)) == {"study-history"}


def test_a_study_without_complete_trials_draws_nothing(tmp_path: Path):
    assert study_figures(optuna.create_study(), tmp_path) == []
