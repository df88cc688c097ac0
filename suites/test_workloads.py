"""The benchmark ``orchbench run`` executes: each chosen suite, in every mode.

Run it directly with pytest too::

    pytest suites/test_workloads.py --orchbench-profile embedded --orchbench-suite smoke

To gate on service levels, add a test file beside this one; it shares the same run::

    def test_gate(bench_run):
        assert bench_run.speedup >= 1.2
        assert bench_run.p95_latency_s < 30
"""

from orchbench.bench.drive import tasks_for
from orchbench.bench.load import LoadSpec


def test_workload(bench_run, workload):
    """Every submitted task ended with exactly one result, in every mode, repeat and point.

    The run's own verdict (``complete``, ``degraded``: a model failed its warm-up,
    ``failed``: too many tasks failed) is in ``bench_run.status``; ``orchbench run`` turns
    it into its exit code.
    """
    assert bench_run.status in ("complete", "degraded", "failed")
    load = LoadSpec.model_validate(bench_run.summary.get("load") or {})
    expected = len(tasks_for(workload, load).tasks) * load.point_count
    for mode in bench_run.modes:
        for run in bench_run.runs[mode]:
            assert len(run.results) == expected, f"{mode} lost or added tasks"
