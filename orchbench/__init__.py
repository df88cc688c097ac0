"""orchbench: run several local LLMs at once, measure it honestly, tune the limits.

>>> from orchbench import get_orchestrator, run_sync, TaskType
>>> orch = get_orchestrator("embedded")                       # doctest: +SKIP
>>> result = run_sync(orch.execute_task(TaskType.CODING, "def add(a, b):", "simple"))  # doctest: +SKIP
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
from orchbench.scheduler import Orchestrator, get_orchestrator, run_sync

__version__ = "0.1.0"

__all__ = [
    "AttemptRecord",
    "Complexity",
    "HardwareSpec",
    "ModelConfig",
    "ModelTier",
    "Orchestrator",
    "OrchbenchError",
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
