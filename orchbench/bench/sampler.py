"""A background resource sampler: CPU, memory (and GPU, where ``nvidia-smi`` exists), and
what *other* processes use (the noise guard, :mod:`orchbench.bench.noise`).

It runs in a daemon thread, not on the event loop, so a busy loop cannot delay samples,
and it appends each sample to ``resources.jsonl`` as it goes so an interrupted run keeps
what was sampled.

>>> with ResourceSampler(Path("resources.jsonl"), interval_s=0.5):  # doctest: +SKIP
...     run_the_benchmark()
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from orchbench.bench.noise import NoiseProbe, assess


class ResourceSampler:
    """Samples system and process resource use every ``interval_s`` seconds into ``path``.

    Each line: ``{"t": unix seconds, "cpu_percent", "mem_percent", "mem_used_gb",
    "proc_rss_gb", "other_cores", "load1", "steal_percent"}`` plus ``"gpu_util"`` and
    ``"gpu_mem_used_gb"`` when an NVIDIA GPU is visible. :meth:`start` first measures the
    machine for ``before_s`` seconds (``before``); :meth:`noise` assesses everything so
    far. Use as a context manager or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        path: Path,
        *,
        interval_s: float = 0.5,
        gpu: bool | None = None,
        before_s: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self.before_s = interval_s if before_s is None else before_s
        self.gpu = shutil.which("nvidia-smi") is not None if gpu is None else gpu
        self.samples = 0
        self.before: dict[str, Any] | None = None
        self._noise: list[dict[str, Any]] = []
        self._probe: NoiseProbe | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ResourceSampler:
        """Measure the machine for ``before_s`` seconds, then sample in a daemon thread (once)."""
        if self._thread is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._probe = NoiseProbe()
            if self.before_s > 0:
                time.sleep(self.before_s)
                self.before = self._probe.sample()
            self._thread = threading.Thread(target=self._loop, name="orchbench-sampler")
            self._thread.daemon = True
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and wait for the thread to write its last sample."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ResourceSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def noise(self) -> dict[str, Any]:
        """The noise guard's verdict on the samples so far (see :func:`noise.assess`)."""
        return assess(list(self._noise), before=self.before)

    def sample(self) -> dict[str, Any]:
        """One sample now (CPU percent and other processes' use are since the previous call)."""
        import psutil

        vm = psutil.virtual_memory()
        row: dict[str, Any] = {
            "t": time.time(),
            "cpu_percent": psutil.cpu_percent(interval=None),
            "mem_percent": vm.percent,
            "mem_used_gb": round((vm.total - vm.available) / 2**30, 3),
            "proc_rss_gb": round(psutil.Process().memory_info().rss / 2**30, 3),
        }
        if self._probe is not None:
            noise = self._probe.sample()
            self._noise.append(noise)
            row.update(noise)
        if self.gpu:
            row.update(_gpu_sample())
        return row

    def _loop(self) -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # the first reading is meaningless; prime it
        with self.path.open("a", encoding="utf-8") as fh:
            while not self._stop.wait(self.interval_s):
                fh.write(json.dumps(self.sample()) + "\n")
                fh.flush()
                self.samples += 1


def _gpu_sample() -> dict[str, Any]:
    try:
        out = (
            subprocess.run(
                [
                    "nvidia-smi",
                    "--query-gpu=utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits",
                ],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            )
            .stdout.strip()
            .splitlines()
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    utils, used = [], []
    for line in out:
        parts = [p.strip() for p in line.split(",")]
        try:
            utils.append(float(parts[0]))
            used.append(float(parts[1]) / 1024)
        except (ValueError, IndexError):
            continue
    if not utils:
        return {}
    return {"gpu_util": sum(utils) / len(utils), "gpu_mem_used_gb": round(sum(used), 3)}
