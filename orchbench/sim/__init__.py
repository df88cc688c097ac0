"""The simulator: the real scheduler on a virtual clock, against a hardware performance model.

- :class:`VirtualClockLoop` / :func:`run_virtual`: an asyncio loop whose time jumps to the
  next timer, so a simulated hour takes milliseconds.
- :class:`PerfModel`, :func:`stream_rates`: the arithmetic (roofline decode,
  compute-bound prompts, batching, contention, memory, CPU threads), with every
  parameter named in :class:`DeviceParams` / :class:`ModelParams`.
- :class:`SimBackend`: the ``sim`` engine behind the Backend protocol.
- :class:`Calibration`: fitted parameters, loaded from ``profiles/<name>.calibration.toml``
  by :class:`SimBackend` itself (fitting lives in :mod:`orchbench.calibrate`).

The simulator is an engine: it imports the engine contract, never the scheduler.

>>> from orchbench import load_profile
>>> from orchbench.bench.runner import run_mode
>>> profile = load_profile("rtx4090")                                   # doctest: +SKIP
>>> backend = SimBackend(profile)                                       # doctest: +SKIP
>>> run = run_virtual(run_mode(profile, backend, workload, "parallel"))  # doctest: +SKIP
"""

from orchbench.sim._backend import SimBackend
from orchbench.sim._clock import VirtualClockLoop, is_virtual, run_on, run_virtual
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
    "DeviceParams",
    "ModelParams",
    "PerfModel",
    "SimBackend",
    "VirtualClockLoop",
    "batch_slowdown",
    "calibration_path",
    "default_device_params",
    "is_virtual",
    "load_calibration",
    "run_on",
    "run_virtual",
    "save_calibration",
    "stream_rates",
]
