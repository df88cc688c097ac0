"""The ``orchbench`` command line: one verb per job, each in its own module.

This layer only parses, validates, calls the public API and prints. Any
:class:`~orchbench.errors.OrchbenchError` becomes one red line and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from orchbench.errors import OrchbenchError

# Each module defines ``register(app)``; the order is the order of ``--help``.
VERB_MODULES = (
    "run",
    "tune",
    "report",
    "compare",
    "profiles",
    "doctor",
    "setup",
    "calibrate",
)


def build_app() -> typer.Typer:
    """The Typer application with every verb registered."""
    app = typer.Typer(
        name="orchbench",
        help="Run several local LLMs at once, measure it honestly, tune the limits.\n\n"
        "Example: orchbench run --profile embedded",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for verb in VERB_MODULES:
        module = importlib.import_module(f"orchbench.cli._{verb}")
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``orchbench`` console script; returns the exit code."""
    app = build_app()
    err = Console(stderr=True)
    try:
        # Standalone mode lets click report usage errors (exit 2) and turn typer.Exit
        # into SystemExit; our own errors pass through to be printed as one line each.
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except OrchbenchError as exc:
        for line in str(exc).splitlines():
            # escape: messages hold brackets (pip install 'orchbench[embedded]').
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False)
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
