"""``SimBackend``: the :class:`~orchbench.engine.Backend` that predicts instead of runs.

It serves every request on a simulated device (:class:`~orchbench.sim._device.SimDevice`)
and returns the :class:`~orchbench.records.Timings` the performance model predicts, on
the event loop's clock. For an Ollama profile the device is Ollama's scheduler with the
profile's ``[server]``: one ``num_parallel`` for every model, ``max_loaded_models``,
``max_queue`` (503 → ``BackendBusy``), ``keep_alive``; a model's client-side
``concurrent_limit`` above ``num_parallel`` only waits in the server (``queue_s``);
batching within a model follows FACTS.md's measured curve on a GPU. It only makes
sense on the virtual clock (:func:`orchbench.sim.run_virtual`): on an ordinary loop
it would really wait the predicted seconds, so it refuses with a clear error instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from orchbench.config import ModelConfig, Profile, ServerSettings, keep_alive_seconds
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendTimeout, BackendUnavailable, ModelNotFound
from orchbench.planning import uses_server
from orchbench.records import Timings
from orchbench.sim._clock import is_virtual
from orchbench.sim._device import SimDevice
from orchbench.sim._model import PerfModel
from orchbench.sim._params import (
    GPU_BATCH_CURVE,
    Calibration,
    ModelParams,
    load_calibration,
    profile_calibration,
    resolve_device_params,
)


class SimBackend:
    """A simulated engine for ``profile``'s hardware and models.

    ``calibration`` is a :class:`Calibration`, a path to a calibration file, or
    ``None`` to use ``profiles/<name>.calibration.toml`` when it exists (else the
    defaults from the profile and FACTS.md). Models may be added or changed on the
    profile later: each request uses the :class:`ModelConfig` it carries.

    ``trace`` maps a prompt to the ``(prompt_tokens, completion_tokens)`` a real run
    measured for it; such prompts replay those lengths (as Vidur replays traces), others
    use characters / 4 and ``completion_ratio × max_tokens``.

    >>> from orchbench import load_profile
    >>> from orchbench.sim import SimBackend, run_virtual
    >>> backend = SimBackend(load_profile("embedded"))  # doctest: +SKIP
    """

    name = "sim"
    measured: ClassVar[bool] = False
    virtual_clock: ClassVar[bool] = True
    streams_tokens: ClassVar[bool] = True
    display_name: ClassVar[str] = "simulator"
    model_source: ClassVar[str] = "none"
    ollama_api: ClassVar[bool] = False
    runs_instances: ClassVar[bool] = False
    prompt_time_includes_first_token: ClassVar[bool] = True

    def __init__(
        self,
        profile: Profile,
        calibration: Calibration | str | Path | None = None,
        *,
        trace: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        if calibration is None:
            calibration = profile_calibration(profile)
            source = "calibration file"
        elif not isinstance(calibration, Calibration):
            source = str(calibration)
            calibration = load_calibration(calibration)
        else:
            source = "calibration"
        self.profile = profile
        self.calibration = calibration
        # Models that all name a GGUF file run in process, in copies (the embedded engine).
        in_process = all(m.gguf is not None for m in profile.models.values())
        self.params = resolve_device_params(
            profile.hardware,
            in_process,
            calibration.device if calibration else {},
            source,
        )
        self.server: ServerSettings | None = None
        if uses_server(profile):
            self.server = profile.server.resolved(profile.hardware)
            device = calibration.device if calibration else {}
            update: dict[str, object] = {
                "max_queue": self.server.max_queue,
                "keep_alive_s": _finite(keep_alive_seconds(self.server.keep_alive)),
            }
            if "max_loaded_models" not in device:
                update["max_loaded_models"] = self.server.max_loaded_models
            fitted = {"batch_alpha", "batch_gamma", "batch_curve"} & set(device)
            if profile.hardware.kind == "gpu" and not fitted:
                update["batch_curve"] = GPU_BATCH_CURVE
            self.params = self.params.model_copy(update=update)
        self.device = SimDevice(profile.hardware, self.params)
        self.trace = dict(trace or {})
        self._perf: dict[str, tuple[tuple[object, ...], PerfModel]] = {}
        self._closed = False

    def perf_model(self, model: ModelConfig) -> PerfModel:
        """The :class:`PerfModel` of ``model`` (rebuilt when its relevant fields change)."""
        key = (
            model.size_gb,
            model.params_b,
            model.tier,
            model.concurrent_limit,
            model.num_parallel,
            model.n_threads,
            model.num_ctx,
            self.server,
        )
        cached = self._perf.get(model.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        measured = self.calibration.models.get(model.name) if self.calibration else None
        perf = PerfModel.build(
            self.profile.hardware, model, self.params, measured or ModelParams(), self.server
        )
        self._perf[model.name] = (key, perf)
        return perf

    def _check(self, model: ModelConfig) -> None:
        if self._closed:
            raise BackendUnavailable("the sim backend was closed; create a new one")
        if not is_virtual():
            raise BackendUnavailable(
                "the sim backend only runs on the virtual clock: run the coroutine with "
                "orchbench.sim.run_virtual(...) (or orchbench.sim.run_on(backend, ...))"
            )
        # A model added to orchestrator.model_configs at run time is simulated too,
        # from its own size/params; only unknown *and* sizeless names are refused.
        unknown = model.name not in self.profile.models and model.name not in self._perf
        if unknown and model.size_gb is None and model.params_b is None:
            raise ModelNotFound(
                f"model {model.name!r} is not in profile {self.profile.name!r} and has "
                f"neither size_gb nor params_b to simulate it from"
            )

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Predict ``request`` on virtual time; ``BackendTimeout`` past ``timeout_s``."""
        model = request.model
        self._check(model)
        perf = self.perf_model(model)
        traced = self.trace.get(request.prompt)
        if traced is not None:
            prompt_tokens = max(1, traced[0])
            completion_tokens = max(1, min(traced[1], request.max_tokens))
        else:
            prompt_tokens = perf.prompt_tokens(request.prompt)
            completion_tokens = perf.completion_tokens(request.max_tokens)
        slots = self.server.num_parallel if self.server else model.concurrent_limit
        try:
            async with asyncio.timeout(request.timeout_s):
                outcome = await self.device.run(
                    perf, prompt_tokens, completion_tokens, perf.threads, slots, _keep(model)
                )
                # Work outside the device (tokenizing, hand-off) delays only this request.
                await asyncio.sleep(perf.request_overhead_s)
        except TimeoutError:
            raise BackendTimeout(
                f"simulated request on {model.name!r} ran past its timeout of "
                f"{request.timeout_s:g} s"
            ) from None
        total = (
            outcome.end
            - outcome.started
            + outcome.queue_s
            + outcome.load_s
            + perf.request_overhead_s
        )
        timings = Timings(
            total_s=total,
            load_s=outcome.load_s,
            ttft_s=outcome.first_token - outcome.started + outcome.queue_s + outcome.load_s,
            prompt_tokens=prompt_tokens,
            prompt_s=outcome.prefill_end - outcome.started,
            completion_tokens=completion_tokens,
            completion_s=outcome.end - outcome.prefill_end,
            queue_s=outcome.queue_s,
        )
        text = f"[simulated: {completion_tokens} tokens from {model.name}]"
        finish = "length" if completion_tokens >= request.max_tokens else "stop"
        return GenerateResult(text=text, timings=timings, finish_reason=finish)

    async def list_models(self) -> list[str]:
        """Every model of the profile (the simulator "has" them all)."""
        return list(self.profile.models)

    async def warmup(self, model: ModelConfig) -> float:
        """Load ``model`` on the simulated device; the simulated load seconds (0 if resident)."""
        self._check(model)
        perf = self.perf_model(model)
        return await self.device.load(perf, _keep(model))

    async def close(self) -> None:
        """Forget the device state; the backend is not used again."""
        self._closed = True


def _finite(seconds: float) -> float | None:
    return None if seconds == float("inf") else seconds


def _keep(model: ModelConfig) -> float | None:
    """The request's keep_alive in seconds (``None``: the server's)."""
    if model.keep_alive is None:
        return None
    return _finite(keep_alive_seconds(model.keep_alive))
