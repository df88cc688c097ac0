"""Calibration: measure a real engine with a short fixed plan, fit, write the file.

The plan (:func:`measurement_plan`) is a few :class:`~orchbench.calibrate._fit.Round` per
model: the load, one stream at one thread (twice), one stream at each thread count up
to the cores (CPU), several instances or a batch at once, and two models at once. The
rounds go through the :class:`~orchbench.engine.Backend` protocol only, so any
engine can be calibrated; :func:`~orchbench.calibrate._fit.fit_calibration` does the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import itertools
import os
import platform
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from orchbench.backends import engine_class
from orchbench.calibrate._fidelity import CheckRuns
from orchbench.calibrate._fit import fit_calibration
from orchbench.calibrate._rounds import Observation, Round
from orchbench.config import ModelConfig, Profile
from orchbench.engine import (
    Backend,
    GenerateRequest,
    GenerateResult,
    batches_slots,
    runs_instances,
)
from orchbench.errors import ConfigError
from orchbench.profiles import bundled_profiles_dir, find_profile
from orchbench.sim._params import CALIBRATION_SUFFIX, Calibration, calibration_path

# A completion-style prompt (base models continue it) that runs to max_tokens. Each request
# gets its own number in front (:func:`calibration_prompt`): an engine that keeps the last
# prompt's tokens (llama-cpp-python, llama-server, Ollama) would otherwise skip the prefill
# of a repeated prompt, and calibration would time a prompt phase no real workload has.
CALIBRATION_PROMPT = (
    "The old lighthouse keeper climbed the spiral stairs every evening at dusk. "
    "He counted the steps, checked the lamp, and wrote a line in the logbook about "
    "the weather, the ships, and the birds. One evening he noticed that"
)
MAX_THREADS_MEASURED = 4
MAX_COPIES_MEASURED = 4
SLOT_BATCHES = (2, 4, 8, 12)
"""Batch sizes measured for an engine that batches slots (one context, all cores)."""
WARM_TOKENS = 4
"""Tokens of the untimed generation each copy runs before a timed round."""


def measurement_plan(
    profile: Profile, engine: str, *, max_tokens: int = 48, repeats: int = 5
) -> list[Round]:
    """The rounds to measure ``profile``'s models on ``engine``, in order.

    The whole list is repeated ``repeats`` times (not each round back to back), so a
    passing disturbance spoils one repeat of a few rounds rather than all of one.
    """
    cores = profile.hardware.cpu_cores
    cpu = profile.hardware.kind == "cpu"
    instances = runs_instances(engine_class(engine))
    plan: list[Round] = []
    for name in profile.models:
        plan.append(Round(f"{name}: 1 stream", (name,), max_tokens=max_tokens))
        if cpu:
            for threads in range(2, min(cores, MAX_THREADS_MEASURED) + 1):
                plan.append(
                    Round(f"{name}: 1 stream × {threads} threads", (name,), 1, threads, max_tokens)
                )
        top = min(2 * cores, MAX_COPIES_MEASURED) if instances else MAX_COPIES_MEASURED
        for copies in range(2, top + 1):
            what = "instances" if instances else "requests batched"
            plan.append(Round(f"{name}: {copies} {what}", (name,), copies, 1, max_tokens))
        if instances and cores >= 2:
            threads = min(cores, MAX_THREADS_MEASURED)
            plan.append(
                Round(f"{name}: 2 instances × {threads} threads", (name,), 2, threads, max_tokens)
            )
    names = list(profile.models)
    if batches_slots(engine_class(engine)) and names:
        plan += _slot_rounds(profile, max_tokens)
    if len(names) >= 2:
        plan.append(
            Round(f"{names[0]} + {names[1]} at once", (names[0], names[1]), 1, 1, max_tokens)
        )
    return plan * repeats


def calibration_prompt(number: int) -> str:
    """The calibration prompt for request ``number``: unique from its first token on.

    >>> calibration_prompt(7).split(maxsplit=1)[0]
    '7.'
    """
    return f"{number}. {CALIBRATION_PROMPT}"


def _slot_rounds(profile: Profile, max_tokens: int) -> list[Round]:
    """One context of b sequences (``num_parallel = b``) on all cores, for the largest
    model: the batch curve the simulator uses for batched slots; on a CPU of several
    cores the same on one thread too."""
    name = max(profile.models, key=lambda n: profile.models[n].size_gb or 0.0)
    threads = min(profile.hardware.cpu_cores, MAX_THREADS_MEASURED)
    # On a CPU the plan already has one stream at these threads; elsewhere measure it.
    cpu = profile.hardware.kind == "cpu"
    solo = (
        []
        if cpu
        else [Round(f"{name}: 1 stream × {threads} threads", (name,), 1, threads, max_tokens)]
    )
    rounds = solo + [
        Round(f"{name}: {b} sequences in one context", (name,), b, threads, max_tokens, b)
        for b in SLOT_BATCHES
    ]
    if cpu and threads > 1:  # a context of one thread batches differently
        rounds += [
            Round(f"{name}: {b} sequences in one context × 1 thread", (name,), b, 1, max_tokens, b)
            for b in SLOT_BATCHES
        ]
    return rounds


def _config(model: ModelConfig, round_: Round) -> ModelConfig:
    return model.model_copy(
        update={
            "n_threads": round_.threads,
            "concurrent_limit": round_.copies,
            "num_parallel": round_.slots if round_.slots > 1 else None,
        }
    )


async def _timed(backend: Backend, request: GenerateRequest) -> tuple[float, GenerateResult]:
    start = time.perf_counter()
    result = await backend.generate(request)
    return time.perf_counter() - start, result


async def measure(
    profile: Profile,
    backend: Backend,
    plan: list[Round],
    *,
    progress: Callable[[str], None] | None = None,
    every: int = 0,
    between: Callable[[], Awaitable[None]] | None = None,
) -> list[Observation]:
    """Run every round of ``plan`` on ``backend``; one :class:`Observation` per round.

    Each round's models are warmed up first (the first warmup of a model, with one
    instance, is its load measurement), so rounds time generation only. With
    ``between``, it is awaited after every ``every`` rounds (a fidelity check's pass).
    """
    observations: list[Observation] = []
    loaded: set[str] = set()
    numbers = itertools.count(1)
    timeout = profile.settings.default_timeout
    for n, round_ in enumerate(plan, start=1):
        if progress:
            progress(f"configuration {n} of {len(plan)}: {round_.label}")
        observation = Observation(round_)
        for name in round_.models:
            config = _config(profile.models[name], round_)
            if name not in loaded:
                one = config.model_copy(update={"concurrent_limit": 1})
                load_s = await backend.warmup(one)
                observations.append(Observation(Round(f"{name}: load", (name,)), load_s=load_s))
                loaded.add(name)
            await backend.warmup(config)
        requests = [
            GenerateRequest(
                model=_config(profile.models[name], round_),
                prompt=calibration_prompt(next(numbers)),
                max_tokens=round_.max_tokens,
                temperature=0.0,
                timeout_s=timeout,
                seed=0,
            )
            for name in round_.models
            for _ in range(round_.copies)
        ]
        # Untimed first: a copy's first generation pays for what the next ones find ready
        # (its weights mapped in, its buffers allocated).
        warm = [
            dataclasses.replace(r, prompt=calibration_prompt(next(numbers)), max_tokens=WARM_TOKENS)
            for r in requests
        ]
        await asyncio.gather(*(backend.generate(r) for r in warm))
        outcomes = await asyncio.gather(*(_timed(backend, r) for r in requests))
        for wall, result in outcomes:
            observation.timings.append(result.timings)
            observation.walls.append(wall)
        observations.append(observation)
        if between is not None and every and n % every == 0:
            await between()
    return observations


def machine_description() -> str:
    """A one-line description of this machine for provenance."""
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.system()}"


async def calibrate(
    profile: Profile,
    backend: Backend,
    *,
    engine: str | None = None,
    max_tokens: int = 48,
    repeats: int = 5,
    progress: Callable[[str], None] | None = None,
    strict: bool = True,
    check: CheckRuns | None = None,
) -> tuple[Calibration, list[Observation]]:
    """Measure ``profile``'s models on ``backend`` and fit a :class:`Calibration`
    (``strict=False`` keeps a degenerate fit, see :func:`fit_calibration`).

    With ``check``, one pass of the fidelity check runs on ``backend`` after each repeat
    of the plan (its ``passes`` should be ``repeats``), so both see the machine alike.
    """
    engine = engine or backend.name
    plan = measurement_plan(profile, engine, max_tokens=max_tokens, repeats=repeats)
    started = datetime.datetime.now(datetime.UTC)
    observations = await measure(
        profile,
        backend,
        plan,
        progress=progress,
        every=len(plan) // max(1, repeats),
        between=functools.partial(check.measure_pass, backend) if check is not None else None,
    )
    while check is not None and check.left:  # more check passes than plan repeats
        await check.measure_pass(backend)
    from orchbench import __version__

    provenance: dict[str, str | int | float | bool] = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_description(),
        "backend": engine,
        "profile": profile.name,
        "rounds": len(plan),
        "orchbench_version": __version__,
    }
    calibration = fit_calibration(
        profile.hardware, engine, dict(profile.models), observations, provenance, strict=strict
    )
    return calibration, observations


def calibration_target(profile_name: str) -> Path:
    """Where ``orchbench calibrate`` writes: next to the profile's file.

    A profile shipped inside an installed package is calibrated into ``./profiles``.
    """
    path = calibration_path(profile_name)
    if path is not None and path.is_file():
        return path
    try:
        profile_file = find_profile(profile_name)
    except Exception as exc:
        raise ConfigError(f"cannot calibrate profile {profile_name!r}: {exc}") from None
    folder = profile_file.parent
    if folder == bundled_profiles_dir() and "site-packages" in str(folder):
        folder = Path.cwd() / "profiles"
    return folder / f"{profile_file.stem}{CALIBRATION_SUFFIX}"
