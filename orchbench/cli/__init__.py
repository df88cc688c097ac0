"""The ``orchbench`` command line: one verb per job, each in its own module.

This layer only parses, validates, calls the public API and prints. Any
:class:`~orchbench.errors.OrchbenchError` becomes one red line and exit code 2.
"""

from __future__ import annotations

import atexit
import importlib
import sys
from typing import Annotated, Any

import typer
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
    app.callback()(_root)
    for verb in VERB_MODULES:
        module = importlib.import_module(f"orchbench.cli._{verb}")
        module.register(app)
    return app


def _show_version(value: bool) -> None:
    if value:
        from orchbench import __version__

        print(f"orchbench {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run several local LLMs at once, measure it honestly, tune the limits."""


def close_library_devnull() -> None:
    """Close the two ``/dev/null`` files llama-cpp-python opens at import and never closes.

    ``llama_cpp/_utils.py`` keeps ``outnull_file`` and ``errnull_file`` open for the life
    of the process (to silence model loading); left to interpreter shutdown they end every
    run that loaded a model with ``ResourceWarning: unclosed file '/dev/null'`` (shown with
    ``-W default`` or ``-X dev``). Registered with ``atexit`` by the console script only:
    closing them earlier would break the next model load in the same process.
    """
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None and hasattr(handle, "close"):
            handle.close()


def build_command() -> Any:
    """The click command of :func:`build_app` (what :func:`main` runs; building it costs
    a fifth of a second, so a caller running many command lines may build it once)."""
    return typer.main.get_command(build_app())


def main(argv: list[str] | None = None, *, command: Any = None) -> int:
    """Entry point of the ``orchbench`` console script; returns the exit code.

    ``argv`` ``None`` means the process's own arguments: then this process ends with the
    command, and library files left open are closed at exit. ``command``: one made by
    :func:`build_command` (default: a fresh one).
    """
    from orchbench.cli._console import err_console

    if argv is None:
        atexit.register(close_library_devnull)
    cli = command if command is not None else build_command()
    err = err_console()
    try:
        # Not standalone: a usage error is printed by us, as one line, not in a box, and
        # typer.Exit comes back as the exit code; our own errors are printed one line each.
        # obj: the verbs see the command line as typed (a refusal shows it with --force).
        args = list(sys.argv[1:] if argv is None else argv)
        code = cli.main(args=args or ["--help"], standalone_mode=False, obj={"argv": args})
        return code if isinstance(code, int) else 0
    except typer.TyperException as exc:  # click's usage errors (a bad or unknown option)
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        err.print(f"[red]error:[/red] {escape(message)}{escape(where)}", highlight=False)
        return 2
    except typer.Abort:
        return 1
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
