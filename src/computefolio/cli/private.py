"""``computefolio private``: private stakes and locked tokens (import marks and terms, show a sleeve).

``import FILE`` stores a positions file's marks and lock-up terms in the store (with the
file, its SHA-256 and the batch; once per content); the book's NAV then prices private
positions by them (``computefolio book show``). ``marks`` lists the stored marks with their
ages on a date. ``show [FILE]`` values a positions file's sleeve on a date: positions, how each
is valued, observed vs unsmoothed risk, locked value by month and the token overhang.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from ._common import app, console, emit_json, guard, json_option

private_app = typer.Typer(help="Private stakes and locked tokens: marks, lock-ups, unsmoothed risk (docs/private.md).",
                          no_args_is_help=True)
app.add_typer(private_app, name="private")

_STORE = typer.Option(None, "--store", help="Store file (default: $COMPUTEFOLIO_HOME/store.duckdb).")


def _date(flag: str, v):
    from ..errors import DataError

    if v is None:
        return None
    try:
        return pd.Timestamp(v).normalize()
    except (ValueError, TypeError):
        raise DataError(f"{flag} {v!r}: expected a date YYYY-MM-DD") from None


@private_app.command("import")
@guard
def import_(
    file: Path = typer.Argument(..., help="Private positions YAML (marks, positions and their terms)."),
    store: Path | None = _STORE,
    universe_path: Path | None = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped)."),
) -> None:
    """Store a positions file's marks and terms (all or nothing, once per file content)."""
    from ..book.store import BookStore
    from ..private.store import PrivateStore
    from ..universe import load_universe

    u = load_universe(universe_path)
    with BookStore(store) as bs:
        res = PrivateStore(bs).import_book(file, universe=u)
    if res["already_imported"]:
        console.print(f"{file}: already imported (batch {res['batch']}); nothing added", highlight=False, soft_wrap=True)
    else:
        console.print(f"{file}: batch {res['batch']}: {res['marks']} mark(s) and the terms of {res['terms']} "
                      f"position(s) stored (NAV policy between marks: {res['policy']})", highlight=False, soft_wrap=True)


@private_app.command("marks")
@guard
def marks(
    asof: str | None = typer.Option(None, "--asof", help="Date the ages are counted to (default: today)."),
    store: Path | None = _STORE,
    json_out: str | None = json_option(),
) -> None:
    """The stored marks with their source, reference and age."""
    from ..book.store import BookStore
    from ..private.store import PrivateStore

    day = _date("--asof", asof) or pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    with BookStore(store) as bs:
        prov = PrivateStore(bs).provenance()
    rows = []
    for r in prov.itertuples():
        d = pd.Timestamp(r.date)
        rows.append({"symbol": r.symbol, "date": str(d.date()), "reported": str(pd.Timestamp(r.reported).date()),
                     "price": float(r.price), "currency": r.currency, "source": r.source,
                     "age_days": int((day - d).days), "known": bool(pd.Timestamp(r.reported) <= day),
                     "reference": r.reference, "note": r.note, "batch": int(r.batch), "file": r.file})
    out = {"schema": "computefolio.private.marks/1", "asof": str(day.date()), "marks": rows,
           "units": {"price": "currency per unit", "age_days": "calendar days from the valuation date"}}
    if json_out != "-":
        t = Table(title=f"Stored marks, ages on {day.date()}")
        for c in ("symbol", "date", "known from", "price", "source", "age (days)", "reference"):
            t.add_column(c, justify="right" if c in ("price", "age (days)") else "left", overflow="fold")
        for r in rows:
            t.add_row(r["symbol"], r["date"], r["reported"], f"{r['price']:,.6g} {r['currency']}", r["source"],
                      str(r["age_days"]) if r["known"] else "not yet known", (r["reference"] or "")[:80])
        console.print(t)
        if not rows:
            console.print("no marks stored: computefolio private import FILE", highlight=False, soft_wrap=True)
    emit_json(out, json_out, what="marks JSON")


@private_app.command("show")
@guard
def show(
    file: Path | None = typer.Argument(None, help="Private positions YAML (default: the shipped one)."),
    asof: str | None = typer.Option(None, "--asof", help="Valuation date (default: the market's last date)."),
    data: Path | None = typer.Option(None, "--data", help="Folder of price files (proxy baskets, tokens)."),
    sample: bool = typer.Option(False, "--sample", help="Built-in sample market (simulated)."),
    store: Path | None = _STORE,
    policy: str | None = typer.Option(None, "--policy", help="NAV policy between marks: last_mark or "
                                                                "roll_forward (default: the file's)."),
    universe_path: Path | None = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped)."),
    json_out: str | None = json_option(),
) -> None:
    """Value a positions file's sleeve on a date: positions, marks and ages, unsmoothed risk, unlocks."""
    from ..clock import basis_index
    from ..errors import DataError
    from ..private import (
        POLICIES,
        load_private_book,
        locked_value_by_month,
        private_risk,
        value_sleeve,
    )
    from ..universe import load_universe
    from .book import load_market_for

    if policy is not None and policy not in POLICIES:
        raise typer.BadParameter(f"--policy: one of {', '.join(POLICIES)}, got {policy!r}")
    u = load_universe(universe_path)
    book = load_private_book(file, universe=u)
    m = load_market_for(u, data=data, store=store, sample=sample)
    day = _date("--asof", asof) or m.end
    if day > m.end:
        raise DataError(f"--asof {day.date()} is after the market's last date {m.end.date()}")
    first = min(p.acquired for p in book.positions)
    days = basis_index("calendar", pd.Timestamp(first), day)
    sv = value_sleeve(book, m.between(None, day), u, days, policy=policy)
    snap = sv.snapshot(days[-1])
    pr = private_risk(sv, m.between(None, day), u, basis="session", asof=days[-1])
    cur = book.currency
    lv = locked_value_by_month(snap.set_index("id")["value"], {p.id: p.terms for p in book.positions},
                               snap.set_index("id")["quantity"], days[-1], months=6)
    out = {"schema": "computefolio.private.sleeve/1", "asof": str(days[-1].date()), "policy": sv.policy,
           "market": m.label, "currency": cur, "total": float(snap["value"].sum()),
           "positions": [{k: (None if (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else
                              (str(v.date()) if isinstance(v, pd.Timestamp) else v)) for k, v in r.items()}
                         for r in snap.to_dict("records")],
           "risk": pr.to_dict(), "locked_by_month": {str(d.date()): float(lv.loc[d].sum()) for d in lv.index},
           "overhang": {t: ts.overhang(days[-1]) for t, ts in book.tokens.items()}, "notes": sv.notes}
    if json_out != "-":
        if m.simulated:
            console.print("[bold]SAMPLE MARKET (SIMULATED)[/]: proxy baskets and tokens are simulated", highlight=False, soft_wrap=True)
        t = Table(title=f"{book.name}: private positions on {days[-1].date()} ({sv.policy}), {cur}")
        for c in ("position", "valued by", "mark", "age (days)", "value", "locked", "terms"):
            t.add_column(c, justify="right" if c in ("age (days)", "value", "locked") else "left", overflow="fold")
        for r in snap.itertuples():
            mk = "" if pd.isna(r.mark_date) else f"{r.source} {pd.Timestamp(r.mark_date).date()}"
            t.add_row(r.id, r.method, mk, "" if r.method == "market" else f"{r.age_days:.0f}", f"{r.value:,.0f}",
                      f"{r.locked_value:,.0f}", r.terms)
        console.print(t)
        for s, u_ in pr.unsmoothing.items():
            if u_.method_used in ("glm", "geltner"):
                console.print(f"{s}: observed vol {u_.volatility_observed:.1%}/yr on {u_.n} {u_.frequency} mark "
                              f"returns; unsmoothed {u_.volatility_used:.1%}/yr ({u_.method_used}"
                              + (f", xi {u_.xi:.2f}" if u_.xi is not None else "") + f", Geltner rho {u_.rho:.2f})",
                              highlight=False, soft_wrap=True)
        for s, h in pr.methods.items():
            console.print(f"[dim]risk of {s}: {h}[/]", highlight=False, soft_wrap=True)
        for n in sv.notes:
            console.print(f"[yellow]note:[/] {n}", highlight=False, soft_wrap=True)
    emit_json(out, json_out, what="sleeve JSON")
