"""`orchbench doctor`'s look at a running Ollama: its version, and how many requests it really
runs at once.

The probe loads the profile's smallest installed model, then sends ``num_parallel + 1`` (at
least 2) short requests at the same instant. Each answer's own timings (``prompt_eval`` +
``eval`` nanoseconds) place the interval the server spent computing it, ending when the
answer arrived; the most intervals that overlap at one instant (each trimmed by a fifth at
both ends, so back-to-back requests do not count as overlapping) is what the server runs at
once. A server that queues them shows 1; one with ``OLLAMA_NUM_PARALLEL=4`` shows up to 4.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchbench.cli._checks import Check

if TYPE_CHECKING:
    from orchbench.config import ModelConfig, Profile

MIN_VERSION = (0, 10, 0)
"""The oldest Ollama whose scheduling orchbench models: PR #11330 (merged 2025-07-08, first
released in 0.10.0) made ``OLLAMA_NUM_PARALLEL`` default to 1 for every model; before it the
server chose 4 or 1 by free memory when the variable was unset."""
PROBE = "parallelism probe"
"""The name of the probe's line in doctor's table."""
PROBE_TIMEOUT_S = 60.0
_TRIM = 0.2
_PROBE_TOKENS = 16


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What the probe saw: ``at_once`` requests computed together out of ``sent``."""

    model: str
    sent: int
    at_once: int
    parallelism: float
    """Seconds of computing summed over the requests ÷ the wall time they took together."""
    wall_s: float


def version_problem(version: str) -> str | None:
    """Why Ollama ``version`` may not schedule as the profile assumes, or None."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version.strip())
    if match is None:
        return f"version {version!r} is not a release number; cannot tell how it schedules"
    if tuple(int(part) for part in match.groups()) >= MIN_VERSION:
        return None
    oldest = ".".join(map(str, MIN_VERSION))
    return (
        f"Ollama {version} is older than {oldest}: with OLLAMA_NUM_PARALLEL unset it picks 4 or "
        "1 parallel slots by free memory, not the 1 the profile's [server] assumes; set "
        f"OLLAMA_NUM_PARALLEL explicitly or upgrade to {oldest} or later"
    )


def probe_model(profile: Profile, installed: list[str]) -> ModelConfig | None:
    """The profile's smallest model (by ``size_gb``) that the server has installed."""
    from orchbench.backends import is_installed

    present = [
        m for m in profile.models.values() if is_installed(m.served_name or m.name, installed)
    ]
    if not present:
        return None
    return min(present, key=lambda m: (m.size_gb is None, m.size_gb or 0.0, m.name))


def at_once(intervals: list[tuple[float, float]]) -> int:
    """The most ``(start, end)`` intervals overlapping at one instant, each trimmed by
    :data:`_TRIM` of its length at both ends (touching or barely overlapping ones count as 1)."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        cut = (end - start) * _TRIM
        if end - cut > start + cut:
            events += [(start + cut, 1), (end - cut, -1)]
    best = running = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        best = max(best, running)
    return max(best, 1 if intervals else 0)


async def probe_parallelism(
    host: str, model: ModelConfig, count: int, timeout_s: float
) -> ProbeResult:
    """Send ``count`` overlapping short requests for ``model``; see the module docstring.

    Raises :class:`~orchbench.errors.BackendError` (``BackendTimeout`` past ``timeout_s``).
    """
    from orchbench.backends import OllamaBackend
    from orchbench.engine import GenerateRequest
    from orchbench.errors import BackendTimeout

    backend = OllamaBackend(host, timeout_s=timeout_s)
    prompt = "def fibonacci(n):" if model.prompt_style == "completion" else "Count to twenty."
    request = GenerateRequest(model, prompt, _PROBE_TOKENS, 0.0, timeout_s, seed=0)

    async def one() -> tuple[float, float, float]:
        start = time.perf_counter()
        result = await backend.generate(request)
        end = time.perf_counter()
        busy = (result.timings.prompt_s or 0.0) + (result.timings.completion_s or 0.0)
        return start, end, busy

    try:
        async with asyncio.timeout(timeout_s):
            await backend.warmup(model)
            answers = await asyncio.gather(*(one() for _ in range(count)))
    except TimeoutError:
        raise BackendTimeout(
            f"the parallelism probe got no answer from {host} within {timeout_s:g} s"
        ) from None
    finally:
        await backend.close()
    wall = max(end for _, end, _ in answers) - min(start for start, _, _ in answers)
    busy = [(end - spent, end) for _, end, spent in answers]
    total = sum(spent for _, _, spent in answers)
    return ProbeResult(model.name, count, at_once(busy), total / wall if wall > 0 else 0.0, wall)


def version_check(version: str) -> Check:
    """Ollama's version against the oldest whose scheduling the profile and simulator model."""
    problem = version_problem(version)
    if problem is not None:
        return Check("Ollama version", "warn", problem)
    oldest = ".".join(map(str, MIN_VERSION))
    return Check("Ollama version", "ok", f"{version} (schedules as modelled: {oldest} or later)")


async def probe_check(profile: Profile, host: str, installed: list[str], timeout_s: float) -> Check:
    """How many requests of one model the server runs at once, against ``num_parallel``."""
    from orchbench.cli._console import err_console
    from orchbench.errors import BackendError

    model = probe_model(profile, installed)
    if model is None:
        return Check(PROBE, "skip", "no model of the profile is installed")
    expected = profile.server.num_parallel
    count = max(2, expected + 1)
    err_console().print(
        f"probing {host}: {count} overlapping requests of {model.name} "
        f"(at most {timeout_s:g} s) ...",
        highlight=False,
    )
    try:
        seen = await probe_parallelism(host, model, count, timeout_s)
    except BackendError as exc:
        return Check(PROBE, "warn", f"could not probe {model.name}: {exc}")
    said = (
        f"the server runs {seen.at_once} request(s) of {model.name} at once "
        f"(profile assumes num_parallel={expected}; {count} sent, "
        f"{seen.parallelism:.1f}x busy over {seen.wall_s:.1f} s)"
    )
    if seen.at_once == min(expected, count):
        return Check(PROBE, "ok", said)
    return Check(PROBE, "warn", f"{said}: the server runs with other settings")
