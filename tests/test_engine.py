"""Engines state what they are (capabilities), and one rule says "measured or simulated"."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from orchbench.backends import BACKEND_KINDS, ENGINES, engine_class, make_backend
from orchbench.engine import engine_measured, is_measured, on_virtual_clock
from orchbench.errors import ConfigError
from orchbench.testing import FakeBackend

PACKAGE = Path(__file__).resolve().parents[1] / "orchbench"
KINDS = set(BACKEND_KINDS)

# Engine-specific choices not yet expressed as capabilities (which server to probe, how to
# install an engine, how the simulator's defaults differ): each file may keep at most this
# many kind comparisons. The number only goes down; no new file may appear here.
REMAINING = {
    "backends/_registry.py": 2,  # resolve_backend_kind: probing Ollama for "auto"
    "bench/preflight.py": 3,
    "calibrate/_fit.py": 1,
    "calibrate/_measure.py": 1,
    "cli/_doctor.py": 5,
    "cli/_setup.py": 3,
    "planning.py": 1,
    "sim/_params.py": 1,
    "tune/_space.py": 1,
}


def _names_a_kind(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in KINDS
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_a_kind(e) for e in node.elts)
    return False


def _kind_comparisons() -> Counter[str]:
    found: Counter[str] = Counter()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(
                _names_a_kind(side) for side in (node.left, *node.comparators)
            ):
                found[path.relative_to(PACKAGE).as_posix()] += 1
    return found


def test_no_code_compares_engine_kind_strings_beyond_the_known_remainder():
    found = _kind_comparisons()
    over = {f: n for f, n in found.items() if n > REMAINING.get(f, 0)}
    assert not over, f"compare capabilities (orchbench.engine), not kind strings: {over}"


def test_the_scan_finds_a_kind_comparison():
    tree = ast.parse('if backend.name == "sim" or kind in ("fake", "x"):\n    pass')
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert all(_names_a_kind(n.comparators[0]) for n in compares) and len(compares) == 2


@pytest.mark.parametrize("kind", BACKEND_KINDS)
def test_every_registered_engine_states_its_capabilities(kind):
    cls = engine_class(kind)
    assert cls.name == kind
    for capability in ("measured", "virtual_clock", "streams_tokens"):
        assert isinstance(getattr(cls, capability), bool), (kind, capability)


def test_only_real_engines_are_measured_and_only_the_simulator_needs_the_virtual_clock():
    measured = {k for k in BACKEND_KINDS if engine_measured(engine_class(k))}
    virtual = {k for k in BACKEND_KINDS if on_virtual_clock(engine_class(k))}
    assert measured == {"embedded", "ollama", "openai"}
    assert virtual == {"sim"}


def test_the_measured_rule_reads_documents_and_engines_alike():
    assert is_measured({"measured": True}) and not is_measured({"measured": False})
    assert not is_measured({"backend": "embedded"})  # no field: never claim a measurement
    assert not is_measured(FakeBackend()) and not is_measured(object())
    assert is_measured(engine_class("embedded"))


def test_the_registry_builds_by_kind_and_names_the_valid_kinds():
    assert set(ENGINES) == KINDS
    assert isinstance(make_backend("fake"), FakeBackend)
    with pytest.raises(ConfigError, match="valid: auto, embedded"):
        make_backend("nope")
    with pytest.raises(ConfigError, match="needs the profile"):
        make_backend("sim")
