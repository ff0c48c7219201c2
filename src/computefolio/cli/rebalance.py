"""``computefolio rebalance [STRATEGY.yaml]``: today's orders for the stored book, checked.

Values the book at the cut-off of ``--asof`` (default: the last price date), computes the
strategy's targets on its NAV, turns them into orders per venue (lots, minimums, hours,
cash sequencing, costs), runs pre-trade compliance, records the list in the store (one list
per book state) and writes ``orders.csv`` and ``orders.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from ..errors import DataError
from ._common import app, console, guard


def _pct(v, d=2):
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else f"{100 * v:.{d}f}%"


def print_plan(plan, report, recorded: dict | None) -> None:
    v = plan.valuation
    cur = v.currency
    console.print(f"[bold]Rebalance[/] {plan.strategy} - list {plan.list_id} - NAV {v.nav:,.0f} {cur} at the cut-off "
                  f"{plan.cutoff} - orders placed {plan.trade_date.date()} - {plan.market}", highlight=False)
    console.print(f"[dim]Cut-off rule: {v.rule}. Book state {plan.state['id']} ({plan.state['entries']} entries).[/]",
                  highlight=False)
    pr = plan.prices
    old = pr[(pr["status"] != "fresh") | (pr["age_days"] > 0)]
    if len(old):
        console.print("Prices not from the NAV date: " + ", ".join(
            f"{s} {pd.Timestamp(r['date']).date()} ({int(r['age_days'])}d old"
            + (f", [yellow]stale {int(r['stale_days'])}d[/]" if r["status"] == "stale" else "") + ")"
            for s, r in old.iterrows()), highlight=False)
    o = plan.orders
    for venue, g in o.groupby("venue", sort=True):
        t = Table(title=f"Orders on {venue} ({g['currency'].iloc[0]}; limit = last price +/- band, on the tick)")
        for c in ("id", "account", "symbol", "side", "units", "limit", "notional", "session", "settles",
                  "est cost", "bp", "funding / note"):
            t.add_column(c, justify="right" if c in ("units", "limit", "notional", "est cost", "bp") else "left",
                         overflow="fold")
        for r in g.itertuples():
            sess = str(pd.Timestamp(r.session).date()) + (" [yellow](deferred)[/]" if r.deferred else "")
            note = "; ".join(x for x in (r.funding, r.note) if x and x != "-")
            t.add_row(r.order_id.rsplit("-", 1)[-1], r.account, r.symbol, r.side, f"{r.quantity:,.8g}",
                      f"{r.limit_price:,.6g}", f"{r.notional:,.0f}", sess, str(pd.Timestamp(r.settle_date).date()),
                      f"{r.est_cost:,.0f}", f"{r.est_cost_bps:.1f}", note)
        console.print(t)
    if not len(o):
        console.print("No orders: the book is at its targets (within lots and minimums).")
    if len(plan.dropped):
        console.print("[yellow]Dropped (not sent):[/] " + "; ".join(
            f"{r.side} {r.symbol} {r.account or ''} {r.quantity:,.8g} ({r.reason})" for r in plan.dropped.itertuples()),
            highlight=False)
    for tr in plan.transfers:
        console.print(f"[bold]Transfer {tr['transfer_id']}[/]: {tr['amount']:,.2f} from {tr['from']} to {tr['to']} "
                      f"({tr['currency']}; {tr['reason']}) - before the buys it funds", highlight=False)
    pp = plan.pre_post
    if pp.get("pre"):
        pre, post = pp["pre"], pp["post"]
        t = Table(title=f"Book before and after the orders (fractions of NAV; NAV after = before - est. costs "
                        f"{pp['est_cost']:,.0f} {cur})")
        t.add_column("")
        t.add_column("before", justify="right")
        t.add_column("after", justify="right")
        t.add_column("limit / budget", justify="right")
        for by in ("sleeve", "layer"):
            keys = sorted(set(pre["weights"].get(by, {})) | set(post["weights"].get(by, {})),
                          key=lambda k: -post["weights"].get(by, {}).get(k, 0.0))
            for k in keys:
                t.add_row(f"{by} {k}", _pct(pre["weights"][by].get(k, 0.0)), _pct(post["weights"][by].get(k, 0.0)), "")
        t.add_row("cash", _pct(pre["cash"]), _pct(post["cash"]), "")
        t.add_row("volatility (annualized)", _pct(pre.get("volatility")), _pct(post.get("volatility")), "")
        conf = post.get("confidence", pre.get("confidence"))
        t.add_row(f"VaR {conf:.0%} 1 period" if conf else "VaR", _pct(pre.get("var_pct")), _pct(post.get("var_pct")), "")
        t.add_row("ES", _pct(pre.get("es_pct")), _pct(post.get("es_pct")), "")
        for k, b in (post.get("budgets") or {}).items():
            t.add_row(f"risk share {k}", _pct(pre.get("risk_share", {}).get(k), 1),
                      _pct(post.get("risk_share", {}).get(k), 1), _pct(b, 0))
        lq_pre, lq_post = pre.get("liquidity") or {}, post.get("liquidity") or {}
        t.add_row("max days to liquidate", "" if lq_pre.get("max_days") is None else f"{lq_pre['max_days']:.1f}",
                  "" if lq_post.get("max_days") is None else f"{lq_post['max_days']:.1f} ({lq_post.get('worst')})", "")
        t.add_row("liquid within 5 days", _pct((lq_pre.get("liquid_share") or {}).get("5"), 1),
                  _pct((lq_post.get("liquid_share") or {}).get("5"), 1), "")
        console.print(t)
    if report is not None:
        print_compliance(report)
    for n in plan.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False)
    if recorded:
        st = recorded["status"]
        col = "red" if st == "blocked" else "green"
        console.print(f"[bold]List {recorded['list_id']} recorded: [{col}]{st.upper()}[/][/] "
                      f"(compliance log head {recorded['log_head'][:16]})", highlight=False)
        if recorded.get("superseded"):
            console.print(f"superseded: {', '.join(recorded['superseded'])}")
        if st == "blocked":
            console.print(f"Override each block with a reason and your name: computefolio compliance override "
                          f"{recorded['list_id']} --check NAME --target ID --reason TEXT --by NAME; then release.",
                          highlight=False)
        else:
            console.print(f"Release: computefolio compliance release {recorded['list_id']} --by NAME", highlight=False)


def print_compliance(report) -> None:
    t = Table(title=f"Pre-trade compliance: {report.status.upper()} (NAV {report.nav_pre:,.0f} -> "
                    f"{report.nav_post:,.0f} {report.currency})")
    for c in ("check", "checked", "warn", "block", "what it checks"):
        t.add_column(c, justify="right" if c in ("checked", "warn", "block") else "left", overflow="fold")
    for c in report.checks:
        t.add_row(c["name"], str(c["checked"]), str(c["warn"]) if c["warn"] else "",
                  f"[red]{c['block']}[/]" if c["block"] else "", c["description"])
    console.print(t)
    for r in report.results:
        col = "red" if r.status == "block" else "yellow"
        console.print(f"[{col}]{r.status}[/] {r.check} [{r.target}]: {r.message}", highlight=False, soft_wrap=True)
    for n in report.notes:
        console.print(f"[dim]{n}[/]", highlight=False)


@app.command("rebalance")
@guard
def rebalance(
    strategy: Optional[Path] = typer.Argument(None, help="Strategy YAML (default: the shipped strategy)."),
    book: Optional[Path] = typer.Option(None, "--book", "--store", help="Store file holding the book "
                                                                      "(default: $COMPUTEFOLIO_HOME/store.duckdb)."),
    asof: Optional[str] = typer.Option(None, "--asof", help="NAV date (YYYY-MM-DD; default: the last price date)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="Date the orders are placed (default: the "
                                                                        "day after --asof)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Folder of price files (default: the store's prices)."),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Compliance policy YAML (default: shipped)."),
    venues: Optional[Path] = typer.Option(None, "--venues", help="Venue rules YAML (default: shipped)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for orders.csv and orders.json "
                                                           "(default: out/<strategy>/orders/)."),
    supersede: bool = typer.Option(False, "--supersede", help="Replace an unreleased list of the same book state."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and check, record nothing in the store."),
) -> None:
    """Orders for today from the strategy's targets on the stored book; pre-trade compliance; recorded once per
    book state."""
    from ..allocate.mandate import load_mandate
    from ..book.store import BookStore
    from ..compliance.checks import Compliance
    from ..compliance.log import ComplianceLog
    from ..compliance.policy import load_policy
    from ..compliance.workflow import propose
    from ..rebalance.plan import plan_rebalance
    from ..rebalance.store import OrderStore
    from ..rebalance.venues import VenueRules
    from ..strategy import load_strategy
    from ..universe import load_universe
    from .book import load_market_for

    for flag, v in (("--asof", asof), ("--trade-date", trade_date)):
        if v is not None:
            try:
                pd.Timestamp(v)
            except (ValueError, TypeError):
                raise typer.BadParameter(f"{flag}: a date YYYY-MM-DD, got {v!r}") from None
    s = load_strategy(strategy)
    u = load_universe(s.resolve(s.universe, "universe") if s.universe else None)
    mandate = load_mandate(s.resolve(s.mandate, "mandate")) if s.mandate else None
    pol = load_policy(policy)
    with BookStore(book) as bs:
        entries, accounts, state = bs.entries(), bs.accounts(), bs.state()
        log = ComplianceLog(bs)
        since = log.passive_since()
        n_same = len([1 for r in OrderStore(bs).lists().itertuples() if r.book_state == state.head])
    market = load_market_for(u, data=data, store=book, sample=sample, end=asof)
    rules = VenueRules(venues, s.resolve(s.costs, "costs") if s.costs else None, u)
    plan = plan_rebalance(s, entries=entries, accounts=accounts, state=state, market=market, universe=u,
                          mandate=mandate, asof=asof, trade_date=trade_date, venues=rules.book,
                          costs=rules.costs, supersede_n=n_same + 1 if supersede else 1)
    report = Compliance(mandate, pol, u, rules).check(
        plan.orders, plan.valuation, prices=plan.prices, adv=plan.adv, accounts=accounts,
        transfers=plan.transfers, asof=plan.asof, passive_since=since)
    recorded = None
    if not dry_run:
        with BookStore(book) as bs:
            recorded = propose(bs, plan, report, supersede=supersede)
    folder = out or Path("out") / s.name / "orders"
    csv, js = plan.write(folder, report)
    print_plan(plan, report, recorded)
    console.print(f"[dim]written {csv} and {js}" + (" (dry run: nothing recorded)" if dry_run else "") + "[/]",
                  highlight=False)
