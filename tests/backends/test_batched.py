"""The embedded engine's batched mode (``num_parallel > 1``) against the real bundled models.

Every test that generates is marked ``embedded``: short prompts, at most a few dozen
tokens. Nothing is timed against a threshold; what is asserted is what continuous
batching promises: sequences of one context decode together, join and leave it on their
own, keep their own sampler and stop strings, and a cancelled one frees its sequence and
KV cells without changing what the others generate.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from test_embedded import gemma, missing_file, request, smollm2

from orchbench.backends import EmbeddedBackend
from orchbench.backends._embedded import contexts_for, is_batched
from orchbench.errors import BackendError, BackendTimeout
from orchbench.testing import CONTRACT_CHECKS, ContractCase

PROMPTS = ["def add(a, b):", "def is_even(n):", "class Stack:", "def fib(n):"]


def batched(**changes: object):
    return gemma(**{"num_parallel": 2, "concurrent_limit": 2, **changes})


def kv_positions(backend: EmbeddedBackend, model: str) -> list[int]:
    """The highest KV-cache position of every sequence of the model's first context
    (-1: the sequence holds no cells)."""
    import llama_cpp

    context = backend._batched[model]._contexts[0]
    return [
        llama_cpp.llama_memory_seq_pos_max(context._memory, seq) for seq in range(context.key.n_seq)
    ]


def test_contexts_cover_the_requests_in_flight():
    assert not is_batched(gemma()) and not is_batched(gemma(num_parallel=1))
    assert contexts_for(batched(concurrent_limit=2)) == 1
    assert contexts_for(batched(concurrent_limit=5)) == 3
    assert contexts_for(gemma(concurrent_limit=3)) == 3


@pytest.mark.embedded
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract_in_batched_mode(check, monkeypatch: pytest.MonkeyPatch):
    def break_llama(_backend: object) -> None:
        import llama_cpp

        def fails(*_args: object) -> int:
            return -1  # llama_decode's "invalid input batch"

        monkeypatch.setattr(llama_cpp, "llama_decode", fails)

    case = ContractCase(
        EmbeddedBackend,
        batched(),
        missing_file(),
        slow_prompt="Once upon a time",
        break_engine=break_llama,
    )
    check(case)


@pytest.mark.embedded
def test_sequences_decode_together_each_on_its_own_prompt():
    model = batched(num_parallel=4, concurrent_limit=4)

    async def go():
        backend = EmbeddedBackend()
        try:
            first = await asyncio.gather(*(backend.generate(request(model, p)) for p in PROMPTS))
            again = await asyncio.gather(*(backend.generate(request(model, p)) for p in PROMPTS))
            return first, again
        finally:
            await backend.close()

    together, again = asyncio.run(go())
    # Greedy decoding in the same batch is reproducible; each answer continues its own
    # prompt (no sequence sees another's cells). A batch's matrix shapes differ from a
    # lone sequence's, so its logits differ in the last bits and a near tie may go the
    # other way than alone, as in llama-server with several slots.
    assert [r.text for r in together] == [r.text for r in again]
    add, even, stack, fib = (r.text for r in together)
    assert "a + b" in add and "% 2" in even and "def " in stack and "n" in fib
    assert sorted(r.instance for r in together) == [0, 1, 2, 3]  # four sequences of one context
    for r in together:
        t = r.timings
        assert t.completion_tokens == 16 and r.finish_reason == "length"
        assert t.prompt_tokens and t.prompt_tokens > 1
        assert all(v is not None and v > 0 for v in (t.ttft_s, t.prompt_s, t.completion_s))
        assert t.token_times is not None and len(t.token_times) == 16
        assert t.token_times == sorted(t.token_times) and t.token_times[0] == t.ttft_s
    spans = [(r.timings.ttft_s, r.timings.total_s) for r in together]
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # they decoded at the same time


@pytest.mark.embedded
def test_each_sequence_keeps_its_own_stop_strings_sampler_and_length():
    model = batched(num_parallel=3, concurrent_limit=3)
    stopped = replace(request(model, "def add(a, b):", tokens=32), stop=["\n\n"])
    short = request(model, "class Stack:", tokens=5)
    sampled = replace(request(model, "Once upon a time", tokens=12), temperature=1.0, seed=7)

    async def go():
        backend = EmbeddedBackend()
        try:
            first = await asyncio.gather(*(backend.generate(r) for r in (stopped, short, sampled)))
            alone = [(await backend.generate(r)).text for r in (sampled, sampled)]
            other_seed = await backend.generate(replace(sampled, seed=8))
            return first, alone, other_seed.text
        finally:
            await backend.close()

    (stop, length, drawn), alone, other_seed = asyncio.run(go())
    assert stop.finish_reason == "stop" and "\n\n" not in stop.text and "return a + b" in stop.text
    assert length.finish_reason == "length" and length.timings.completion_tokens == 5
    assert drawn.finish_reason == "length" and drawn.timings.completion_tokens == 12
    # A seed draws the same text again (in a batch the logits differ in the last bits, so
    # a draw there may differ from one alone); another seed draws another text.
    assert alone[0] == alone[1] != other_seed


@pytest.mark.embedded
def test_a_request_joins_the_running_batch_and_leaves_before_it():
    model = batched()

    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.warmup(model)
            long = asyncio.ensure_future(backend.generate(request(model, PROMPTS[0], tokens=96)))
            await asyncio.sleep(0.5)
            short = await backend.generate(request(model, PROMPTS[1], tokens=4))
            return short, long.done(), await long
        finally:
            await backend.close()

    short, long_done_then, long = asyncio.run(go())
    assert not long_done_then  # the short one did not wait for the long one to finish
    assert {short.instance, long.instance} == {0, 1}
    assert short.timings.queue_s is not None and short.timings.queue_s < long.timings.total_s


@pytest.mark.embedded
def test_a_cancelled_sequence_frees_its_cells_and_disturbs_no_other():
    model = batched()
    keep = request(model, PROMPTS[2], tokens=40)

    async def go():
        backend = EmbeddedBackend()
        try:
            alone = await backend.generate(keep)
            doomed = asyncio.ensure_future(
                backend.generate(request(model, "Once upon a time", tokens=400))
            )
            kept = asyncio.ensure_future(backend.generate(keep))
            await asyncio.sleep(1.0)
            doomed.cancel()
            timed_out = backend.generate(replace(request(model, PROMPTS[0], 400), timeout_s=0.5))
            with pytest.raises(BackendTimeout):
                await timed_out
            kept_result = await kept
            await asyncio.sleep(0.2)  # the worker frees cancelled sequences at its next step
            return alone, kept_result, doomed.cancelled(), kv_positions(backend, model.name)
        finally:
            await backend.close()

    alone, kept, cancelled, positions = asyncio.run(go())
    assert cancelled
    assert kept.text == alone.text
    assert positions == [-1, -1]  # no sequence holds KV cells once all have left


@pytest.mark.embedded
def test_instances_and_slots_combine():
    model = batched(num_parallel=2, concurrent_limit=4)

    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.warmup(model)
            results = await asyncio.gather(*(backend.generate(request(model, p)) for p in PROMPTS))
            return results, len(backend._batched[model.name]._contexts)
        finally:
            await backend.close()

    results, contexts = asyncio.run(go())
    assert contexts == 2
    assert sorted(r.instance for r in results) == [0, 1, 2, 3]  # 2 contexts x 2 sequences
    assert all(r.timings.load_s == 0 for r in results)  # warmup built both


@pytest.mark.embedded
def test_the_chat_model_batches_in_its_chat_template():
    model = smollm2(num_parallel=2, concurrent_limit=2)
    asks = [
        "Write a Python function is_even(n) that returns True if n is even.",
        "Write a Python function add(a, b) that returns a + b.",
    ]

    async def go():
        backend = EmbeddedBackend()
        try:
            return await asyncio.gather(*(backend.generate(request(model, a, 32)) for a in asks))
        finally:
            await backend.close()

    even, add = asyncio.run(go())
    assert "def is_even" in even.text and "def add" in add.text
    assert even.timings.prompt_tokens and even.timings.prompt_tokens > 20  # the template's turns


@pytest.mark.embedded
def test_a_prompt_longer_than_a_sequence_context_is_not_retryable():
    async def go():
        backend = EmbeddedBackend()
        try:
            await backend.generate(request(batched(n_ctx=32), "word " * 100, tokens=4))
        finally:
            await backend.close()

    with pytest.raises(BackendError, match=r"more than model .* context of \d+") as info:
        asyncio.run(go())
    assert not info.value.retryable
