"""The pytest plugin's load-pattern options (``--orchbench-load`` and friends), the same as
``orchbench run``'s ``--load`` flags (see :mod:`orchbench.bench.load`)."""

from __future__ import annotations

from typing import Any

import pytest

from orchbench.bench.load import LoadSpec


def add_load_options(group: Any) -> None:
    """The load-pattern options (:mod:`orchbench.bench.load`), as ``orchbench run``'s."""
    group.addoption(
        "--orchbench-load",
        default="batch",
        metavar="KIND",
        help="load pattern: batch (default), rate, concurrency or sweep",
    )
    group.addoption(
        "--orchbench-rate", type=float, default=None, metavar="R", help="tasks/s for rate"
    )
    group.addoption(
        "--orchbench-burstiness",
        type=float,
        default=None,
        metavar="B",
        help="gamma shape of the inter-arrival times (1 = Poisson, the default)",
    )
    group.addoption(
        "--orchbench-duration",
        type=float,
        default=None,
        metavar="S",
        help="rate: every arrival within S seconds (default: the workload's tasks)",
    )
    group.addoption(
        "--orchbench-tasks",
        type=int,
        default=None,
        metavar="N",
        help="tasks per mode run, cycling the workload (default: its own)",
    )
    group.addoption(
        "--orchbench-concurrency",
        default=None,
        metavar="N,N",
        help="concurrency: tasks in flight, one point per value (e.g. 1,2,4,8)",
    )
    group.addoption(
        "--orchbench-sweep-points",
        type=int,
        default=None,
        metavar="N",
        help="sweep: points from synchronous to throughput (default: 8)",
    )


def load_from_options(config: pytest.Config) -> LoadSpec:
    """The :class:`~orchbench.bench.load.LoadSpec` the ``--orchbench-*`` load options give."""
    from orchbench.bench.load import load_spec

    return load_spec(
        kind=config.getoption("orchbench_load"),
        rate=config.getoption("orchbench_rate"),
        burstiness=config.getoption("orchbench_burstiness"),
        duration_s=config.getoption("orchbench_duration"),
        tasks=config.getoption("orchbench_tasks"),
        concurrency=config.getoption("orchbench_concurrency"),
        sweep_points=config.getoption("orchbench_sweep_points"),
        seed=config.getoption("orchbench_seed"),
    )
