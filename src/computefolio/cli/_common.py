"""Shared pieces of the CLI: the Typer app, error handling, help formatting, consoles, JSON and numbers.

One tool, one set of conventions, applied here to every command (including ones
registered later by other modules):

* **Errors.** An error raised on purpose (:class:`~computefolio.errors.ComputefolioError`)
  prints one line on stderr and exits 2. Anything else is a bug: the last-resort
  handler writes the traceback, the command line and the versions to a log file
  (``$COMPUTEFOLIO_HOME/logs/``, else ``~/.computefolio/logs/``, else the temporary
  folder), prints one line naming the log, and exits 2. No command prints a traceback.
* **Help.** Flags are shown as flags, options with an upper-case metavar (``PATH``,
  ``INTEGER``, ``DATE``), arguments by their upper-case name (no ``<bool>``, ``<str>``,
  ``<list[Path]>`` type labels, no ``{holdings}`` braces); reStructuredText markup of
  docstrings (````code````, ``:func:`x```) is shown as plain text.
* **Streams.** Tables and results go to stdout (:data:`console`); progress, status
  lines ("wrote ...") and warnings go to stderr (:data:`err_console`), so redirected
  output is clean.
* **JSON.** ``--json PATH`` writes the command's result as JSON to PATH, ``--json -``
  to stdout (then nothing else is printed on stdout); the content follows the one JSON
  rule of :mod:`computefolio._json` (non-finite numbers as null, listed under
  ``"nonfinite"``). Use :func:`json_option` and :func:`emit_json`.
* **Numbers in tables.** :func:`fmt_num` prints missing values as ``missing`` and
  infinite ones as ``infinite`` / ``-infinite``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
import platform
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from ..errors import ComputefolioError, one_line

__all__ = ["app", "console", "err_console", "guard", "json_option", "emit_json", "fmt_num", "plain_help",
           "report_error", "internal_error", "parse_date"]

console = Console()
err_console = Console(stderr=True)


# ----------------------------------------------------------------------------- errors
def report_error(exc: BaseException) -> None:
    """Print an error raised on purpose as one red line on stderr."""
    msg = one_line(" ".join(str(exc).split("\n")))
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)


def _log_dir() -> Path:
    home = os.environ.get("COMPUTEFOLIO_HOME")
    cands = [Path(home).expanduser() / "logs"] if home else []
    cands += [Path.home() / ".computefolio" / "logs", Path(tempfile.gettempdir()) / "computefolio-logs"]
    for c in cands:
        try:
            c.mkdir(parents=True, exist_ok=True)
            probe = c / ".write-test"
            probe.write_text("")
            probe.unlink()
            return c
        except OSError:
            continue
    return Path(tempfile.gettempdir())


def internal_error(exc: BaseException, command: str = "") -> Path | None:
    """Write the details of an unexpected error to a log file; print one line naming it.

    Returns the log path (None when no log could be written).
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = None
    try:
        from .. import __version__ as version
    except ImportError:  # pragma: no cover
        version = "unknown"
    try:
        d = _log_dir()
        path = d / f"error-{stamp}-{os.getpid()}.log"
        text = (f"computefolio {version}, Python {platform.python_version()} on {platform.platform()}\n"
                f"command: {' '.join(sys.argv)}\n" + (f"invoked: {command}\n" if command else "")
                + f"time: {_dt.datetime.now().isoformat()}\n\n"
                + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        path.write_text(text, encoding="utf-8")
    except OSError:
        path = None
    what = one_line(" ".join(f"{type(exc).__name__}: {exc}".split("\n")))
    if len(what) > 200:
        what = what[:197] + "..."
    where = f"details in {path}" if path else "no log could be written"
    err_console.print(f"error: internal error ({what}); {where}. Please report it.", markup=False,
                      highlight=False, soft_wrap=True)
    return path


def guard(fn):
    """Decorator for commands: a ComputefolioError becomes one red line and exit code 2.

    The app's group applies the same handling (and the last-resort handler) to every
    command, decorated or not; the decorator is kept so that a command function called
    on its own behaves the same.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ComputefolioError as exc:
            report_error(exc)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:  # pragma: no cover
            err_console.print("interrupted")
            raise typer.Exit(code=130) from None

    return wrapper


# ----------------------------------------------------------------------------- help
_RST_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]+?)(?:\s*<[^>]*>)?`")
_RST_CODE = re.compile(r"``(.+?)``")
_RST_EMPH = re.compile(r"(?<![`\w])`([^`]+)`(?![`\w])")


def plain_help(text: Optional[str]) -> Optional[str]:
    """Help text without reStructuredText markup: ````x```` -> 'x', ``:func:`~a.b```` -> b."""
    if not text:
        return text

    def role(m):
        name = m.group(1).strip()
        return name.rsplit(".", 1)[-1] if m.group(0).split("`")[1].startswith("~") else name

    text = _RST_ROLE.sub(role, text)
    text = _RST_CODE.sub(lambda m: f"'{m.group(1)}'", text)
    text = _RST_EMPH.sub(lambda m: f"'{m.group(1)}'", text)
    return text


_DATE_NAMES = {"date", "asof", "start", "end", "since", "from", "to", "until"}


def _metavar(p) -> str:
    """Click-style metavar of an option from Typer's type descriptor."""
    desc = getattr(p, "type_descriptor", None)
    if desc is None:
        return "VALUE"
    try:
        if desc.is_choice:
            return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
        if desc.is_path:
            return "PATH"
        if desc.is_datetime or (p.name or "") in _DATE_NAMES:
            return "DATE"
        ann = desc.annotation
    except Exception:  # pragma: no cover - a Typer internals change: a neutral metavar
        return "VALUE"
    import typing

    if typing.get_origin(ann) in (list, tuple):
        args = typing.get_args(ann)
        ann = args[0] if args else str
    return {int: "INTEGER", float: "NUMBER", bool: "BOOLEAN", str: "TEXT"}.get(ann, "VALUE")


class _Option(TyperOption):
    """An option shown as click shows it: flags bare, values with an upper-case metavar."""

    def display_type_rich(self, ctx):  # noqa: D401
        if self.is_flag or self.count:
            return None
        mv = self.metavar or _metavar(self)
        return mv + ("..." if self.nargs != 1 else "")

    def display_type(self, ctx):
        return self.display_type_rich(ctx) or ""


class _Argument(TyperArgument):
    """An argument shown by its upper-case name, without a type label or braces."""

    def _name(self) -> str:
        return self.metavar or (self.name or "arg").upper()

    @property
    def display_name_raw(self) -> str:
        return self._name()

    def display_type_rich(self, ctx):
        return None

    def display_type(self, ctx):
        return ""

    def _usage_display_name(self) -> str:
        n = self._name()
        n = n if self.required else f"[{n}]"
        return n + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self._name() + ("..." if self.nargs != 1 else "")


def _swap(p) -> None:
    if type(p) is TyperOption:
        p.__class__ = _Option
    elif type(p) is TyperArgument:
        p.__class__ = _Argument


def _polish(cmd, seen: set[int]) -> None:
    """Plain help text and click-style metavars on a command and everything under it."""
    if id(cmd) in seen:
        return
    seen.add(id(cmd))
    cmd.help = plain_help(cmd.help)
    cmd.short_help = plain_help(getattr(cmd, "short_help", None))
    for p in cmd.params:
        if getattr(p, "help", None):
            p.help = plain_help(p.help)
        _swap(p)
    make_help = cmd.get_help_option

    def get_help_option(ctx, _make=make_help):
        opt = _make(ctx)
        if opt is not None:
            _swap(opt)
        return opt

    cmd.get_help_option = get_help_option
    for sub in getattr(cmd, "commands", {}).values():
        _polish(sub, seen)


def _passthrough() -> tuple[type, ...]:
    """Exceptions the command-line machinery handles itself (usage errors, exits)."""
    out: list[type] = [typer.Exit, typer.Abort, typer.TyperException]
    return tuple(out)


class CLIGroup(TyperGroup):
    """The root command group: help formatting and error handling for every command."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _polish(self, set())
        kw = dict(args=args, prog_name=prog_name, complete_var=complete_var, **extra)
        if not standalone_mode:
            return super().main(standalone_mode=False, **kw)
        try:
            rv = super().main(standalone_mode=False, **kw)
        except typer.TyperException as exc:  # a usage error: one line, like every other error
            if type(exc).__name__ != "NoArgsIsHelpError":  # (the help was printed)
                ctx = getattr(exc, "ctx", None)
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                msg = one_line(" ".join(exc.format_message().split("\n")))
                err_console.print(f"error: {msg}{hint}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(getattr(exc, "exit_code", 2))
        except typer.Abort:
            err_console.print("aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _passthrough():
            raise
        except ComputefolioError as exc:
            report_error(exc)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            raise typer.Exit(code=130) from None
        except BrokenPipeError:  # stdout closed early (| head): not an error of ours
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
            except OSError:  # pragma: no cover
                pass
            raise typer.Exit(code=0) from None
        except Exception as exc:  # the last resort: one line, a log, exit 2
            internal_error(exc, ctx.command_path)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    name="computefolio",
    help="Run a compute-backed hybrid book by value chain: data, risk, construction, backtest, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=CLIGroup,
)


# ----------------------------------------------------------------------------- JSON
JSON_HELP = "Write the result as JSON to PATH ('-' for stdout; then nothing else goes to stdout)."


def json_option(help: str = JSON_HELP) -> Any:
    """The ``--json PATH`` option, the same in every command (``-`` for stdout)."""
    return typer.Option(None, "--json", help=help, metavar="PATH|-")


def emit_json(obj: Any, dest: Optional[str | Path], *, what: str = "JSON") -> bool:
    """Write ``obj`` as JSON to ``dest`` (a path, or ``-`` for stdout); False when ``dest`` is None.

    The text follows the one JSON rule (:func:`computefolio._json.dumps`). A path is
    written whole or not at all (a temporary file renamed into place); a path that ends
    in a data-file suffix (``.csv``, ``.yaml``, ...) is refused rather than overwritten,
    since it is most likely an input given in the wrong place.
    """
    if dest is None:
        return False
    from .._json import dumps

    text = dumps(obj)
    if str(dest) == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return True
    if str(dest).startswith("-"):
        raise typer.BadParameter(f"--json needs a path or '-' after it; got {str(dest)!r} (an option?)")
    p = Path(dest)
    if p.suffix.lower() in (".csv", ".gz", ".parquet", ".yaml", ".yml", ".duckdb", ".html", ".py"):
        raise typer.BadParameter(f"--json {dest}: that looks like an input file, not a JSON output; "
                                 "give a path ending in .json, or '-' for stdout")
    if p.is_dir():
        raise typer.BadParameter(f"--json {dest}: a folder; give a file path ending in .json, or '-'")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        from ..errors import ConfigError

        raise ConfigError(str(p), "(file)", f"a writable path for the {what} ({exc.strerror or exc})") from None
    err_console.print(f"{what} written to {p}", highlight=False, markup=False, soft_wrap=True)
    return True


# ----------------------------------------------------------------------------- dates
def parse_date(value: Optional[str], flag: str):
    """A date option (YYYY-MM-DD) as a normalized pandas Timestamp; None stays None.

    Raises ``typer.BadParameter`` (usage error, exit 2) naming the flag for anything else.
    """
    if value is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(str(value).strip())
    except (ValueError, TypeError, OverflowError):
        ts = None
    if ts is None or pd.isna(ts) or not 1900 <= ts.year <= 2100:
        raise typer.BadParameter(f"{flag} {value!r}: expected a date YYYY-MM-DD between 1900 and 2100")
    return ts.tz_localize(None).normalize() if ts.tzinfo else ts.normalize()


# ----------------------------------------------------------------------------- numbers
def fmt_num(v: Any, spec: str = ",.4g", *, pct: bool = False, suffix: str = "") -> str:
    """A number for a table: ``missing`` for None/NaN, ``infinite``/``-infinite`` for inf.

    ``spec`` is a format spec (``",.0f"``, ``".2%"``...); with ``pct`` the value (a
    fraction) is shown in percent with ``spec`` applied to 100 x value.
    """
    if v is None:
        return "missing"
    try:
        x = float(v)
    except (TypeError, ValueError):
        import pandas as pd

        try:
            if pd.isna(v):  # pd.NA, NaT
                return "missing"
        except (TypeError, ValueError):
            pass
        return str(v)
    if math.isnan(x):
        return "missing"
    if math.isinf(x):
        return "infinite" if x > 0 else "-infinite"
    if pct:
        return f"{100 * x:{spec}}%"
    return f"{x:{spec}}{suffix}"
