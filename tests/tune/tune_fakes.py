"""A fake evaluator for tuner tests: a deterministic landscape, no engine, no scheduler.

Its tokens/s are the FACTS.md hand measurement on 2 cores (1x1 thread 54, 1x2 76, 2x1 86,
3x1 96, 4x1 95, 2x2 68): parallel instances help until instances x threads exceed the
cores, then oversubscription loses. The best runs 3 instances of 1 thread; the embedded
profile's own (limit 2, 1 thread, 2 tasks) is good but not best. Tests that need that
optimum search the instances-only space (``SearchSpace.from_profile(p, slots=False)``);
on the full space a batched configuration (``num_parallel > 1``) gets a made-up value
shaped like FACTS.md's CPU batching curve (no engine ran it).
"""

from __future__ import annotations

from collections.abc import Mapping

from orchbench.config import Profile

TASKS = 12
TOKENS = 48
TOKENS_PER_S = {
    (1, 1): 54.0,
    (1, 2): 76.0,
    (2, 1): 86.0,
    (3, 1): 96.0,
    (4, 1): 95.0,
    (2, 2): 68.0,
    (3, 2): 60.0,
    (4, 2): 55.0,
}


BATCH_SPEEDUP = {1: 1.0, 2: 0.94, 4: 1.23, 8: 1.6, 12: 2.22, 16: 2.97}


def landscape(limit: int, threads: int, total: int, num_parallel: int = 1) -> dict[str, float]:
    """Aggregates of a fake parallel run of TASKS tasks of TOKENS tokens."""
    running = max(1, min(limit, total, TASKS))
    if num_parallel > 1:
        depth = max(k for k in BATCH_SPEEDUP if k <= min(running, num_parallel))
        tokens_per_s = TOKENS_PER_S[(1, threads)] * BATCH_SPEEDUP[depth]
    else:
        running = min(running, 4)
        tokens_per_s = TOKENS_PER_S[(running, threads)]
    total_s = TASKS * TOKENS / tokens_per_s
    tasks_per_s = TASKS / total_s
    latency = running * TOKENS / tokens_per_s
    return {
        "tasks": TASKS,
        "tasks_per_s": tasks_per_s,
        "total_s": total_s,
        "p50_latency_s": latency * 0.8,
        "p95_latency_s": latency,
        "tokens_per_s": tokens_per_s,
        "mean_quality": 0.9,
        "failures": 0,
        "mean_ttft_s": 0.1 * running,
    }


class FakeEvaluator:
    """An Evaluator whose numbers come from :func:`landscape` over the first model."""

    backend = "fake"

    def __init__(self, noise: Mapping[int, float] | None = None) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self.noise = dict(noise or {})
        self.closed = False

    def evaluate(self, profile: Profile, repeat: int = 0) -> dict[str, object]:
        model = next(iter(profile.models.values()))
        key = (model.concurrent_limit, model.n_threads or 1, profile.settings.max_concurrent_tasks)
        self.calls.append(key)
        result: dict[str, object] = dict(landscape(*key, model.num_parallel or 1))
        result["tasks_per_s"] = float(result["tasks_per_s"]) * (1.0 + self.noise.get(repeat, 0.0))
        result["per_type_s"] = {"coding": 1.0}  # nested tables are dropped by the tuner
        return result

    def close(self) -> None:
        self.closed = True


def best_point() -> tuple[tuple[int, int, int], float]:
    """The grid optimum (tasks/s) of the fake landscape over the embedded space."""
    points = [(lim, th, tot) for lim in range(1, 5) for th in range(1, 3) for tot in range(1, 5)]
    best = max(points, key=lambda p: landscape(*p)["tasks_per_s"])
    return best, landscape(*best)["tasks_per_s"]
