"""`orchbench run` (not written yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `run` verb to ``app`` (placeholder until it is written)."""
