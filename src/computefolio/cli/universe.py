"""``computefolio universe show``: the universe as a table, weighted counts per group."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from ..universe import GROUP_FIELDS, load_universe
from ._common import app, console, fmt_num, guard, parse_date

universe_app = typer.Typer(help="Inspect the universe and its value-chain taxonomy.", no_args_is_help=True)
app.add_typer(universe_app, name="universe")


@universe_app.command("show")
@guard
def show(
    by: Optional[str] = typer.Option(None, "--by", help=f"Group by one of: {', '.join(GROUP_FIELDS)}."),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped compute_backed.yaml)."),
    date: Optional[str] = typer.Option(None, "--date", help="Classification as of this date (YYYY-MM-DD)."),
) -> None:
    """Print the universe; with --by, weighted asset counts per group."""
    day = parse_date(date, "--date")
    date = None if day is None else str(day.date())
    u = load_universe(universe)
    if by is None:
        t = Table(title=f"Universe {u.name} ({len(u)} assets)")
        for c in ("symbol", "name", "class", "sleeve", "calendar", "venue", "layers", "themes", "compute"):
            t.add_column(c, justify="right" if c == "compute" else "left")
        for a in u.assets:
            c = a.classification_at(date)
            layers = ", ".join(k if w >= 1 else f"{k} {w:.0%}" for k, w in c.layers.items())
            themes = ", ".join(k if w >= 1 else f"{k} {w:.0%}" for k, w in c.themes.items())
            t.add_row(a.symbol, a.name, a.asset_class, a.sleeve, a.calendar, a.venue, layers, themes,
                      f"{c.compute_exposure:.2f}")
        console.print(t)
        return
    if by not in GROUP_FIELDS:
        raise typer.BadParameter(f"--by must be one of {', '.join(GROUP_FIELDS)}")
    tab = u.table(by)
    t = Table(title=f"Universe {u.name} by {by}" + (f" as of {date}" if date else "") + " (weighted counts)")
    for c, j in (("group", "left"), ("name", "left"), ("assets", "right"), ("members", "left")):
        t.add_column(c, justify=j)
    for _, r in tab.iterrows():
        t.add_row(r["group"], r["name"], f"{r['assets']:.2f}", r["members"])
    t.add_row("total", "", f"{tab['assets'].sum():.2f}", "", style="bold")
    console.print(t)


@universe_app.command("summary")
@guard
def summary(
    by: str = typer.Option("layer", "--by", help=f"Group by one of: {', '.join(GROUP_FIELDS)}."),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped compute_backed.yaml)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prices: a folder of long-format files or one file."),
    store: Optional[Path] = typer.Option(None, "--store", help="DuckDB store (default: $COMPUTEFOLIO_HOME/store.duckdb)."),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    start: str = typer.Option("2019-01-01", "--start", help="First date (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last date (YYYY-MM-DD; default: the data's last date)."),
    date: Optional[str] = typer.Option(None, "--date", help="As of this date: its classification and returns up to it."),
    seed: int = typer.Option(7, "--seed", min=0, max=2 ** 32 - 1, help="Seed of the sample market."),
) -> None:
    """The market by layer (or theme, sleeve...): basket volatility on both bases, correlation with BTC and QQQ.

    Data: --data, --store or --sample when given; else the default store when it holds prices;
    else the built-in sample market (simulated, said in red).
    """
    from ..summary import group_summary

    if by not in GROUP_FIELDS:
        raise typer.BadParameter(f"--by must be one of {', '.join(GROUP_FIELDS)}")
    start = str(parse_date(start, "--start").date())
    end = None if end is None else str(parse_date(end, "--end").date())
    date = None if date is None else str(parse_date(date, "--date").date())
    u = load_universe(universe)
    from ..data.load import load_market, resolve_source

    source = resolve_source(path=data, store=store, sample=sample)
    market = load_market(u, source=source, path=data, store=store, start=start, end=end, seed=seed)
    if market.simulated and not sample:
        from ._common import err_console

        err_console.print("[bold white on red] SAMPLE MARKET (SIMULATED) [/] no --data or --store given and no store "
                          "with prices: using the built-in sample market; no number describes real assets")
    s = group_summary(market, u, by, date=date)
    last = market.end if date is None else min(market.end, pd.Timestamp(date))
    t = Table(title=f"Market by {by}: {market.label}, {market.start.date()} to {last.date()}",
              caption=s.attrs["basis_note"])
    heads = {"assets": "assets", "obs_session": "sessions"}
    for c in s.columns:
        if c.startswith("vol_ann_session"):
            heads[c] = f"vol ses {c.rsplit('_', 1)[-1]}/yr"
        elif c.startswith("vol_ann_calendar"):
            heads[c] = f"vol cal {c.rsplit('_', 1)[-1]}/yr"
        elif c.startswith("corr_"):
            heads[c] = f"corr {c.split('_')[1].upper()}"
    t.add_column(by, justify="left", no_wrap=True)
    cols = [c for c in s.columns if c in heads]
    for c in cols:
        t.add_column(heads[c], justify="right")
    for g, r in s.iterrows():
        cells = [str(g)]
        for c in cols:
            v = r[c]
            if c == "obs_session":
                cells.append(f"{int(v):,}")
            elif c == "assets":
                cells.append(f"{v:.2f}")
            else:
                cells.append(fmt_num(v, ".1f", pct=True) if c.startswith("vol") else fmt_num(v, "+.2f"))
        t.add_row(*cells)
    console.print(t)
    if market.simulated:
        console.print("[yellow]simulated data (built-in sample market), not real prices[/]", highlight=False)
