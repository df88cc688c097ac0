"""Wheel build hook: ship the profiles and suites tracked in git, nothing generated beside them.

``profiles/`` and ``suites/`` go into the wheel as ``orchbench/_profiles`` and
``orchbench/_suites``. A plain ``force-include`` of the folders would also ship whatever
sits there in the checkout (a ``NAME.tuned.toml`` a tune wrote, a scratch suite), so the
files are listed with ``git ls-files``. Built outside a git checkout (from an sdist), every
file there is shipped except generated tuned profiles.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = {"profiles": "orchbench/_profiles", "suites": "orchbench/_suites"}
GENERATED = ("*.tuned.toml", "*.tuned-*.toml")


def tracked_files(root: Path, folder: str) -> list[Path] | None:
    """The files of ``root/folder`` that git tracks, or ``None`` outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--", folder],
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    names = [n for n in done.stdout.decode().split("\0") if n]
    return [root / n for n in names if (root / n).is_file()]


def shipped_files(root: Path) -> dict[str, str]:
    """Source path → path inside the wheel, for every profile and suite file to ship."""
    shipped: dict[str, str] = {}
    for folder, target in SHIPPED.items():
        files = tracked_files(root, folder)
        if files is None:
            files = [
                p
                for p in (root / folder).rglob("*")
                if p.is_file() and not any(p.match(g) for g in GENERATED)
            ]
        for path in files:
            relative = path.relative_to(root / folder).as_posix()
            shipped[str(path)] = f"{target}/{relative}"
    return shipped


class ShippedDataHook(BuildHookInterface):
    """Adds the tracked profiles and suites to the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Force-include each shipped file at its place under ``orchbench/``."""
        build_data["force_include"].update(shipped_files(Path(self.root)))
