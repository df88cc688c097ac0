"""`orchbench report RUN [--open]`: figures and one self-contained HTML page for a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `report` verb to ``app``."""

    @app.command("report")
    def report(
        run: Annotated[Path, typer.Argument(help="A results folder written by `orchbench run`.")],
        open_: Annotated[
            bool, typer.Option("--open/--no-open", help="Open the report in the default browser.")
        ] = False,
    ) -> None:
        """Write RUN/report.html (and RUN/figures/) from a results folder.

        The page is self-contained: figures are inline and it needs no network.

        Example: orchbench report results/20261125-210000-embedded-code-completion --open
        """
        from rich.console import Console

        from orchbench.report import write_report

        path = write_report(run, open_browser=open_)
        Console().print(f"report written: {path}", highlight=False)
