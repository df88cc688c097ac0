"""The simulator: the real scheduler on a virtual clock, against a hardware performance model.

- :class:`VirtualClockLoop` / :func:`run_virtual`: an asyncio loop whose time jumps to the
  next timer, so a simulated hour takes milliseconds.
- :class:`PerfModel`, :func:`stream_rates`: the arithmetic (roofline decode,
  compute-bound prompts, batching, contention, memory, CPU threads), with every
  parameter named in :class:`DeviceParams` / :class:`ModelParams`.
- :class:`SimBackend`: the ``sim`` engine behind the Backend protocol.
- :func:`calibrate` measures a real engine, :func:`fit_calibration` fits the parameters,
  :func:`save_calibration` writes ``profiles/<name>.calibration.toml`` (which
  :class:`SimBackend` then loads by itself); :func:`check_fidelity` compares simulator
  and engine on several settings (MAPE, Kendall τ).

>>> from orchbench import load_profile
>>> from orchbench.bench.runner import run_mode
>>> profile = load_profile("rtx4090")                                   # doctest: +SKIP
>>> backend = SimBackend(profile)                                       # doctest: +SKIP
>>> run = run_virtual(run_mode(profile, backend, workload, "parallel"))  # doctest: +SKIP
"""

from orchbench.sim._backend import SimBackend
from orchbench.sim._calibrate import calibrate, measure, measurement_plan
from orchbench.sim._clock import VirtualClockLoop, is_virtual, run_on, run_virtual
from orchbench.sim._fidelity import (
    CheckConfig,
    FidelityReport,
    check_fidelity,
    default_check_configs,
    kendall_tau,
)
from orchbench.sim._fit import Observation, Round, fit_calibration
from orchbench.sim._model import PerfModel, batch_slowdown, stream_rates
from orchbench.sim._params import (
    Calibration,
    DeviceParams,
    ModelParams,
    calibration_path,
    default_device_params,
    load_calibration,
    save_calibration,
)

__all__ = [
    "Calibration",
    "CheckConfig",
    "DeviceParams",
    "FidelityReport",
    "ModelParams",
    "Observation",
    "PerfModel",
    "Round",
    "SimBackend",
    "VirtualClockLoop",
    "batch_slowdown",
    "calibrate",
    "calibration_path",
    "check_fidelity",
    "default_check_configs",
    "default_device_params",
    "fit_calibration",
    "is_virtual",
    "kendall_tau",
    "load_calibration",
    "measure",
    "measurement_plan",
    "run_on",
    "run_virtual",
    "save_calibration",
    "stream_rates",
]
