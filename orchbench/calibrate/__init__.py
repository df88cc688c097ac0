"""Calibration: measure a real engine, fit the simulator's parameters, check its fidelity.

Sits above :mod:`orchbench.bench` (it runs configurations through the same measurement
path as a benchmark) and above :mod:`orchbench.sim` (whose parameters it fits).

>>> from orchbench.calibrate import calibrate, check_fidelity   # doctest: +SKIP
"""

from orchbench.calibrate._fidelity import (
    CheckConfig,
    FidelityReport,
    check_fidelity,
    default_check_configs,
    kendall_tau,
)
from orchbench.calibrate._fit import fit_calibration
from orchbench.calibrate._measure import calibrate, measure, measurement_plan
from orchbench.calibrate._rounds import Observation, Round

__all__ = [
    "CheckConfig",
    "FidelityReport",
    "Observation",
    "Round",
    "calibrate",
    "check_fidelity",
    "default_check_configs",
    "fit_calibration",
    "kendall_tau",
    "measure",
    "measurement_plan",
]
