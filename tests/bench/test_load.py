"""Load patterns: arrival processes, the open and closed loops (on the virtual clock), the
flags' validation, and concurrency / sweep runs through run_mode and the session (fake and
simulated engines: logic only, no measured number)."""

import asyncio
import itertools
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchbench.bench.load import (
    LoadSpec,
    arrival_times,
    closed_loop,
    load_spec,
    open_loop,
    parse_concurrency,
    sweep_rates,
)
from orchbench.bench.runner import run_mode
from orchbench.bench.session import BenchSession
from orchbench.bench.table import render
from orchbench.errors import ConfigError
from orchbench.sim import run_virtual
from orchbench.testing import FakeBackend


def _gaps(times):
    return [b - a for a, b in itertools.pairwise(times)]


def _cv(values):
    return statistics.pstdev(values) / statistics.fmean(values)


@pytest.mark.parametrize(("burstiness", "cv"), [(1.0, 1.0), (4.0, 0.5), (0.25, 2.0)])
def test_arrivals_have_the_asked_rate_and_dispersion(burstiness, cv):
    times = arrival_times(5.0, burstiness, n=20_000, seed=7)
    gaps = _gaps(times)
    assert times[0] == 0.0 and len(times) == 20_000
    assert statistics.fmean(gaps) == pytest.approx(1 / 5.0, rel=0.05)
    assert _cv(gaps) == pytest.approx(cv, rel=0.08)  # gamma: CV = 1/sqrt(B); Poisson at B=1


def test_arrivals_are_seeded_and_a_duration_bounds_them():
    assert arrival_times(2.0, n=50, seed=3) == arrival_times(2.0, n=50, seed=3)
    assert arrival_times(2.0, n=50, seed=3) != arrival_times(2.0, n=50, seed=4)
    timed = arrival_times(10.0, duration_s=100.0, seed=1)
    assert all(t < 100.0 for t in timed)
    assert len(timed) == pytest.approx(1000, rel=0.1)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"kind": "rate"}, "--load rate needs --rate"),
        ({"kind": "rate", "rate": -1.0}, "--rate -1.0"),
        ({"kind": "batch", "rate": 2.0}, "--rate is only for --load rate"),
        ({"kind": "concurrency"}, "needs --concurrency"),
        ({"kind": "concurrency", "concurrency": "1,0"}, "--concurrency '1,0'"),
        ({"kind": "sweep", "sweep_points": 2}, "--sweep-points 2"),
        ({"kind": "storm"}, "--load 'storm'"),
        ({"kind": "rate", "rate": 1.0, "tasks": 3, "duration_s": 2.0}, "not both"),
    ],
)
def test_bad_load_flags_are_one_line_naming_the_flag(flags, needle):
    with pytest.raises(ConfigError) as info:
        load_spec(**flags)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_parse_concurrency_and_spec_round_trip():
    assert parse_concurrency("1, 2,8") == (1, 2, 8)
    spec = load_spec(kind="concurrency", concurrency="1,4")
    assert LoadSpec.model_validate(spec.to_dict()) == spec
    assert spec.point_count == 2 and LoadSpec().point_count == 1


def test_sweep_rates_rise_evenly_to_the_maximum():
    assert sweep_rates(1.0, 4.0, 5) == pytest.approx([2.0, 3.0, 4.0])
    assert sweep_rates(2.0, 1.0, 4) == [2.0, 2.0]  # a maximum below synchronous: flat


def _recording_submit(durations, log):
    async def submit(index):
        loop = asyncio.get_running_loop()
        log.append(("start", loop.time(), index))
        await asyncio.sleep(durations[index])
        log.append(("end", loop.time(), index))
        return index

    return submit


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(0.01, 5.0), min_size=1, max_size=25),
    n=st.integers(1, 6),
)
def test_closed_loop_keeps_exactly_n_in_flight_while_work_remains(durations, n):
    log = []
    items = list(range(len(durations)))
    results = run_virtual(closed_loop(items, n, _recording_submit(durations, log)))
    assert results == items
    in_flight = 0
    started = 0
    for kind, _, _ in log:
        in_flight += 1 if kind == "start" else -1
        started += kind == "start"
        assert in_flight <= n
    starts = [t for kind, t, _ in log if kind == "start"]
    ends = sorted(t for kind, t, _ in log if kind == "end")
    # The first n start at once; task k >= n starts the instant the (k-n+1)-th one ends.
    assert starts[: min(n, len(items))] == [0.0] * min(n, len(items))
    for k in range(n, len(items)):
        assert starts[k] == pytest.approx(ends[k - n])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 3.0), min_size=1, max_size=20), st.floats(0.2, 20.0))
def test_open_loop_submits_at_the_arrival_times(durations, rate):
    log = []
    arrivals = arrival_times(rate, n=len(durations), seed=0)
    items = list(range(len(durations)))
    assert run_virtual(open_loop(items, arrivals, _recording_submit(durations, log))) == items
    starts = [t for kind, t, _ in log if kind == "start"]
    assert starts == pytest.approx(arrivals)


def test_concurrency_run_has_one_point_per_value_within_its_limit(duo_profile, tiny_workload):
    fake = FakeBackend(latency=0.5)
    spec = load_spec(kind="concurrency", concurrency="1,2")
    run = run_virtual(run_mode(duo_profile, fake, tiny_workload, "parallel", load=spec))
    n = len(tiny_workload.tasks)
    assert [p["point"] for p in run.points] == ["c=1", "c=2"]
    assert len(run.results) == 2 * n and run.task_points == ["c=1"] * n + ["c=2"] * n
    assert all(p["tasks"] == n for p in run.points)
    assert run.points[0]["total_s"] == pytest.approx(0.5 * n, rel=0.05)  # one at a time
    assert run.points[1]["total_s"] < run.points[0]["total_s"]


def test_rate_run_spreads_submissions_over_the_arrivals(duo_profile, tiny_workload):
    fake = FakeBackend(latency=0.1)
    spec = load_spec(kind="rate", rate=0.5, tasks=10, seed=1)
    run = run_virtual(run_mode(duo_profile, fake, tiny_workload, "parallel", load=spec))
    last = arrival_times(0.5, n=10, seed=1)[-1]
    assert len(run.results) == 10 and run.wall_s == pytest.approx(last + 0.1, abs=0.05)
    assert max(r.response_time for r in run.results) < 1.0  # no queue at a low rate


def test_session_sweep_writes_load_and_points(duo_profile, tiny_workload, tmp_path):
    fake = FakeBackend(latency={"small": 0.2, "big": 0.4})
    spec = load_spec(kind="sweep", sweep_points=4, seed=2)
    session = BenchSession(
        duo_profile, "fake", tiny_workload, backend=fake, run_dir=tmp_path / "run", load=spec
    )
    summary = session.run().summary
    assert summary["load"]["kind"] == "sweep"
    points = summary["points"]
    assert [p["point"] for p in points if p["mode"] == "parallel"] == [
        "synchronous",
        "rate-1",
        "rate-2",
        "throughput",
    ]
    assert len(points) == 8 and all(p["tasks"] == len(tiny_workload.tasks) for p in points)
    rates = [p["offered_rate"] for p in points if p["mode"] == "parallel" and p["kind"] == "rate"]
    assert rates[0] < rates[1]
    text = "".join(str(seg.text) for seg in _segments(render(summary)))
    assert "rate-2" in text and "synchronous" in text


def _segments(renderable):
    from rich.console import Console

    return Console(width=200).render(renderable)
