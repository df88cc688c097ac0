"""Checking a tuned configuration against the original, side by side.

The original and one or more candidates are run in rounds, each round in a rotated
order (original, A, B; then A, B, original; …) so that drift of the machine (heat, other
work) hits every configuration alike. With one candidate this is the verification
after a search; with several it is the simulator-to-engine step (``--verify-backend``):
the simulator's best few are re-run on the real engine and the one that really wins is
kept.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchbench.config import Profile
from orchbench.tune._evaluate import Evaluator, numeric
from orchbench.tune._objective import Objective


@dataclass(frozen=True, slots=True)
class Verification:
    """Per-round objective values of the original and of each candidate.

    ``winner`` indexes ``candidates``: the one with the best median. Gains are paired by
    round (the winner against the original run next to it) and in percent, positive
    meaning better (see :meth:`Objective.gain_pct`).
    """

    objective: Objective
    backend: str
    suite: str
    baseline: tuple[float, ...]
    candidates: tuple[tuple[float, ...], ...]
    winner: int

    @property
    def rounds(self) -> int:
        """How many times each configuration ran."""
        return len(self.baseline)

    @property
    def baseline_median(self) -> float:
        """Median objective value of the original configuration."""
        return statistics.median(self.baseline)

    @property
    def winner_median(self) -> float:
        """Median objective value of the winning candidate."""
        return statistics.median(self.candidates[self.winner])

    @property
    def gains_pct(self) -> tuple[float, ...]:
        """The winner's gain over the original, one per round."""
        return tuple(
            self.objective.gain_pct(new, old)
            for new, old in zip(self.candidates[self.winner], self.baseline, strict=True)
        )

    @property
    def gain_pct(self) -> float:
        """Median per-round gain of the winner over the original."""
        return statistics.median(self.gains_pct)

    @property
    def beats_original(self) -> bool:
        """Whether the winner is better than the original in median *and* in most rounds."""
        wins = sum(g > 0 for g in self.gains_pct)
        better = self.objective.better(self.winner_median, self.baseline_median)
        return better and wins * 2 > self.rounds

    def summary(self) -> str:
        """One line a person reads: the gain, its spread, and the verdict."""
        gains = self.gains_pct
        spread = f"[{min(gains):+.1f} %, {max(gains):+.1f} %]"
        head = (
            f"{self.objective.name}: original {self.baseline_median:.4g} {self.objective.unit}, "
            f"tuned {self.winner_median:.4g} {self.objective.unit}, gain {self.gain_pct:+.1f} % "
            f"{spread} over {self.rounds} alternating runs each on {self.backend}/{self.suite}"
        )
        if self.beats_original:
            return head
        return head + " — the tuned configuration does NOT beat the original"

    def provenance(self) -> dict[str, object]:
        """The ``verify_*`` entries of the ``[tuned]`` table."""
        gains = self.gains_pct
        return {
            "verify_backend": self.backend,
            "verify_suite": self.suite,
            "verify_repeat": self.rounds,
            "verify_baseline_value": self.baseline_median,
            "verify_tuned_value": self.winner_median,
            "verify_gain_pct": round(self.gain_pct, 2),
            "verify_gain_min_pct": round(min(gains), 2),
            "verify_gain_max_pct": round(max(gains), 2),
            "verify_beats_original": self.beats_original,
        }


def verify(
    evaluator: Evaluator,
    baseline: Profile,
    candidates: Sequence[Profile],
    objective: Objective,
    *,
    repeat: int = 3,
    suite: str = "",
    on_run: Callable[[str, int, float], None] | None = None,
) -> Verification:
    """Run ``baseline`` and every candidate ``repeat`` times in rotating order.

    ``on_run(label, round, value)`` is called after each run (label ``"original"`` or
    ``"candidate N"``) so a caller can show progress.
    """
    if not candidates:
        raise ValueError("verify needs at least one candidate")
    profiles = [baseline, *candidates]
    labels = ["original", *(f"candidate {i + 1}" for i in range(len(candidates)))]
    values: list[list[float]] = [[] for _ in profiles]
    for rnd in range(max(1, repeat)):
        order = [(i + rnd) % len(profiles) for i in range(len(profiles))]
        for idx in order:
            got = numeric(evaluator.evaluate(profiles[idx], rnd)).get(objective.metric)
            value = float("nan") if got is None else got
            values[idx].append(value)
            if on_run is not None:
                on_run(labels[idx], rnd, value)
    medians = [statistics.median(v) for v in values[1:]]
    winner = 0
    for i, m in enumerate(medians):
        if objective.better(m, medians[winner]):
            winner = i
    return Verification(
        objective=objective,
        backend=evaluator.backend,
        suite=suite,
        baseline=tuple(values[0]),
        candidates=tuple(tuple(v) for v in values[1:]),
        winner=winner,
    )
