"""The package's imports point one way: no import cycle between modules or between layers.

Every ``import`` in the package is read with :mod:`ast` (function-level and ``TYPE_CHECKING``
imports included, since a lazy import is still a dependency), so a cycle fails here
before it fails a user at run time.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "orchbench"

# Lower layers first; a unit may import only units in its own layer or below.
LAYERS: list[set[str]] = [
    {"errors", "config", "deployments", "records", "_toml", "durations"},
    {"profiles", "planning", "metrics", "results", "engine"},
    {"quality", "sim", "testing"},
    {"backends", "scheduler"},
    {"_api", "bench"},
    {"calibrate"},
    {"tune", "report"},
    {"cli", "__main__"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("orchbench"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("orchbench"):
                continue
            for alias in node.names:  # `from orchbench import planning` imports a module
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    root = PACKAGE.parent
    return (root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        graph[name] = {m for m in _imports(path) if m != name and m != "orchbench"}
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_import_cycle():
    graph = {m: deps for m, deps in _graph().items() if m != "orchbench"}
    # A package's __init__ re-exports its own modules; the edge back into it is not a cycle.
    for module, deps in graph.items():
        graph[module] = {d for d in deps if not module.startswith(d + ".")}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_layers_point_one_way():
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    wrong = []
    for module, deps in _graph().items():
        unit = _unit(module)
        if not unit:
            continue  # the public facade orchbench/__init__.py sits above everything
        assert unit in rank, f"{module}: unit {unit!r} is in no layer of LAYERS"
        for dep in deps:
            if rank[_unit(dep)] > rank[unit]:
                wrong.append(f"{module} imports {dep} (a higher layer)")
    assert not wrong, "\n".join(sorted(wrong))


def test_private_engine_modules_stay_inside_backends():
    leaks = [
        f"{module} imports {dep}"
        for module, deps in _graph().items()
        for dep in deps
        if dep.startswith("orchbench.backends._") and not module.startswith("orchbench.backends")
    ]
    assert not leaks, "\n".join(sorted(leaks))


def test_the_sim_engine_never_imports_the_scheduler():
    bad = [
        f"{module} imports {dep}"
        for module, deps in _graph().items()
        if module.startswith("orchbench.sim")
        for dep in deps
        if dep.startswith(("orchbench.scheduler", "orchbench.bench", "orchbench._api"))
    ]
    assert not bad, "\n".join(bad)
