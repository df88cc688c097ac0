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
REMAINING: dict[str, int] = {}


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


@pytest.mark.parametrize("kind", BACKEND_KINDS)
def test_every_registered_engine_states_how_it_is_set_up_and_checked(kind):
    cls = engine_class(kind)
    assert cls.model_source in ("files", "server", "none"), kind
    assert isinstance(cls.display_name, str) and cls.display_name, kind
    for capability in ("ollama_api", "runs_instances", "prompt_time_includes_first_token"):
        assert isinstance(getattr(cls, capability), bool), (kind, capability)


def test_setup_and_checks_follow_the_capabilities_not_the_kind_names():
    from orchbench.engine import model_source, runs_instances, speaks_ollama_api

    by_source = {k: model_source(engine_class(k)) for k in BACKEND_KINDS}
    assert by_source == {
        "embedded": "files",
        "ollama": "server",
        "openai": "server",
        "sim": "none",
        "fake": "none",
    }
    assert {k for k in BACKEND_KINDS if speaks_ollama_api(engine_class(k))} == {"ollama"}
    assert {k for k in BACKEND_KINDS if runs_instances(engine_class(k))} == {"embedded"}


def test_an_engine_that_states_no_optional_capability_gets_the_safe_defaults():
    from orchbench.engine import (
        display_name,
        model_source,
        prompt_time_includes_first_token,
        runs_instances,
        speaks_ollama_api,
    )

    class ThirdParty:
        pass

    assert display_name(ThirdParty) == "ThirdParty" and display_name(ThirdParty()) == "ThirdParty"
    assert model_source(ThirdParty) == "none"
    assert not speaks_ollama_api(ThirdParty) and not runs_instances(ThirdParty)
    assert prompt_time_includes_first_token(ThirdParty)
