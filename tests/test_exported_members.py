"""The public surface of ``orchbench`` is exactly what ``__all__`` lists."""

import orchbench


def test_all_is_sorted_and_complete():
    # pytest rewrites asserts in its plugins' packages and leaves "@py_*" names behind.
    public = {name for name in dir(orchbench) if not name.startswith(("_", "@"))}
    lazy = {"Orchestrator", "get_orchestrator", "run_sync"}
    modules = {
        "config",
        "errors",
        "profiles",
        "records",
        "scheduler",
        "backends",
        "quality",
        "routing",
        "metrics",
        "planning",
        "results",
        "bench",
        "sim",
        "tune",
        "report",
        "cli",
    }
    exported = set(orchbench.__all__) - {"__version__"}
    assert sorted(orchbench.__all__) == list(orchbench.__all__)
    assert (public - modules) | lazy == exported


def test_lazy_names_resolve():
    assert orchbench.get_orchestrator.__module__ == "orchbench.scheduler"
    assert orchbench.Orchestrator.__name__ == "Orchestrator"
