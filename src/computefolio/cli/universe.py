"""``computefolio universe show``: the universe as a table, weighted counts per group."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..universe import GROUP_FIELDS, load_universe
from ._common import app, console, guard

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
