"""The noise guard: how much else used the machine while a benchmark ran.

A speedup measured while other programs compete for the CPU says more about them than
about the profile. :class:`NoiseProbe` measures, between two calls, the CPU time every
*other* process used (all processes from :func:`psutil.process_iter` except this one
and its children, which are the run's own work — sandboxed code checks, a spawned
engine), the load average and the CPU steal time where the kernel reports it.
:func:`assess` turns the samples into the ``"noise"`` block of ``summary.json``, which
marks a run ``noisy`` when, on average, other processes used more than
:data:`MAX_OTHER_CORES` of one core or steal exceeded :data:`MAX_STEAL_PERCENT`.

The probe does not count engine servers named in :data:`SERVER_NAMES` (an Ollama or
llama-server process is the work being measured, not noise).

>>> probe = NoiseProbe(); time.sleep(1.0); probe.sample()["other_cores"]  # doctest: +SKIP
0.03
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_OTHER_CORES = 0.25
MAX_STEAL_PERCENT = 5.0
SERVER_NAMES = frozenset({"ollama", "ollama_llama_server", "llama-server"})

Key = tuple[int, float]


class NoiseProbe:
    """Measures other processes' CPU use between successive :meth:`sample` calls."""

    def __init__(self, *, server_names: Iterable[str] = SERVER_NAMES) -> None:
        import psutil

        self._own = psutil.Process(os.getpid())
        self._servers = frozenset(server_names)
        self._t = time.monotonic()
        self._times = self._cpu_times()
        psutil.cpu_times_percent(interval=None)  # prime: the first reading is meaningless

    def _ours(self) -> set[int]:
        import psutil

        try:
            children = self._own.children(recursive=True)
        except psutil.Error:
            children = []
        return {self._own.pid, *(c.pid for c in children)}

    def _cpu_times(self) -> dict[Key, float]:
        """CPU seconds (user + system) of every other process, keyed by (pid, start time)."""
        import psutil

        ours = self._ours()
        times: dict[Key, float] = {}
        for proc in psutil.process_iter(["cpu_times", "create_time", "name"], ad_value=None):
            info = proc.info
            cpu, created = info.get("cpu_times"), info.get("create_time")
            if proc.pid in ours or cpu is None or created is None:
                continue
            if info.get("name") in self._servers:
                continue
            times[(proc.pid, created)] = cpu.user + cpu.system
        return times

    def sample(self) -> dict[str, Any]:
        """Since the previous call: ``other_cores`` (CPU seconds of other processes per
        second: 1.0 is one core kept busy), ``load1`` and ``steal_percent`` (None where
        not reported)."""
        import psutil

        now, times = time.monotonic(), self._cpu_times()
        elapsed = max(now - self._t, 1e-6)
        # A process still alive adds what it used since the last sample; a new one all of
        # its CPU time (it started since). One that exited in between is not seen.
        used = sum(t - self._times.get(key, 0.0) for key, t in times.items())
        self._t, self._times = now, times
        steal = getattr(psutil.cpu_times_percent(interval=None), "steal", None)
        return {
            "other_cores": round(max(used, 0.0) / elapsed, 4),
            "load1": round(os.getloadavg()[0], 3) if hasattr(os, "getloadavg") else None,
            "steal_percent": steal,
        }


def _mean(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def _max(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return max(present) if present else None


def assess(
    samples: Sequence[Mapping[str, Any]],
    *,
    before: Mapping[str, Any] | None = None,
    max_other_cores: float = MAX_OTHER_CORES,
    max_steal_percent: float = MAX_STEAL_PERCENT,
) -> dict[str, Any]:
    """The ``"noise"`` block of ``summary.json`` from the samples taken during the run.

    ``before`` is a sample taken just before the run started. The run is ``noisy`` when
    the mean of ``other_cores`` (before and during) exceeds ``max_other_cores``, or the
    mean steal exceeds ``max_steal_percent``; ``reasons`` says which, with the figures.
    """
    rows = [*([before] if before else []), *samples]
    other = [r.get("other_cores") for r in rows]
    steal = [r.get("steal_percent") for r in rows]
    block: dict[str, Any] = {
        "samples": len(rows),
        "other_cores_before": before.get("other_cores") if before else None,
        "other_cores_mean": _mean(other),
        "other_cores_max": _max(other),
        "load1_mean": _mean([r.get("load1") for r in rows]),
        "steal_percent_mean": _mean(steal),
        "thresholds": {"other_cores": max_other_cores, "steal_percent": max_steal_percent},
    }
    reasons = []
    if block["other_cores_mean"] is not None and block["other_cores_mean"] > max_other_cores:
        reasons.append(
            f"other processes used {block['other_cores_mean'] * 100:.0f} % of a core on "
            f"average (limit {max_other_cores * 100:.0f} %)"
        )
    if block["steal_percent_mean"] is not None and block["steal_percent_mean"] > max_steal_percent:
        reasons.append(
            f"CPU steal {block['steal_percent_mean']:.1f} % on average "
            f"(limit {max_steal_percent:g} %)"
        )
    block["noisy"] = bool(reasons)
    block["reasons"] = reasons
    return block


def noise_line(summary: Mapping[str, Any]) -> str | None:
    """``"NOISY: other processes used 80 % of a core on average (limit 25 %)"``, or None."""
    noise = summary.get("noise") or {}
    if not noise.get("noisy"):
        return None
    return "NOISY: " + "; ".join(noise.get("reasons") or ["disturbed by other processes"])
