"""The performance model's arithmetic against published figures and its own invariants."""

from __future__ import annotations

import pytest

from orchbench.config import HardwareSpec, ModelConfig
from orchbench.sim import ModelParams, PerfModel, default_device_params, stream_rates
from orchbench.sim._model import DECODE, PREFILL, StreamLoad, batch_slowdown

RTX4090 = HardwareSpec(name="RTX 4090", vram_gb=24, bandwidth_gbs=1008, ram_gb=64, cpu_cores=16)
RTX3090 = HardwareSpec(name="RTX 3090", vram_gb=24, bandwidth_gbs=936, ram_gb=64, cpu_cores=16)
CPU2 = HardwareSpec(name="2-core CPU", kind="cpu", bandwidth_gbs=20, ram_gb=24, cpu_cores=2)

# Q4_K_M file sizes of typical 7B / 13B / 33B models (GB).
SIZES = {"7b": (4.1, 7.0), "13b": (7.9, 13.0), "33b": (19.5, 33.0)}
# FACTS.md: single-stream decode, llama.cpp CUDA, Q4, fully on GPU (tok/s).
PUBLISHED = {
    ("rtx4090", "7b"): 150,
    ("rtx4090", "13b"): 89,
    ("rtx4090", "33b"): 40,
    ("rtx3090", "7b"): 121,
    ("rtx3090", "13b"): 75,
    ("rtx3090", "33b"): 34,
}


def _model(name: str, size_gb: float, params_b: float, **kw: object) -> ModelConfig:
    # A short context, so the KV cache does not decide what fits (FACTS: "fully on GPU").
    kw.setdefault("num_ctx", 2048)
    return ModelConfig(
        name=name, task_types=["coding"], tier="fast", size_gb=size_gb, params_b=params_b, **kw
    )


def _perf(hardware: HardwareSpec, model: ModelConfig, instances: bool = False) -> PerfModel:
    return PerfModel.build(hardware, model, default_device_params(hardware, instances))


@pytest.mark.parametrize(("card", "size"), sorted(PUBLISHED))
def test_single_stream_decode_within_15_percent_of_published(card, size):
    hardware = RTX4090 if card == "rtx4090" else RTX3090
    perf = _perf(hardware, _model(size, *SIZES[size]))
    published = PUBLISHED[(card, size)]
    assert perf.decode_tps == pytest.approx(published, rel=0.15)


def test_roofline_decode_is_overhead_plus_bytes_over_bandwidth():
    params = default_device_params(RTX4090)
    perf = PerfModel.build(RTX4090, _model("m", 10.0, 16.0), params)
    expected = 1 / (params.overhead_s + 10.0 / (1008 * params.efficiency))
    assert perf.decode_tps == pytest.approx(expected)
    # Bandwidth-bound: a model twice the size decodes at nearly half the rate.
    bigger = PerfModel.build(RTX4090, _model("m", 20.0, 32.0), params)
    assert 0.5 < bigger.decode_tps / perf.decode_tps < 0.55


def test_prompt_processing_is_compute_bound_and_faster_than_decode():
    small = _perf(RTX4090, _model("s", *SIZES["7b"]))
    large = _perf(RTX4090, _model("l", *SIZES["33b"]))
    assert small.prompt_tps == pytest.approx(large.prompt_tps * 33 / 7)
    # FACTS.md: 30B prompt processing on a 4090 at ~1400 tok/s.
    assert large.prompt_tps == pytest.approx(1400 * 30 / 33, rel=0.05)
    assert large.prompt_tps > 10 * large.decode_tps


def test_batching_raises_aggregate_and_slows_each_stream():
    params = default_device_params(RTX4090)
    perf = _perf(RTX4090, _model("7b", *SIZES["7b"]))
    aggregates, per_stream = [], []
    for batch in (1, 2, 4, 8, 16):
        rates = stream_rates([StreamLoad(perf, DECODE, 1)] * batch, RTX4090, params)
        aggregates.append(sum(rates))
        per_stream.append(rates[0])
    assert aggregates == sorted(aggregates) and len(set(aggregates)) == 5
    assert per_stream == sorted(per_stream, reverse=True) and len(set(per_stream)) == 5
    # FACTS.md: 127/265/450/605 tok/s at batch 1/4/8/16, relative to batch 1.
    for batch, published in [(4, 265), (8, 450), (16, 605)]:
        assert batch / batch_slowdown(batch, params) == pytest.approx(published / 127, rel=0.15)


def test_two_models_share_bandwidth_instead_of_batching():
    params = default_device_params(RTX4090)
    a = _perf(RTX4090, _model("a", *SIZES["7b"]))
    b = _perf(RTX4090, _model("b", *SIZES["7b"]))
    alone = stream_rates([StreamLoad(a, DECODE, 1)], RTX4090, params)[0]
    together = stream_rates([StreamLoad(a, DECODE, 1), StreamLoad(b, DECODE, 1)], RTX4090, params)
    batched = stream_rates([StreamLoad(a, DECODE, 1)] * 2, RTX4090, params)
    assert together[0] < alone
    assert sum(together) < sum(batched)  # two models gain less than one model batching
    assert sum(together) == pytest.approx(2 * alone / (1 + params.contention))


def test_prefill_streams_share_compute():
    params = default_device_params(RTX4090)
    perf = _perf(RTX4090, _model("7b", *SIZES["7b"]))
    one = stream_rates([StreamLoad(perf, PREFILL, 1)], RTX4090, params)
    two = stream_rates([StreamLoad(perf, PREFILL, 1)] * 2, RTX4090, params)
    assert one[0] == pytest.approx(perf.prompt_tps)
    assert two[0] == pytest.approx(perf.prompt_tps / 2)


def test_model_larger_than_vram_spills_to_ram_speed():
    perf = _perf(RTX4090, _model("70b", 40.0, 70.0))
    fits = _perf(RTX4090, _model("33b", *SIZES["33b"]))
    assert perf.device_fraction < 1.0
    assert fits.device_fraction == 1.0
    # Layers in RAM dominate: far slower than a bandwidth-scaled on-GPU estimate.
    assert perf.decode_tps < fits.decode_tps * 19.5 / 40.0 / 5
    assert perf.footprint_gb <= 24 * 1.074  # the card's usable memory, no more


@pytest.mark.parametrize(
    ("instances", "threads", "published"),
    [(1, 1, 54), (1, 2, 76), (2, 1, 86), (3, 1, 95), (4, 1, 95), (2, 2, 68)],
)
def test_cpu_threads_and_instances_near_facts(instances, threads, published):
    params = default_device_params(CPU2, True)
    perf = PerfModel.build(
        CPU2, _model("g", 0.25, 0.27, n_threads=threads, concurrent_limit=instances), params
    )
    total = sum(stream_rates([StreamLoad(perf, DECODE, threads)] * instances, CPU2, params))
    assert total == pytest.approx(published, rel=0.06)


def test_cpu_oversubscription_hurts_multithreaded_instances():
    params = default_device_params(CPU2, True)
    perf = PerfModel.build(CPU2, _model("g", 0.25, 0.27), params)
    two_by_one = sum(stream_rates([StreamLoad(perf, DECODE, 1)] * 2, CPU2, params))
    two_by_two = sum(stream_rates([StreamLoad(perf, DECODE, 2)] * 2, CPU2, params))
    assert two_by_two < two_by_one


def test_embedded_instances_each_hold_memory_and_load():
    params = default_device_params(CPU2, True)
    one = PerfModel.build(CPU2, _model("g", 0.25, 0.27, concurrent_limit=1), params)
    three = PerfModel.build(CPU2, _model("g", 0.25, 0.27, concurrent_limit=3), params)
    assert three.footprint_gb == pytest.approx(3 * one.footprint_gb)
    assert three.load_s == pytest.approx(3 * one.load_s)


def test_token_counts_from_prompt_length_and_max_tokens():
    perf = _perf(RTX4090, _model("7b", *SIZES["7b"]))
    assert perf.prompt_tokens("x" * 400) == 100
    assert perf.prompt_tokens("") == 1
    assert perf.completion_tokens(256) == 256


@pytest.mark.parametrize("card", ["rtx4090", "rtx3090"])
def test_shipped_profiles_decode_within_15_percent_of_published(card):
    from orchbench.profiles import load_profile
    from orchbench.sim import SimBackend

    profile = load_profile(card)
    backend = SimBackend(profile)  # with the published-figures calibration next to it
    assert backend.calibration is not None
    assert backend.calibration.provenance["backend"] == "published"
    by_tier = {"fast": "7b", "balanced": "13b", "powerful": "33b"}
    for model in profile.models.values():
        perf = backend.perf_model(model)
        assert perf.device_fraction == 1.0, model.name
        published = PUBLISHED[(card, by_tier[model.tier.value])]
        assert perf.decode_tps == pytest.approx(published, rel=0.15), model.name


def _cpu_total(model: ModelConfig, streams: int) -> float:
    params = default_device_params(CPU2, True)
    perf = PerfModel.build(CPU2, model, params)
    threads = perf.threads
    return sum(stream_rates([StreamLoad(perf, DECODE, threads)] * streams, CPU2, params))


def test_cpu_batching_curve_follows_the_measured_one():
    alone = _cpu_total(
        _model("g", 0.25, 0.27, n_threads=2, num_parallel=12, concurrent_limit=12), 1
    )
    for batch, measured in ((2, 93), (4, 122), (8, 158), (12, 220)):
        model = _model("g", 0.25, 0.27, n_threads=2, num_parallel=12, concurrent_limit=12)
        assert _cpu_total(model, batch) / alone == pytest.approx(measured / 99, rel=0.01)


def test_batched_contexts_beat_instances_only_when_deep():
    instances = _cpu_total(_model("g", 0.25, 0.27, n_threads=1, concurrent_limit=2), 2)
    deep = _model("g", 0.25, 0.27, n_threads=2, num_parallel=12, concurrent_limit=12)
    shallow = _model("g", 0.25, 0.27, n_threads=2, num_parallel=2, concurrent_limit=2)
    assert _cpu_total(deep, 12) > 1.3 * instances
    assert _cpu_total(shallow, 2) < instances


def test_instances_times_slots_make_separate_contexts():
    params = default_device_params(CPU2, True)
    both = PerfModel.build(
        CPU2, _model("g", 0.25, 0.27, n_threads=1, num_parallel=6, concurrent_limit=12), params
    )
    one = PerfModel.build(
        CPU2, _model("g", 0.25, 0.27, n_threads=2, num_parallel=12, concurrent_limit=12), params
    )
    assert both.sequences == 6 and both.load_s == pytest.approx(2 * one.load_s)
    rates = stream_rates([StreamLoad(both, DECODE, 1)] * 12, CPU2, params)
    assert len(set(rates)) == 1  # two contexts of six, decoding alike
    assert sum(rates) > _cpu_total(_model("g", 0.25, 0.27, n_threads=1, concurrent_limit=2), 2)


def test_streams_spread_over_batched_contexts_as_the_engine_places_them():
    """Two requests on a model of 2 contexts x 6 sequences run one per context (the engine
    picks the least busy context), not both in the first."""
    params = default_device_params(CPU2, True)
    model = _model("g", 0.25, 0.27, n_threads=1, concurrent_limit=12, num_parallel=6)
    perf = PerfModel.build(CPU2, model, params)
    assert perf.copies == 2 and perf.sequences == 6
    two = stream_rates([StreamLoad(perf, DECODE, 1)] * 2, CPU2, params)
    alone = stream_rates([StreamLoad(perf, DECODE, 1)], CPU2, params)
    # Two contexts at once only contend; one context of two would pay the batch step.
    contended = alone[0] / (1.0 + params.contention)
    assert two[0] == pytest.approx(contended)


def test_a_batched_context_prefilling_slows_its_decoding_sequences():
    """One llama_decode holds the decoding tokens and a prompt chunk: while a new prompt is
    prefilled, the context's decoding sequences wait for that chunk too."""
    params = default_device_params(CPU2, True)
    model = _model("g", 0.25, 0.27, n_threads=2, concurrent_limit=4, num_parallel=4)
    perf = PerfModel.build(CPU2, model, params)
    decoding = [StreamLoad(perf, DECODE, 2)] * 3
    alone = stream_rates(decoding, CPU2, params)[0]
    joining = StreamLoad(perf, PREFILL, 2, prompt_left=300.0)
    rates = stream_rates([*decoding, joining], CPU2, params)
    assert rates[0] < alone * 0.5  # a 125-token chunk dwarfs three decode tokens
    # The prompt advances one chunk (the room left by 3 decode tokens) per step.
    assert rates[3] == pytest.approx((128 - 3) * rates[0])


def test_oversubscription_costs_once_not_per_extra_thread():
    params = default_device_params(CPU2, True)
    perf = PerfModel.build(CPU2, _model("g", 0.25, 0.27), params)
    two = sum(stream_rates([StreamLoad(perf, DECODE, 2)] * 2, CPU2, params))
    three = sum(stream_rates([StreamLoad(perf, DECODE, 2)] * 3, CPU2, params))
    assert three == pytest.approx(two)  # the cores are shared out; the penalty is the same


def test_oversubscription_adds_the_same_seconds_to_every_model_step():
    """Measured: 2 × 2 threads on 2 cores add 6–8 ms to a step of SmolLM2 (17 ms) and of
    Gemma 3 (30 ms) alike; as seconds per step, three instances cost what two do."""
    params = default_device_params(CPU2, True).model_copy(
        update={
            "oversubscription_penalty": 0.0,
            "oversubscription_step_s": 0.007,
            "contention": 0.0,
        }
    )
    for decode_tps in (60.0, 33.0):
        perf = PerfModel.build(
            CPU2, _model("m", 0.25, 0.27), params, ModelParams(decode_tps=decode_tps)
        )
        two = stream_rates([StreamLoad(perf, DECODE, 2)] * 2, CPU2, params)
        assert 1.0 / two[0] == pytest.approx(1.0 / decode_tps + 0.007)
        three = sum(stream_rates([StreamLoad(perf, DECODE, 2)] * 3, CPU2, params))
        assert three == pytest.approx(sum(two))


def test_the_simulated_batch_step_holds_what_the_engines_does():
    from orchbench.backends._batched import BATCH_TOKENS
    from orchbench.sim._model import SLOT_BATCH_TOKENS

    assert SLOT_BATCH_TOKENS == BATCH_TOKENS


def test_a_one_thread_context_follows_its_own_batch_curve():
    from orchbench.sim._params import DeviceParams

    curve, flatter = ((1, 1.0), (4, 2.0)), ((1, 1.0), (4, 1.6))
    device = DeviceParams(batch_curve=curve, batch_curve_one_thread=flatter)
    assert batch_slowdown(4, device, threads=2) == pytest.approx(4 / 2.0)
    assert batch_slowdown(4, device, threads=1) == pytest.approx(4 / 1.6)
    assert batch_slowdown(4, DeviceParams(batch_curve=curve), threads=1) == pytest.approx(2.0)
