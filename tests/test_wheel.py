"""The built wheel ships the profiles and suites tracked in git, and nothing generated.

The wheel is built with hatchling's own builder from a copy of the checkout's files (tracked,
or new and not ignored) in a fresh git repository in a temporary folder, so the checkout is
never written, with a stray tuned profile and an untracked suite beside the tracked ones.
"""

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("pyproject.toml", "hatch_build.py", "README.md", "orchbench", "profiles", "suites")


def _copy_tracked(target: Path) -> list[str]:
    listing = ("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *NEEDED)
    listed = subprocess.run(
        ["git", "-C", str(ROOT), *listing],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    names = [n for n in listed.split("\0") if n and (ROOT / n).is_file()]
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return names


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=True, timeout=60)


def test_the_wheel_holds_only_tracked_profiles_and_suites(tmp_path):
    pytest.importorskip("hatchling")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    from hatchling.builders.wheel import WheelBuilder

    src = tmp_path / "src"
    src.mkdir()
    names = _copy_tracked(src)
    _git(src, "init", "-q")
    _git(src, "add", "-A")
    # generated and scratch files a user's checkout may hold
    (src / "profiles" / "embedded.tuned.toml").write_text('name = "embedded.tuned"\n')
    (src / "profiles" / "x.tuned.toml").write_text('name = "x.tuned"\n')
    (src / "suites" / "scratch.toml").write_text('name = "scratch"\n')

    (wheel,) = WheelBuilder(str(src)).build(directory=str(tmp_path / "dist"), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
    shipped = {n for n in files if n.startswith(("orchbench/_profiles/", "orchbench/_suites/"))}
    expected = {
        n.replace("profiles/", "orchbench/_profiles/", 1).replace(
            "suites/", "orchbench/_suites/", 1
        )
        for n in names
        if n.startswith(("profiles/", "suites/"))
    }
    assert shipped == expected
    assert "orchbench/_profiles/embedded.toml" in shipped
    assert "orchbench/_suites/test_workloads.py" in shipped
    assert not any("tuned" in n or "scratch" in n for n in files)
    assert "orchbench/cli/__init__.py" in files
