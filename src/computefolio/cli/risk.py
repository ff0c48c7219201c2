"""``computefolio risk HOLDINGS``: the risk report of a book, printed as tables with units.

HOLDINGS is one of

* a CSV with a ``symbol`` column and one of ``weight`` (fraction of capital),
  ``value`` (currency amount) or ``quantity`` (units, valued at the last close);
* a YAML file with a ``weights:`` or ``holdings:`` mapping (symbol -> fraction or amount);
* a strategy YAML (``computefolio run`` schema): its allocator's target weights as of
  the last date of the data.

Prices come from ``--data PATH`` (a folder of long-format files), ``--store PATH`` (or the
store under ``$COMPUTEFOLIO_HOME`` when it exists), or ``--sample`` (the built-in simulated
market, also the fallback when no store exists). ``--json FILE`` writes
:meth:`computefolio.risk.report.RiskReport.to_dict` (``-`` for stdout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError, DataError
from ._common import app, console, emit_json, err_console, fmt_num, guard, json_option


# ----------------------------------------------------------------------------- inputs
def _read_book(path: Path, universe) -> tuple[pd.Series | None, str]:
    """A holdings file (:mod:`computefolio.holdings`: symbols checked against the universe,
    with the line) as (book, kind), or ``(None, "strategy")`` for a strategy YAML."""
    from ..config import read_yaml
    from ..holdings import is_holdings_yaml, load_holdings

    if path.suffix.lower() in (".yaml", ".yml") and not is_holdings_yaml(read_yaml(path)):
        return None, "strategy"
    h = load_holdings(path, universe)
    return h.book, h.kind


def _market(universe, data: Optional[Path], store: Optional[Path], sample: bool, start, end):
    """The market every command reads, in the one order (:data:`computefolio.data.load.RESOLUTION`)."""
    from ..data.load import load_market, resolve_source

    source = resolve_source(path=data, store=store, sample=sample)
    if data is not None and not Path(data).exists():
        raise DataError(f"--data {data}: no such file or folder")
    md = load_market(universe, source=source, path=data, store=store, start=start, end=end)
    if md.simulated and not sample:
        err_console.print("[bold white on red] SAMPLE MARKET (SIMULATED) [/] no --data or --store given and no store "
                          "with prices: using the built-in sample market; no number describes real assets")
    return md


def _asof(flag: Optional[str]):
    if flag is None:
        return None
    try:
        return pd.Timestamp(flag).normalize()
    except (ValueError, TypeError):
        raise DataError(f"--asof {flag!r}: expected a date YYYY-MM-DD") from None


def book_asof(weights: pd.Series, market, universe) -> tuple[pd.Timestamp, str]:
    """The as-of date of a book when none is given, and why (:func:`computefolio.book.valuation.fresh_asof`)."""
    from ..book.valuation import fresh_asof

    day, why = fresh_asof(weights, market, universe)
    return day, why.replace("choose another date", "pass --asof to choose another date")


def _strategy_weights(path: Path, universe, market, asof=None):
    """Target weights of a strategy file as of ``asof`` (default: the strategy's own end rule)."""
    from ..job import build_allocator, investable_symbols
    from ..job.steps import resolve_end
    from ..strategy import load_strategy

    s = load_strategy(path)
    mandate = None
    mp = s.resolve(s.mandate, "mandate") if s.mandate else None
    if mp:
        from ..allocate.mandate import load_mandate

        mandate = load_mandate(mp)
    if asof is None:
        asof, _ = resolve_end(s.with_overrides(start=market.start.date(), end=None), universe, market)
    rets = market.returns(s.basis).loc[:asof].iloc[-s.lookback:]
    syms = [x for x in investable_symbols(s, universe, market) if rets[x].notna().all()]
    if not syms:
        raise DataError(f"no asset of the strategy has a full lookback of returns up to {pd.Timestamp(asof).date()}")
    alloc = build_allocator(s, mandate)
    alloc.fit(rets[syms], universe=universe, date=asof)
    w = alloc.weights_
    return w[w.abs() > 1e-10], s


# ----------------------------------------------------------------------------- output
def _pct(v, digits=2) -> str:
    return fmt_num(v, f".{digits}f", pct=True)


def _money(v, cur) -> str:
    return fmt_num(v, ",.0f", suffix=f" {cur}" if cur else "")


def print_report(d: dict) -> None:
    """Print the report dict as rich tables (units in every header)."""
    m = d["meta"]
    cur = m["currency"]
    console.print(f"[bold]Risk report[/] as of {m['asof']} - {m['market']} - basis {m['basis']} "
                  f"({m['periods_per_year']}/yr) - money at risk on a book value (AUM) of {_money(m['capital'], cur)} - "
                  f"{m['lookback_periods']} periods {m['first']}..{m['last']}", highlight=False)
    if m.get("asof_reason"):
        console.print(f"[dim]{escape(m['asof_reason'])}[/]", highlight=False)
    for wmsg in d["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(str(wmsg))}", highlight=False)
    if m.get("stale"):
        t = Table(title=f"Prices not of {m['asof']} (held at their last price)")
        for col in ("asset", "status", "last price", "age (days)"):
            t.add_column(col, justify="right" if col.startswith("age") else "left")
        for s_, v in m["stale"].items():
            t.add_row(s_, v["status"], v["last"], str(v["age_days"]))
        console.print(t)
    if d.get("volatility"):
        console.print(f"Volatility (annualized): {_pct(d['volatility']['annualized'])}  "
                      f"[dim]{d['volatility']['covariance'].get('estimator', '')}[/]", highlight=False)

    t = Table(title=f"VaR and ES, {m['confidence']:.1%} confidence, {m['horizon_periods']} period(s) "
                    f"of the {m['basis']} basis (loss positive)")
    for c, j in (("method", "left"), ("VaR %", "right"), (f"VaR {cur}", "right"), ("ES %", "right"),
                 (f"ES {cur}", "right"), ("obs", "right")):
        t.add_column(c, justify=j)
    for k, v in d["var"].items():
        t.add_row(k, _pct(v["var_pct"]), _money(v["var"], cur), _pct(v["es_pct"]), _money(v["es"], cur),
                  str(v["n_observations"]))
    console.print(t)

    c = d.get("contributions")
    if c:
        t = Table(title="Contributions by asset (Euler; vol annualized, ES as fraction of capital)")
        for col in ("asset", "weight %", "vol contrib %", "vol share %", "ES contrib %", "ES share %"):
            t.add_column(col, justify="left" if col == "asset" else "right")
        for s, r in c["by_asset"].items():
            t.add_row(s, _pct(r["weight"]), _pct(r["vol_contribution"]), _pct(r["vol_share"], 1),
                      _pct(r.get("es_contribution")), _pct(r.get("es_share"), 1))
        console.print(t)
        for by, rows in c["by_group"].items():
            t = Table(title=f"Contributions by {by} (weighted membership{'; themes overlap' if by == 'theme' else ''})")
            for col in (by, "exposure %", "vol contrib %", "vol share %", "ES contrib %", "ES share %"):
                t.add_column(col, justify="left" if col == by else "right")
            for g, r in rows.items():
                t.add_row(g, _pct(r["exposure"]), _pct(r["vol_contribution"]), _pct(r["vol_share"], 1),
                          _pct(r.get("es_contribution")), _pct(r.get("es_share"), 1))
            console.print(t)

    t = Table(title=f"Stress scenarios on today's weights (P&L, {cur})")
    for col, j in (("scenario", "left"), ("window", "left"), ("P&L %", "right"), (f"P&L {cur}", "right"),
                   ("worst layer", "left"), ("proxies", "left")):
        t.add_column(col, justify=j, overflow="fold")
    for s in d["stress"]:
        if "error" in s:
            t.add_row(escape(s["title"]), "", "", "", "", f"[red]{escape(str(s['error']))}[/]")
            continue
        win = f"{s['start']}..{s['end']}" if s.get("start") else "hypothetical"
        lay = min(s["by_layer"].items(), key=lambda kv: kv[1]["pnl_pct"] or 0.0) if s["by_layer"] else None
        worst = f"{lay[0]} {_pct(lay[1]['pnl_pct'])}" if lay else ""
        prox = ", ".join(f"{k}: {v}" for k, v in s["proxies"].items())
        t.add_row(s["title"], win, _pct(s["pnl_pct"]), _money(s["pnl"], cur), worst, prox)
    console.print(t)

    corr = d.get("correlation") or {}
    if corr.get("pairs"):
        t = Table(title="Cross-clock correlation (crypto closes 00:00 UTC, equities 16:00 New York)")
        for col in ("pair", "raw daily", "lead-lag (-1..+1)", "weekly", "n daily / weeks"):
            t.add_column(col, justify="left" if col == "pair" else "right")
        for p in corr["pairs"]:
            t.add_row(f"{p['a']}-{p['b']}", fmt_num(p["raw"]["value"], ".3f"), fmt_num(p["lead_lag"]["value"], ".3f"),
                      fmt_num(p["horizon"]["value"], ".3f"), f"{p['raw']['n']} / {p['horizon']['n']}")
        console.print(t)
    for r in corr.get("regimes", []):
        cur_r = r["current"]
        console.print(f"Correlation regime {r['a']} vs {r['b']}: [bold]{cur_r['regime']}[/] "
                      f"(rolling {r['window']}: {fmt_num(cur_r.get('rolling'), '.2f')}, EW: "
                      f"{fmt_num(cur_r.get('ewm'), '.2f')}"
                      + (f", DCC: {fmt_num(cur_r['dcc'], '.2f')}" if cur_r.get("dcc") is not None else "") + ") - "
                      f"[dim]{r['thresholds']['rule']}[/]", highlight=False)

    dd = d.get("drawdown")
    if dd:
        console.print(f"Max drawdown {_pct(dd['max_drawdown'])} (peak {dd['peak']}, trough {dd['trough']}, "
                      f"recovery {dd['recovery'] or 'not yet'}; {dd['underwater_periods']} {dd['basis']} periods "
                      f"under water); current {_pct(dd['current_drawdown'])}", highlight=False)
    liq = d.get("liquidity")
    if liq:
        share = ", ".join(f"{k} day{'s' if k != '1' else ''}: {_pct(v, 1)}" for k, v in liq["liquid_share"].items())
        console.print(f"Liquid at {liq['participation']:.0%} of ADV - {share}", highlight=False)
        t = Table(title=f"Days to liquidate (ADV over {liq['adv_window_bars']} bars, {cur}/day)")
        for col in ("asset", f"value {cur}", f"ADV {cur}", "days", "ADV window", "note"):
            t.add_column(col, justify="left" if col in ("asset", "note", "ADV window") else "right")
        for s, r in liq["positions"].items():
            t.add_row(s, _money(r["value"], ""), _money(r["adv"], ""), fmt_num(r["days"], ".1f"),
                      str(r.get("adv_window") or "").split(" (")[0], r["note"])
        console.print(t)


# ----------------------------------------------------------------------------- command
@app.command("risk")
@guard
def risk(
    holdings: Optional[Path] = typer.Argument(None, help="CSV (symbol + weight|value|quantity), YAML "
                                                        "weights/holdings, or a strategy YAML (omit with --book)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prices: a folder of long-format files or one file."),
    store: Optional[Path] = typer.Option(None, "--store", help="DuckDB store (default: $COMPUTEFOLIO_HOME/store.duckdb)."),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    universe_path: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped)."),
    basis: str = typer.Option("session", "--basis", help="session (XNYS, 252/yr) or calendar (365/yr)."),
    confidence: float = typer.Option(0.99, "--confidence", min=0.5, max=0.9999, help="VaR/ES confidence, e.g. 0.99."),
    horizon: int = typer.Option(1, "--horizon", min=1, max=60, help="VaR/ES horizon in periods of the basis."),
    capital: Optional[float] = typer.Option(None, "--capital", min=1.0, max=1e15,
                                            help="Book value in currency (default 100,000,000; with "
                                                 "values/quantities: their gross sum)."),
    lookback: int = typer.Option(756, "--lookback", min=20, max=10_000,
                                 help="Periods of history for VaR, covariance, regimes."),
    scenarios: Optional[Path] = typer.Option(None, "--scenarios", help="Stress scenarios YAML (default: shipped)."),
    asof: Optional[str] = typer.Option(None, "--asof", help="The book's date (YYYY-MM-DD); prices that stopped "
                                                             "earlier are carried with their age. Default: the last "
                                                             "date on which every sleeve of the book has fresh "
                                                             "prices for most of its weight."),
    json_out: Optional[str] = json_option("Write the report as JSON to PATH ('-' for stdout, then without the "
                                          "tables)."),
    no_dcc: bool = typer.Option(False, "--no-dcc", help="Skip the DCC-GARCH fit."),
    stored_book: bool = typer.Option(False, "--book", help="Today's holdings from the stored book (the --store "
                                                           "file): positions and cash at the NAV cut-off of --asof."),
) -> None:
    """Risk report of a book: VaR/ES by method, contributions by asset and group, stress, liquidity.

    Data: --data, --store or --sample when given; else the default store when it holds prices;
    else the built-in sample market (simulated, said in red). Money at risk is on --capital (the
    book's value today; with values or quantities, their gross sum).
    """
    from ..clock import check_basis
    from ..risk.portfolio import DEFAULT_CAPITAL, weights_from_holdings
    from ..risk.report import risk_report
    from ..universe import load_universe

    try:
        check_basis(basis)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if stored_book and holdings is not None:
        raise typer.BadParameter("give a holdings file or --book, not both")
    if not stored_book and holdings is None:
        raise typer.BadParameter("give a holdings file (CSV or YAML) or --book (the stored book)")
    if not stored_book and not holdings.is_file():
        raise ConfigError(str(holdings), "(file)", "file not found")
    universe = load_universe(universe_path)
    if stored_book:
        from .book import stored_book_weights

        w, capital, asof_ts, reason, market = stored_book_weights(universe, data=data, store=store, sample=sample,
                                                                  asof=_asof(asof), capital=capital)
        rep = risk_report(w, market, universe, capital=capital, basis=basis, confidence=confidence, horizon=horizon,
                          scenarios=scenarios, lookback=lookback, asof=asof_ts, dcc=not no_dcc)
        d = rep.to_dict()
        d["meta"]["asof_reason"] = reason
        _emit(d, json_out)
        return
    book, kind = _read_book(holdings, universe)
    asof_ts = _asof(asof)
    market = _market(universe, data, store, sample, None, asof_ts)
    if asof_ts is not None and asof_ts > market.end:
        err_console.print(f"[yellow]note:[/] the data end on {market.end.date()}, before --asof {asof_ts.date()}: "
                          "every price is carried from its last date (ages below)", highlight=False)
    if kind == "strategy":
        book, strat = _strategy_weights(holdings, universe, market, asof_ts)
        kind = "weight"
        capital = capital or strat.capital
    unknown = [s for s in book.index if s not in market.symbols]
    if unknown:
        raise DataError(f"{holdings}: no prices for {', '.join(unknown)}")
    reason = f"as of {asof_ts.date()} (--asof)" if asof_ts is not None else None
    if asof_ts is None:
        asof_ts, reason = book_asof(book, market, universe)
    if kind == "quantity":
        # last close on or before the as-of date (a stale one is carried, with its age in the report);
        # where a source gives only adjusted closes, the last adjusted close (equal to it)
        closes = market.close.combine_first(market.price).loc[:asof_ts]
        px = closes.ffill().iloc[-1].reindex(book.index)
        if px.isna().any():
            raise DataError(f"{holdings}: no price on or before {asof_ts.date()} to value the quantity of "
                            f"{', '.join(px.index[px.isna()])}")
        book = book * px
        kind = "value"
    if kind == "value":
        w = weights_from_holdings(book, capital)
        capital = capital or float(book.abs().sum())
    else:
        w = book
        capital = capital or DEFAULT_CAPITAL
    rep = risk_report(w, market, universe, capital=capital, basis=basis, confidence=confidence, horizon=horizon,
                      scenarios=scenarios, lookback=lookback, asof=asof_ts, dcc=not no_dcc)
    d = rep.to_dict()
    d["meta"]["asof_reason"] = reason
    _emit(d, json_out)


def _emit(d: dict, json_out: Optional[str]) -> None:
    """Print the report (unless the JSON goes to stdout) and write its JSON when asked."""
    if json_out != "-":
        print_report(d)
    emit_json(d, json_out, what="risk report JSON")
