"""The resource sampler writes JSON lines with the documented fields."""

import json
import time

from orchbench.bench.machine import describe, machine_info, package_versions
from orchbench.bench.sampler import ResourceSampler


def test_sampler_writes_samples(tmp_path):
    path = tmp_path / "resources.jsonl"
    with ResourceSampler(path, interval_s=0.01, gpu=False) as sampler:
        deadline = time.monotonic() + 10
        while sampler.samples < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) >= 2
    assert {"t", "cpu_percent", "mem_percent", "mem_used_gb", "proc_rss_gb"} <= set(rows[0])
    assert 0 <= rows[0]["mem_percent"] <= 100


def test_machine_info_and_versions():
    info = machine_info()
    assert info["cpu_cores_logical"] >= 1 and info["ram_gb"] > 0
    assert isinstance(info["gpus"], list)
    assert package_versions(("pytest", "no-such-package-xyz")) == {
        "pytest": package_versions(("pytest",))["pytest"],
        "no-such-package-xyz": None,
    }
    assert "cores" in describe(info)
