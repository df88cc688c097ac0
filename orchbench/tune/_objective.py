"""What a tune optimises and what it must respect: objectives, constraints, durations.

An objective names one aggregate of a parallel run (see ``orchbench.bench.aggregate.aggregate``)
and a direction. A constraint is ``metric op value[unit]`` such as ``p95<30s``,
``quality>=0.7``, ``pass_at_1>=0.05`` (over the trial's tasks that have tests) or
``errors==0``; it becomes an Optuna constraint value that is ``<= 0``
exactly when the constraint holds.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from orchbench.errors import ConfigError

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True, slots=True)
class Objective:
    """One thing to optimise: ``metric`` is a key of the run aggregates.

    >>> OBJECTIVES["throughput"].better(2.0, 1.0)
    True
    """

    name: str
    metric: str
    direction: Direction
    unit: str
    description: str

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` for this objective."""
        return a > b if self.direction == "maximize" else a < b

    def gain_pct(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old``, in percent (negative when worse).

        For a maximised metric it is the ratio of values, for a minimised one the ratio
        of their inverses, so +25 % means "25 % more throughput" or "1.25x faster".
        """
        if self.direction == "maximize":
            return (new / old - 1.0) * 100.0 if old > 0 else float("inf")
        return (old / new - 1.0) * 100.0 if new > 0 else float("inf")


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("throughput", "tasks_per_s", "maximize", "tasks/s", "finished tasks per second"),
        Objective("makespan", "total_s", "minimize", "s", "wall time of the whole suite"),
        Objective("p95-latency", "p95_latency_s", "minimize", "s", "95th percentile latency"),
        Objective("tokens-per-s", "tokens_per_s", "maximize", "tok/s", "completion tokens/s"),
        Objective("goodput", "goodput", "maximize", "tasks/s", "tasks/s meeting every --slo"),
    )
}


def parse_objective(name: str) -> Objective:
    """The objective called ``name``, or ConfigError listing the valid ones."""
    try:
        return OBJECTIVES[name.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"--objective: unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}"
        ) from None


# Constraint metric -> (aggregate key, is a duration in seconds).
CONSTRAINT_METRICS: dict[str, tuple[str, bool]] = {
    "p95": ("p95_latency_s", True),
    "p50": ("p50_latency_s", True),
    "ttft": ("mean_ttft_s", True),
    "makespan": ("total_s", True),
    "quality": ("mean_quality", False),
    "pass_at_1": ("pass_at_1", False),
    "errors": ("failures", False),
    "throughput": ("tasks_per_s", False),
    "tokens-per-s": ("tokens_per_s", False),
    "goodput": ("goodput", False),
    "slo-attainment": ("slo_attainment_pct", False),
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}

_UNITS_S = {"": 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "min": 60.0, "h": 3600.0}

_CONSTRAINT_RE = re.compile(
    r"^\s*(?P<metric>[a-z0-9_-]+)\s*(?P<op><=|>=|==|<|>)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(?P<unit>[a-z]*)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Constraint:
    """``metric op value``; ``value`` is in the metric's base unit (seconds for times).

    >>> c = parse_constraint("p95<30s")
    >>> c.holds({"p95_latency_s": 12.0}), c.violation({"p95_latency_s": 40.0})
    (True, 10.0)
    """

    text: str
    metric: str
    key: str
    op: str
    value: float

    def measured(self, aggregates: Mapping[str, float]) -> float:
        """The aggregate this constraint checks; a missing value counts as not met."""
        got = aggregates.get(self.key)
        return float("nan") if got is None else float(got)

    def holds(self, aggregates: Mapping[str, float]) -> bool:
        """Whether the measured aggregates satisfy the constraint."""
        got = self.measured(aggregates)
        return got == got and _OPS[self.op](got, self.value)

    def violation(self, aggregates: Mapping[str, float]) -> float:
        """Optuna's constraint value: ``0.0`` when it holds, else how far it is missed (> 0)."""
        if self.holds(aggregates):
            return 0.0
        got = self.measured(aggregates)
        if got != got:  # NaN: the run did not produce the metric at all
            return 1e9
        # A strict bound met with equality is still missed: keep the value above zero.
        return max(abs(got - self.value), 1e-9)


def parse_constraint(text: str) -> Constraint:
    """Parse ``"p95<30s"``, ``"quality>=0.7"``, ``"errors==0"``; ConfigError names what is valid."""
    match = _CONSTRAINT_RE.match(text)
    valid = (
        f"write METRIC OP VALUE, e.g. 'p95<30s', 'quality>=0.7', 'errors==0'; "
        f"metrics: {', '.join(CONSTRAINT_METRICS)}; operators: {', '.join(_OPS)}; "
        f"time units: s, ms, m, h"
    )
    if not match:
        raise ConfigError(f"--constraint {text!r}: cannot parse; {valid}")
    metric = match["metric"].lower()
    if metric not in CONSTRAINT_METRICS:
        raise ConfigError(f"--constraint {text!r}: unknown metric {metric!r}; {valid}")
    key, is_time = CONSTRAINT_METRICS[metric]
    unit = match["unit"].lower()
    if is_time:
        if unit not in _UNITS_S:
            raise ConfigError(f"--constraint {text!r}: unknown time unit {unit!r}; {valid}")
        scale = _UNITS_S[unit]
    elif unit:
        raise ConfigError(f"--constraint {text!r}: metric {metric!r} takes no unit; {valid}")
    else:
        scale = 1.0
    return Constraint(text.strip(), metric, key, match["op"], float(match["value"]) * scale)


def check_measurable(
    constraints: tuple[Constraint, ...], *, suite: str, tested: bool, measured: bool
) -> None:
    """ConfigError when a ``pass_at_1`` constraint cannot be measured: the suite has no
    task with tests (``tested``), or the engine's answers are not model output."""
    for c in constraints:
        if c.key != "pass_at_1":
            continue
        if not tested:
            raise ConfigError(
                f"--constraint {c.text!r}: suite {suite!r} has no task with tests; "
                "pass_at_1 needs one such as humaneval or humaneval:N"
            )
        if not measured:
            raise ConfigError(
                f"--constraint {c.text!r}: a simulated or fake engine's answers are placeholders; "
                "pass_at_1 needs a real engine (--backend embedded, ollama or openai)"
            )


_DURATION_RE = re.compile(r"(?P<n>[0-9]*\.?[0-9]+)\s*(?P<unit>h|m|min|s)?", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in ``"15m"``, ``"90s"``, ``"1h30m"`` or a bare number of seconds."""
    rest = text.strip().lower()
    total, pos = 0.0, 0
    while pos < len(rest):
        match = _DURATION_RE.match(rest, pos)
        if not match or match.end() == pos:
            break
        total += float(match["n"]) * _UNITS_S[match["unit"] or "s"]
        pos = match.end()
    if not rest or pos != len(rest) or total <= 0:
        raise ConfigError(f"--timeout {text!r}: not a duration; write e.g. 90s, 15m or 1h30m")
    return total
