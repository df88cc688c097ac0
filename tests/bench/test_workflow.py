"""Workflows: parsing ``after`` and placeholders, ordering (property test on the virtual
clock), failure propagation, the gain decomposition, and workflows under load patterns
(fake engine: logic only)."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchbench.bench.load import load_spec
from orchbench.bench.runner import run_mode
from orchbench.bench.workflow import (
    Dependency,
    placeholders,
    render,
    run_workflow,
    workflow_stats,
)
from orchbench.bench.workload import load_suite, workload_from_dict
from orchbench.config import Complexity, TaskType
from orchbench.errors import SuiteError
from orchbench.records import TaskResult, TaskSpec
from orchbench.sim import run_virtual
from orchbench.testing import FakeBackend


def _suite(tasks):
    return {
        "name": "wf",
        "prompt_style": "completion",
        "defaults": {"type": "planning", "max_tokens": 8},
        "tasks": tasks,
    }


def test_after_and_placeholders_parse_and_render():
    workload = workload_from_dict(
        _suite(
            [
                {"name": "plan", "prompt": "Plan it."},
                {
                    "name": "code",
                    "prompt": "Plan: {plan}\nd = {'k': 1}; {{plan}}",
                    "after": ["plan"],
                },
            ]
        )
    )
    assert workload.is_workflow
    assert workload.after == ((), (Dependency("plan", 0),))
    template = workload.tasks[1].prompt
    assert placeholders(template) == ["plan"]
    assert render(template, {"plan": "1. do"}) == "Plan: 1. do\nd = {'k': 1}; {plan}"


@pytest.mark.parametrize(
    ("tasks", "needle"),
    [
        (
            [{"name": "a", "prompt": "x", "after": ["nope"]}],
            "task 'a': after names unknown task 'nope'",
        ),
        ([{"name": "a", "prompt": "x", "after": ["a"]}], "task 'a': waits for itself"),
        (
            [
                {"name": "a", "prompt": "x", "after": ["c"]},
                {"name": "b", "prompt": "x", "after": ["a"]},
                {"name": "c", "prompt": "x", "after": ["b"]},
            ],
            "dependency cycle a -> c -> b -> a",
        ),
        (
            [
                {"name": "a", "prompt": "x"},
                {"name": "b", "prompt": "{a} {c}", "after": ["c"]},
                {"name": "c", "prompt": "y"},
            ],
            "task 'b': prompt uses {a} but after does not list 'a'",
        ),
    ],
)
def test_bad_workflows_are_errors_naming_file_and_task(tasks, needle, tmp_path):
    path = tmp_path / "wf.toml"
    with pytest.raises(SuiteError) as info:
        workload_from_dict(_suite(tasks), path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_dev_pipeline_is_three_features_of_plan_code_doc_review_test():
    pipeline = load_suite("dev-pipeline")
    stats = workflow_stats([t.name for t in pipeline.tasks], pipeline.after, [1.0] * 15)
    assert stats["features"] == 3 and stats["critical_path_s"] == 4.0
    assert [n.split("-")[0] for n in stats["critical_path"]] == ["plan", "code", "review", "test"]


def test_gain_decomposition_on_a_hand_computed_graph():
    # Two features: plan(1) -> code(2), doc(1) -> review(1) -> test(1).
    one = [(), (0,), (0,), (1, 2), (3,)]
    after = [tuple(Dependency(str(d), d + base) for d in deps) for base in (0, 5) for deps in one]
    durations = [1.0, 2.0, 1.0, 1.0, 1.0] * 2
    stats = workflow_stats([f"t{i}" for i in range(10)], after, durations)
    assert stats["work_s"] == 12.0 and stats["critical_path_s"] == 5.0
    assert stats["branch_factor"] == pytest.approx(12 / 10)
    assert stats["feature_factor"] == pytest.approx(2.0)
    assert stats["ideal_speedup"] == pytest.approx(2.4)
    assert stats["critical_path"] == ["t0", "t1", "t3", "t4"]


def _result(spec, ok=True):
    return TaskResult(0, spec.task_type, Complexity.MEDIUM, spec.prompt, "m", ok, 0.0,
                      text=f"<{spec.name}>", error=None if ok else "boom")  # fmt: skip


@st.composite
def _dags(draw):
    n = draw(st.integers(1, 12))
    deps = [
        draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        for i in range(n)
    ]
    durations = draw(st.lists(st.floats(0.01, 4.0), min_size=n, max_size=n))
    failing = draw(st.sets(st.integers(0, n - 1), max_size=2))
    return deps, durations, failing


@settings(max_examples=80, deadline=None)
@given(_dags())
def test_no_task_starts_before_its_dependencies_end_and_failures_propagate(dag):
    deps, durations, failing = dag
    tasks = [
        TaskSpec(TaskType.CODING, " ".join(f"{{t{d}}}" for d in ds) or "root", name=f"t{i}")
        for i, ds in enumerate(deps)
    ]
    after = [tuple(Dependency(f"t{d}", d) for d in ds) for ds in deps]
    started, ended, calls = {}, {}, []

    async def execute(spec):
        loop = asyncio.get_running_loop()
        index = int(spec.name[1:])
        calls.append(spec)
        started[index] = loop.time()
        await asyncio.sleep(durations[index])
        ended[index] = loop.time()
        return _result(spec, ok=index not in failing)

    results, spans = run_virtual(run_workflow(tasks, after, execute))
    assert len(results) == len(tasks)
    doomed = set()
    for i, ds in enumerate(deps):  # deps point to lower indices: one pass settles it
        if any(d in failing or d in doomed for d in ds):
            doomed.add(i)
    for i, ds in enumerate(deps):
        if i in doomed:
            assert i not in started  # no engine call
            assert not results[i].success and "dependency 't" in results[i].error
            continue
        assert all(started[i] >= ended[d] for d in ds)
        assert spans[i].submitted == pytest.approx(max((ended[d] for d in ds), default=0.0))
        assert results[i].success == (i not in failing)
    for spec in calls:  # each dependency's answer reached the prompt
        for d in deps[int(spec.name[1:])]:
            assert f"<t{d}>" in spec.prompt


def test_a_workflow_through_the_orchestrator_under_each_load(duo_profile):
    workload = workload_from_dict(
        _suite(
            [
                {"name": f"{kind}-{f}", "prompt": f"{kind} {{plan-{f}}}", "after": [f"plan-{f}"]}
                if kind != "plan"
                else {"name": f"plan-{f}", "prompt": "plan"}
                for f in range(3)
                for kind in ("plan", "code", "doc")
            ]
        )
    )
    fake = FakeBackend(latency=1.0, text=lambda request: f"answer to [{request.prompt}]")
    batch = run_virtual(run_mode(duo_profile, fake, workload, "parallel"))
    assert batch.workflow["features"] == 3 and batch.workflow["critical_path_s"] > 0
    assert all(r.success for r in batch.results)
    assert "answer to [plan]" in batch.results[1].prompt
    for spec in (
        load_spec(kind="concurrency", concurrency="1,3"),
        load_spec(kind="rate", rate=0.5),
        load_spec(kind="sweep", sweep_points=3),
    ):
        run = run_virtual(run_mode(duo_profile, fake, workload, "parallel", load=spec))
        assert len(run.results) == len(workload.tasks) * spec.point_count
        assert [r.prompt.split()[0] for r in run.results[:3]] == ["plan", "code", "doc"]


def test_scaling_a_workflow_shifts_dependencies_and_refuses_a_cut():
    workload = load_suite("dev-pipeline")
    doubled = workload.scaled(30)
    assert doubled.after[16] == (Dependency("plan-search", 15),)
    backwards = workload_from_dict(
        _suite([{"name": "a", "prompt": "{b}", "after": ["b"]}, {"name": "b", "prompt": "x"}])
    )
    with pytest.raises(SuiteError, match="multiple of its 2 tasks"):
        backwards.scaled(3)


class _VirtualClockFake(FakeBackend):
    """The fake engine, asking for the virtual clock (exact, instant durations)."""

    virtual_clock = True


def test_session_reports_makespan_critical_path_and_gain_split(duo_profile, tmp_path):
    from rich.console import Console

    from orchbench.bench.session import BenchSession
    from orchbench.bench.table import render

    workload = workload_from_dict(
        _suite(
            [
                {"name": f"plan-{f}", "prompt": "plan"} if kind == "plan"
                else {"name": f"{kind}-{f}", "prompt": f"{{plan-{f}}}", "after": [f"plan-{f}"]}
                for f in range(2)
                for kind in ("plan", "code", "doc")
            ]
        )
    )  # fmt: skip
    fake = _VirtualClockFake(latency=1.0)  # the fake engine, run on the virtual clock
    session = BenchSession(duo_profile, "fake", workload, backend=fake, run_dir=tmp_path / "r")
    summary = session.run().summary
    flow = summary["workflow"]
    sequential = flow["sequential"]
    assert sequential["features"] == 2 and sequential["critical_path_s"] == pytest.approx(2.0)
    assert sequential["branch_factor"] == pytest.approx(1.5)  # 6 s of work, chains 2 + 2 s
    assert sequential["feature_factor"] == pytest.approx(2.0)
    assert flow["measured_speedup"] > 1  # parallel overlaps what one-at-a-time cannot
    console = Console(width=300, record=True)
    console.print(render(summary))
    assert "Workflow: 2 features" in console.export_text()
