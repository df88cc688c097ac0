"""The ``orchbench`` command line: one verb per job, each in its own module.

This layer only parses, validates, calls the public API and prints. Any
:class:`~orchbench.errors.OrchbenchError` becomes one red line and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

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
    """Entry point of the ``orchbench`` console script."""
    app = build_app()
    err = Console(stderr=True)
    try:
        app(args=argv, standalone_mode=False)
    except OrchbenchError as exc:
        for line in str(exc).splitlines():
            err.print(f"[red]error:[/red] {line}", highlight=False, markup=True)
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            err.print("[yellow]aborted[/yellow]")
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
