"""``FleetBackend``: one engine per host, behind the one :class:`~orchbench.engine.Backend`
the scheduler talks to.

A profile whose models have ``deployments`` (:mod:`orchbench.deployments`) runs on several
hosts. The scheduler picks the deployment and names its host on the request
(``GenerateRequest.host``); the fleet sends the request to that host's engine, with the
model's ``concurrent_limit`` replaced by the deployment's (what that one host serves at
once). Each host's engine is built from :func:`host_profile` — the profile as that host
sees it: its URL and engine kind, its ``[server]`` and ``[hardware]``, the models it
serves — so a simulated fleet has one simulated device per host, each with its own memory,
server settings and swaps. Host ``""`` is the profile's own host, serving the models
without deployments.

The fleet states its capabilities from its members: measured only if every host's engine
is, on the virtual clock if any is (a fleet mixes no simulated and real hosts), and each
optional one (``model_source``, ``ollama_api``, ...) that all of them state alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import ClassVar

from orchbench.config import BackendSpec, HostSpec, ModelConfig, Profile
from orchbench.engine import Backend, GenerateRequest, GenerateResult, engine_measured
from orchbench.errors import BackendUnavailable, ConfigError

SHARED_CAPABILITIES = (
    "display_name", "model_source", "ollama_api", "runs_instances",
    "prompt_time_includes_first_token",
)  # fmt: skip
"""Optional capabilities (:mod:`orchbench.engine`) a fleet states when all its hosts agree."""
MakeOne = Callable[[str, "str | None", Profile], Backend]
"""``make(kind, host, profile)``: one host's engine (the registry's builder)."""


def has_fleet(profile: Profile) -> bool:
    """Whether some model of ``profile`` lists deployments (so it runs on several hosts)."""
    return any(model.deployments for model in profile.models.values())


def fleet_hosts(profile: Profile) -> dict[str, HostSpec]:
    """Every host of ``profile``'s fleet, by name, in the order deployments name them.

    A deployment's ``host`` that is not a ``[hosts]`` name is a URL and its own host.
    ``""`` (the profile's own host) is included when some model has no deployments.
    """
    hosts: dict[str, HostSpec] = {}
    for model in profile.models.values():
        if not model.deployments:
            hosts.setdefault("", HostSpec())
        for dep in model.deployments:
            if dep.host not in hosts:
                hosts[dep.host] = profile.hosts.get(dep.host) or HostSpec(url=dep.host)
    return hosts


def host_profile(profile: Profile, host: str) -> Profile:
    """``profile`` as host ``host`` sees it: its backend, server, hardware and models.

    Each model it serves keeps its settings with the deployment's ``concurrent_limit`` and
    no deployments; the name stays the profile's (a simulated host reads the profile's
    calibration file). Not validated again: the routing table may name models served
    elsewhere.
    """
    spec = fleet_hosts(profile).get(host)
    if spec is None:
        known = ", ".join(repr(h) for h in fleet_hosts(profile))
        raise ConfigError(f"profile {profile.name!r} has no host {host!r}; hosts: {known}")
    models = {name: on_host(model, host) for name, model in profile.models.items()}
    backend = BackendSpec(
        kind=spec.kind or profile.backend.kind, host=spec.url or profile.backend.host
    )
    return profile.model_copy(
        update={
            "backend": backend,
            "server": spec.server or profile.server,
            "hardware": spec.hardware or profile.hardware,
            "models": {name: model for name, model in models.items() if model is not None},
            "hosts": {},
        }
    )


def on_host(model: ModelConfig, host: str) -> ModelConfig | None:
    """``model`` as deployed on ``host`` (its deployment's limit), or ``None`` if not there."""
    if not model.deployments:
        return model if host == "" else None
    for dep in model.deployments:
        if dep.host == host:
            return model.model_copy(
                update={"concurrent_limit": dep.concurrent_limit, "deployments": []}
            )
    return None


def fleet_profiles(profile: Profile) -> list[tuple[str, Profile]]:
    """Each host of ``profile`` and the profile as it sees it (:func:`host_profile`);
    ``[("", profile)]`` for a one-host profile. What ``doctor`` checks host by host."""
    if not has_fleet(profile):
        return [("", profile)]
    return [(name, host_profile(profile, name)) for name in fleet_hosts(profile)]


class FleetBackend:
    """Routes each request to its host's engine (see the module docstring).

    Build one with :meth:`of`, which states the capabilities of the engines it holds.
    """

    name = "fleet"
    measured: ClassVar[bool] = False
    virtual_clock: ClassVar[bool] = False
    streams_tokens: ClassVar[bool] = False

    def __init__(self, engines: Mapping[str, Backend]) -> None:
        self.engines = dict(engines)
        """Each host's engine, by host name (``""``: the profile's own host)."""
        names = sorted({engine.name for engine in self.engines.values()})
        self.name = "+".join(names) or "fleet"

    @classmethod
    def of(cls, engines: Mapping[str, Backend]) -> FleetBackend:
        """A fleet of ``engines`` whose class states their common capabilities."""
        members = list(engines.values())
        measured = all(engine_measured(e) for e in members)
        virtual = any(bool(getattr(e, "virtual_clock", False)) for e in members)
        if virtual and not all(bool(getattr(e, "virtual_clock", False)) for e in members):
            raise ConfigError("a fleet cannot mix simulated and real hosts; use one backend")
        streams = all(bool(getattr(e, "streams_tokens", False)) for e in members)
        stated: dict[str, object] = {
            "measured": measured, "virtual_clock": virtual, "streams_tokens": streams
        }  # fmt: skip
        for capability in SHARED_CAPABILITIES:  # stated when every host's engine agrees
            values = {repr(getattr(e, capability, None)) for e in members}
            if len(values) == 1 and hasattr(members[0], capability):
                stated[capability] = getattr(members[0], capability)
        kind = type("FleetBackend", (cls,), stated)
        fleet: FleetBackend = kind(engines)
        return fleet

    def engine(self, host: str) -> Backend:
        """The engine of ``host``; ``BackendUnavailable`` for a host the fleet lacks."""
        engine = self.engines.get(host)
        if engine is None:
            known = ", ".join(repr(h) for h in self.engines)
            raise BackendUnavailable(f"no engine for host {host!r} in this fleet ({known})")
        return engine

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Send ``request`` to its host's engine, with the deployment's limit on the model."""
        engine = self.engine(request.host)
        if request.model.deployments:
            model = on_host(request.model, request.host)
            if model is not None:
                request = dataclasses.replace(request, model=model)
        return await engine.generate(request)

    async def list_models(self) -> list[str]:
        """Every model some host serves now (hosts that do not answer are skipped)."""
        found: dict[str, None] = {}
        for engine in self.engines.values():
            try:
                names = await engine.list_models()
            except BackendUnavailable:
                continue
            found.update(dict.fromkeys(names))
        return list(found)

    async def warmup(self, model: ModelConfig) -> float:
        """Load ``model`` on every host serving it at once; the longest load measured."""
        hosts = [d.host for d in model.deployments] or [""]
        loads = await asyncio.gather(
            *(self.engine(h).warmup(on_host(model, h) or model) for h in hosts if h in self.engines)
        )
        return max(loads, default=0.0)

    async def close(self) -> None:
        """Close every host's engine."""
        for engine in self.engines.values():
            await engine.close()


def build_fleet(
    kind: str, host: str | None, profile: Profile, make: MakeOne, *, forced: bool
) -> FleetBackend:
    """One engine per host of ``profile`` (``make`` builds each) behind a :class:`FleetBackend`.

    ``kind`` is the engine asked for; with ``forced`` (an engine that is not measured: the
    simulator, the fake) it replaces every host's, else it serves the hosts that name no
    ``kind`` of their own. ``host`` (``--host``) is where the profile's own host ``""``
    listens.
    """
    engines: dict[str, Backend] = {}
    for name, spec in fleet_hosts(profile).items():
        own = spec.kind if spec.kind is not None and spec.kind != "auto" else None
        engines[name] = make(
            kind if forced or own is None else own,
            spec.url or (host if name == "" else None),
            host_profile(profile, name),
        )
    return FleetBackend.of(engines)
