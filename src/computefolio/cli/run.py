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

from ._common import app, console, guard


@app.command("run")
@guard
def run(
    strategy: Optional[Path] = typer.Argument(None, help="Strategy YAML file (see computefolio.strategy for the "
                                                        "schema; default: the shipped compute_backed strategy)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Folder of long-format price files (overrides the "
                                                             "strategy's data source; e.g. ../shared/data/prices)."),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    store: Optional[Path] = typer.Option(None, "--store", help="DuckDB store file (overrides the data source)."),
    out: Path = typer.Option(Path("out"), "--out", help="Output root; files go to OUT/<strategy-name>/."),
    start: Optional[str] = typer.Option(None, "--start", help="First valuation date (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last valuation date (YYYY-MM-DD)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Run a strategy file end to end and write its report.

    ``computefolio run --data ../shared/data/prices`` runs the shipped strategy on real prices.
    """
    from ..job import print_summary, run_strategy
    from ..strategy import load_strategy

    s = load_strategy(strategy)
    s = _override(s, data=data, sample=sample, store=store, start=start, end=end)
    res = run_strategy(s, out_dir=out, progress=progress, console=console)
    print_summary(res, console)


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
    res = run_strategy(s, out_dir=out, progress=progress, console=console)
    print_summary(res, console, layer_table=True)


def _override(s, *, data=None, sample=False, store=None, start=None, end=None):
    chosen = [x for x in (data is not None, sample, store is not None) if x]
    if len(chosen) > 1:
        raise typer.BadParameter("give at most one of --data, --sample, --store")
    changes = {}
    if data is not None:
        changes["data"] = {"source": "files", "path": str(Path(data).resolve()), "seed": s.data.seed}
    elif sample:
        changes["data"] = {"source": "sample", "seed": s.data.seed}
    elif store is not None:
        changes["data"] = {"source": "store", "store": str(Path(store).resolve()), "seed": s.data.seed}
    if start is not None:
        changes["start"] = start
    if end is not None:
        changes["end"] = end
    return s.with_overrides(**changes) if changes else s
