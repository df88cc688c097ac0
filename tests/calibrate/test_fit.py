"""Calibration fitting recovers known parameters from synthetic measurements."""

from __future__ import annotations

import math

import pytest

from orchbench.calibrate._fit import fit_calibration, fit_published
from orchbench.calibrate._measure import measurement_plan
from orchbench.calibrate._rounds import Observation, Round
from orchbench.calibrate._slots import Context, run_round
from orchbench.config import HardwareSpec, ModelConfig, Profile
from orchbench.records import Timings
from orchbench.sim import ModelParams, PerfModel, default_device_params, stream_rates
from orchbench.sim._model import DECODE, StreamLoad, prefill_speed_factor
from orchbench.sim._params import Calibration, DeviceParams

CPU2 = HardwareSpec(name="2-core CPU", kind="cpu", bandwidth_gbs=20, ram_gb=24, cpu_cores=2)
GPU = HardwareSpec(name="GPU", vram_gb=24, bandwidth_gbs=1008, ram_gb=64, cpu_cores=16)


def _profile(hardware: HardwareSpec, sizes: dict[str, float], engine: str) -> Profile:
    return Profile(
        name="synthetic",
        hardware=hardware,
        backend={"kind": engine},
        models={
            name: ModelConfig(name=name, task_types=["coding"], tier="fast", size_gb=size)
            for name, size in sizes.items()
        },
    )


def _synthetic(
    profile: Profile, engine: str, device: DeviceParams, truth: dict[str, ModelParams]
) -> list[Observation]:
    """What a perfect engine following the model with ``device``/``truth`` would measure."""
    observations = []
    for name, params in truth.items():
        observations.append(Observation(Round(f"{name}: load", (name,)), load_s=params.load_s))
    for round_ in measurement_plan(profile, engine):
        if round_.slots > 1:
            observations.append(_simulated_slots(profile, round_, device, truth))
            continue
        streams, perfs = [], []
        for name in round_.models:
            config = profile.models[name].model_copy(
                update={
                    "n_threads": round_.threads,
                    "concurrent_limit": round_.copies,
                    "num_parallel": round_.slots if round_.slots > 1 else None,
                }
            )
            perf = PerfModel.build(profile.hardware, config, device, truth[name])
            streams += [StreamLoad(perf, DECODE, round_.threads)] * round_.copies
            perfs += [perf] * round_.copies
        rates = stream_rates(streams, profile.hardware, device)
        observation = Observation(round_)
        for perf, rate in zip(perfs, rates, strict=True):
            n = round(round_.max_tokens * perf.completion_ratio)
            prefill = perf.prompt_tps * prefill_speed_factor(float(round_.threads), device)
            prompt_s = 50 / prefill + 1 / rate
            completion_s = n / rate
            observation.timings.append(
                Timings(
                    total_s=prompt_s + completion_s,
                    load_s=0.0,
                    prompt_tokens=50,
                    prompt_s=prompt_s,
                    completion_tokens=n,
                    completion_s=completion_s,
                    queue_s=0.0,
                )
            )
            observation.walls.append(prompt_s + completion_s + 0.003)
        observations.append(observation)
    return observations


def _simulated_slots(
    profile: Profile, round_: Round, device: DeviceParams, truth: dict[str, ModelParams]
) -> Observation:
    """A slot round as the simulator runs it (what the fit of a batched context reads)."""
    name = round_.models[0]
    context = Context(profile.hardware, profile.models[name], truth[name], round_.threads)
    tokens = [(50, round_.max_tokens)] * round_.copies
    _, outcomes = run_round(context, device, round_.slots, tokens)
    observation = Observation(round_)
    for o in outcomes:
        observation.timings.append(
            Timings(
                total_s=o.end - o.started,
                ttft_s=o.first_token - o.started,
                prompt_tokens=50,
                prompt_s=o.first_token - o.started,
                completion_tokens=round_.max_tokens,
                completion_s=o.end - o.first_token,
                queue_s=0.0,
            )
        )
        observation.walls.append(o.end - o.started)
    return observation


def test_cpu_fit_recovers_threads_contention_slicing_and_oversubscription():
    profile = _profile(CPU2, {"tiny": 0.25}, "embedded")
    device = default_device_params(CPU2, True).model_copy(
        update={
            "thread_scaling": 0.7,
            "prefill_thread_scaling": 0.8,
            "contention": 0.4,
            "time_slicing_gain": 0.2,
            "oversubscription_penalty": 0.0,
            "oversubscription_step_s": 0.006,
        }
    )
    truth = {
        "tiny": ModelParams(decode_tps=60.0, prompt_tps=800.0, load_s=0.4, completion_ratio=0.75)
    }
    observations = _synthetic(profile, "embedded", device, truth)
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), observations)
    assert calibration.device["thread_scaling"] == pytest.approx(0.7, abs=0.01)
    assert calibration.device["prefill_thread_scaling"] == pytest.approx(0.8, abs=0.01)
    assert calibration.device["contention"] == pytest.approx(0.4, abs=0.01)
    assert calibration.device["time_slicing_gain"] == pytest.approx(0.2, abs=0.01)
    assert calibration.device["oversubscription_step_s"] == pytest.approx(0.006, rel=0.01)
    assert calibration.device["oversubscription_penalty"] == 0.0  # replaced by the step
    fitted = calibration.models["tiny"]
    assert fitted.decode_tps == pytest.approx(60.0)
    assert fitted.prompt_tps == pytest.approx(800.0)
    assert fitted.load_s == pytest.approx(0.4)
    assert fitted.completion_ratio == pytest.approx(36 / 48)
    assert fitted.request_overhead_s == pytest.approx(0.003)


def _gpu_fit():
    """The fit of a synthetic two-model Ollama GPU (batch 0.3 / 0.8, contention 0.7)."""
    profile = _profile(GPU, {"small": 4.1, "medium": 7.9}, "ollama")
    device = default_device_params(GPU, False).model_copy(
        update={"batch_alpha": 0.3, "batch_gamma": 0.8, "contention": 0.7}
    )
    truth = {
        "small": ModelParams(decode_tps=140.0, prompt_tps=5000.0, load_s=2.0),
        "medium": ModelParams(decode_tps=85.0, prompt_tps=3000.0, load_s=4.0),
    }
    observations = _synthetic(profile, "ollama", device, truth)
    return fit_calibration(GPU, "ollama", dict(profile.models), observations)


def test_gpu_fit_recovers_batching_and_cross_model_contention():
    calibration = _gpu_fit()
    assert calibration.device["contention"] == pytest.approx(0.7, abs=0.01)
    # batch_gamma is searched on a 0.05 grid: the pair must reproduce the curve closely.
    fitted = default_device_params(GPU, False).model_copy(update=calibration.device)
    for batch in (2, 3, 4, 8):
        true_slowdown = 1 + 0.3 * (batch - 1) ** 0.8
        fit_slowdown = 1 + fitted.batch_alpha * (batch - 1) ** fitted.batch_gamma
        assert math.isclose(fit_slowdown, true_slowdown, rel_tol=0.02)
    assert calibration.models["medium"].decode_tps == pytest.approx(85.0)
    # Ollama times prompts without a decode step; the synthetic engine added one.
    assert calibration.models["small"].prompt_tps < 5000.0


def test_fit_keeps_defaults_for_what_was_not_measured():
    profile = _profile(CPU2, {"tiny": 0.25}, "embedded")
    device = default_device_params(CPU2, True)
    truth = {"tiny": ModelParams(decode_tps=50.0, prompt_tps=500.0, load_s=0.2)}
    solo_only = [
        o
        for o in _synthetic(profile, "embedded", device, truth)
        if o.round.copies == 1 and o.round.threads == 1
    ]
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), solo_only)
    assert calibration.device == {}
    assert calibration.models["tiny"].decode_tps == pytest.approx(50.0)


def test_fit_published_recovers_efficiency_and_overhead():
    card = HardwareSpec(name="card", vram_gb=24, bandwidth_gbs=936, ram_gb=64, cpu_cores=8)
    rates = [(size, 1 / (0.003 + size / (936 * 0.75))) for size in (3.8, 7.4, 19.0)]
    fit = fit_published(card, rates)
    assert fit["efficiency"] == pytest.approx(0.75)
    assert fit["overhead_s"] == pytest.approx(0.003)
    with pytest.raises(ValueError, match="two model sizes"):
        fit_published(card, [(4.0, 100.0), (4.0, 110.0)])


def test_each_fitted_parameter_carries_its_uncertainty():
    calibration = _gpu_fit()
    for name in ("batch_alpha", "batch_gamma"):
        err = calibration.provenance[f"stderr.{name}"]
        assert isinstance(err, float) and 0 <= err < 0.05
        assert abs(calibration.device[name] - {"batch_alpha": 0.3, "batch_gamma": 0.8}[name]) <= (
            4 * err + 1e-6
        )


def test_a_parameter_the_rounds_put_at_its_upper_bound_refuses_the_fit():
    from orchbench.calibrate._lsq import DegenerateFit

    profile = _profile(CPU2, {"tiny": 0.25}, "embedded")
    device = default_device_params(CPU2, True).model_copy(
        update={"thread_scaling": 0.7, "contention": 0.4, "time_slicing_gain": 4.0}
    )
    truth = {"tiny": ModelParams(decode_tps=60.0, prompt_tps=800.0, load_s=0.4)}
    observations = _synthetic(profile, "embedded", device, truth)
    with pytest.raises(DegenerateFit, match="more single-threaded instances than cores"):
        fit_calibration(CPU2, "embedded", dict(profile.models), observations)


def test_an_effect_the_rounds_show_absent_is_kept_at_its_floor():
    """No contention between instances (a quiet machine with spare memory bandwidth) is a
    measurement, not a degenerate fit: kept at 0 and said so in the provenance."""
    profile = _profile(CPU2, {"tiny": 0.25}, "embedded")
    device = default_device_params(CPU2, True).model_copy(
        update={"thread_scaling": 0.7, "contention": 0.0, "time_slicing_gain": 0.2}
    )
    truth = {"tiny": ModelParams(decode_tps=60.0, prompt_tps=800.0, load_s=0.4)}
    observations = _synthetic(profile, "embedded", device, truth)
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), observations)
    assert calibration.device["contention"] == pytest.approx(0.0, abs=1e-3)
    assert "effect is absent" in str(calibration.provenance["floor.contention"])
    assert calibration.device["time_slicing_gain"] == pytest.approx(0.2, abs=0.01)


def test_embedded_fit_measures_the_slot_batch_curve():
    profile = _profile(CPU2, {"small": 0.1, "big": 0.25}, "embedded")
    curve = ((1, 1.0), (2, 1.1), (4, 1.5), (8, 2.0), (12, 2.4))
    device = default_device_params(CPU2, True).model_copy(update={"batch_curve": curve})
    truth = {
        "small": ModelParams(decode_tps=90.0, prompt_tps=900.0, load_s=0.2),
        "big": ModelParams(decode_tps=60.0, prompt_tps=800.0, load_s=0.4),
    }
    plan = measurement_plan(profile, "embedded")
    batched = [r for r in plan if r.slots > 1]
    assert {r.models for r in batched} == {("big",)}  # the largest model only
    assert sorted({r.slots for r in batched}) == [2, 4, 8, 12]
    observations = _synthetic(profile, "embedded", device, truth)
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), observations)
    fitted = dict(calibration.device["batch_curve"])
    for batch, ratio in curve:
        assert fitted[batch] == pytest.approx(ratio, rel=0.01)


def test_a_context_of_one_thread_gets_its_own_batch_curve():
    profile = _profile(CPU2, {"small": 0.1, "big": 0.25}, "embedded")
    curve = ((1, 1.0), (2, 1.1), (4, 1.5), (8, 2.0), (12, 2.4))
    flatter = ((1, 1.0), (2, 1.05), (4, 1.2), (8, 1.5), (12, 1.6))
    plan = measurement_plan(profile, "embedded")
    assert {r.threads for r in plan if r.slots > 1} == {1, 2}
    device = default_device_params(CPU2, True).model_copy(
        update={"batch_curve": curve, "batch_curve_one_thread": flatter}
    )
    truth = {
        "small": ModelParams(decode_tps=90.0, prompt_tps=900.0, load_s=0.2),
        "big": ModelParams(decode_tps=60.0, prompt_tps=800.0, load_s=0.4),
    }
    observations = _synthetic(profile, "embedded", device, truth)
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), observations)
    fitted, one = (dict(calibration.device[k]) for k in ("batch_curve", "batch_curve_one_thread"))
    for (batch, ratio), (_, flat) in zip(curve, flatter, strict=True):
        assert fitted[batch] == pytest.approx(ratio, rel=0.01)
        assert one[batch] == pytest.approx(flat, rel=0.01)


def test_a_batched_context_prompt_gain_is_fitted_from_its_times_to_first_token():
    """Several prompts in one step run faster than one prompt in an instance: the fit
    finds that gain (at each thread count) by simulating the slot rounds."""
    profile = _profile(CPU2, {"small": 0.1, "big": 0.25}, "embedded")
    curve = ((1, 1.0), (2, 1.1), (4, 1.5), (8, 2.0), (12, 2.4))
    device = default_device_params(CPU2, True).model_copy(
        update={
            "batch_curve": curve,
            "batch_prefill_gain": 1.5,
            "batch_prefill_gain_one_thread": 1.2,
        }
    )
    truth = {
        "small": ModelParams(decode_tps=90.0, prompt_tps=300.0, load_s=0.2),
        "big": ModelParams(decode_tps=60.0, prompt_tps=200.0, load_s=0.4),
    }
    observations = _synthetic(profile, "embedded", device, truth)
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), observations)
    assert calibration.device["batch_prefill_gain"] == pytest.approx(1.5, rel=0.01)
    assert calibration.device["batch_prefill_gain_one_thread"] == pytest.approx(1.2, rel=0.01)
    assert isinstance(calibration.provenance["stderr.batch_prefill_gain"], float)
    without = fit_calibration(
        CPU2,
        "embedded",
        dict(profile.models),
        _synthetic(
            profile, "embedded", device.model_copy(update={"batch_prefill_gain": 1.0}), truth
        ),
    )
    assert without.device["batch_prefill_gain"] == pytest.approx(1.0, rel=0.01)


def test_repeats_count_by_their_median_not_their_best():
    profile = _profile(CPU2, {"tiny": 0.25}, "embedded")
    device = default_device_params(CPU2, True)
    truth = {"tiny": ModelParams(decode_tps=50.0, prompt_tps=500.0, load_s=0.2)}
    observations = _synthetic(profile, "embedded", device, truth)
    solo = [o for o in observations if o.round.copies == 1 and o.round.threads == 1][:3]
    for observation, factor in zip(solo, (1.4, 1.0, 0.9), strict=True):  # one lucky repeat
        for t in observation.timings:
            t.completion_s = t.completion_s / factor
    calibration = fit_calibration(CPU2, "embedded", dict(profile.models), observations)
    assert calibration.models["tiny"].decode_tps == pytest.approx(50.0, rel=1e-6)


def test_an_engine_without_slots_gets_no_batch_rounds():
    profile = _profile(CPU2, {"tiny": 0.25}, "sim")
    assert all(r.slots == 1 for r in measurement_plan(profile, "sim"))


def test_a_fit_of_batched_contexts_runs_inside_an_event_loop_too():
    """calibrate fits from inside its measuring loop; the slot rounds' simulation has a
    virtual clock of its own."""
    import asyncio

    profile = _profile(CPU2, {"small": 0.1, "big": 0.25}, "embedded")
    device = default_device_params(CPU2, True)
    truth = {
        "small": ModelParams(decode_tps=90.0, prompt_tps=300.0, load_s=0.2),
        "big": ModelParams(decode_tps=60.0, prompt_tps=200.0, load_s=0.4),
    }
    observations = _synthetic(profile, "embedded", device, truth)

    async def inside() -> Calibration:
        return fit_calibration(CPU2, "embedded", dict(profile.models), observations)

    assert "batch_prefill_gain" in asyncio.run(inside()).device
