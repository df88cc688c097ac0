"""What a calibration measures: a :class:`Round` (requests sent at once) and the
:class:`Observation` of it (the timings each request came back with)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from orchbench.records import Timings


@dataclass(frozen=True, slots=True)
class Round:
    """One measurement: ``copies`` requests at once on each model in ``models``."""

    label: str
    models: tuple[str, ...]
    copies: int = 1
    threads: int = 1
    max_tokens: int = 48
    slots: int = 1
    """Sequences per batched context (the model's ``num_parallel``); 1: instances."""


@dataclass(slots=True)
class Observation:
    """A :class:`Round` and the timings of its requests (any order)."""

    round: Round
    timings: list[Timings] = field(default_factory=list)
    load_s: float | None = None
    """For a warmup round: the seconds one instance took to load."""
    walls: list[float] = field(default_factory=list)
    """Wall seconds of each ``generate`` call, as the caller saw them (same order)."""

    def decode_rate(self) -> float | None:
        """Mean per-stream decode rate (tok/s) over the round's requests."""
        rates = [t.decode_rate for t in self.timings if t.decode_rate]
        return statistics.fmean(rates) if rates else None
