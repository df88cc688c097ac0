"""orchbench: run several local LLMs at once, measure it honestly, tune the limits.

>>> from orchbench import get_orchestrator, run_sync, TaskType
>>> orch = get_orchestrator("embedded")  # doctest: +SKIP
>>> task = orch.execute_task(TaskType.CODING, "def add(a, b):", "simple")  # doctest: +SKIP
>>> result = run_sync(task)  # doctest: +SKIP
"""

from orchbench.config import (
    Complexity,
    HardwareSpec,
    ModelConfig,
    ModelTier,
    Profile,
    Route,
    Settings,
    TaskType,
)
from orchbench.errors import OrchbenchError
from orchbench.profiles import load_profile, save_profile
from orchbench.records import AttemptRecord, QualityChecks, TaskResult, TaskSpec, Timings

__version__ = "0.1.0"

_LAZY = {
    "Orchestrator": "orchbench.scheduler",
    "get_orchestrator": "orchbench._api",
    "run_sync": "orchbench.scheduler",
}


def __getattr__(name: str) -> object:
    # The scheduler is imported on first use, so `import orchbench.config` stays light.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orchbench' has no attribute {name!r}")


__all__ = [
    "AttemptRecord",
    "Complexity",
    "HardwareSpec",
    "ModelConfig",
    "ModelTier",
    "OrchbenchError",
    "Orchestrator",
    "Profile",
    "QualityChecks",
    "Route",
    "Settings",
    "TaskResult",
    "TaskSpec",
    "TaskType",
    "Timings",
    "__version__",
    "get_orchestrator",
    "load_profile",
    "run_sync",
    "save_profile",
]
