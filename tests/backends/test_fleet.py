"""The fleet engine: one engine per host, and a two-host run against stand-in Ollama hosts.

The multi-host tests run the real Ollama engine (``ollama.AsyncClient``) against
:class:`~ollama_fleet_standin.StandInHost` stand-ins on two loopback ports (no model runs):
requests spread over both, each host's limit measured *at that host*, and a host killed
mid-run whose tasks fail over to the other deployment with none lost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from ollama_fleet_standin import StandInHost

from orchbench import get_orchestrator
from orchbench.backends import make_backend
from orchbench.backends._fleet import FleetBackend, fleet_hosts, host_profile
from orchbench.config import ModelConfig, Profile
from orchbench.engine import GenerateRequest, engine_measured, on_virtual_clock
from orchbench.errors import BackendUnavailable, ConfigError
from orchbench.scheduler import run_sync
from orchbench.sim import SimBackend
from orchbench.testing import FakeBackend

HARDWARE = {"name": "t", "bandwidth_gbs": 100, "ram_gb": 16, "cpu_cores": 4}


def fleet(hosts: dict[str, dict[str, Any]], **models: dict[str, Any]) -> Profile:
    tables = {
        name: {"task_types": ["coding"], "tier": "fast", "prompt_style": "completion",
               "size_gb": 1.0, **fields}
        for name, fields in (models or {"tiny": {}}).items()
    }  # fmt: skip
    return Profile.model_validate(
        {
            "name": "fleet-test",
            "hardware": HARDWARE,
            "backend": {"kind": "ollama", "host": "http://127.0.0.1:9"},
            "hosts": hosts,
            "models": tables,
            "settings": {"max_concurrent_tasks": 8, "retry_backoff_s": 0.0},
        }
    )


def test_each_host_sees_its_own_models_limits_server_and_hardware() -> None:
    profile = fleet(
        {
            "a": {"url": "http://a:11434", "models": ["tiny"], "concurrent_limit": 3,
                  "server": {"num_parallel": 3}},
            "b": {"url": "http://b:11434", "models": ["tiny"],
                  "hardware": {**HARDWARE, "name": "other", "ram_gb": 64}},
        },
        tiny={},
        local={},
    )  # fmt: skip
    assert list(fleet_hosts(profile)) == ["a", "b", ""]
    a, b, own = (host_profile(profile, h) for h in ("a", "b", ""))
    assert a.models["tiny"].concurrent_limit == 3 and a.server.num_parallel == 3
    assert a.backend.host == "http://a:11434" and "local" not in a.models
    assert b.hardware.ram_gb == 64 and b.server == profile.server
    assert list(own.models) == ["local"] and own.backend.host == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match="no host 'c'"):
        host_profile(profile, "c")


def test_a_simulated_fleet_has_one_device_per_host() -> None:
    profile = fleet({"a": {"models": ["tiny"]}, "b": {"models": ["tiny"]}})
    backend = make_backend("sim", profile=profile)
    assert isinstance(backend, FleetBackend)
    engines = backend.engines
    assert set(engines) == {"a", "b"} and all(isinstance(e, SimBackend) for e in engines.values())
    assert engines["a"].device is not engines["b"].device
    assert on_virtual_clock(backend) and not engine_measured(backend)
    assert backend.name == "sim"


def test_the_fleet_routes_by_host_with_the_deployments_limit() -> None:
    seen: list[tuple[str, int]] = []

    def text(request: GenerateRequest) -> str:
        seen.append((request.host, request.model.concurrent_limit))
        return "ok"

    fakes = {"a": FakeBackend(text=text), "b": FakeBackend(text=text)}
    backend = FleetBackend.of(fakes)
    model = ModelConfig(
        name="m", task_types=["coding"], tier="fast",
        deployments=[{"host": "a", "concurrent_limit": 2}, {"host": "b", "concurrent_limit": 5}],
    )  # fmt: skip
    for host in ("b", "a"):
        request = GenerateRequest(model, "p", 4, 0.0, 5.0, host=host)
        run_sync(backend.generate(request))
    assert seen == [("b", 5), ("a", 2)]
    with pytest.raises(BackendUnavailable, match="no engine for host 'c'"):
        run_sync(backend.generate(GenerateRequest(model, "p", 4, 0.0, 5.0, host="c")))
    run_sync(backend.warmup(model))
    assert fakes["a"].warmed and fakes["b"].warmed


def test_a_fleet_mixing_simulated_and_real_hosts_is_refused() -> None:
    profile = fleet({"a": {"models": ["tiny"]}})
    with pytest.raises(ConfigError, match="cannot mix"):
        FleetBackend.of({"a": SimBackend(profile), "b": make_backend("ollama", host="h:1")})


# -- two stand-in Ollama hosts -------------------------------------------------------------


@pytest.fixture
def two_hosts() -> Iterator[tuple[StandInHost, StandInHost]]:
    hosts = (StandInHost().start(), StandInHost().start())
    yield hosts
    for host in hosts:
        host.kill()


def two_host_profile(first: StandInHost, second: StandInHost) -> Profile:
    return fleet(
        {
            "box1": {"url": first.url, "models": ["tiny"], "concurrent_limit": 2},
            "box2": {"url": second.url, "models": ["tiny"], "concurrent_limit": 3},
        }
    )


def kill_after_two(host: StandInHost) -> None:
    # mid-run: once the host has served two requests (and has others in flight)
    deadline = time.monotonic() + 10.0
    while host.served < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    host.kill()


def run_tasks(profile: Profile, count: int, kill: StandInHost | None = None) -> list[Any]:
    orch = get_orchestrator(profile, "ollama")

    async def main() -> list[Any]:
        if kill is not None:
            threading.Thread(target=kill_after_two, args=(kill,), daemon=True).start()
        try:
            return await orch.execute_parallel_tasks(
                [("coding", f"def f{i}(x):") for i in range(count)]
            )
        finally:
            await orch.close()

    return run_sync(main())


def test_two_hosts_share_the_work_each_within_its_limit_measured_at_the_host(
    two_hosts: tuple[StandInHost, StandInHost],
) -> None:
    first, second = two_hosts
    results = run_tasks(two_host_profile(first, second), 20)
    assert all(r.success for r in results)
    hosts = Counter(a.host for r in results for a in r.attempts)
    assert hosts == Counter({"box1": first.served, "box2": second.served})
    assert first.served + second.served == 20 and first.served > 0 and second.served > 0
    # measured at each stand-in: exactly its deployment's limit, never more
    assert (first.peak_in_flight, second.peak_in_flight) == (2, 3)


def test_a_host_killed_mid_run_fails_over_to_the_other_and_nothing_is_lost(
    two_hosts: tuple[StandInHost, StandInHost],
) -> None:
    first, second = two_hosts
    results = run_tasks(two_host_profile(first, second), 24, kill=first)
    failed = [(r.error, [(a.host, a.error) for a in r.attempts]) for r in results if not r.success]
    assert len(results) == 24 and not failed, failed
    assert {r.attempts[-1].host for r in results} <= {"box1", "box2"}
    moved = [r for r in results if len(r.attempts) > 1]
    assert moved and all(r.attempts[-1].host == "box2" for r in moved)
    assert all(not a.success for r in moved for a in r.attempts[:-1])
    assert first.served >= 2 and first.served + second.served == 24
    assert (first.peak_in_flight, second.peak_in_flight) == (2, 3)
