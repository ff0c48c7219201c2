"""``computefolio run STRATEGY.yaml`` and ``computefolio demo``: the whole flow, one report.

``run`` loads and validates the strategy file, then runs
:func:`computefolio.job.run_strategy` (load -> validate -> construct -> backtest ->
risk -> stress -> report) with progress bars, prints a terminal summary and writes
``out/<strategy-name>/`` (``report.html``, ``results.json``, ``weights.csv``,
``trades.csv``, ``manifest.json``). ``demo`` is ``run`` on the shipped strategy with the
built-in sample market.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import pandas as pd

from ._common import app, console, err_console, guard


_DATA_HELP = ("Prices: a folder of long-format files (its primary.csv and volume.csv are the source plans) or one "
              "file, e.g. ../shared/data/prices.")


@app.command("run")
@guard
def run(
    strategy: Optional[Path] = typer.Argument(None, help="Strategy YAML file (see computefolio.strategy for the "
                                                        "schema; default: the shipped compute_backed strategy)."),
    data: Optional[Path] = typer.Option(None, "--data", help=_DATA_HELP),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    store: Optional[Path] = typer.Option(None, "--store", help="DuckDB store file (overrides the data source)."),
    out: Path = typer.Option(Path("out"), "--out", help="Output root; files go to OUT/<strategy-name>/ "
                                                       "(OUT/<strategy-name>-sample/ on the sample market)."),
    start: Optional[str] = typer.Option(None, "--start", help="First valuation date (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", "--asof",
                                      help="Last valuation date, the book's as-of date (YYYY-MM-DD). Default: the "
                                           "strategy's end, else the last date on which every sleeve has fresh "
                                           "prices for most of its members (the run says why it stopped there)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 3 when a warning that changes numbers "
                                                        "remains (stale prices, missing volume, mandate rules not "
                                                        "applied, proxies in stress, data errors): for scheduled "
                                                        "runs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars (on stderr)."),
    pdf: bool = typer.Option(False, "--pdf", help="Also print the report to OUT/<strategy-name>/report.pdf through "
                                                  "headless Chromium (page size: the strategy's report.paper)."),
) -> None:
    """Run a strategy file end to end and write its report.

    Data: --data, --store or --sample when given; else the strategy's data source; a strategy with
    source 'auto' (the shipped one) reads the default store when it holds prices, else the built-in
    sample market (simulated, and every output says so).
    `computefolio run --data ../shared/data/prices` runs the shipped strategy on real prices.
    """
    from ..job import print_summary, run_strategy
    from ..strategy import load_strategy

    s = load_strategy(strategy)
    s = _override(s, data=data, sample=sample, store=store, start=start, end=end)
    res = run_strategy(s, out_dir=out, progress=progress, console=err_console if progress else console)
    print_summary(res, console)
    if pdf:
        _write_pdf(res)
    _mandate_exit(res)
    _strict_exit(res, strict)


def _mandate_exit(res) -> None:
    """A run whose own trades broke the mandate beyond the strategy's tolerance fails loudly (exit 4)."""
    mt = (res.results or {}).get("mandate_through_time") or {}
    if mt.get("failed"):
        err_console.print(f"[bold red]mandate:[/] the book's own trades broke the mandate at "
                          f"{mt['active_rebalances']} of {mt['rebalances']} rebalances (largest "
                          f"{mt['worst_active']:.3%} of the book, above mandate_tolerance {mt['tolerance']:g}); "
                          "outputs are written, see results.json: mandate_through_time", highlight=False)
        raise typer.Exit(code=4)


def _write_pdf(res) -> None:
    """``--pdf``: print the report to ``report.pdf``; one line and exit 1 when Chromium is absent or fails."""
    from ..errors import ComputefolioError
    from ..report import write_pdf

    path = res.out_dir / "report.pdf"
    try:
        write_pdf(res.results, path, paper=res.strategy.report.paper)
    except ComputefolioError as exc:
        err_console.print(f"[bold red]pdf:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    console.print(f"pdf: {path}", highlight=False, soft_wrap=True)


def _strict_exit(res, strict: bool) -> None:
    """With ``--strict``, exit 3 naming the classes of warnings that change numbers."""
    if not strict:
        return
    cav = (res.results or {}).get("caveats") or {}
    strict_classes = set(cav.get("strict_classes") or [])
    bad = [c for c in cav.get("items") or [] if c["class"] in strict_classes and c["severity"] in ("error", "warning")]
    if bad:
        names = sorted({c.get("class_name") or c["class"] for c in bad})
        err_console.print(f"[bold red]strict:[/] {len(bad)} warning(s) that change numbers: {', '.join(names)} "
                          "(see the panel above and results.json: caveats)", highlight=False)
        raise typer.Exit(code=3)


@app.command("demo")
@guard
def demo(
    out: Path = typer.Option(Path("out"), "--out", help="Output root; files go to OUT/compute_backed/."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Run the shipped compute_backed strategy on the built-in sample market (simulated)."""
    from ..job import print_summary, run_strategy
    from ..strategy import load_strategy

    s = _override(load_strategy(), sample=True)
    res = run_strategy(s, out_dir=out, progress=progress, console=err_console if progress else console)
    print_summary(res, console, layer_table=True)
    _mandate_exit(res)


def _override(s, *, data=None, sample=False, store=None, start=None, end=None):
    from ..data.load import resolve_source
    from ..errors import DataError

    resolve_source(path=data, store=store, sample=sample)  # one error naming the flags when several are given
    changes = {}
    if data is not None:
        if not Path(data).exists():
            raise DataError(f"--data {data}: no such file or folder")
        changes["data"] = {"source": "files", "path": str(Path(data).resolve()), "seed": s.data.seed}
    elif sample:
        changes["data"] = {"source": "sample", "seed": s.data.seed}
    elif store is not None:
        changes["data"] = {"source": "store", "store": str(Path(store).resolve()), "seed": s.data.seed}
    for flag, v in (("--start", start), ("--end", end)):
        if v is not None:
            try:
                changes[flag[2:]] = pd.Timestamp(v).date()
            except (ValueError, TypeError):
                raise DataError(f"{flag} {v!r}: expected a date YYYY-MM-DD") from None
    if "start" in changes and "end" in changes and changes["end"] <= changes["start"]:
        raise DataError(f"--end {changes['end']} must be after --start {changes['start']}")
    if not changes:
        return s
    from ..errors import ConfigError

    try:
        return s.with_overrides(**changes)
    except ConfigError as exc:
        flag = {"start": "--start", "end": "--end", "data.path": "--data", "data": "--data"}.get(exc.field)
        if flag is None:
            raise
        given = changes.get(exc.field.split(".")[0])
        raise DataError(f"{flag} {given if not isinstance(given, dict) else ''}: {exc.expected}".replace(" :", ":")) \
            from None
