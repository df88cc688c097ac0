"""The tuner chooses instances x slots x threads per embedded model (``num_parallel``).

A trial runs ``ceil(concurrent_limit / num_parallel)`` copies of ``n_threads`` threads:
instances when ``num_parallel`` is 1, batched llama.cpp contexts of ``num_parallel``
sequences otherwise. The space, the repair that keeps a trial feasible, the starts, the
written profile, and on the simulator's virtual clock (SIMULATED, not measured) that deep
batches win at 12 tasks in flight and instances at 2 on this 2-core machine.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from orchbench import get_orchestrator, load_profile
from orchbench.bench.workload import Workload, load_suite
from orchbench.cli._doctor import static_checks
from orchbench.config import Profile
from orchbench.planning import embedded_slots, memory_plan, static_problems
from orchbench.tune import SearchSpace, StudySpec, VerifyPlan, apply_params, parse_objective, tune
from orchbench.tune._evaluate import SimEvaluator, measure
from orchbench.tune._feasible import derived_start
from orchbench.tune._write import build_tuned_profile, write_tuned

M = "models.gemma3-270m."
LIMIT, SLOTS, THREADS = M + "concurrent_limit", M + "num_parallel", M + "n_threads"
TOTAL = "settings.max_concurrent_tasks"


def _trial(profile: Profile, limit: int, slots: int, threads: int, total: int = 16) -> Profile:
    return apply_params(profile, {LIMIT: limit, SLOTS: slots, THREADS: threads, TOTAL: total})


def _gemma(profile: Profile) -> tuple[int, int | None, int | None]:
    model = profile.models["gemma3-270m"]
    return model.concurrent_limit, model.num_parallel, model.n_threads


@pytest.mark.parametrize(
    ("limit", "slots", "expected"),
    [
        (3, 16, (3, 3)),  # num_parallel no more than the limit
        (12, 1, (4, None)),  # instances: at most 2 per core, num_parallel left unset
        (16, 2, (8, 2)),  # 4 contexts of 2 at most on 2 cores
        (16, 4, (16, 4)),  # 4 contexts of 4
        (12, 12, (12, 12)),  # one deep context
        (16, 12, (16, 8)),  # 2 contexts: 8 each, not 12 + 4
        (5, 4, (5, 3)),  # 2 contexts of 3
    ],
)
def test_a_trial_is_repaired_to_copies_the_machine_can_run(limit, slots, expected):
    profile = load_profile("embedded-gemma")
    candidate = _trial(profile, limit, slots, 1)
    assert _gemma(candidate)[:2] == expected
    contexts, _ = embedded_slots(candidate.models["gemma3-270m"])
    assert contexts <= 2 * profile.hardware.cpu_cores
    assert static_problems(candidate) == []
    assert profile.models["gemma3-270m"].num_parallel is None  # the original is untouched


def test_sequences_are_kept_to_what_memory_holds():
    profile = load_profile("embedded-gemma")
    profile.hardware.ram_gb = 1  # 0.8 GB usable: the weights, the runner and a few sequences
    space = SearchSpace.from_profile(profile)
    bound = max(space.grid()[LIMIT])
    assert 1 < bound < 16
    assert max(space.grid()[SLOTS]) <= bound
    candidate = _trial(profile, 16, 16, 2)
    assert candidate.models["gemma3-270m"].concurrent_limit <= bound
    assert memory_plan(candidate).models[0].fits_alone
    assert static_problems(candidate) == []


def test_the_derived_start_runs_embedded_models_as_instances():
    space = SearchSpace.from_profile(load_profile("embedded-gemma"))
    start = derived_start({p.name: p.choices for p in space.params})
    assert (start[LIMIT], start[SLOTS], start[THREADS]) == (2, 1, 1)  # 2 instances x 1 thread


def test_the_search_starts_from_the_profile_then_one_deep_batched_context():
    profile = load_profile("embedded-gemma")
    space = SearchSpace.from_profile(profile)
    own, batched = space.starts(profile)
    assert own == space.values_of(profile)
    assert (own[LIMIT], own[SLOTS], own[THREADS], own[TOTAL]) == (2, 1, 1, 2)
    assert (batched[LIMIT], batched[SLOTS], batched[THREADS], batched[TOTAL]) == (16, 16, 2, 16)
    assert _gemma(apply_params(profile, batched)) == (16, 16, 2)
    # instances only: nothing to batch, one start
    assert len(SearchSpace.from_profile(profile, slots=False).starts(profile)) == 1


def test_the_two_model_profile_searches_slots_for_both_models():
    profile = load_profile("embedded")
    names = SearchSpace.from_profile(profile).names
    for model in profile.models:
        assert f"models.{model}.num_parallel" in names


def test_the_tuned_profile_carries_num_parallel_only_where_batched(tmp_path: Path):
    profile = load_profile("embedded-gemma")
    provenance = {"backend": "sim", "suite": "code-completion", "trials": 2}
    for slots, written in ((12, 12), (1, None)):
        params = {LIMIT: 12, SLOTS: slots, THREADS: 2, TOTAL: 12}
        path = tmp_path / f"slots{slots}" / "embedded-gemma.tuned.toml"
        path.parent.mkdir()
        write_tuned(build_tuned_profile(profile, params, provenance), path)
        written_model = tomllib.loads(path.read_text())["models"]["gemma3-270m"]
        assert written_model.get("num_parallel") == written
        tuned = load_profile(path)
        assert [c.status for c in static_checks(tuned, 200)] == ["ok"]
        orchestrator = get_orchestrator(path, backend="sim")  # the library runs it as it is
        assert orchestrator.profile.models["gemma3-270m"].num_parallel == (
            slots if slots > 1 else None
        )


# -- SIMULATED: the simulator's batching curve on this 2-core machine (virtual clock) ------


def _workload(tasks: int) -> Workload:
    suite = load_suite("code-completion")  # 12 completions x 48 tokens
    return dataclasses.replace(suite, tasks=suite.tasks[:tasks])


def _tokens_per_s(profile: Profile, workload: Workload) -> float:
    return measure(SimEvaluator(workload), profile)["tokens_per_s"]


def test_simulated_deep_batches_win_at_12_tasks_and_instances_at_2():
    profile = load_profile("embedded-gemma")
    instances = _trial(profile, 2, 1, 1, total=2)  # today's profile: 2 instances x 1 thread
    twelve, two = _workload(12), _workload(2)
    batched = _tokens_per_s(_trial(profile, 12, 12, 2), twelve)
    assert batched >= 1.3 * _tokens_per_s(instances, twelve)
    for shallow in (_trial(profile, 2, 2, 2, total=2), _trial(profile, 2, 2, 1, total=2)):
        assert _tokens_per_s(shallow, two) < _tokens_per_s(instances, two)


@pytest.mark.slow
@pytest.mark.parametrize(("tasks", "batched"), [(12, True), (2, False)])
def test_simulated_tuner_picks_slots_at_12_tasks_and_instances_at_2(
    tmp_path: Path, tasks: int, batched: bool
):
    profile = load_profile("embedded-gemma")
    spec = StudySpec(
        objectives=(parse_objective("tokens-per-s"),),
        trials=6,
        seed=0,
        study_name=f"slots-{tasks}",
        storage=str(tmp_path / "slots.db"),
    )
    result = tune(
        profile,
        SimEvaluator(_workload(tasks)),
        spec,
        suite="code-completion",
        write=False,
        verification=VerifyPlan(repeat=0),
    )
    limit, slots, _ = _gemma(result.tuned)
    if batched:
        assert slots is not None and slots >= 8 and limit >= 8
        assert result.baseline is not None
        assert result.picked.value >= 1.3 * result.baseline.value  # vs 2 instances x 1 thread
    else:
        assert slots is None  # instances
        assert result.baseline is not None and result.picked.value == result.baseline.value
