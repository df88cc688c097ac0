"""Deployments: the hosts that serve a model, in one shape whichever way a profile says it.

A profile describes its fleet in two places, and :func:`normalize_fleet` turns both into one
shape before validation (so a loaded profile, and the file a tuner writes back, hold it once):

- ``[hosts.NAME]``: one machine — ``url``, engine ``kind``, its Ollama ``[server]`` and its
  ``[hardware]`` (each unset one is the profile's own). ``models = [...]`` (with an optional
  ``concurrent_limit`` for each) is a shorthand that adds a deployment of each listed model
  on that host.
- ``[[models."NAME".deployments]]``: one deployment of a model — ``host`` (a ``[hosts]``
  name, or a URL), its own ``concurrent_limit``; ``kind``, ``server`` and ``hardware`` given
  here describe the host and move to ``[hosts]`` (two deployments disagreeing on them is an
  error: one host runs one server).

A model with no deployments has one implicit deployment at the profile's own host (its
``[backend]``, ``[server]`` and ``[hardware]``): exactly a one-host profile. A model with
deployments runs only on them; its ``concurrent_limit`` caps it across all of them and
defaults to the sum of theirs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

HOST_FIELDS = ("kind", "server", "hardware")
"""Deployment keys that describe the host rather than the deployment."""
_MAX_LIMIT = 64


class Deployment(BaseModel):
    """One (model, host) pair the scheduler can send requests to, with its own limit.

    >>> Deployment(host="box2", concurrent_limit=2)
    Deployment(host='box2', concurrent_limit=2)
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: str = Field(min_length=1)
    """A ``[hosts]`` name, or the URL of a host the profile does not name."""
    concurrent_limit: int = Field(default=1, ge=1, le=_MAX_LIMIT)
    """Requests in flight on this deployment at once."""


Problems = list[tuple[tuple[str, ...], str]]


def looks_like_url(host: str) -> bool:
    """Whether a deployment's ``host`` is a URL (``http://h:1``, ``h:11434``) not a name."""
    return "://" in host or ":" in host or "." in host


def normalize_fleet(data: dict[str, Any]) -> tuple[dict[str, Any], Problems]:
    """The raw profile table in one shape (see the module docstring), and what is wrong.

    Leaves everything else as it is; pydantic validates the result.
    """
    problems: Problems = []
    raw_hosts = data.get("hosts")
    raw_models = data.get("models")
    if not isinstance(raw_models, dict) or not (raw_hosts or _any_deployments(raw_models)):
        return data, problems
    hosts: dict[str, Any] = {
        k: dict(v) if isinstance(v, dict) else v for k, v in (raw_hosts or {}).items()
    }
    models = {k: dict(v) if isinstance(v, dict) else v for k, v in raw_models.items()}
    for name, host in hosts.items():
        if isinstance(host, dict) and "models" in host:
            _expand_host(name, host, models, problems)
    for key, model in models.items():
        if isinstance(model, dict) and isinstance(model.get("deployments"), list):
            _lift_host_fields(key, model, hosts, problems)
    return {**data, "hosts": hosts, "models": models}, problems


def _any_deployments(models: dict[str, Any]) -> bool:
    return any(isinstance(m, dict) and m.get("deployments") for m in models.values())


def _expand_host(
    name: str, host: dict[str, Any], models: dict[str, Any], problems: Problems
) -> None:
    # [hosts.NAME] models = [...]: one deployment of each model on this host.
    served = host.pop("models")
    limit = host.pop("concurrent_limit", 1)
    if not isinstance(served, list) or not all(isinstance(m, str) for m in served):
        problems.append((("hosts", name, "models"), "must be a list of model names"))
        return
    for model_name in served:
        model = models.get(model_name)
        if not isinstance(model, dict):
            known = ", ".join(sorted(models))
            problems.append(
                (("hosts", name, "models"), f"model {model_name!r} is not in [models]: {known}")
            )
            continue
        deployments = list(model.get("deployments") or [])
        deployments.append({"host": name, "concurrent_limit": limit})
        model["deployments"] = deployments


def _lift_host_fields(
    key: str, model: dict[str, Any], hosts: dict[str, Any], problems: Problems
) -> None:
    # kind/server/hardware on a deployment describe its host: keep them in [hosts].
    deployments = []
    for index, raw in enumerate(model["deployments"]):
        if not isinstance(raw, dict):
            deployments.append(raw)
            continue
        dep = dict(raw)
        host_name = dep.get("host")
        lifted = {f: dep.pop(f) for f in HOST_FIELDS if f in dep}
        if lifted and isinstance(host_name, str):
            new = host_name not in hosts
            entry = hosts.setdefault(host_name, {})
            if not isinstance(entry, dict):
                deployments.append(dep)
                continue
            if new and looks_like_url(host_name):
                entry["url"] = host_name
            for field, value in lifted.items():
                if field in entry and entry[field] != value:
                    loc = ("models", key, "deployments", str(index), field)
                    problems.append(
                        (
                            loc,
                            f"host {host_name!r} already has another {field}; one host "
                            "runs one server: set it once, in [hosts]",
                        )
                    )
                entry[field] = value
        deployments.append(dep)
    model["deployments"] = deployments
    if "concurrent_limit" not in model:
        limits = [d.get("concurrent_limit", 1) for d in deployments if isinstance(d, dict)]
        if limits and all(isinstance(n, int) for n in limits):
            model["concurrent_limit"] = max(1, min(_MAX_LIMIT, sum(limits)))


def check_deployments(key: str, deployments: list[Deployment], hosts: set[str]) -> Problems:
    """Problems with one model's deployments: unknown host names, a host listed twice."""
    problems: Problems = []
    seen: set[str] = set()
    for index, dep in enumerate(deployments):
        loc = ("models", key, "deployments", str(index), "host")
        if dep.host in seen:
            problems.append((loc, f"host {dep.host!r} is listed twice for this model"))
        seen.add(dep.host)
        if dep.host not in hosts and not looks_like_url(dep.host):
            named = ", ".join(sorted(hosts)) or "none"
            problems.append(
                (
                    loc,
                    f"{dep.host!r} is neither a [hosts] name (defined: {named}) nor a URL "
                    "like http://box2:11434",
                )
            )
    return problems
