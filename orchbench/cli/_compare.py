"""`orchbench compare` (not written yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `compare` verb to ``app`` (placeholder until it is written)."""
