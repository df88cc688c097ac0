"""Profiles as files: lookup, extends, every bad input's message, atomic save, shipped profiles."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchbench.config import ModelTier, Settings
from orchbench.errors import ProfileError
from orchbench.planning import memory_plan
from orchbench.profiles import (
    available_profiles,
    bundled_profiles_dir,
    find_profile,
    load_profile,
    profile_to_dict,
    save_profile,
    write_atomic,
)

DATA = Path(__file__).parent / "data" / "profiles"
SHIPPED = ("embedded", "rtx4090", "rtx3090", "rtx3080", "rtx5090", "cpu")
ROSTER = {
    "llama2:7b-chat",
    "mistral:7b-instruct",
    "codellama:13b-instruct",
    "llama2:13b-chat",
    "deepseek-coder:33b",
    "codellama:34b-instruct",
    "wizardcoder:34b",
}


@pytest.fixture(autouse=True)
def _isolated_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lookups by name must not see the developer's ./profiles or $ORCHBENCH_PROFILES.
    monkeypatch.delenv("ORCHBENCH_PROFILES", raising=False)
    monkeypatch.chdir(tmp_path)


# --- each bad input gives one clear message naming file, field and what is valid -----

BAD_INPUTS = [
    ("bad_syntax", ["not valid TOML", "line 5"]),
    ("bad_unknown_field", ["'models.small.concurent_limit'", "unknown field",
                           "did you mean 'concurrent_limit'", "valid fields:", "priority"]),
    ("bad_type", ["'models.small.concurrent_limit'", "must be a whole number", "'four'"]),
    ("bad_negative_limit", ["'models.small.concurrent_limit'", "between 1 and 64", "got -2"]),
    ("bad_zero_limit", ["'models.small.concurrent_limit'", "between 1 and 64", "got 0"]),
    ("bad_priority", ["'models.big.priority'", "between 1 and 10", "got 11"]),
    ("bad_routing_model", ["'routing.coding.fallback'", "'medium' is not defined",
                           "defined: big, small"]),
    ("bad_tier", ["'models.big.tier'", "valid values: fast, balanced, powerful", "'huge'"]),
    ("bad_task_type", ["'models.small.task_types.1'", "planning, coding, review", "'cooking'"]),
    ("bad_routing_key", ["'routing.cooking'", "unknown key", "debugging"]),
    ("cycle_a", ["'extends'", "cycle", "cycle_a.toml", "cycle_b.toml"]),
    ("bad_missing_parent", ["'extends'", "no profile named 'no-such-profile'",
                            "available profiles"]),
]  # fmt: skip


@pytest.mark.parametrize(("fixture", "fragments"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_profile_gives_one_clear_error(fixture: str, fragments: list[str]) -> None:
    path = DATA / f"{fixture}.toml"
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message, "the message names the file"
    for fragment in fragments:
        assert fragment in message
    assert len(message.splitlines()) == 1, "one mistake, one line"
    assert "Traceback" not in message and "pydantic" not in message.lower()


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = (DATA / "good_base.toml").read_text()
    text = text.replace("priority = 9", "priority = 0").replace('tier = "fast"', 'tier = "x"')
    path = tmp_path / "two.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any("'models.big.priority'" in line for line in lines)
    assert any("'models.small.tier'" in line for line in lines)


def test_missing_table_lists_what_it_needs(tmp_path: Path) -> None:
    text = (DATA / "good_base.toml").read_text()
    path = tmp_path / "nohw.toml"
    path.write_text(re.sub(r"\[hardware\].*?\n\n", "", text, flags=re.S))
    with pytest.raises(ProfileError, match=r"'hardware': required field is missing.*bandwidth_gbs"):
        load_profile(path)


def test_missing_file_names_the_path() -> None:
    with pytest.raises(ProfileError, match=r"profile file 'nowhere/x.toml' does not exist"):
        load_profile("nowhere/x.toml")


def test_unknown_name_lists_available_and_suggests() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("rtx4900")
    message = str(info.value)
    assert "no profile named 'rtx4900'" in message
    assert "did you mean 'rtx4090'?" in message
    for name in SHIPPED:
        assert name in message


def test_routing_to_a_model_without_that_task_type(tmp_path: Path) -> None:
    text = (DATA / "good_base.toml").read_text() + '\n[routing.review]\nprimary = ["small"]\n'
    path = tmp_path / "route.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=r"'routing.review.primary'.*does not list 'review'"):
        load_profile(path)


# --- lookup and extends ----------------------------------------------------------------


def test_extends_merges_tables_and_keeps_the_childs_name() -> None:
    child = load_profile(DATA / "good_child.toml")
    assert child.name == "good_child"  # not the parent's `name`
    assert child.description == "a bigger card"
    assert child.hardware.vram_gb == 32
    assert child.hardware.name == "test card"  # inherited inside a merged table
    assert child.models["small"].concurrent_limit == 4
    assert child.models["small"].tier is ModelTier.FAST  # inherited field of an overridden model
    assert child.models["big"].priority == 9
    assert set(child.routing) == {"coding", "documentation"}


def test_shipped_children_extend_rtx4090() -> None:
    base, child = load_profile("rtx4090"), load_profile("rtx3090")
    assert child.name == "rtx3090"
    assert child.hardware.bandwidth_gbs == 936
    assert child.models == base.models
    bigger = load_profile("rtx5090")
    assert bigger.hardware.vram_gb == 32
    assert bigger.models["deepseek-coder:33b"].num_ctx == 8192


def test_extends_of_its_own_name_means_the_next_on_the_path(tmp_path: Path) -> None:
    mine = tmp_path / "profiles"
    mine.mkdir()
    (mine / "rtx4090.toml").write_text(
        'extends = "rtx4090"\n[settings]\nmax_concurrent_tasks = 7\n'
    )
    profile = load_profile("rtx4090")
    assert profile.settings.max_concurrent_tasks == 7
    assert len(profile.models) == 7


def test_lookup_by_name_path_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_profile("embedded") == bundled_profiles_dir() / "embedded.toml"
    assert find_profile(DATA / "good_base.toml") == DATA / "good_base.toml"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "embedded.toml").write_text((DATA / "good_base.toml").read_text())
    monkeypatch.setenv("ORCHBENCH_PROFILES", os.pathsep.join(["/does/not/exist", str(extra)]))
    assert find_profile("embedded") == extra / "embedded.toml"  # the env folder shadows
    assert load_profile("embedded").models.keys() == {"small", "big"}
    assert available_profiles().count("embedded") == 1


def test_cwd_profiles_folder_is_searched(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.toml").write_text((DATA / "good_base.toml").read_text())
    assert load_profile("mine").name == "good_base"
    assert "mine" in available_profiles()


# --- saving -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    max_concurrent_tasks=st.integers(1, 1024),
    default_timeout=st.floats(0.001, 86_400, allow_nan=False),  # bounded: one day
    retry_attempts=st.integers(1, 20),
    quality_threshold=st.floats(0.0, 1.0),
    escalate=st.booleans(),
)
def test_save_profile_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    max_concurrent_tasks: int,
    default_timeout: float,
    retry_attempts: int,
    quality_threshold: float,
    escalate: bool,
) -> None:
    profile = load_profile(bundled_profiles_dir() / "rtx4090.toml")
    profile.settings = Settings(
        max_concurrent_tasks=max_concurrent_tasks,
        default_timeout=default_timeout,
        retry_attempts=retry_attempts,
        quality_threshold=quality_threshold,
        escalate_on_low_quality=escalate,
    )
    path = save_profile(profile, tmp_path_factory.mktemp("save") / "p.toml", header="a\nb")
    assert path.read_text().startswith("# a\n# b\n")
    assert load_profile(path) == profile


def test_profile_to_dict_is_plain_toml_data() -> None:
    data = profile_to_dict(load_profile("rtx3080"))
    assert "name" not in data["models"]["llama2:7b-chat"]  # the key is the name
    assert data["models"]["llama2:7b-chat"]["tier"] == "fast"
    assert "gguf" not in data["models"]["llama2:7b-chat"]  # None is left out


def test_write_atomic_failure_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.toml"
    path.write_text("old = 1\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        write_atomic(path, "new = 2\n")
    assert path.read_text() == "old = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.toml"], "no temporary file left behind"


# --- the shipped profiles -----------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads_and_fits_model_by_model(name: str) -> None:
    path = bundled_profiles_dir() / f"{name}.toml"
    assert path.read_text().startswith("# "), "each file says where its numbers come from"
    profile = load_profile(name)
    plan = memory_plan(profile)
    for model in plan.models:
        assert model.fits_alone, f"{name}: {model.name} needs {model.need_gb:.1f} GB"
    assert not any("OLLAMA_NUM_PARALLEL" in w for w in plan.warnings)
    assert not any("trained for" in w or "no room" in w for w in plan.warnings)


@pytest.mark.parametrize("name", ["rtx4090", "rtx3090", "rtx3080", "rtx5090", "cpu"])
def test_ollama_profiles_use_the_original_roster(name: str) -> None:
    profile = load_profile(name)
    assert set(profile.models) <= ROSTER
    assert profile.backend.kind == "ollama"
    assert profile.backend.host == "http://127.0.0.1:11434"
    assert set(profile.routing) == {"planning", "coding", "review", "testing", "documentation",
                                    "debugging"}  # fmt: skip
    for model in profile.models.values():
        assert model.size_gb and model.params_b and model.quantization
        expected = (
            "fast" if model.params_b < 10 else "balanced" if model.params_b < 20 else "powerful"
        )
        assert model.tier.value == expected, model.name


def test_gpu_card_sizes() -> None:
    assert set(load_profile("rtx4090").models) == ROSTER
    small = load_profile("rtx3080")
    assert small.hardware.vram_gb == 10
    assert all(m.params_b < 20 for m in small.models.values()), "no 33B model on a 10 GB card"
    assert load_profile("rtx5090").hardware.vram_gb == 32
    assert load_profile("rtx4090").settings == Settings()  # the original defaults


@pytest.mark.parametrize(
    ("line", "got"),
    [("concurrent_limit = true", "True"), ('concurrent_limit = "4"', "'4'"),
     ("concurrent_limit = 2.0", "2.0")],
)  # fmt: skip
def test_no_silent_type_conversion(tmp_path: Path, line: str, got: str) -> None:
    text = (DATA / "good_base.toml").read_text().replace("concurrent_limit = 2", line)
    path = tmp_path / "conv.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=rf"must be a whole number \(got {re.escape(got)}\)"):
        load_profile(path)


def test_non_utf8_and_deeply_nested_files_are_refused_by_name(tmp_path: Path) -> None:
    from orchbench.profiles import read_toml

    cases = {
        "latin1.toml": ("description = 'café'\n".encode("latin-1"), "not UTF-8 (byte 0xe9"),
        "utf16.toml": ("name = 'x'\n".encode("utf-16"), "is UTF-16"),
        "binary.toml": (bytes(range(256)), "not a text file"),
        "deep.toml": (("x = " + "[" * 20000 + "]" * 20000).encode(), "nested too deeply"),
        "deep33.toml": (("x = " + "[" * 33 + "]" * 33).encode(), "nested too deeply"),
    }
    for name, (body, message) in cases.items():
        (tmp_path / name).write_bytes(body)
        with pytest.raises(ProfileError, match=re.escape(message)) as caught:
            read_toml(tmp_path / name)
        assert name in str(caught.value)
    (tmp_path / "ok.toml").write_bytes(("x = " + "[" * 31 + "]" * 31).encode())
    assert read_toml(tmp_path / "ok.toml")["x"]


def test_extends_chains_at_most_eight_profiles(tmp_path: Path) -> None:
    base = (DATA / "valid.toml") if (DATA / "valid.toml").exists() else find_profile("cpu")
    (tmp_path / "c8.toml").write_bytes(base.read_bytes())
    for i in range(8):
        (tmp_path / f"c{i}.toml").write_text(f'extends = "c{i + 1}.toml"\n')
    assert load_profile(tmp_path / "c1.toml").name == "c1"  # 7 links: fine
    assert load_profile(tmp_path / "c0.toml").name == "c0"  # 8 links: fine
    (tmp_path / "d.toml").write_text('extends = "c0.toml"\n')  # 9 links
    with pytest.raises(ProfileError, match="chains more than 8 profiles"):
        load_profile(tmp_path / "d.toml")
