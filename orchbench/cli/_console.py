"""The two consoles every verb prints to: results on stdout, progress and errors on stderr."""

from __future__ import annotations

import sys

from rich.console import Console


def out_console() -> Console:
    """Results (tables, the files written): stdout; piped, 120 columns and unwrapped lines."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=120, soft_wrap=True)


def err_console() -> Console:
    """Progress, notices and errors: stderr, lines never wrapped at rich's 80 columns."""
    return Console(stderr=True, soft_wrap=True)
