"""Uncertainty for benchmark numbers: intervals on paired ratios and run-vs-run tests.

Two questions, both answered with scipy.stats rather than hand-written statistics:

* *How large is the speedup, and how sure are we?* :func:`ratio_interval` takes the
  per-pair ratios of the alternating repeats (sequential time ÷ parallel time of the same
  repeat) and gives their geometric mean with a Student-t confidence interval computed
  on the log ratios (a ratio is multiplicative, so its logarithm is the natural scale).
* *Did a metric change between two runs?* :func:`compare_samples` runs an exact two-sided
  Mann–Whitney U test on the two runs' per-repeat values. It makes no assumption on the
  distribution, so its false-positive rate on identical configurations is at most
  ``alpha``; below the repeats it needs to reach ``alpha`` at all it says so instead of
  guessing.

>>> ratio_interval([1.5, 1.6, 1.45, 1.55, 1.5]).text()
'1.52× [1.45, 1.59] (95 % CI, 5 pairs)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

CONFIDENCE = 0.95
ALPHA = 0.05
DEFAULT_REPEAT = 5
"""Repeats of every mode for ``orchbench run`` and the pytest plugin alike: 5 pairs give a
useful interval on the speedup, and :func:`compare_samples` needs at least 4 per run."""
METHOD = "geometric mean of paired ratios, Student-t interval on their logarithms"

Verdict = Literal["significant", "no significant difference", "too few repeats to tell"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (``low``/``high`` None for one pair)."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    confidence: float = CONFIDENCE

    def text(self, unit: str = "×") -> str:
        """``"1.52× [1.41, 1.63] (95 % CI, 5 pairs)"``; one pair says it has no interval."""
        pairs = f"{self.n} pair{'s' if self.n != 1 else ''}"
        if self.low is None or self.high is None:
            return f"{self.estimate:.2f}{unit} (no interval: {pairs})"
        level = f"{self.confidence * 100:g} % CI"
        return f"{self.estimate:.2f}{unit} [{self.low:.2f}, {self.high:.2f}] ({level}, {pairs})"

    def to_dict(self) -> dict[str, float | int | str | None]:
        """The fields ``summary.json`` keeps next to a ratio's per-pair values."""
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "pairs": self.n,
            "method": METHOD,
        }


class Speedup(float):
    """A speedup that compares like a float (``>= 1.2``) and carries its interval.

    ``float(s)`` is the point estimate; ``s.low``/``s.high`` the confidence interval
    (``None`` with a single pair). A CI gate asserts on the lower bound:
    ``assert bench_run.speedup.low >= 1.2``.
    """

    low: float | None
    high: float | None
    pairs: int
    confidence: float

    def __new__(cls, interval: Interval) -> Speedup:
        """Build from an :class:`Interval`."""
        self = super().__new__(cls, interval.estimate)
        self.low, self.high = interval.low, interval.high
        self.pairs, self.confidence = interval.n, interval.confidence
        return self

    def __repr__(self) -> str:
        return f"Speedup({float(self):.3f}, low={self.low}, high={self.high}, pairs={self.pairs})"

    def text(self) -> str:
        """``"1.52× [1.41, 1.63] (95 % CI, 5 pairs)"``."""
        return Interval(float(self), self.low, self.high, self.pairs, self.confidence).text()

    @classmethod
    def from_summary(cls, block: dict[str, object]) -> Speedup | None:
        """The speedup of a ``summary.json`` ``"speedup"`` block (older files: from its values)."""
        values = block.get("values")
        if "estimate" not in block and isinstance(values, list) and values:
            interval = ratio_interval(values)
            return cls(interval) if interval else None
        estimate = block.get("estimate")
        if not isinstance(estimate, int | float):
            return None
        low, high = block.get("low"), block.get("high")
        pairs = block.get("pairs", len(block.get("values") or []))  # type: ignore[arg-type]
        return cls(
            Interval(
                float(estimate),
                float(low) if isinstance(low, int | float) else None,
                float(high) if isinstance(high, int | float) else None,
                int(pairs) if isinstance(pairs, int) else 0,
                float(block.get("confidence", CONFIDENCE)),  # type: ignore[arg-type]
            )
        )


def ratio_interval(ratios: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Geometric mean of positive ``ratios`` with a t-interval on their logarithms.

    ``None`` when there is no positive ratio. With one ratio the interval is unknown
    (``low``/``high`` None); with identical ratios (a deterministic simulator) it is that
    value.
    """
    import numpy as np
    from scipy import stats

    logs = np.log([r for r in ratios if r > 0 and math.isfinite(r)])
    if logs.size == 0:
        return None
    centre = float(np.mean(logs))
    estimate = math.exp(centre)
    if logs.size == 1:
        return Interval(estimate, None, None, 1, confidence)
    spread = float(np.std(logs, ddof=1))
    if spread == 0:
        return Interval(estimate, estimate, estimate, int(logs.size), confidence)
    ci = stats.ttest_1samp(logs, 0.0).confidence_interval(confidence_level=confidence)
    return Interval(
        estimate, math.exp(float(ci.low)), math.exp(float(ci.high)), int(logs.size), confidence
    )


def min_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value an exact Mann–Whitney U test can give for these sizes."""
    if n_a < 1 or n_b < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def enough_repeats(n_a: int, n_b: int, alpha: float = ALPHA) -> bool:
    """True when ``n_a`` vs ``n_b`` repeats can show a difference at level ``alpha``."""
    return min_p_value(n_a, n_b) <= alpha


@dataclass(frozen=True)
class Test:
    """The outcome of :func:`compare_samples`: the verdict and its p-value (None if untested)."""

    verdict: Verdict
    p_value: float | None
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool | None:
        """True / False, or None when there were too few repeats to tell."""
        if self.verdict == "too few repeats to tell":
            return None
        return self.verdict == "significant"


def compare_samples(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Test:
    """Exact two-sided Mann–Whitney U test of ``a`` against ``b`` (per-repeat values)."""
    from scipy import stats

    n_a, n_b = len(a), len(b)
    if not enough_repeats(n_a, n_b, alpha):
        return Test("too few repeats to tell", None, n_a, n_b)
    if len(set(a) | set(b)) == 1:
        return Test("no significant difference", 1.0, n_a, n_b)
    # "exact" assumes no ties; with ties a (seeded, for small runs exhaustive) permutation
    # test keeps the p-value exact instead of a normal approximation.
    method: object = "exact"
    if len(set(a) | set(b)) < n_a + n_b:
        method = stats.PermutationMethod(n_resamples=9999, rng=0)
    p = float(stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)
    verdict: Verdict = "significant" if p <= alpha else "no significant difference"
    return Test(verdict, p, n_a, n_b)


def needed_repeats(alpha: float = ALPHA) -> int:
    """The smallest equal number of repeats per run at which :func:`compare_samples` can tell."""
    n = 1
    while not enough_repeats(n, n, alpha):
        n += 1
    return n
