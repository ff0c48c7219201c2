"""``computefolio compliance``: check, override, release, cancel, the log and its verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from ..errors import DataError
from ._common import app, console, emit_json, err_console, guard, json_option

compliance_app = typer.Typer(help="Pre-trade compliance: checks, overrides, release, the hash-chained log.",
                             no_args_is_help=True)
app.add_typer(compliance_app, name="compliance")

_STORE = typer.Option(None, "--store", "--book", help="Store file (default: $COMPUTEFOLIO_HOME/store.duckdb).")


@compliance_app.command("check")
@guard
def check(
    orders: Path = typer.Argument(..., help="Orders CSV: order_id,account,symbol,side,quantity,price "
                                            "[,trade_date,session,deferred,est_fee,est_cost]."),
    strategy: Optional[Path] = typer.Option(None, "--strategy", help="Strategy YAML naming the mandate "
                                                                     "(default: shipped)."),
    asof: Optional[str] = typer.Option(None, "--asof", help="NAV date of the book (default: last price date)."),
    store: Optional[Path] = _STORE,
    data: Optional[Path] = typer.Option(None, "--data", help="Folder of price files (default: the store's)."),
    sample: bool = typer.Option(False, "--sample", help="Built-in sample market (simulated)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Compliance policy YAML (default: shipped)."),
) -> None:
    """Check an order list from a file against the stored book; results are logged. Exit 1 on a block."""
    from ..allocate.mandate import load_mandate
    from ..book.formats import read_csv
    from ..book.store import BookStore
    from ..book.valuation import value_book
    from ..compliance.checks import Compliance
    from ..compliance.log import ComplianceLog
    from ..compliance.policy import load_policy
    from ..compliance.workflow import _event_results
    from ..data.store import file_sha256
    from ..rebalance.venues import VenueRules
    from ..strategy import load_strategy
    from ..universe import load_universe
    from .book import load_market_for
    from .rebalance import print_compliance

    if not orders.is_file():
        raise DataError(f"{orders}: file not found")
    df = read_csv(orders)
    need = ["order_id", "account", "symbol", "side", "quantity", "price"]
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise DataError(f"{orders}: missing column(s) {', '.join(miss)} (need {', '.join(need)})")
    for c in ("quantity", "price", "est_fee", "est_cost", "ref_price"):
        if c in df.columns:
            v = pd.to_numeric(df[c], errors="coerce")
            if v.isna().any():
                i = int(v.isna().to_numpy().argmax())
                raise DataError(f"{orders}: row {i + 2}: field '{c}': a number, got {df[c].iloc[i]!r}")
            df[c] = v
    if "deferred" in df.columns:
        df["deferred"] = df["deferred"].str.lower().isin(["true", "1", "yes"])
    s = load_strategy(strategy)
    u = load_universe(s.resolve(s.universe, "universe") if s.universe else None)
    mandate = load_mandate(s.resolve(s.mandate, "mandate")) if s.mandate else None
    from ..private.store import PrivateStore

    with BookStore(store) as bs:
        entries, accounts, state = bs.entries(), bs.accounts(), bs.state()
        since = ComplianceLog(bs).passive_since()
        pdata = PrivateStore(bs).data()  # private marks and terms, when stored (computefolio private import)
    market = load_market_for(u, data=data, store=store, sample=sample, end=asof)
    day = pd.Timestamp(asof) if asof else market.end
    val = value_book(entries, market, day, state=state, private=pdata, universe=u)
    rep = Compliance(mandate, load_policy(policy), u, VenueRules(universe=u)).check(
        df, val, market=market, accounts=accounts, asof=day, passive_since=since)
    tag = f"file:{orders.name}:{file_sha256(orders)[:12]}"
    with BookStore(store) as bs:
        log = ComplianceLog(bs)
        log.con  # noqa: B018
        seq, head = log.append(_event_results(rep, tag))
    print_compliance(rep)
    console.print(f"[dim]logged as {tag} (log seq {seq}, head {head[:16]})[/]", highlight=False)
    if rep.blocks():
        raise typer.Exit(code=1)


@compliance_app.command("override")
@guard
def override_(
    list_id: str = typer.Argument(..., help="Order list id (from computefolio rebalance)."),
    check: str = typer.Option(..., "--check", help="Name of the check whose block is overridden."),
    target: str = typer.Option("*", "--target", help="Order id, symbol or group key the block is on ('*': all "
                                                     "blocks of the check)."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the log)."),
    by: str = typer.Option(..., "--by", help="Your name (recorded in the log)."),
    store: Optional[Path] = _STORE,
) -> None:
    """Override a block with a reason and your name (logged)."""
    from ..book.store import BookStore
    from ..compliance.workflow import override

    with BookStore(store) as bs:
        r = override(bs, list_id, check, target, reason=reason, by=by)
    console.print(f"override of {check} on {target} in {list_id} by {by}: covers {r['covered']} block(s) "
                  f"(log seq {r['log_seq']})", highlight=False)


@compliance_app.command("release")
@guard
def release_(
    list_id: str = typer.Argument(..., help="Order list id."),
    by: str = typer.Option(..., "--by", help="Your name (recorded in the log)."),
    store: Optional[Path] = _STORE,
) -> None:
    """Release an order list: refused while any block has no override."""
    from ..book.store import BookStore
    from ..compliance.workflow import release

    with BookStore(store) as bs:
        r = release(bs, list_id, by=by)
    console.print(f"list {list_id} released by {by} ({r['overrides']} override(s)); log seq {r['log_seq']}, head "
                  f"{r['log_head'][:16]}", highlight=False)


@compliance_app.command("cancel")
@guard
def cancel_(
    list_id: str = typer.Argument(..., help="Order list id."),
    by: str = typer.Option(..., "--by", help="Your name."),
    reason: str = typer.Option("", "--reason", help="Why."),
    store: Optional[Path] = _STORE,
) -> None:
    """Cancel a live order list (logged)."""
    from ..book.store import BookStore
    from ..compliance.workflow import cancel

    with BookStore(store) as bs:
        cancel(bs, list_id, by=by, reason=reason)
    console.print(f"list {list_id} cancelled by {by}", highlight=False)


@compliance_app.command("lists")
@guard
def lists(store: Optional[Path] = _STORE, status: Optional[str] = typer.Option(None, "--status")) -> None:
    """Order lists and their status."""
    from ..book.store import BookStore
    from ..rebalance.store import OrderStore

    with BookStore(store) as bs:
        df = OrderStore(bs).lists(status)
    t = Table(title="Order lists")
    for c in ("list", "created (UTC)", "NAV date", "trade date", "strategy", "status", "orders", "NAV"):
        t.add_column(c, justify="right" if c in ("orders", "NAV") else "left")
    for r in df.itertuples():
        t.add_row(r.list_id, f"{pd.Timestamp(r.created_at):%Y-%m-%d %H:%M:%S}", str(pd.Timestamp(r.nav_date).date()),
                  str(pd.Timestamp(r.trade_date).date()), r.strategy or "", r.status, str(r.n_orders),
                  f"{r.nav:,.0f} {r.currency}")
    console.print(t)


@compliance_app.command("log")
@guard
def log_(
    since: Optional[str] = typer.Option(None, "--since", help="Entries at or after this date/time (UTC)."),
    list_id: Optional[str] = typer.Option(None, "--list", help="Only this order list."),
    last: int = typer.Option(100, "--last", help="Show the last N entries."),
    json_out: Optional[str] = json_option("Write the entries (and the head hash) as JSON to PATH ('-' for stdout, "
                                          "then without the table)."),
    store: Optional[Path] = _STORE,
) -> None:
    """The compliance log (append-only, hash-chained); prints its head hash."""
    from ..book.store import BookStore
    from ..compliance.log import ComplianceLog

    if since is not None:
        try:
            pd.Timestamp(since)
        except (ValueError, TypeError):
            raise typer.BadParameter(f"--since: a date or date-time, got {since!r}") from None
    with BookStore(store) as bs:
        log = ComplianceLog(bs)
        df = log.entries(since=since, list_id=list_id)
        seq, head = log.head()
    if json_out is not None:
        rows = df.tail(last).to_dict("records")
        for r in rows:
            r["logged_at"] = str(r["logged_at"])
        emit_json({"head_seq": seq, "head_hash": head, "entries": rows}, json_out, what="compliance log JSON")
        if json_out == "-":
            return
    t = Table(title=f"Compliance log ({len(df)} entries shown of {seq}; head {head[:16]})")
    for c in ("seq", "at (UTC)", "event", "list", "order", "check", "status", "by", "detail"):
        t.add_column(c, justify="right" if c == "seq" else "left", overflow="fold")
    for r in df.tail(last).itertuples():
        d = r.detail or ""
        try:
            dd = json.loads(d)
            d = dd.get("message") or dd.get("reason") or ", ".join(f"{k}={v}" for k, v in list(dd.items())[:6])
        except (TypeError, ValueError):
            pass
        st = r.status or ""
        st = f"[red]{st}[/]" if st == "block" else (f"[yellow]{st}[/]" if st == "warn" else st)
        t.add_row(str(r.seq), f"{pd.Timestamp(r.logged_at):%Y-%m-%d %H:%M:%S}", r.event, r.list_id or "", r.order_id or "",
                  r.check_name or "", st, r.actor or "", str(d)[:160])
    console.print(t)
    console.print(f"head: seq {seq} hash {head}", highlight=False)


@compliance_app.command("verify")
@guard
def verify(
    head: Optional[str] = typer.Option(None, "--head", help="Expected head hash (detects rows removed from the end)."),
    store: Optional[Path] = _STORE,
) -> None:
    """Check the compliance log's hash chain (and the ledger's); exit 1 naming the first bad entry."""
    from ..book.store import BookStore
    from ..compliance.log import ComplianceLog

    with BookStore(store) as bs:
        ok, msg, n = ComplianceLog(bs).verify(head)
        lok, lmsg, ln = bs.verify()
    if ok:
        console.print(f"compliance log verified: {n} entries", highlight=False)
    else:
        err_console.print(f"[bold red]compliance log broken:[/] {msg}", highlight=False)
    if lok:
        console.print(f"ledger verified: {ln} entries", highlight=False)
    else:
        err_console.print(f"[bold red]ledger broken:[/] {lmsg}", highlight=False)
    if not (ok and lok):
        raise typer.Exit(code=1)
