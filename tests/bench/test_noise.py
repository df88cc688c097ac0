"""The noise guard: classification on injected samples; the real probe sees a busy loop.

The machine running these tests is shared, so nothing here asserts that the real machine
is quiet: "quiet" is tested on injected samples, the real sampler only for "it reports the
busy loop" (other processes can only add to what it sees).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from orchbench.bench.noise import MAX_OTHER_CORES, NoiseProbe, assess, noise_line
from orchbench.bench.session import BenchSession
from orchbench.bench.table import speedup_line
from orchbench.testing import FakeBackend

BUSY = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass\n"


def quiet(n: int = 10) -> list[dict]:
    return [{"other_cores": 0.05, "load1": 1.0, "steal_percent": 0.0} for _ in range(n)]


def test_quiet_samples_are_not_noisy():
    block = assess(quiet(), before={"other_cores": 0.1, "load1": 0.5, "steal_percent": 0.0})
    assert block["noisy"] is False and block["reasons"] == []
    assert block["samples"] == 11
    assert block["other_cores_mean"] == pytest.approx((0.05 * 10 + 0.1) / 11, abs=1e-4)
    assert block["other_cores_before"] == 0.1
    assert noise_line({"noise": block}) is None


def test_another_process_using_a_core_makes_the_run_noisy():
    samples = [{**s, "other_cores": 0.9} for s in quiet()]
    block = assess(samples)
    assert block["noisy"] is True
    assert block["other_cores_mean"] == pytest.approx(0.9)
    assert block["reasons"] == ["other processes used 90 % of a core on average (limit 25 %)"]
    assert noise_line({"noise": block}) == "NOISY: " + block["reasons"][0]


def test_a_short_spike_below_the_average_limit_is_tolerated():
    samples = quiet(10)
    samples[3]["other_cores"] = 1.5  # mean 0.195 < 0.25
    block = assess(samples)
    assert block["noisy"] is False and block["other_cores_max"] == 1.5


def test_steal_time_makes_the_run_noisy_and_missing_steal_is_ignored():
    stolen = [{**s, "steal_percent": 12.0} for s in quiet()]
    assert assess(stolen)["reasons"] == ["CPU steal 12.0 % on average (limit 5 %)"]
    unknown = [{**s, "steal_percent": None} for s in quiet()]
    block = assess(unknown)
    assert block["noisy"] is False and block["steal_percent_mean"] is None


def test_thresholds_can_be_set():
    samples = [{**s, "other_cores": 0.2} for s in quiet()]
    assert assess(samples)["noisy"] is False
    assert assess(samples, max_other_cores=0.1)["noisy"] is True
    assert MAX_OTHER_CORES == 0.25


@pytest.fixture
def busy_loop() -> Iterator[int]:
    """A busy loop on one core that is *not* our child (the probe ignores our children):
    the shell that starts it exits at once, so it is re-parented."""
    out = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', BUSY],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    pid = int(out.stdout.strip())
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)


def test_the_real_probe_reports_a_busy_loop(busy_loop: int):
    probe = NoiseProbe()
    time.sleep(1.0)
    sample = probe.sample()
    # One core kept busy; on a shared 2-core machine the loop may get less than a core.
    assert sample["other_cores"] > 0.4
    assert sample["load1"] is None or sample["load1"] >= 0


def test_the_probe_does_not_count_our_own_children():
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        probe = NoiseProbe()
        time.sleep(1.0)
        ours = probe._ours()
        assert child.pid in ours and os.getpid() in ours
    finally:
        child.kill()
        child.wait(timeout=10)


class WallClockFake(FakeBackend):
    """A stand-in engine (no model) whose runs are sampled like a measured engine's: it
    sleeps in real time, so the session runs the resource sampler and the noise guard."""

    measured = True


def test_a_loaded_run_is_flagged_noisy(busy_loop: int, duo_profile, tiny_workload, tmp_path):
    session = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        repeat=2,
        warmup=0,
        out=tmp_path,
        backend=WallClockFake(latency=0.1),
        sample_interval_s=0.2,
    )
    result = session.run()
    noise = result.summary["noise"]
    assert noise["noisy"] is True, noise
    assert noise["other_cores_mean"] > MAX_OTHER_CORES
    assert noise["samples"] >= 2
    assert "NOISY: other processes used" in speedup_line(result.summary).plain
    rows = (result.run_dir / "resources.jsonl").read_text().splitlines()
    assert rows and '"other_cores"' in rows[0]
