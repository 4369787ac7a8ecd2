"""The `disentangle` command line. Heavy imports (torch) live inside the commands, so `--help`
stays quick. Errors a user can fix print as one line on stderr; `--debug` shows the traceback."""

from __future__ import annotations

import os

import typer

from disentangle.errors import DisentangleError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Learn and measure disentangled representations (InfoGAN and baselines).",
)


def _print_version(value: bool) -> None:
    if value:
        from disentangle import __version__

        typer.echo(f"disentangle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    if debug:
        os.environ["DISENTANGLE_DEBUG"] = "1"


def _register_commands() -> None:
    # in this order: `disentangle --help` lists the commands as they registered
    from disentangle.cli import components, run, evaluate, select, sample  # noqa: F401, I001


def fail(message: str, code: int = 1) -> None:
    """Print one error line and exit."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        code = app(args=argv, prog_name="disentangle", standalone_mode=False)
    except DisentangleError as exc:
        if os.environ.get("DISENTANGLE_DEBUG") == "1":
            raise
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None
    except OSError as exc:  # the system refused a file operation: say which and why
        if os.environ.get("DISENTANGLE_DEBUG") == "1" or exc.strerror is None:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror} (--debug shows where)")
    except Exception as exc:
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            if exc.ctx.parent is None:  # `disentangle` alone asks what there is: the help
                typer.echo(exc.format_message())
                raise SystemExit(0) from None
            # `disentangle run` alone lacks its METHOD: a usage error, with the command's help
            typer.echo(exc.format_message(), err=True)
            raise SystemExit(exc.exit_code) from None
        # the command-line parser's own usage errors: one line too, with where to look
        fail(f"{exc.format_message()} (see 'disentangle --help')", exc.exit_code)
    if code == 130:  # Ctrl-C, which the command-line layer turns into this exit code
        typer.echo("interrupted", err=True)
    raise SystemExit(code if isinstance(code, int) else 0)
