"""Shared fixtures for the bench tests: a two-model profile and a tiny workload (no tests
to execute, so quality scoring stays in process and runs are instant on the fake)."""

import pytest

from orchbench.bench.workload import workload_from_dict
from orchbench.profiles import profile_from_dict

TYPES = ["planning", "coding", "review", "testing", "documentation", "debugging"]


@pytest.fixture
def duo_profile():
    return profile_from_dict(
        {
            "name": "duo",
            "hardware": {
                "name": "test",
                "kind": "cpu",
                "bandwidth_gbs": 10,
                "ram_gb": 8,
                "cpu_cores": 2,
            },
            "backend": {"kind": "fake"},
            "settings": {"max_concurrent_tasks": 3, "retry_attempts": 1},
            "models": {
                "small": {
                    "task_types": TYPES,
                    "tier": "fast",
                    "concurrent_limit": 2,
                    "prompt_style": "completion",
                },
                "big": {
                    "task_types": ["coding", "review"],
                    "tier": "powerful",
                    "concurrent_limit": 1,
                    "prompt_style": "completion",
                },
            },
            "routing": {
                "coding": {"primary": ["big"], "fallback": ["small"]},
                "review": {"primary": ["big", "small"]},
                "planning": {"primary": ["small"]},
            },
        }
    )


@pytest.fixture
def tiny_workload():
    return workload_from_dict(
        {
            "name": "tiny",
            "prompt_style": "completion",
            "defaults": {"max_tokens": 8, "complexity": "simple"},
            "tasks": [
                {"name": "c1", "type": "coding", "prompt": "def a():"},
                {"name": "c2", "type": "coding", "prompt": "def b():"},
                {"name": "r1", "type": "review", "prompt": "x = 1"},
                {"name": "p1", "type": "planning", "prompt": "1."},
                {"name": "p2", "type": "planning", "prompt": "Step 1:"},
                {"name": "p3", "type": "planning", "prompt": "First,"},
            ],
        }
    )
