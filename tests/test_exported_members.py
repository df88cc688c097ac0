"""The public surface of every public package is exactly what its ``__all__`` lists."""

import importlib
import types

import pytest

import orchbench

PUBLIC_PACKAGES = [
    "orchbench",
    "orchbench.backends",
    "orchbench.bench",
    "orchbench.calibrate",
    "orchbench.quality",
    "orchbench.report",
    "orchbench.scheduler",
    "orchbench.sim",
    "orchbench.testing",
    "orchbench.tune",
]


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_is_sorted_resolvable_and_complete(name):
    package = importlib.import_module(name)
    exported = list(package.__all__)
    assert exported == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    for attr in exported:
        assert getattr(package, attr) is not None, f"{name}.{attr} does not resolve"
    # pytest rewrites asserts in its plugins' packages and leaves "@py_*" names behind.
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith(("_", "@")) and not isinstance(value, types.ModuleType)
    }
    public -= {"annotations", "importlib", "TYPE_CHECKING", "Any"}
    assert public <= set(exported), f"{name} exposes names missing from __all__"


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def test_lazy_names_resolve():
    assert orchbench.get_orchestrator.__module__ == "orchbench._api"
    assert orchbench.Orchestrator.__name__ == "Orchestrator"
    assert orchbench.run_sync.__module__ == "orchbench.scheduler._orchestrator"
