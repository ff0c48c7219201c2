"""``computefolio book``: the book today (import, show, nav, fills, ledger).

The book lives in the store file (``--store``, default ``$COMPUTEFOLIO_HOME/store.duckdb``)
beside the prices. Prices for valuation come from the same store when it holds them, else
``--data FOLDER`` (long-format files) or ``--sample`` (the simulated sample market, said
on every output). Every NAV states its cut-off and the date and age of every price used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from ..errors import DataError
from ._common import app, console, emit_json, err_console, guard, json_option

book_app = typer.Typer(help="The book today: accounts, ledger, positions, NAV at a stated cut-off, fills.",
                       no_args_is_help=True)
app.add_typer(book_app, name="book")

_STORE = typer.Option(None, "--store", help="Store file holding the book (default: $COMPUTEFOLIO_HOME/store.duckdb).")
_DATA = typer.Option(None, "--data", help="Folder of long-format price files (default: the prices in the store).")
_SAMPLE = typer.Option(False, "--sample", help="Value on the built-in sample market (simulated).")
_UNIVERSE = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped).")


def load_market_for(universe, *, data: Optional[Path], store: Optional[Path], sample: bool, end=None):
    """The market for valuing the book: --data, --sample, else the store's prices (waiting for its lock)."""
    from ..book.store import retry_locked
    from ..data.load import load_market
    from ..data.store import Store

    if data is not None and sample:
        raise typer.BadParameter("give at most one of --data, --sample")
    if data is not None:
        return load_market(universe, source="files", path=data, end=end)
    if sample:
        return load_market(universe, source="sample", end=end)
    st = Store(store)
    if not st.exists():
        raise DataError(f"{st.path}: no store: import prices (computefolio data import) or give --data / --sample")

    def go():
        s = Store(store)
        try:
            have = {r[0] for r in s.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "prices" not in have or s.row_count() == 0:
                raise DataError(f"{s.path}: the store holds no prices: import them (computefolio data import) or "
                                f"give --data FOLDER / --sample")
            return s.market(universe, end=end, listed=True)
        finally:
            s.close()

    return retry_locked(go, what=str(st.path))


def stored_book_weights(universe, *, data=None, store=None, sample=False, asof=None, capital=None):
    """For ``computefolio risk --book``: the stored book's weights of NAV at the cut-off of ``asof``
    (default: the last price date). Returns ``(weights, capital, asof, reason, market)``; capital is
    the NAV unless given. Prints the cut-off and every price not from the NAV date."""
    from ..book.store import BookStore
    from ..book.valuation import value_book
    from ..private.store import PrivateStore

    with BookStore(store) as bs:
        e, st = bs.entries(), bs.state()
        pdata = PrivateStore(bs).data()  # private marks and terms, when stored (computefolio private import)
    if st.entries == 0:
        raise DataError("the stored book is empty: import it first (computefolio book import FILE)")
    m = load_market_for(universe, data=data, store=store, sample=sample)
    day = pd.Timestamp(asof) if asof is not None else m.end
    v = value_book(e, m, day, state=st, private=pdata, universe=universe)
    if not len(v.positions):
        raise DataError(f"the stored book holds no positions on {day.date()} (only cash)")
    old = v.stale()
    console.print(f"[bold]Stored book[/] NAV {v.nav:,.0f} {v.currency} at the cut-off {v.cutoff} (state {st.id}); "
                  f"{v.rule}", highlight=False)
    if len(old):
        console.print("Prices not from the NAV date: " + ", ".join(
            f"{s} {pd.Timestamp(r['date']).date()} ({int(r['age_days'])}d old{', stale' if r['status'] != 'fresh' else ''})"
            for s, r in old.iterrows()), highlight=False)
    w = v.weights()
    reason = f"the stored book at the cut-off {v.cutoff} (state {st.id})"
    return w, float(capital or v.nav), day, reason, m


def _s(v) -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def _f(v, fmt="{:,.2f}") -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else fmt.format(v)


def print_valuation(v, universe, by: str, accounts) -> None:
    from ..book.exposure import exposure

    cur = v.currency
    console.print(f"[bold]Book[/] NAV {v.nav:,.0f} {cur} on {v.day.date()} - cut-off {v.cutoff} - {v.market}",
                  highlight=False)
    console.print(f"[dim]Cut-off rule: {v.rule}[/]", highlight=False)
    if v.state:
        console.print(f"[dim]Ledger state {v.state['id']} ({v.state['entries']} entries)[/]", highlight=False)
    t = Table(title=f"Positions ({cur}; price = last at or before the cut-off: its date, age in days, status)")
    for c in ("account", "symbol", "units", f"price {cur}", "price of", f"value {cur}", "% NAV"):
        t.add_column(c, justify="left" if c in ("account", "symbol", "price of") else "right", overflow="fold")
    for r in v.positions.sort_values(["account", "symbol"]).itertuples():
        st = "" if r.status == "fresh" else (f" [yellow]{r.status}[/]" if int(r.stale_days) == int(r.age_days)
                                             else f" [yellow]{r.status} {int(r.stale_days)}d[/]")
        if r.field == "adj_close":
            st += " adj"
        t.add_row(r.account, r.symbol, f"{r.quantity:,.8g}", f"{r.price:,.6g}",
                  f"{pd.Timestamp(r.price_date).date()} {int(r.age_days)}d{st}", f"{r.value:,.0f}",
                  f"{100 * r.weight:.2f}")
    for r in v.cash.sort_values(["account", "currency"]).itertuples():
        t.add_row(r.account, f"cash {r.currency}", f"{r.amount:,.2f}", f"{r.rate:g}", "", f"{r.value:,.0f}",
                  f"{100 * r.weight:.2f}")
    t.add_row("total", "", "", "", "", f"{v.nav:,.0f}", "100.00", style="bold")
    console.print(t)
    e = exposure(v, universe, by, accounts=accounts)
    lt = " (look-through: GBTC/IBIT count as BTC; weighted membership)" if by not in ("venue", "account") else ""
    t = Table(title=f"Exposure by {by}{lt}" + ("; themes overlap" if by == "theme" else ""))
    t.add_column(by)
    t.add_column(f"value {cur}", justify="right")
    t.add_column("% NAV", justify="right")
    for g, r in e.iterrows():
        t.add_row(str(g), f"{r['value']:,.0f}", f"{100 * r['weight']:.2f}")
    console.print(t)
    for n in v.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)


@book_app.command("import")
@guard
def import_(
    file: Path = typer.Argument(..., help="accounts, positions snapshot or transactions CSV (format by header; "
                                          "see docs/book.md)."),
    store: Optional[Path] = _STORE,
    universe_path: Optional[Path] = _UNIVERSE,
) -> None:
    """Import accounts, a positions snapshot or transactions into the book (atomic; once per file)."""
    from ..book.store import BookStore
    from ..rebalance.venues import VenueRules
    from ..universe import load_universe

    u = load_universe(universe_path)
    with BookStore(store) as bs:
        res = bs.import_file(file, universe=u, settle=VenueRules(universe=u).settle_fn())
        st = bs.state()
    console.print(f"{file.name}: {res.status}", highlight=False)
    for n in res.notes or []:
        console.print(f"[dim]{n}[/]", highlight=False)
    console.print(f"[dim]ledger: {st.entries} entries, state {st.id}[/]", highlight=False)


@book_app.command("show")
@guard
def show(
    asof: Optional[str] = typer.Option(None, "--asof", help="NAV date (YYYY-MM-DD; default: the last date of the "
                                                           "prices)."),
    by: str = typer.Option("layer", "--by", help="Exposure by sleeve, layer, theme, asset_class, asset, venue or "
                                                 "account."),
    store: Optional[Path] = _STORE, data: Optional[Path] = _DATA, sample: bool = _SAMPLE,
    universe_path: Optional[Path] = _UNIVERSE,
    json_out: Optional[str] = json_option("Write the valuation as JSON to PATH ('-' for stdout, then without the "
                                          "tables)."),
) -> None:
    """Positions, cash and exposure at the NAV cut-off, with every price's date and age."""
    from ..book.exposure import BY
    from ..book.store import BookStore
    from ..book.valuation import value_book
    from ..universe import load_universe

    if by not in BY:
        raise typer.BadParameter(f"--by: one of {', '.join(BY)}, got {by!r}")
    u = load_universe(universe_path)
    from ..private.store import PrivateStore

    with BookStore(store) as bs:
        e, st, acc = bs.entries(), bs.state(), bs.accounts()
        pdata = PrivateStore(bs).data()  # private marks and terms, when stored (computefolio private import)
    if st.entries == 0:
        raise DataError("the book is empty: import accounts and a snapshot or transactions (computefolio book import)")
    m = load_market_for(u, data=data, store=store, sample=sample, end=asof)
    day = pd.Timestamp(asof) if asof else m.end
    v = value_book(e, m, day, state=st, private=pdata, universe=u)
    if json_out != "-":
        print_valuation(v, u, by, acc)
    emit_json(v.to_dict(), json_out, what="valuation JSON")


@book_app.command("nav")
@guard
def nav(
    start: Optional[str] = typer.Option(None, "--from", help="First NAV date (default: the first ledger date)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last NAV date (default: the last price date)."),
    basis: str = typer.Option("calendar", "--basis", help="calendar (every day) or session (XNYS sessions)."),
    store: Optional[Path] = _STORE, data: Optional[Path] = _DATA, sample: bool = _SAMPLE,
    universe_path: Optional[Path] = _UNIVERSE,
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write the NAV series as CSV."),
) -> None:
    """NAV per day at the cut-off (24:00 UTC each day), with stale-price counts."""
    from ..book.pricing import CUTOFF_RULE
    from ..book.store import BookStore
    from ..book.valuation import nav_series
    from ..clock import check_basis
    from ..universe import load_universe

    try:
        check_basis(basis)
    except ValueError as exc:
        raise typer.BadParameter(f"--basis: {exc}") from None
    for flag, v in (("--from", start), ("--to", end)):
        if v is not None:
            try:
                pd.Timestamp(v)
            except (ValueError, TypeError):
                raise typer.BadParameter(f"{flag}: a date YYYY-MM-DD, got {v!r}") from None
    u = load_universe(universe_path)
    from ..private.store import PrivateStore

    with BookStore(store) as bs:
        e = bs.entries()
        pdata = PrivateStore(bs).data()  # private marks and terms, when stored (computefolio private import)
    m = load_market_for(u, data=data, store=store, sample=sample)
    s = nav_series(e, m, start, end, basis=basis, private=pdata, universe=u)
    cur = m.currency
    console.print(f"[bold]NAV[/] {s.index[0].date()}..{s.index[-1].date()} ({basis} basis, {cur}) - {m.label}",
                  highlight=False)
    console.print(f"[dim]Cut-off rule: {CUTOFF_RULE}[/]", highlight=False)
    t = Table(title=f"NAV at 24:00 UTC each day ({cur})")
    for c in ("date", f"NAV {cur}", f"invested {cur}", f"cash {cur}", "return %", "positions", "stale",
              "oldest price d"):
        t.add_column(c, justify="left" if c == "date" else "right")
    prev = None
    rows = s if len(s) <= 40 else pd.concat([s.head(5), s.tail(30)])
    for d, r in rows.iterrows():
        i = s.index.get_loc(d)
        prev = s["nav"].iloc[i - 1] if i > 0 else None
        ret = "" if not prev else f"{100 * (r['nav'] / prev - 1):.2f}"
        stale = f"[yellow]{int(r['stale'])}[/]" if r["stale"] else "0"
        t.add_row(str(d.date()), f"{r['nav']:,.0f}", f"{r['invested']:,.0f}", f"{r['cash']:,.0f}", ret,
                  str(int(r["positions"])), stale, _f(r["oldest_price_days"], "{:.0f}"))
    console.print(t)
    if len(s) > 40:
        console.print(f"[dim]{len(s) - 35} dates not shown (--csv FILE writes all)[/]")
    if s["stale"].any():
        console.print(f"[yellow]note:[/] {int((s['stale'] > 0).sum())} day(s) value positions at stale prices "
                      f"(carried, flagged)", highlight=False)
    if csv_out is not None:
        s.to_csv(csv_out, float_format="%.6f")
        console.print(f"[dim]written {csv_out}[/]", highlight=False)


@book_app.command("fills")
@guard
def fills(
    file: Path = typer.Argument(..., help="Fills CSV: order_id,date,quantity,price[,fee,fill_id,memo]."),
    store: Optional[Path] = _STORE,
    universe_path: Optional[Path] = _UNIVERSE,
) -> None:
    """Book executed fills of released orders in the ledger; report slippage against the estimate."""
    from ..book.formats import read_fills
    from ..book.store import BookStore
    from ..compliance.workflow import apply_fills
    from ..data.store import file_sha256
    from ..rebalance.venues import VenueRules
    from ..universe import load_universe

    u = load_universe(universe_path)
    rows = read_fills(file)
    with BookStore(store) as bs:
        rep = apply_fills(bs, rows, universe=u, settle=VenueRules(universe=u).settle_fn(), file=str(file),
                          sha256=file_sha256(file))
        st = bs.state()
    if rep.already_applied:
        console.print(f"{file.name}: already applied (batch {rep.batch}); nothing booked", highlight=False)
        return
    console.print(f"{file.name}: {rep.entries} fill(s) booked (batch {rep.batch}); ledger state {st.id}",
                  highlight=False)
    t = Table(title="Fills against the orders (slippage: + = worse than the cut-off price the order was sized on)")
    for c in ("order", "account", "symbol", "side", "ordered", "filled", "avg price", "ref price", "slippage bp",
              "est cost bp", "actual cost bp", "status"):
        t.add_column(c, justify="left" if c in ("order", "account", "symbol", "side", "status") else "right")
    for r in rep.orders.itertuples():
        t.add_row(r.order_id, r.account, r.symbol, r.side, f"{r.quantity:,.8g}", f"{r.filled:,.8g}",
                  _f(r.avg_price, "{:,.6g}"), f"{r.ref_price:,.6g}", _f(r.slippage_bps, "{:+.1f}"),
                  _f(r.est_cost_bps, "{:.1f}"), _f(r.actual_cost_bps, "{:+.1f}"), r.status)
    console.print(t)


@book_app.command("ledger")
@guard
def ledger(
    asof: Optional[str] = typer.Option(None, "--asof", help="Entries dated on or before this date."),
    store: Optional[Path] = _STORE,
    verify: bool = typer.Option(False, "--verify", help="Check the ledger's hash chain (exit 1 on a bad entry)."),
    last: int = typer.Option(50, "--last", help="Show the last N entries."),
) -> None:
    """The ledger's entries (append-only; corrections are reversals)."""
    from ..book.store import BookStore

    with BookStore(store) as bs:
        e = bs.entries(asof)
        st = bs.state()
        ok, msg, n = bs.verify() if verify else (True, None, 0)
    t = Table(title=f"Ledger ({len(e)} entries; state {st.id})")
    for c in ("id", "date", "kind", "account", "symbol", "quantity", "price", "amount", "currency", "fee",
              "counter", "reverses", "order", "memo"):
        t.add_column(c, justify="right" if c in ("id", "quantity", "price", "amount", "fee", "reverses") else "left")
    for r in e.tail(last).itertuples():
        t.add_row(str(r.entry_id), str(pd.Timestamp(r.date).date()), r.kind, _s(r.account), _s(r.symbol),
                  _f(r.quantity, "{:,.8g}"), _f(r.price, "{:,.6g}"), _f(r.amount), _s(r.currency), _f(r.fee),
                  _s(r.counter_account), "" if pd.isna(r.reverses) else str(int(r.reverses)), _s(r.order_id),
                  _s(r.memo))
    console.print(t)
    if verify:
        if ok:
            console.print(f"ledger chain verified: {n} entries, head {st.head}", highlight=False)
        else:
            err_console.print(f"[bold red]ledger chain broken:[/] {msg}", highlight=False)
            raise typer.Exit(code=1)
