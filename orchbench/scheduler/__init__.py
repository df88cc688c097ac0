"""The multi-model scheduler: routing, slots and limits, attempts, deadlines, batches and
live performance tracking. It knows engines only through :mod:`orchbench.engine`.

>>> from orchbench.scheduler import Orchestrator, run_sync     # doctest: +SKIP
"""

from orchbench.scheduler._orchestrator import Orchestrator, SchedulerEvent, run_sync
from orchbench.scheduler._tracker import PerformanceTracker

__all__ = ["Orchestrator", "PerformanceTracker", "SchedulerEvent", "run_sync"]
