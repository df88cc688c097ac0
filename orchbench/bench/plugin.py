"""The pytest plugin: benchmark suites are ordinary test files.

Registered by the ``pytest11`` entry point, it adds options and fixtures and costs
nothing in a session whose tests do not ask for them. A suite file::

    import pytest

    @pytest.mark.orchbench(suite="code-completion")   # optional: else --orchbench-suite
    def test_gate(bench_run):
        assert bench_run.speedup.low >= 1.2          # the 95 % interval's lower bound
        assert bench_run.p95_latency_s < 30

    $ pytest suites/test_gate.py --orchbench-profile embedded --orchbench-repeat 5

Options: ``--orchbench-profile`` (default ``embedded``), ``--orchbench-backend``
(``auto``), ``--orchbench-suite`` (repeatable; default the profile's default suite),
``--orchbench-repeat`` (5, as ``orchbench run``), ``--orchbench-seed``, ``--orchbench-warmup``,
``--orchbench-mode``
(``compare``/``models``/``all``), ``--orchbench-max-failed`` (0.1: the share of a mode
run's tasks that may fail before the run's status is ``failed``), the load pattern
(``--orchbench-load`` batch / rate / concurrency / sweep with ``--orchbench-rate``,
``-burstiness``, ``-duration``, ``-tasks``, ``-concurrency``, ``-sweep-points``;
:mod:`orchbench.bench.plugin_load`), ``--orchbench-out`` (``results``), ``--orchbench-host``
(the server URL for ``ollama``/``openai``; default the profile's).

Hooks (:mod:`orchbench.bench.hookspec`): ``pytest_orchbench_make_backend(profile, kind,
host)`` builds the engine the fixtures use; a ``conftest.py`` implements it to run the
session on another engine (a stand-in, a third-party one).

Fixtures: ``orchbench_profile`` (the :class:`~orchbench.config.Profile`),
``orchbench_backend_kind`` (the resolved engine kind), ``workload`` (the
:class:`~orchbench.bench.workload.Workload`; tests are parametrized over the chosen suites),
``orchestrator`` (a fresh :class:`~orchbench.scheduler.Orchestrator`), and ``bench_run``
(a :class:`~orchbench.bench.outcome.BenchResult`: the workload run once per session in
every mode, stored under ``--orchbench-out``, shared by every test that asks for it).
The run times itself (alternating repeats, medians); pytest-benchmark is not involved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orchbench.bench.stats import DEFAULT_REPEAT

if TYPE_CHECKING:
    from orchbench.bench.load import LoadSpec
    from orchbench.bench.outcome import BenchResult
    from orchbench.bench.session import BenchObserver
    from orchbench.bench.workload import Workload
    from orchbench.config import Profile
    from orchbench.engine import Backend


@dataclass
class _State:
    """Per-session plugin state (on ``config.stash``, never global)."""

    runs: dict[str, BenchResult | BaseException] = field(default_factory=dict)
    backend_note: str | None = None


_STATE = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State:
    if _STATE not in config.stash:
        config.stash[_STATE] = _State()
    return config.stash[_STATE]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the orchbench hook specifications (:mod:`orchbench.bench.hookspec`)."""
    from orchbench.bench import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--orchbench-*`` options."""
    from orchbench.bench.plugin_load import add_load_options

    group = parser.getgroup("orchbench", "orchbench benchmark suites")
    group.addoption(
        "--orchbench-profile",
        default=None,
        metavar="NAME",
        help="profile name or path (default: embedded)",
    )
    group.addoption(
        "--orchbench-backend",
        default="auto",
        metavar="KIND",
        help="auto, ollama, openai, embedded, sim or fake (default: auto)",
    )
    group.addoption(
        "--orchbench-host",
        default=None,
        metavar="URL",
        help="server URL for ollama/openai (default: the profile's [backend] host)",
    )
    group.addoption(
        "--orchbench-suite",
        action="append",
        default=None,
        metavar="NAME",
        help="suite name or path; repeat for several (default: the profile's)",
    )
    group.addoption(
        "--orchbench-repeat",
        type=int,
        default=DEFAULT_REPEAT,
        metavar="N",
        help=f"repeats of every mode (default: {DEFAULT_REPEAT}, as orchbench run)",
    )
    group.addoption(
        "--orchbench-seed",
        type=int,
        default=None,
        metavar="N",
        help="sampling seed sent with every request to engines that accept one",
    )
    group.addoption(
        "--orchbench-warmup",
        type=int,
        default=1,
        metavar="N",
        help="untimed warm-up tasks after loading the models (default: 1)",
    )
    group.addoption(
        "--orchbench-mode",
        default="compare",
        metavar="MODE",
        help="compare (sequential vs parallel), models (each alone) or all",
    )
    add_load_options(group)
    group.addoption(
        "--orchbench-max-failed",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of a mode run's tasks that may fail before the run counts as failed "
        "(default: 0.1)",
    )
    group.addoption(
        "--orchbench-run-dir",
        default=None,
        metavar="DIR",
        help="exact run folder (one suite only; default: a new one in --orchbench-out)",
    )
    group.addoption(
        "--orchbench-out",
        default="results",
        metavar="DIR",
        help="parent folder of the run folders (default: results)",
    )
    group.addoption(
        "--orchbench-slo",
        action="append",
        default=None,
        metavar="NAME=MS[,NAME=MS]",
        help="service-level objective, e.g. ttft_ms=500 (ttft_ms, tpot_ms, itl_ms, e2el_ms); "
        "repeat or comma-separate: goodput and SLO attainment are reported",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; check that ``--orchbench-run-dir`` names one suite's folder and
    that the load options make sense."""
    from orchbench.bench.plugin_load import load_from_options
    from orchbench.errors import ConfigError

    config.addinivalue_line(
        "markers", "orchbench(suite): run this benchmark test on the named suite only"
    )
    suites = config.getoption("orchbench_suite") or []
    if config.getoption("orchbench_run_dir") and len(suites) > 1:
        raise pytest.UsageError("--orchbench-run-dir takes one --orchbench-suite, not several")
    try:
        load_from_options(config)
    except ConfigError as exc:
        raise pytest.UsageError(re.sub(r"--(?=[a-z])", "--orchbench-", str(exc))) from None
    _slos(config)  # a bad --orchbench-slo is a usage error before anything runs


def _slos(config: pytest.Config) -> dict[str, float]:
    """The ``--orchbench-slo`` bounds (see :mod:`orchbench.bench.slo`)."""
    from orchbench.bench.slo import parse_slos
    from orchbench.errors import ConfigError

    texts = [t for v in config.getoption("orchbench_slo") or [] for t in v.split(",") if t]
    try:
        return parse_slos(texts)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _selected_suites(config: pytest.Config) -> list[str] | None:
    return config.getoption("orchbench_suite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests that use ``workload`` / ``bench_run`` over the chosen suites."""
    names = metafunc.fixturenames
    selected = _selected_suites(metafunc.config)
    marker = metafunc.definition.get_closest_marker("orchbench")
    # A bare `workload` fixture of someone else's tests is left alone unless this is
    # plainly an orchbench session (suites chosen) or the test is marked for orchbench.
    ours = "bench_run" in names or (
        "workload" in names and (marker is not None or selected is not None)
    )
    if not ours:
        return
    wanted = marker.kwargs.get("suite") if marker else None
    if wanted is None and marker and marker.args:
        wanted = marker.args[0]
    if wanted is not None:
        suites = [wanted] if isinstance(wanted, str) else list(wanted)
        params = [
            pytest.param(
                s,
                id=Path(str(s)).stem,
                marks=pytest.mark.skip(reason=f"suite {s!r} not among --orchbench-suite")
                if selected and s not in selected
                else (),
            )
            for s in suites
        ]
    else:
        suites = selected or [_default_suite(metafunc.config)]
        params = [pytest.param(s, id=Path(str(s)).stem) for s in suites]
    metafunc.parametrize("workload", params, indirect=True, scope="session")


def _default_suite(config: pytest.Config) -> str:
    from orchbench.bench.workload import default_suite
    from orchbench.profiles import load_profile

    return default_suite(load_profile(config.getoption("orchbench_profile") or "embedded"))


@pytest.fixture(scope="session")
def orchbench_profile(pytestconfig: pytest.Config) -> Profile:
    """The profile named by ``--orchbench-profile`` (default ``embedded``)."""
    from orchbench.bench.session import with_seed
    from orchbench.profiles import load_profile

    profile = load_profile(pytestconfig.getoption("orchbench_profile") or "embedded")
    return with_seed(profile, pytestconfig.getoption("orchbench_seed"))


@pytest.fixture(scope="session")
def orchbench_backend_kind(pytestconfig: pytest.Config, orchbench_profile: Profile) -> str:
    """The engine kind ``--orchbench-backend`` resolves to (``auto`` picks one, with a note)."""
    from orchbench.backends import resolve_backend_kind

    kind, note = resolve_backend_kind(
        orchbench_profile,
        pytestconfig.getoption("orchbench_backend"),
        host=pytestconfig.getoption("orchbench_host"),
    )
    _state(pytestconfig).backend_note = note
    return kind


@pytest.fixture(scope="session")
def workload(request: pytest.FixtureRequest) -> Workload:
    """The suite this test runs (parametrized over ``--orchbench-suite``)."""
    from orchbench.bench.workload import load_suite

    name = getattr(request, "param", None) or _default_suite(request.config)
    return load_suite(name)


def _hook_backend(config: pytest.Config, profile: Profile, kind: str) -> Backend | None:
    """The engine a ``pytest_orchbench_make_backend`` implementation returned, if any."""
    hook: Any = config.hook
    backend: Backend | None = hook.pytest_orchbench_make_backend(
        profile=profile, kind=kind, host=config.getoption("orchbench_host")
    )
    return backend


@pytest.fixture
def orchestrator(
    pytestconfig: pytest.Config, orchbench_profile: Profile, orchbench_backend_kind: str
) -> Iterator[Any]:
    """A fresh Orchestrator on the chosen profile and engine, closed after the test.

    Drive it with ``orchbench.run_sync(orchestrator.execute_task(...))`` (or
    ``orchbench.sim.run_on`` for the ``sim`` engine).
    """
    import asyncio

    from orchbench.backends import make_backend
    from orchbench.scheduler import Orchestrator

    backend = _hook_backend(pytestconfig, orchbench_profile, orchbench_backend_kind)
    owned = backend is None
    if backend is None:
        host = pytestconfig.getoption("orchbench_host")
        backend = make_backend(orchbench_backend_kind, host=host, profile=orchbench_profile)
    orch = Orchestrator(orchbench_profile.model_copy(deep=True), backend)
    yield orch
    if owned:
        asyncio.run(backend.close())


def _observer(config: pytest.Config) -> BenchObserver | None:
    from orchbench.bench.session import BenchObserver

    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, BenchObserver):
            return plugin
    return None


@pytest.fixture
def bench_run(
    request: pytest.FixtureRequest,
    orchbench_profile: Profile,
    orchbench_backend_kind: str,
    workload: Workload,
) -> BenchResult:
    """The workload run in every mode (once per session per suite), as a BenchResult."""
    state = _state(request.config)
    cached = state.runs.get(workload.name)
    if isinstance(cached, BaseException):
        pytest.fail(f"the {workload.name!r} run failed earlier: {cached}", pytrace=False)
    if cached is not None:
        return cached
    from orchbench.bench.runner import modes_for
    from orchbench.bench.session import BenchSession

    config = request.config
    override = _hook_backend(config, orchbench_profile, orchbench_backend_kind)
    session = BenchSession(
        orchbench_profile,
        getattr(override, "name", None) or orchbench_backend_kind,
        workload,
        repeat=config.getoption("orchbench_repeat"),
        warmup=config.getoption("orchbench_warmup"),
        modes=modes_for(orchbench_profile, config.getoption("orchbench_mode")),
        out=Path(config.getoption("orchbench_out")),
        run_dir=_path_or_none(config.getoption("orchbench_run_dir")),
        backend=override,
        host=config.getoption("orchbench_host"),
        observer=_observer(config),
        **_max_failed(config),
        load=_load(config),
        slos=_slos(config),
    )
    try:
        result = session.run()
    except Exception as exc:
        state.runs[workload.name] = exc
        raise
    state.runs[workload.name] = result
    return result


def _max_failed(config: pytest.Config) -> dict[str, float]:
    value = config.getoption("orchbench_max_failed")
    return {} if value is None else {"max_failed": value}


def _load(config: pytest.Config) -> LoadSpec:
    from orchbench.bench.plugin_load import load_from_options

    return load_from_options(config)


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print each run's tables (unless a front end such as the CLI prints them itself)."""
    state = config.stash.get(_STATE, None)
    if state is None or not state.runs or _observer(config) is not None:
        return
    import io

    from rich.console import Console

    from orchbench.bench.table import render

    terminalreporter.section("orchbench")
    if state.backend_note:
        terminalreporter.write_line(state.backend_note)
    for name, result in state.runs.items():
        if isinstance(result, BaseException):
            terminalreporter.write_line(f"{name}: run failed: {result}")
            continue
        buffer = io.StringIO()
        console = Console(file=buffer, width=terminalreporter._tw.fullwidth, color_system=None)
        console.print(render(result.summary))
        terminalreporter.write(buffer.getvalue())
        terminalreporter.write_line(f"results: {result.run_dir}")
