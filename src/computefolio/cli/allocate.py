"""``computefolio allocate``: target weights from an allocator under a mandate.

Prints the weights grouped by layer (each asset under its main layer; layer
subtotals are look-through exposures with weighted membership) with risk
contributions (shares of portfolio variance), a sleeve summary, the excluded
assets with the reason, and the mandate check; ``--out DIR`` writes
``weights.csv`` and ``allocation.json``.

Data: ``--data PATH`` (a folder of long-format price files) or the built-in
simulated sample market (the default, also ``--sample``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError, DataError
from ._common import app, console, emit_json, err_console, fmt_num, guard, json_option, parse_date

__all__ = ["allocate", "run_allocation"]


def _load_market(universe, data: Optional[Path], start, end, store: Optional[Path] = None, sample: bool = False):
    """The market in the one order every command follows (:data:`computefolio.data.load.RESOLUTION`)."""
    from .risk import _market

    return _market(universe, data, store, sample, start, end)


def default_date(market, universe) -> tuple[pd.Timestamp, str]:
    """The allocation date when none is given: the last date on which every sleeve of the
    universe has fresh prices for most of its members (so stale sleeves are not dropped as
    'insufficient history' and the date does not freeze on one early-ending asset)."""
    m = universe.membership("sleeve")
    groups = {g: {s: 1.0 for s in market.symbols if s in m.index and m.at[s, g] > 0 and not universe.asset(s).benchmark}
              for g in m.columns}
    delisted = {a.symbol: a.delisted for a in universe.assets if a.delisted is not None}
    day, fail = market.last_fresh_date(groups, delisted=delisted)
    if day is None:
        return market.end, f"allocation date {market.end.date()}, the last date of the data"
    if fail is None:
        return day, f"allocation date {day.date()}, the last date of the data"
    return day, (f"allocation date {day.date()}: the last date on which every sleeve has fresh prices for most of its "
                 f"members (after it {fail['group']} has {len(fail['fresh'])} of {len(fail['alive'])}); pass --asof "
                 "to choose another")


def _read_current(path: Path, universe=None) -> pd.Series:
    """The current book as weights: a holdings file (:mod:`computefolio.holdings`) of weights."""
    from ..holdings import load_holdings

    h = load_holdings(path, universe)
    if h.kind != "weight":
        raise ConfigError(str(path), "(columns)", "weights: a CSV with columns 'symbol' and 'weight', or a YAML "
                                                  f"'weights:' mapping (got {h.kind}s)")
    return h.book.rename("weight")


def run_allocation(method: str, *, mandate=None, universe=None, market=None, basis: str = "session",
                   lookback: int = 252, date=None, current_weights=None, vol_target: float | None = None,
                   **params) -> dict:
    """Fit an allocator on the last ``lookback`` periods of ``market`` and describe the result.

    Returns
    -------
    dict
        JSON-safe: ``method``, ``status``, ``weights``, ``risk_contributions``,
        ``by_layer``/``by_sleeve`` (look-through exposure and risk share),
        ``excluded``, ``breaches``, ``basis``, ``periods_per_year``,
        ``volatility_annualized``, ``cash``, ``data``, ``date``.
    """
    from ..allocate import VolatilityTarget, make_allocator
    from ..data.market import annualization

    rets = market.returns(basis).dropna(how="all")  # dates where no asset has a return (the first one)
    if date is not None:
        rets = rets.loc[: pd.Timestamp(date)]
    if len(rets) < 2:
        raise DataError("not enough returns before the allocation date")
    window = rets.iloc[-lookback:]
    asof = window.index[-1]
    syms = [s for s in window.columns if s in universe]
    window = window[syms]
    adv = market.adv(20, basis, asof=asof)
    alloc = make_allocator(method, mandate=mandate, **params)
    alloc.fit(window, universe=universe, current_weights=current_weights, adv=adv, date=asof)
    w = alloc.weights_
    rc = alloc.risk_contributions_
    ppy = float(annualization(window, basis))
    vol = float(np.sqrt(alloc.variance_ * ppy))
    out_vt = None
    if vol_target is not None:
        vt = VolatilityTarget(vol_target, basis=basis, leverage_max=(mandate.gross_leverage_max if mandate and
                                                                   mandate.gross_leverage_max else 1.0),
                              mandate=mandate)
        w = vt.apply(w, window, ppy)
        out_vt = {"target": vol_target, "scale": vt.scale_, "bound_by": vt.cap_,
                  "volatility_before": vt.volatility_before_, "volatility_after": vt.volatility_after_}
        vol = vt.volatility_after_
    held = list(w.index)
    lay = universe.membership("layer", date=asof, symbols=held)
    slv = universe.membership("sleeve", date=asof, symbols=held)
    by_layer = pd.DataFrame({"exposure": lay.T @ w.to_numpy(), "risk_share": lay.T @ rc.reindex(held).to_numpy()})
    by_sleeve = pd.DataFrame({"exposure": slv.T @ w.to_numpy(), "risk_share": slv.T @ rc.reindex(held).to_numpy()})
    main_layer = lay.idxmax(axis=1)
    return {
        "method": method,
        "allocator": repr(alloc),
        "mandate": None if mandate is None else mandate.name,
        "status": alloc.status_,
        "date": str(pd.Timestamp(asof).date()),
        "basis": basis,
        "periods_per_year": ppy,
        "lookback": int(len(window)),
        "currency": market.currency,
        "data": market.label,
        "simulated": bool(market.simulated),
        "weights": {k: float(v) for k, v in w.items()},
        "risk_contributions": {k: float(v) for k, v in rc.items()},
        "main_layer": {k: str(v) for k, v in main_layer.items()},
        "sleeve": {s: universe.asset(s).sleeve for s in held},
        "by_layer": {g: {"exposure": float(r.exposure), "risk_share": float(r.risk_share)}
                     for g, r in by_layer.iterrows()},
        "by_sleeve": {g: {"exposure": float(r.exposure), "risk_share": float(r.risk_share)}
                      for g, r in by_sleeve.iterrows()},
        "invested": float(w.sum()),
        "cash": float(1.0 - w.sum()),
        "volatility_annualized": vol,
        "vol_target": out_vt,
        "excluded": dict(alloc.excluded_),
        "breaches": list(alloc.breaches_) if vol_target is None else
        (mandate.check(w, universe=universe, date=asof) if mandate is not None else []),
        "diagnostics": {k: v for k, v in alloc.diagnostics_.items() if isinstance(v, (int, float, str))},
        "rules_not_applied": list(alloc.diagnostics_.get("skipped_rules", [])),
        **_status_fields(alloc, vt if vol_target is not None else None),
    }


def _status_fields(alloc, overlay=None) -> dict:
    """How the weights were obtained, for the JSON and the terminal (see ``Allocator.status_``)."""
    rep = getattr(alloc, "budget_report_", None)
    out = {"status_kind": getattr(alloc, "status_kind_", None), "binding": list(getattr(alloc, "binding_", []) or []),
           "cash_note": getattr(alloc, "cash_note_", "") or ""}
    if rep:
        out["risk_budgets"] = {"targets": rep.get("targets"), "shares": rep.get("shares"),
                               "gap_points": rep.get("gap_points"), "met": rep.get("met"),
                               "summary": rep.get("summary"), "stage": rep.get("stage")}
    if overlay is not None:
        out["vol_target_text"] = overlay.describe()
        out["vol_target_interval"] = list(getattr(overlay, "interval_", ()))
        out["vol_target_relaxed"] = list(getattr(overlay, "relaxed_", []))
    return out


def run_strategy_allocation(strategy, *, data=None, date=None, sample: bool = False) -> dict:
    """The strategy's construction on one date, exactly as the first rebalance of ``computefolio run``.

    The strategy's universe, mandate, costs, allocator (budgets per sleeve or layer, inner
    allocators, covariance), lookback and volatility target; its data (``data`` overrides, as
    for ``run``; ``sample`` forces the built-in sample). The book is built from cash on
    ``date`` (default: the strategy's ``start``, where ``run`` invests) by the backtest itself
    (one valuation date), so the window, ADV, capital and rules are the ones ``run`` uses.

    Returns the dict of :func:`run_allocation` (``method`` is ``"strategy <name>"``) with
    ``first_rebalance_of_run`` true when ``date`` is the strategy's start.
    """
    from ..allocate.mandate import load_mandate
    from ..backtest.costs import load_costs
    from ..backtest.policy import backtest
    from ..data.market import annualization
    from ..job.steps import build_policy, investable_symbols, load_market
    from ..strategy import load_strategy
    from ..universe import load_universe

    s = load_strategy(strategy) if not hasattr(strategy, "budgets") else strategy
    if sample:
        s = s.model_copy(update={"data": s.data.model_copy(update={"source": "sample"})})
    universe = load_universe(s.resolve(s.universe, "universe") if s.universe else None)
    market = load_market(s, universe, data)
    mpath, cpath = s.resolve(s.mandate, "mandate"), s.resolve(s.costs, "costs")
    mandate = load_mandate(mpath) if mpath else None
    costs = load_costs(cpath) if cpath else None
    day = pd.Timestamp(date) if date is not None else pd.Timestamp(s.start)
    symbols = investable_symbols(s, universe, market)
    if not symbols:
        raise DataError("no symbol of the strategy's sleeves/layers has prices in the data")
    policy = build_policy(s, universe, mandate, symbols, market)
    seen: dict = {}
    inner = policy.target

    def target(returns_window, **kw):
        w = inner(returns_window, **kw)
        if not seen:
            seen.update(w=w.copy(), window=returns_window, date=kw.get("date"))
        return w

    policy.target = target
    backtest(policy, market.subset(symbols), costs=costs, capital=s.capital, start=day, end=day, universe=universe,
             cash_rate=s.cash_rate, keep_weights=False, seed=s.data.seed)
    if not seen:
        raise DataError(f"no rebalance on {day.date()}: the strategy needs {s.min_history} periods of history and "
                        f"prices on that date")
    alloc, vt = policy.allocator, policy.vol_target
    window, asof = seen["window"], pd.Timestamp(seen["date"])
    w = seen["w"].astype(float)
    rc = alloc.risk_contributions_.reindex(w.index).fillna(0.0)
    ppy = float(annualization(window, s.basis))
    vol = float(vt.volatility_after_) if vt is not None else float(np.sqrt(alloc.variance_ * ppy))
    held = list(w.index)
    lay = universe.membership("layer", date=asof, symbols=held)
    slv = universe.membership("sleeve", date=asof, symbols=held)
    by_layer = pd.DataFrame({"exposure": lay.T @ w.to_numpy(), "risk_share": lay.T @ rc.to_numpy()})
    by_sleeve = pd.DataFrame({"exposure": slv.T @ w.to_numpy(), "risk_share": slv.T @ rc.to_numpy()})
    breaches = list(alloc.breaches_) + ([] if vt is None else list(vt.breaches_))
    return {
        "method": f"strategy {s.name}",
        "allocator": repr(alloc),
        "mandate": None if mandate is None else mandate.name,
        "status": alloc.status_,
        "date": str(asof.date()),
        "first_rebalance_of_run": bool(asof.normalize() == pd.Timestamp(s.start).normalize()),
        "basis": s.basis,
        "periods_per_year": ppy,
        "lookback": int(len(window)),
        "currency": market.currency,
        "data": market.label,
        "simulated": bool(market.simulated),
        "weights": {k: float(v) for k, v in w.items()},
        "risk_contributions": {k: float(v) for k, v in rc.items()},
        "main_layer": {k: str(v) for k, v in lay.idxmax(axis=1).items()},
        "sleeve": {x: universe.asset(x).sleeve for x in held},
        "by_layer": {g: {"exposure": float(r.exposure), "risk_share": float(r.risk_share)}
                     for g, r in by_layer.iterrows()},
        "by_sleeve": {g: {"exposure": float(r.exposure), "risk_share": float(r.risk_share)}
                      for g, r in by_sleeve.iterrows()},
        "invested": float(w.sum()),
        "cash": float(1.0 - w.sum()),
        "volatility_annualized": vol,
        "vol_target": None if vt is None else {"target": vt.target, "scale": vt.scale_, "bound_by": vt.cap_,
                                               "volatility_before": vt.volatility_before_,
                                               "volatility_after": vt.volatility_after_},
        "excluded": dict(alloc.excluded_),
        "breaches": breaches,
        "diagnostics": {k: v for k, v in alloc.diagnostics_.items() if isinstance(v, (int, float, str))},
        "rules_not_applied": list(alloc.diagnostics_.get("skipped_rules", [])),
        **_status_fields(alloc, vt),
    }


def _print(res: dict, universe) -> None:
    pct = lambda v: fmt_num(v, ".2f", pct=True)  # noqa: E731  (missing/infinite as words)
    title = (f"{res['method']} weights as of {res['date']} ({res['basis']} basis, {res['periods_per_year']:g}/yr, "
             f"{res['lookback']} periods; {res['data']})")
    t = Table(title=title)
    for c, j in (("layer", "left"), ("symbol", "left"), ("weight", "right"), ("risk share", "right")):
        t.add_column(c, justify=j)
    w = pd.Series(res["weights"])
    rc = pd.Series(res["risk_contributions"])
    main = pd.Series(res["main_layer"])
    for g in universe.groups("layer"):
        members = [s for s in w.index if main.get(s) == g and abs(w[s]) > 1e-10]
        lay = res["by_layer"].get(g)
        if not members and (lay is None or abs(lay["exposure"]) < 1e-10):
            continue
        for k, s in enumerate(sorted(members, key=lambda x: -w[x])):
            t.add_row(universe.group_name("layer", g) if k == 0 else "", s, pct(w[s]), pct(rc[s]))
        t.add_row("", f"[bold]{g} (look-through)[/]", f"[bold]{pct(lay['exposure'])}[/]",
                  f"[bold]{pct(lay['risk_share'])}[/]", end_section=True)
    t.add_row("total invested", "", pct(res["invested"]), pct(float(rc.sum())), style="bold")
    t.add_row("cash", "", pct(res["cash"]), "")
    console.print(t)
    s = Table(title="By sleeve (look-through)")
    for c in ("sleeve", "exposure", "risk share"):
        s.add_column(c, justify="left" if c == "sleeve" else "right")
    for g, r in res["by_sleeve"].items():
        s.add_row(g, pct(r["exposure"]), pct(r["risk_share"]))
    console.print(s)
    console.print(f"annualized volatility {pct(res['volatility_annualized'])} ({res['basis']} basis)"
                  + (f"; mandate {res['mandate']}" if res["mandate"] else ""), highlight=False)
    style = {"exact": "green", "binding": "cyan", "projected": "yellow", "fallback": "bold yellow"}.get(
        res.get("status_kind"), "white")
    console.print(f"[{style}]status:[/] {escape(res['status'])}", highlight=False)
    rb = res.get("risk_budgets")
    if rb and rb.get("summary") and rb["summary"] not in res["status"]:
        console.print(f"risk budgets: {escape(rb['summary'])}", highlight=False)
    if res.get("cash_note"):
        console.print(f"[yellow]cash:[/] {escape(res['cash_note'])}", highlight=False)
    if res["vol_target"]:
        vt = res["vol_target"]
        console.print(f"vol target {pct(vt['target'])}: scale {vt['scale']:.4f} (bound by {vt['bound_by']}); "
                      + escape(res.get("vol_target_text", "")), highlight=False)
        if res.get("vol_target_relaxed"):
            console.print("[yellow]vol target relaxed:[/] " + escape("; ".join(res["vol_target_relaxed"])),
                          highlight=False)
    if res.get("first_rebalance_of_run") is not None:
        console.print("the strategy's own construction " + ("= the first rebalance of 'computefolio run' (same date, "
                                                            "data, window, ADV and capital)"
                                                            if res["first_rebalance_of_run"] else
                                                            "from cash on this date (run's first rebalance is on the "
                                                            "strategy's start)"), highlight=False)
    elif res.get("method"):
        console.print("[dim]a single allocator, not a strategy's construction: 'computefolio run' rebalances with the "
                      "strategy's allocator per sleeve, its covariance, lookback and volatility target (use "
                      "--strategy FILE to get the same answer as its first rebalance)[/]", highlight=False)
    if res["excluded"]:
        console.print("excluded (weight 0): " + "; ".join(f"{k}: {v}" for k, v in res["excluded"].items()))
    if res["rules_not_applied"]:
        console.print("[yellow]not applied:[/] " + "; ".join(res["rules_not_applied"]))
    if res["breaches"]:
        err_console.print("[bold red]mandate breaches:[/] " + "; ".join(res["breaches"]))
    elif res["mandate"]:
        console.print("[green]every mandate rule holds[/]")
    if res["simulated"]:
        console.print("[yellow]data: simulated sample market[/]")


@app.command("allocate")
@guard
def allocate(
    method: str = typer.Option("hrp", "--method", "-m", help="Allocator, by long or short name as in strategy files: "
                                                             "equal_weight (ew), inverse_vol (ivol), hrp, herc, erc, "
                                                             "min_variance (minvar), max_diversification (maxdiv), "
                                                             "max_sharpe (maxsharpe), min_cvar (mincvar), or "
                                                             "risk_budgets (budgets: the mandate's risk budgets)."),
    mandate: Optional[Path] = typer.Option(None, "--mandate", help="Mandate YAML (default: none; "
                                                                   "'default' for the shipped one)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Prices: a folder of long-format files or one file."),
    store: Optional[Path] = typer.Option(None, "--store", help="DuckDB store (default: $COMPUTEFOLIO_HOME/store.duckdb)."),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML (default: shipped)."),
    basis: str = typer.Option("session", "--basis", help="session (252/yr) or calendar (365/yr)."),
    lookback: int = typer.Option(252, "--lookback", min=2, max=10_000, help="Periods of returns the allocator sees."),
    date: Optional[str] = typer.Option(None, "--asof", "--date",
                                       help="Allocation date (YYYY-MM-DD). Default: the last date on which every "
                                            "sleeve has fresh prices for most of its members."),
    start: Optional[str] = typer.Option(None, "--start", help="First date of data to load."),
    end: Optional[str] = typer.Option(None, "--end", help="Last date of data to load."),
    current: Optional[Path] = typer.Option(None, "--current", help="CSV symbol,weight of the current book "
                                                                   "(turnover and liquidity rules)."),
    vol_target: Optional[float] = typer.Option(None, "--vol-target", min=0.001, max=5.0,
                                               help="Scale to this annualized volatility (fraction, e.g. 0.25)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write weights.csv and allocation.json here."),
    json_out: Optional[str] = json_option("Write the allocation as JSON to PATH ('-' for stdout, then without the "
                                          "tables)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="A strategy file ('shipped' for the shipped "
                                                                  "one): its own construction (allocators per "
                                                                  "sleeve, mandate, covariance, lookback, vol "
                                                                  "target) on --asof (default: its start), the "
                                                                  "same answer as the first rebalance of 'run'; "
                                                                  "--method, --mandate, --lookback, --basis and "
                                                                  "--vol-target are the strategy's."),
) -> None:
    """Target weights under a mandate, grouped by layer with risk contributions.

    Data: --data, --store or --sample when given; else the default store when it holds prices;
    else the built-in sample market (simulated, said in red).
    """
    from ..allocate.mandate import default_mandate_path, load_mandate
    from ..references import allocator_method, check_mandate
    from ..universe import load_universe

    if strategy is not None:
        spath = None if strategy in ("shipped", "default") else Path(strategy)
        if spath is not None and not spath.is_file():
            raise typer.BadParameter(f"--strategy {strategy}: no such file (or 'shipped')")
        from ..strategy import load_strategy

        sobj = load_strategy(spath)
        res = run_strategy_allocation(sobj, data=data, sample=sample,
                                      date=None if date is None else str(parse_date(date, "--asof").date()))
        u = load_universe(sobj.resolve(sobj.universe, "universe") if sobj.universe else None)
        if json_out != "-":
            _print(res, u)
        emit_json(res, json_out, what="allocation JSON")
        return
    if basis not in ("session", "calendar"):
        raise typer.BadParameter("--basis must be session or calendar")
    try:
        method = allocator_method(method, budgets=True)  # the long name, as a strategy file holds it
    except ValueError as exc:
        raise typer.BadParameter(f"--method {method!r}: {exc}") from None
    start, end = parse_date(start, "--start"), parse_date(end, "--end")
    u = load_universe(universe)
    m = None
    if mandate is not None:
        mpath = default_mandate_path() if str(mandate) == "default" else mandate
        m = load_mandate(mpath)
        check_mandate(m, u, mpath)  # its symbols and groups must be in this universe
    mk = _load_market(u, data, start, end, store=store, sample=sample)
    if date is None:
        day, why = default_date(mk, u)
        date = str(day.date())
        err_console.print(f"[dim]{why}[/]", highlight=False)
    else:
        from .risk import _asof

        date = str(_asof(date).date())
    cw = _read_current(current, u) if current is not None else None
    try:
        res = run_allocation(method, mandate=m, universe=u, market=mk, basis=basis, lookback=lookback, date=date,
                             current_weights=cw, vol_target=vol_target)
    except ValueError as exc:
        if isinstance(exc, (ConfigError, DataError)):
            raise
        raise DataError(str(exc)) from None
    if json_out != "-":
        _print(res, u)
    emit_json(res, json_out, what="allocation JSON")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        df = pd.DataFrame({"symbol": list(res["weights"]), "weight": list(res["weights"].values()),
                           "risk_contribution": [res["risk_contributions"][s] for s in res["weights"]],
                           "layer": [res["main_layer"][s] for s in res["weights"]],
                           "sleeve": [res["sleeve"][s] for s in res["weights"]]})
        df.to_csv(out / "weights.csv", index=False)
        from .._json import dumps

        (out / "allocation.json").write_text(dumps(res) + "\n", encoding="utf-8")
        err_console.print(f"wrote {out / 'weights.csv'} and {out / 'allocation.json'}", highlight=False, markup=False)
