"""A profile's fleet: `[hosts]` and `[[models.M.deployments]]` in one shape; bad ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench.errors import ProfileError
from orchbench.profiles import load_profile, profile_from_dict, save_profile

BASE = """
name = "f"
[hardware]
name = "t"
bandwidth_gbs = 100
ram_gb = 16
cpu_cores = 4
[backend]
kind = "ollama"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def test_host_shorthand_and_deployment_tables_give_one_shape(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[hosts.box2]
url = "http://box2:11434"
models = ["m"]
concurrent_limit = 2
[hosts.box2.server]
num_parallel = 2
[models.m]
task_types = ["coding"]
tier = "fast"
[[models.m.deployments]]
host = "http://box3:11434"
concurrent_limit = 3
[models.m.deployments.hardware]
name = "box3"
bandwidth_gbs = 50
ram_gb = 8
cpu_cores = 2
[models.n]
task_types = ["coding"]
tier = "fast"
""",
    )
    profile = load_profile(path)
    m = profile.models["m"]
    assert [(d.host, d.concurrent_limit) for d in m.deployments] == [
        ("http://box3:11434", 3),
        ("box2", 2),
    ]
    assert m.concurrent_limit == 5  # the sum of its deployments' limits, when not given
    assert profile.models["n"].deployments == []  # runs at the profile's own host
    assert (
        profile.hosts["box2"].server is not None and profile.hosts["box2"].server.num_parallel == 2
    )
    box3 = profile.hosts["http://box3:11434"]
    assert box3.url == "http://box3:11434" and box3.hardware is not None
    saved = save_profile(profile, tmp_path / "out.toml")
    again = load_profile(saved)
    assert again.models["m"].deployments == m.deployments and again.hosts == profile.hosts


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[models.m.deployments]]\nhost = "box9"\n',
         "field 'models.m.deployments.0.host': 'box9' is neither a [hosts] name"),
        ('[[models.m.deployments]]\nhost = "a:1"\n[[models.m.deployments]]\nhost = "a:1"\n',
         "field 'models.m.deployments.1.host': host 'a:1' is listed twice"),
        ('[hosts.b]\nmodels = ["zz"]\n',
         "field 'hosts.b.models': model 'zz' is not in [models]"),
        ('[hosts.b]\nurl = "http://b:1"\n[hosts.b.server]\nnum_parallel = 4\n'
         '[[models.m.deployments]]\nhost = "b"\n[models.m.deployments.server]\nnum_parallel = 2\n',
         "field 'models.m.deployments.0.server': host 'b' already has another server"),
        ('[[models.m.deployments]]\nhost = "a:1"\nconcurrent_limit = 0\n',
         "models.m.deployments.0.concurrent_limit"),
    ],
)  # fmt: skip
def test_a_bad_fleet_is_one_clear_line_naming_the_field(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = write(tmp_path, '[models.m]\ntask_types = ["coding"]\ntier = "fast"\n' + extra)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert message in str(caught.value)


def test_a_model_with_deployments_keeps_the_cap_it_states() -> None:
    profile = profile_from_dict(
        {
            "name": "f",
            "hardware": {"name": "t", "bandwidth_gbs": 1, "ram_gb": 1, "cpu_cores": 1},
            "models": {
                "m": {"task_types": ["coding"], "tier": "fast", "concurrent_limit": 2,
                      "deployments": [{"host": "a:1", "concurrent_limit": 4},
                                      {"host": "b:1", "concurrent_limit": 4}]},
            },
        }
    )  # fmt: skip
    assert profile.models["m"].concurrent_limit == 2


def test_the_shipped_two_box_profile_serves_every_model_on_both_boxes() -> None:
    profile = load_profile("rtx4090x2")
    for model in profile.models.values():
        assert [d.host for d in model.deployments] == ["box1", "box2"]
        assert model.concurrent_limit == 2
    assert profile.settings.max_concurrent_tasks == 8
