"""The embedded engine's batched slots against instances and a bare llama.cpp batch loop.

Twelve code completions (48 greedy tokens each) on the bundled Gemma 3 270M, in three
configurations measured in ONE run, alternating, ``REPEATS`` times:

- ``batched``: one llama.cpp context of 12 sequences (``num_parallel = 12``, 2 threads);
- ``batched2x6``: two such contexts of 6 sequences, 1 thread each (instances x slots);
- ``instances``: two ``Llama`` instances x 1 thread (``concurrent_limit = 2``);
- ``bare``: a plain llama.cpp batched decode loop over the same prompts (one context,
  12 sequences, the same context settings, no orchbench): the ceiling reference.

Then 1 and 2 concurrent tasks, batched vs instances. Each measurement runs in a fresh
subprocess, so its private memory (psutil USS after warm-up, minus before the engine was
built; the mmapped weights count once) is its own. Output tokens/s = completion tokens ÷
wall seconds from the first request to the last answer. The goals of issue 11 (≥ 1.3x
instances, ≥ 85 % of the bare loop; at 1-2 tasks ≤ 10 % slower than instances) are
recorded with the medians in ``batched_engine.json`` (in pytest's tmp dir, path printed);
the assertions are looser, as the machine is shared. The noise guard says how loaded it was.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchbench.bench.noise import NoiseProbe, assess

LONG = pytest.mark.skipif(
    not os.environ.get("ORCHBENCH_LONG_BENCH"),
    reason="runs for tens of minutes on 2 cores: set ORCHBENCH_LONG_BENCH=1",
)
PROMPTS = [
    "def reverse_string(s):",
    "def add(a, b):",
    "def is_even(n):",
    "def fibonacci(n):",
    "def factorial(n):",
    "def is_prime(n):",
    "def count_vowels(s):",
    "def flatten(lists):",
    "def max_of_list(xs):",
    "def celsius_to_fahrenheit(c):",
    "def is_palindrome(s):",
    "def merge_sorted(a, b):",
]
TOKENS = 48
REPEATS = 3
CONFIGS = {
    "batched": {"num_parallel": 12, "concurrent_limit": 12, "n_threads": 2},
    "batched2x6": {"num_parallel": 6, "concurrent_limit": 12, "n_threads": 1},
    "instances": {"concurrent_limit": 2, "n_threads": 1},
}

WORKER = r"""
import asyncio, json, os, sys, time
import psutil
config, tasks = sys.argv[1], int(sys.argv[2])
prompts, tokens = json.loads(sys.argv[3]), int(sys.argv[4])
prompts = prompts[:tasks]
proc = psutil.Process()
import llama_cpp
from orchbench.backends import EmbeddedBackend, assemble_bundled_model
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest
path = str(assemble_bundled_model())
before = proc.memory_full_info().uss

def bare():
    from orchbench.backends._batched import BATCH_TOKENS
    from llama_cpp import _internals as I
    n = len(prompts)
    m = I.LlamaModel(path_model=path, params=llama_cpp.llama_model_default_params(), verbose=False)
    p = llama_cpp.llama_context_default_params()
    p.n_ctx, p.n_seq_max, p.kv_unified = 1024 * n, n, True
    p.n_batch = p.n_ubatch = BATCH_TOKENS
    p.n_threads = p.n_threads_batch = 2
    ctx = I.LlamaContext(model=m, params=p, verbose=False)
    batch = llama_cpp.llama_batch_init(BATCH_TOKENS, 0, 1)
    uss = proc.memory_full_info().uss
    samplers = []
    for _ in range(n):
        c = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(c, llama_cpp.llama_sampler_init_greedy())
        samplers.append(c)
    start = time.perf_counter()
    toks = [m.tokenize(x.encode(), True, True) for x in prompts]
    flat = [(s, j, t) for s, ts in enumerate(toks) for j, t in enumerate(ts)]
    out, idx, pos, done = [0] * n, {}, [len(t) for t in toks], set()
    def add(t, at, s, logits):
        i = batch.n_tokens
        batch.token[i], batch.pos[i], batch.n_seq_id[i] = t, at, 1
        batch.seq_id[i][0], batch.logits[i] = s, logits
        batch.n_tokens = i + 1
        return i
    for k in range(0, len(flat), BATCH_TOKENS):
        batch.n_tokens = 0
        for s, j, t in flat[k:k + BATCH_TOKENS]:
            i = add(t, j, s, j == len(toks[s]) - 1)
            if j == len(toks[s]) - 1:
                idx[s] = i
        assert llama_cpp.llama_decode(ctx.ctx, batch) == 0
    while len(done) < n:
        new = {}
        for s in list(idx):
            t = llama_cpp.llama_sampler_sample(samplers[s], ctx.ctx, idx[s])
            if llama_cpp.llama_vocab_is_eog(m.vocab, t):
                done.add(s); continue
            out[s] += 1
            if out[s] >= tokens:
                done.add(s); continue
            new[s] = t
        batch.n_tokens = 0
        idx = {s: add(t, pos[s], s, True) for s, t in new.items()}
        for s in new:
            pos[s] += 1
        if new:
            assert llama_cpp.llama_decode(ctx.ctx, batch) == 0
    return sum(out), time.perf_counter() - start, uss

async def engine(settings):
    model = ModelConfig(name="gemma3-270m", task_types=["coding"], tier="fast",
                        gguf="bundled:gemma3-270m", n_ctx=1024, prompt_style="completion",
                        **settings)
    backend = EmbeddedBackend()
    try:
        await backend.warmup(model)
        await backend.generate(GenerateRequest(model, prompts[0], 4, 0.0, 300))
        uss = proc.memory_full_info().uss
        start = time.perf_counter()
        results = await asyncio.gather(*(
            backend.generate(GenerateRequest(model, p, tokens, 0.0, 600)) for p in prompts))
        wall = time.perf_counter() - start
        return sum(r.timings.completion_tokens for r in results), wall, uss
    finally:
        await backend.close()

if config == "bare":
    tokens_out, wall, uss = bare()
else:
    tokens_out, wall, uss = asyncio.run(engine(json.loads(sys.argv[5])))
print(json.dumps({"tokens": tokens_out, "wall_s": wall, "tok_s": tokens_out / wall,
                  "uss_mb": (uss - before) / 1e6}))
"""


def measure(config: str, tasks: int) -> dict[str, Any]:
    """One measurement of ``config`` with ``tasks`` concurrent tasks, in a fresh process."""
    settings = json.dumps(CONFIGS.get(config, {}))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, "-c", WORKER, config, str(tasks), json.dumps(PROMPTS), str(TOKENS)]
    done = subprocess.run(
        [*args, settings], capture_output=True, text=True, timeout=900, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in ("tok_s", "uss_mb")}


@pytest.mark.embedded
@pytest.mark.slow
@LONG
def test_batched_slots_against_instances_and_the_bare_loop(tmp_path: Path) -> None:
    probe = NoiseProbe()
    samples = []
    runs: dict[str, list[dict[str, Any]]] = {}
    plan = [(c, 12) for c in ("batched", "batched2x6", "instances", "bare")]
    plan += [(c, n) for n in (1, 2) for c in ("batched", "instances")]
    for _ in range(REPEATS):
        for config, tasks in plan:
            runs.setdefault(f"{config}@{tasks}", []).append(measure(config, tasks))
            samples.append(probe.sample())
    med = {key: medians(value) for key, value in runs.items()}
    ratio = {
        "batched/instances@12": med["batched@12"]["tok_s"] / med["instances@12"]["tok_s"],
        "batched/bare@12": med["batched@12"]["tok_s"] / med["bare@12"]["tok_s"],
        "batched2x6/instances@12": med["batched2x6@12"]["tok_s"] / med["instances@12"]["tok_s"],
        "batched/instances@1": med["batched@1"]["tok_s"] / med["instances@1"]["tok_s"],
        "batched/instances@2": med["batched@2"]["tok_s"] / med["instances@2"]["tok_s"],
    }
    report = {
        "engine": "embedded (llama-cpp-python, measured)",
        "model": "Gemma 3 270M Q4_K_M (bundled)",
        "tasks": f"{len(PROMPTS)} code completions x {TOKENS} greedy tokens",
        "repeats": REPEATS,
        "medians": med,
        "ratios": ratio,
        "goals": {"batched/instances@12": 1.3, "batched/bare@12": 0.85,
                  "batched/instances@1-2": 0.9},
        "runs": runs,
        "noise": assess(samples),
    }  # fmt: skip
    out = tmp_path / "batched_engine.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\n{json.dumps({'medians': med, 'ratios': ratio, 'noise': report['noise']}, indent=2)}")
    print(f"written to {out}")
    # Loose bounds for a shared machine; the goals are in the report.
    assert ratio["batched/instances@12"] > 1.0
    assert ratio["batched/bare@12"] > 0.6
