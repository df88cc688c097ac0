"""A benchmark session warms up, alternates modes, and leaves a readable results folder,
marked partial when it is interrupted."""

import json

import pytest

from orchbench.bench.session import BenchObserver, BenchSession
from orchbench.errors import (
    BackendBusy,
    BackendError,
    BackendUnavailable,
    ConfigError,
    ModelNotFound,
)
from orchbench.testing import FakeBackend


class RecordingObserver(BenchObserver):
    def __init__(self):
        self.modes = []
        self.finished = []

    def mode_started(self, mode, repeat, n_tasks):
        self.modes.append((mode, repeat))

    def run_finished(self, result):
        self.finished.append(result.status)


def test_modes_alternate_and_warmup_comes_first(duo_profile, tiny_workload, tmp_path):
    fake = FakeBackend(latency=0.001, load_s=1.5)
    observer = RecordingObserver()
    session = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        repeat=2,
        warmup=2,
        out=tmp_path,
        backend=fake,
        observer=observer,
    )
    result = session.run()
    assert observer.modes == [
        ("warmup", 0),
        ("sequential", 0),
        ("parallel", 0),
        ("sequential", 1),
        ("parallel", 1),
    ]
    assert observer.finished == ["complete"]
    assert set(fake.warmed) == {"small", "big"}
    assert result.summary["load_s"] == {"small": 1.5, "big": 1.5}
    # 2 warm-up tasks + 6 tasks x 2 modes x 2 repeats reached the engine
    assert len(fake.calls) == 2 + 6 * 2 * 2
    assert not fake.closed  # a backend we were given is the caller's to close
    assert result.speedup is not None and len(result.summary["speedup"]["values"]) == 2
    assert result.sequential.tasks == 6
    assert result.p95_latency_s == result.parallel.p95_latency_s
    assert result.run_dir.parent == tmp_path


def test_summary_has_the_documented_fields(duo_profile, tiny_workload, tmp_path):
    result = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        warmup=0,
        run_dir=tmp_path / "r",
        backend=FakeBackend(),
        modes=["sequential", "parallel", "model:big"],
    ).run()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    for key in (
        "schema",
        "status",
        "orchbench_version",
        "started_at",
        "finished_at",
        "machine",
        "versions",
        "profile",
        "backend",
        "measured",
        "suite",
        "repeat",
        "warmup",
        "modes",
        "speedup",
        "performance_report",
        "recommendations",
        "models",
    ):
        assert key in summary, key
    assert summary["status"] == "complete" and summary["measured"] is False  # a fake engine
    assert summary["suite"] == {
        "name": "tiny",
        "tasks": 6,
        "prompt_style": "completion",
        "source": None,
    }
    assert set(summary["modes"]) == {"sequential", "parallel", "model:big"}
    assert summary["modes"]["parallel"]["median"]["tasks"] == 6
    assert list(summary["models"]) == ["big"]
    assert summary["models"]["big"]["best_types"]
    assert result.models == summary["models"]


def test_sim_is_marked_not_measured(duo_profile, tiny_workload):
    session = BenchSession(duo_profile, "sim", tiny_workload, backend=FakeBackend())
    assert session.measured is False
    assert session.store is None


def test_unknown_mode_fails_before_any_work(duo_profile, tiny_workload):
    with pytest.raises(ConfigError, match="turbo"):
        BenchSession(duo_profile, "fake", tiny_workload, modes=["turbo"], backend=FakeBackend())


def test_interrupted_run_leaves_a_partial_readable_result(duo_profile, tiny_workload, tmp_path):
    from orchbench import results

    def interrupt_in_parallel_mode(request, index):
        # the warm-up and sequential mode pass; Ctrl-C arrives during the parallel mode
        return KeyboardInterrupt if len(fake.calls) >= 1 + 6 else None

    fake = FakeBackend(failures=interrupt_in_parallel_mode)
    observer = RecordingObserver()
    session = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        warmup=1,
        run_dir=tmp_path,
        backend=fake,
        observer=observer,
    )
    with pytest.raises(KeyboardInterrupt):
        session.run()
    summary = results.summary(tmp_path)
    assert summary["status"] == "partial"
    assert "interrupted" in summary["stopped"]
    assert list(summary["modes"]) == ["sequential"]
    assert observer.finished == ["partial"]
    tasks = results.load_tasks(tmp_path)
    assert set(tasks["mode"]) == {"sequential"} and len(tasks) == 6


def test_a_seed_reaches_every_request_and_the_summary(duo_profile, tiny_workload, tmp_path):
    from orchbench.bench.session import with_seed

    seeds: list[int | None] = []

    class SeedRecordingFake(FakeBackend):
        """The fake engine, keeping the seed of every request it receives."""

        async def generate(self, request):
            seeds.append(request.seed)
            return await super().generate(request)

    fake = SeedRecordingFake(latency=0.0)
    seeded = with_seed(duo_profile, 42)
    assert duo_profile.settings.seed is None and with_seed(duo_profile, None) is duo_profile
    result = BenchSession(seeded, "fake", tiny_workload, out=tmp_path, backend=fake).run()
    assert len(seeds) == len(fake.calls) > 0 and set(seeds) == {42}
    assert result.summary["seed"] == 42


def test_plugin_and_cli_default_to_the_same_repeats(pytestconfig):
    import inspect

    from orchbench.bench.stats import DEFAULT_REPEAT, enough_repeats
    from orchbench.cli._run import run

    assert inspect.signature(run).parameters["repeat"].default == DEFAULT_REPEAT
    assert pytestconfig.getoption("orchbench_repeat") == DEFAULT_REPEAT
    assert enough_repeats(DEFAULT_REPEAT, DEFAULT_REPEAT)  # compare can tell with defaults


def test_speedup_compares_like_a_float_and_carries_its_interval(duo_profile, tiny_workload):
    result = BenchSession(
        duo_profile, "fake", tiny_workload, repeat=3, backend=FakeBackend(latency=0.01)
    ).run()
    speed = result.speedup
    assert speed is not None and speed.low is not None and speed.high is not None
    assert speed.low <= float(speed) <= speed.high
    assert (speed >= speed.low) and (speed > 0) and speed.pairs == 3
    block = result.summary["speedup"]
    assert (block["estimate"], block["low"], block["high"]) == (float(speed), speed.low, speed.high)


# Fault injection on the fake engine (no model runs): a model whose warm-up fails.
class WarmUpFailsFake(FakeBackend):
    """The fake engine, with the warm-up of some models raising (or hanging) as told; on the
    virtual clock, so a hang past the timeout takes no real time."""

    virtual_clock = True

    def __init__(self, warmup_failures, **kwargs):
        super().__init__(**kwargs)
        self.warmup_failures = warmup_failures

    async def warmup(self, model):
        outcome = self.warmup_failures.get(model.name)
        if outcome == "hang":
            import asyncio

            await asyncio.sleep(3600)
        if outcome is not None:
            raise outcome
        return await super().warmup(model)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (BackendBusy("HTTP 503: server busy"), "BackendBusy: HTTP 503"),
        (BackendError("HTTP 500: runner crashed"), "HTTP 500"),
        (ModelNotFound("model 'big' is not installed"), "ModelNotFound"),
        (BackendUnavailable("cannot reach the server"), "cannot reach"),
        ("hang", "did not load within 5 s"),
    ],
)
def test_a_model_failing_its_warm_up_is_left_out_and_the_run_goes_on(
    duo_profile, tiny_workload, tmp_path, failure, reason
):
    from orchbench import results

    duo_profile.settings.default_timeout = 5
    fake = WarmUpFailsFake({"big": failure}, latency=0.001)
    observer = RecordingObserver()
    observer.unavailable = None
    observer.models_unavailable = lambda reasons: setattr(observer, "unavailable", reasons)
    session = BenchSession(
        duo_profile,
        "fake",
        tiny_workload,
        repeat=1,
        modes=["sequential", "parallel", "model:big", "model:small"],
        run_dir=tmp_path,
        backend=fake,
        observer=observer,
    )
    result = session.run()
    assert result.status == "degraded"
    summary = results.summary(tmp_path)
    assert summary["status"] == "degraded" and reason in summary["unavailable_models"]["big"]
    assert observer.unavailable == summary["unavailable_models"]
    assert result.failures == 0 and set(result.modes) == {"sequential", "parallel", "model:small"}
    assert {call.model for call in fake.calls} == {"small"}  # its tasks went to the fallback
    assert result.speedup is not None
    assert len(results.load_tasks(tmp_path)) == 6 * 3


def test_a_server_that_dies_after_warm_up_fails_the_run_without_a_speedup(
    duo_profile, tiny_workload, tmp_path
):
    from orchbench import results

    fake = FakeBackend(failures={"small": BackendUnavailable, "big": BackendUnavailable})
    result = BenchSession(
        duo_profile, "fake", tiny_workload, repeat=3, run_dir=tmp_path, backend=fake
    ).run()
    assert result.status == "failed" and result.speedup is None
    summary = results.summary(tmp_path)
    assert summary["status"] == "failed"
    assert "sequential repeat 1: 6 of 6 tasks failed" in summary["stopped"]
    assert "the run failed" in summary["speedup"]["withheld"]
    assert list(summary["modes"]) == ["sequential"]  # it stopped at the first failed mode
    assert len(results.load_tasks(tmp_path)) == 6


def test_failures_within_the_threshold_keep_the_run_complete(duo_profile, tiny_workload):
    # one task of six fails in every mode run: 17 % > 10 % fails, <= 20 % does not
    def one_in_six(request, index):
        return BackendError("boom") if request.prompt == "def a():" else None

    fake = FakeBackend(failures=one_in_six)
    strict = BenchSession(duo_profile, "fake", tiny_workload, backend=fake).run()
    assert strict.status == "failed"
    lenient = BenchSession(duo_profile, "fake", tiny_workload, backend=fake, max_failed=0.2).run()
    assert lenient.status == "complete" and lenient.speedup is not None


def test_no_model_loading_fails_the_run(duo_profile, tiny_workload, tmp_path):
    fake = WarmUpFailsFake({"big": BackendBusy("busy"), "small": BackendBusy("busy")})
    result = BenchSession(duo_profile, "fake", tiny_workload, run_dir=tmp_path, backend=fake).run()
    assert result.status == "failed" and "every model failed to load" in result.summary["stopped"]
    assert result.modes == [] and fake.calls == []


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_max_failed_is_a_share(duo_profile, tiny_workload, value):
    with pytest.raises(ConfigError, match="between 0 and 1"):
        BenchSession(duo_profile, "fake", tiny_workload, backend=FakeBackend(), max_failed=value)
