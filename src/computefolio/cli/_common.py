"""Shared pieces of the CLI: the Typer app, error guard, console, store/data options."""

from __future__ import annotations

import functools
import sys

import typer
from rich.console import Console

from ..errors import ComputefolioError

app = typer.Typer(
    name="computefolio",
    help="Run a compute-backed hybrid book by value chain: data, risk, construction, backtest, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

console = Console()
err_console = Console(stderr=True)


def guard(fn):
    """Decorator for commands: a ComputefolioError becomes one red line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ComputefolioError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:  # pragma: no cover
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper
