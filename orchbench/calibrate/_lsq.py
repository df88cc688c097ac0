"""Bounded least squares with each parameter's uncertainty, refusing degenerate fits.

:func:`fit_bounded` minimises a residual vector with :func:`scipy.optimize.least_squares`
(trust-region reflective, within bounds) and estimates each parameter's standard error
from the Jacobian at the solution: covariance = inv(JᵀJ) · s², with s² = the residual
variance (sum of squares / (observations − parameters)). With as many observations as
parameters the fit is exact and s² unknown: the uncertainty is ``None``.

A fit is refused (:class:`DegenerateFit`) when the data do not determine it: a parameter
ends at one of its bounds (the optimum lies outside the range, or the data do not move
it), or the Jacobian is singular or ill-conditioned (parameters trade off against each
other, or one does not change the residuals at all). The message names the parameter and
what to measure instead, from ``hints``. One exception: a parameter listed in ``floors``
whose lower bound means "the effect is absent" (no contention between instances, no gain
from a second thread) may end there when the data push it there — its residuals do move
with it — and the fit says so in :attr:`ParamFit.at_floor` rather than refusing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchbench.errors import OrchbenchError

MAX_CONDITION = 1e8
"""Largest condition number of the Jacobian accepted (beyond it the fit is degenerate)."""
BOUND_TOLERANCE = 1e-4
"""A parameter within this fraction of its range from a bound counts as at the bound."""


class DegenerateFit(OrchbenchError):
    """The measurements do not determine a parameter; the message says what to measure."""


@dataclass(frozen=True, slots=True)
class ParamFit:
    """Fitted values, their standard errors (``None``: not estimable), and the fit's shape."""

    names: tuple[str, ...]
    values: tuple[float, ...]
    stderr: tuple[float | None, ...]
    condition: float
    residual_variance: float | None
    observations: int
    degenerate: str | None = None
    """Why the fit does not determine its parameters, when it was kept anyway
    (``strict=False``, ``calibrate --force``); ``None`` for a sound fit."""
    at_floor: tuple[str, ...] = ()
    """Parameters the data pushed to their ``floors`` lower bound (the effect is absent)."""

    def as_dict(self) -> dict[str, float]:
        """``{name: value}``."""
        return dict(zip(self.names, self.values, strict=True))


def fit_bounded(
    residuals: Callable[[Sequence[float]], Sequence[float]],
    names: Sequence[str],
    start: Sequence[float],
    bounds: Sequence[tuple[float, float]],
    hints: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
    floors: Collection[str] = (),
) -> ParamFit:
    """Fit ``names`` from ``start`` within ``bounds`` so that ``residuals`` are smallest.

    Raises :class:`DegenerateFit` (see the module docstring) with the hint for the
    offending parameter: "measure ... instead" — or, with ``strict=False``, keeps the fit
    and says why in :attr:`ParamFit.degenerate`.
    """
    import numpy as np
    from scipy.optimize import least_squares

    lower = np.array([b[0] for b in bounds], dtype=float)
    upper = np.array([b[1] for b in bounds], dtype=float)
    x0 = np.clip(np.array(start, dtype=float), lower + 1e-9 * (upper - lower), upper)
    x0 = np.minimum(x0, upper - 1e-9 * (upper - lower))

    def fun(x: np.ndarray) -> np.ndarray:
        return np.asarray(residuals([float(v) for v in x]), dtype=float)

    result = least_squares(fun, x0, bounds=(lower, upper), method="trf", x_scale="jac")
    jac = np.atleast_2d(result.jac)
    n, p = jac.shape
    singular = np.linalg.svd(jac, compute_uv=False)
    condition = float(singular[0] / singular[-1]) if singular[-1] > 0 else math.inf
    span = upper - lower
    floored = tuple(
        name
        for i, name in enumerate(names)
        if name in floors
        and result.x[i] - lower[i] <= BOUND_TOLERANCE * span[i]
        and float(np.linalg.norm(jac[:, i])) > 1e-8  # the residuals move with it
    )
    try:
        _refuse_degenerate(
            result, jac, condition, names, (lower, upper), dict(hints or {}), floored
        )
    except DegenerateFit as exc:
        if strict:
            raise
        degenerate: str | None = str(exc)
    else:
        degenerate = None
    variance = float(2 * result.cost / (n - p)) if n > p else None
    stderr: tuple[float | None, ...] = (None,) * p
    if variance is not None and degenerate is None:
        covariance = np.linalg.inv(jac.T @ jac) * variance
        stderr = tuple(float(math.sqrt(max(c, 0.0))) for c in np.diag(covariance))
    return ParamFit(
        names=tuple(names),
        values=tuple(float(v) for v in result.x),
        stderr=stderr,
        condition=condition,
        residual_variance=variance,
        observations=n,
        degenerate=degenerate,
        at_floor=floored,
    )


def _refuse_degenerate(
    result: Any,
    jac: Any,
    condition: float,
    names: Sequence[str],
    bounds: tuple[Any, Any],
    advice: Mapping[str, str],
    floored: Collection[str] = (),
) -> None:
    """Raise :class:`DegenerateFit` for a parameter at a bound (but a ``floored`` one) or
    an ill-conditioned fit."""
    import numpy as np

    lower, upper = bounds
    span = upper - lower
    for i, name in enumerate(names):
        if name in floored:
            continue
        near_low = result.active_mask[i] < 0 or result.x[i] - lower[i] <= BOUND_TOLERANCE * span[i]
        near_high = result.active_mask[i] > 0 or upper[i] - result.x[i] <= BOUND_TOLERANCE * span[i]
        if near_low or near_high:
            edge = lower[i] if near_low else upper[i]
            raise DegenerateFit(
                f"calibration: {name} fitted at its bound {edge:g} (valid {lower[i]:g}…"
                f"{upper[i]:g}): the measurements do not determine it; "
                f"{advice.get(name, 'measure rounds that exercise it')}"
            )
    if not math.isfinite(condition) or condition > MAX_CONDITION:
        weakest = names[int(np.argmin(np.abs(jac).sum(axis=0)))]
        raise DegenerateFit(
            f"calibration: the fit of {', '.join(names)} is ill-conditioned (condition "
            f"number {condition:.3g}): {weakest} barely changes the predictions; "
            f"{advice.get(weakest, 'measure rounds that exercise it')}"
        )
