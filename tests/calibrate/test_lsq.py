"""Bounded least squares: known parameters recovered within their uncertainty, degenerate
fits refused with what to measure instead."""

from __future__ import annotations

import numpy as np
import pytest

from orchbench.calibrate._lsq import DegenerateFit, fit_bounded

X = np.linspace(0.0, 4.0, 40)


def _data(a: float, b: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return a * np.exp(-b * X) + rng.normal(0.0, noise, X.size)


@pytest.mark.parametrize("seed", range(5))
def test_known_parameters_are_recovered_within_their_uncertainty(seed: int) -> None:
    y = _data(2.0, 0.7, 0.02, seed)
    fit = fit_bounded(
        lambda p: p[0] * np.exp(-p[1] * X) - y, ("a", "b"), (1.0, 1.0), ((0, 10), (0, 5))
    )
    for value, err, truth in zip(fit.values, fit.stderr, (2.0, 0.7), strict=True):
        assert err is not None and 0 < err < 0.1
        assert abs(value - truth) <= 4 * err, (value, err, truth)
    assert fit.residual_variance == pytest.approx(0.02**2, rel=0.6)


def test_uncertainty_grows_with_the_noise() -> None:
    errors = []
    for noise in (0.01, 0.1):
        y = _data(2.0, 0.7, noise, 0)
        fit = fit_bounded(
            lambda p, y=y: p[0] * np.exp(-p[1] * X) - y, ("a", "b"), (1, 1), ((0, 10), (0, 5))
        )
        errors.append(fit.stderr[1])
    assert errors[1] > 5 * errors[0]


def test_exact_fit_has_no_uncertainty_estimate() -> None:
    fit = fit_bounded(lambda p: [p[0] - 3.0], ("a",), (1.0,), ((0.0, 10.0),))
    assert fit.values[0] == pytest.approx(3.0)
    assert fit.stderr == (None,)


def test_a_parameter_at_its_bound_is_refused_with_what_to_measure() -> None:
    y = _data(2.0, 0.7, 0.0, 0)
    with pytest.raises(DegenerateFit, match=r"b fitted at its bound 1 .*measure b-rounds"):
        fit_bounded(
            lambda p: p[0] * np.exp(-p[1] * X) - y,
            ("a", "b"),
            (1.0, 1.0),
            ((0, 10), (1.0, 5)),
            hints={"b": "measure b-rounds"},
        )


def test_parameters_that_trade_off_are_refused() -> None:
    y = 1.4 * X  # only the product a·b is determined
    with pytest.raises(DegenerateFit, match="ill-conditioned"):
        fit_bounded(lambda p: p[0] * p[1] * X - y, ("a", "b"), (1.0, 1.0), ((0, 10), (0.1, 10)))


def test_a_parameter_that_changes_nothing_is_refused() -> None:
    y = 2.0 * X
    with pytest.raises(DegenerateFit, match="c barely changes"):
        fit_bounded(lambda p: p[0] * X - y + 0 * p[1], ("a", "c"), (1.0, 1.0), ((0, 10), (0, 5)))


def test_a_degenerate_fit_is_kept_with_its_reason_when_not_strict() -> None:
    y = _data(2.0, 0.7, 0.0, 0)
    fit = fit_bounded(
        lambda p: p[0] * np.exp(-p[1] * X) - y,
        ("a", "b"),
        (1.0, 1.0),
        ((0, 10), (1.0, 5)),
        hints={"b": "measure b-rounds"},
        strict=False,
    )
    assert fit.degenerate is not None and "b fitted at its bound 1" in fit.degenerate
    assert fit.values[1] == pytest.approx(1.0) and fit.stderr == (None, None)


def test_a_floor_the_data_push_to_is_kept_and_named() -> None:
    y = 2.0 * X  # the best "c" is below 0: the effect is absent
    fit = fit_bounded(
        lambda p: p[0] * X + p[1] * X**2 - y, ("a", "c"), (1.0, 1.0), ((0, 10), (0, 5)),
        floors={"c"},
    )  # fmt: skip
    assert fit.values[1] == pytest.approx(0.0, abs=1e-4) and fit.at_floor == ("c",)
    with pytest.raises(DegenerateFit, match="c fitted at its bound 0"):  # not a floor
        fit_bounded(lambda p: p[0] * X + p[1] * X**2 - y, ("a", "c"), (1.0, 1.0), ((0, 10), (0, 5)))


def test_a_floor_that_changes_nothing_is_still_refused() -> None:
    y = 2.0 * X
    with pytest.raises(DegenerateFit, match=r"c barely changes|c fitted at its bound"):
        fit_bounded(
            lambda p: p[0] * X - y + 0 * p[1], ("a", "c"), (1.0, 1.0), ((0, 10), (0, 5)),
            floors={"c"},
        )  # fmt: skip
