"""A short real tune on the bundled model: two trials of the tiny smoke suite, one check run."""

import importlib.util

import pytest

from orchbench.cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)


@pytest.mark.embedded
def test_short_real_tune_on_the_embedded_profile(tmp_path, monkeypatch, capsys):
    from orchbench import load_profile
    from orchbench.profiles import find_profile

    monkeypatch.chdir(tmp_path)
    before = find_profile("embedded").read_bytes()
    code = main(
        [
            "tune",
            "--profile",
            "embedded",
            "--backend",
            "embedded",
            "--suite",
            "smoke",
            "--trials",
            "2",
            "--verify-repeat",
            "1",
            "--storage",
            str(tmp_path / "t.db"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    tuned = load_profile("embedded.tuned")
    assert tuned.tuned["backend"] == "embedded"
    assert tuned.tuned["trials"] == 2
    assert tuned.tuned["best_value"] > 0
    assert find_profile("embedded").read_bytes() == before


@pytest.mark.embedded
def test_trials_switch_between_slots_and_instances_and_keep_only_their_own_copies():
    """One engine for every trial (as ``tune --backend embedded``): a trial with batched
    slots, then one with instances, then slots again; each runs the suite, and the engine
    then holds that trial's copies only (the other kind freed, no stale context left)."""
    import dataclasses

    from orchbench import load_profile
    from orchbench.bench.workload import load_suite
    from orchbench.tune import apply_params
    from orchbench.tune._evaluate import EngineEvaluator

    smoke = load_suite("smoke")
    tasks = tuple(dataclasses.replace(t, checks=None, max_tokens=8) for t in smoke.tasks[:2])
    workload = dataclasses.replace(smoke, tasks=tasks)
    profile = load_profile("embedded-gemma")
    m = "models.gemma3-270m."

    def trial(limit: int, slots: int, threads: int):
        values = {
            m + "concurrent_limit": limit,
            m + "num_parallel": slots,
            m + "n_threads": threads,
        }
        return apply_params(profile, {**values, "settings.max_concurrent_tasks": 2})

    trials = [trial(2, 2, 1), trial(2, 1, 1), trial(4, 2, 2)]
    assert [t.models["gemma3-270m"].num_parallel for t in trials] == [2, None, 2]
    evaluator = EngineEvaluator("embedded", workload, profile=profile)
    held = []
    try:
        for candidate in trials:
            run = evaluator.evaluate(candidate)
            assert run["tasks"] == 2 and run["failures"] == 0, run
            assert evaluator.engine is not None
            held.append(evaluator.engine.copies("gemma3-270m"))
    finally:
        evaluator.close()
    assert held == [
        {"instances": 0, "contexts": 1},  # 1 context x 2 sequences
        {"instances": 2, "contexts": 0},  # 2 instances, the context freed
        {"instances": 0, "contexts": 2},  # 2 contexts x 2 sequences, the instances freed
    ]
