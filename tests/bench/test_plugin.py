"""The pytest plugin, driven through pytester: inner suite files run with options."""

import pytest

pytest_plugins = ["pytester"]

SUITE = """
name = "tiny"
prompt_style = "completion"
[defaults]
type = "coding"
max_tokens = 8
[[tasks]]
name = "a"
prompt = "def a():"
[[tasks]]
name = "b"
prompt = "def b():"
[[tasks]]
name = "c"
prompt = "def c():"
"""

# The hook hands the plugin a fake engine that answers after 10 ms.
CONFTEST = """
from orchbench.testing import FakeBackend

def pytest_orchbench_make_backend(profile, kind, host):
    return FakeBackend(latency=0.01)
"""


@pytest.fixture
def suite_dir(pytester):
    pytester.makefile(".toml", tiny=SUITE)
    pytester.makeconftest(CONFTEST)
    return pytester.path


def _options(pytester, *extra):
    return (
        "--orchbench-profile",
        "embedded",
        "--orchbench-backend",
        "fake",
        "--orchbench-suite",
        str(pytester.path / "tiny.toml"),
        "--orchbench-out",
        str(pytester.path / "results"),
        "-p",
        "no:cacheprovider",
        *extra,
    )


def test_a_suite_file_runs_once_and_a_failed_gate_fails(pytester, suite_dir):
    pytester.makepyfile(
        test_gates="""
        def test_every_task_answered(bench_run, workload):
            assert workload.name == "tiny"
            assert len(bench_run.sequential.runs) == 2
            assert bench_run.parallel.tasks == 3
            assert bench_run.speedup > 0

        def test_impossible_gate(bench_run):
            assert bench_run.speedup >= 100
    """
    )
    result = pytester.runpytest(*_options(pytester, "--orchbench-repeat", "2"))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_impossible_gate*",
            "*= orchbench =*",
            "*SIMULATED (fake)*",
            "*Speedup parallel vs sequential*",
        ]
    )
    runs = list((pytester.path / "results").iterdir())
    assert len(runs) == 1  # both tests shared one run
    names = {p.name for p in runs[0].iterdir()}
    assert {"summary.json", "records.jsonl", "tasks.jsonl"} <= names
    # pytest-benchmark no longer times the run: no one-round table, no JSON of its own
    assert "benchmark.json" not in names
    assert "Rounds" not in result.stdout.str()


def test_the_hook_gets_profile_kind_and_host_and_its_engine_runs(pytester, suite_dir):
    pytester.makeconftest(
        """
        from orchbench.testing import FakeBackend

        SEEN = []

        def pytest_orchbench_make_backend(profile, kind, host):
            SEEN.append((profile.name, kind, host))
            backend = FakeBackend(latency=0.0)
            backend.name = "hooked"
            return backend
        """
    )
    pytester.makepyfile(
        test_hook="""
        import conftest

        def test_run(bench_run):
            assert bench_run.summary["backend"] == "hooked"
            assert conftest.SEEN == [("embedded", "fake", "http://box:1")]
        """
    )
    result = pytester.runpytest(*_options(pytester, "--orchbench-host", "http://box:1"))
    result.assert_outcomes(passed=1)


def test_without_a_hook_the_plugin_builds_the_kind_it_was_given(pytester):
    pytester.makefile(".toml", tiny=SUITE)
    pytester.makepyfile(
        test_plain="""
        def test_run(bench_run):
            assert bench_run.summary["backend"] == "fake"
        """
    )
    pytester.runpytest(*_options(pytester)).assert_outcomes(passed=1)


def test_a_misspelt_hook_argument_is_refused_by_pytest(pytester, suite_dir):
    pytester.makeconftest(
        """
        def pytest_orchbench_make_backend(profile, engine):
            return None
        """
    )
    pytester.makepyfile(test_x="def test_x():\n    pass")
    result = pytester.runpytest(*_options(pytester))
    assert result.ret != 0
    assert "engine" in result.stdout.str() + result.stderr.str()


def test_marker_picks_a_suite_and_others_are_skipped(pytester, suite_dir):
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.orchbench(suite="code-completion")
        def test_other(bench_run):
            raise AssertionError("must not run")

        def test_default(workload):
            assert workload.name == "tiny"
    """
    )
    result = pytester.runpytest(*_options(pytester), "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*not among --orchbench-suite*"])


def test_orchestrator_fixture(pytester, suite_dir):
    pytester.makepyfile(
        test_orch="""
        import asyncio

        def test_one_task(orchestrator, orchbench_profile):
            assert orchbench_profile.name == "embedded"
            result = asyncio.run(orchestrator.execute_task("coding", "def f():", "simple"))
            assert result.success and result.model_name == "gemma3-270m"
    """
    )
    pytester.runpytest(*_options(pytester)).assert_outcomes(passed=1)


def test_plugin_is_inert_without_its_fixtures(pytester):
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "= orchbench =" not in result.stdout.str()
    assert "Speedup" not in result.stdout.str()
    assert not (pytester.path / "results").exists()


def test_bad_suite_fails_the_test_with_the_suite_error(pytester):
    pytester.makefile(".toml", broken='prompt_style = "chat"\n[[tasks]]\ntype = "cooking"\n')
    pytester.makepyfile(test_b="def test_b(bench_run):\n    pass")
    result = pytester.runpytest(
        "--orchbench-profile",
        "embedded",
        "--orchbench-backend",
        "fake",
        "--orchbench-suite",
        str(pytester.path / "broken.toml"),
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*SuiteError*tasks.0.type*"])


def test_loading_the_plugin_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, orchbench.bench.plugin; "
        "print(sorted(m for m in ('pandas', 'orchbench.scheduler', 'llama_cpp', 'rich') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
