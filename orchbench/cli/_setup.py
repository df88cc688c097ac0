"""`orchbench setup` (not written yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `setup` verb to ``app`` (placeholder until it is written)."""
