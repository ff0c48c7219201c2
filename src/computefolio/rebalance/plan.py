"""Today's rebalance: the strategy's targets on the book's actual value, turned into orders.

:func:`plan_rebalance` is the whole step, as the backtest does it at a rebalance date but on
the real book:

1. value the book at the NAV cut-off of ``asof`` (:func:`computefolio.book.value_book`);
2. fit the strategy's allocator (:func:`computefolio.allocate.sleeves.build_allocator`,
   with its volatility target, through :class:`computefolio.backtest.policy.Policy`) on the
   returns of the strategy's basis over its lookback up to ``asof``, with the book's
   weights as current weights, ADV per period, and the NAV as capital;
3. size, round and route orders by account and venue, estimate their costs and sequence
   cash (:mod:`computefolio.rebalance.orders`);
4. compare the book before and after: weights by sleeve and layer, volatility, VaR and ES,
   risk shares against the strategy's budgets, days to liquidate.

Assets whose price is stale are held as they are (never traded on a stale price) and the
other targets are scaled so that the invested total stays within the mandate's budget;
the plan says so. Orders are placed on ``trade_date`` (default: the day after ``asof``,
since the cut-off is the end of ``asof``).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..book.pricing import CUTOFF_RULE, cutoff_label, prices_at
from ..book.valuation import Valuation, value_book
from ..errors import ComputefolioError, DataError
from .orders import ORDER_FIELDS, estimate_costs, list_id_for, sequence_cash, size_orders
from .venues import VenueRules


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, pd.Timestamp):
        return None if pd.isna(o) else str(o.date())
    if o is pd.NaT:
        return None
    return o


@dataclass
class RebalancePlan:
    """Orders for one book state (see the module docstring).

    Attributes
    ----------
    list_id : str
        Stable id (book state, dates, strategy); orders are ``<list_id>-NNN``.
    asof, trade_date : pandas.Timestamp
    strategy : str
    state : dict (the ledger state the plan was computed on)
    valuation : Valuation (the book before)
    targets : pandas.Series (fractions of NAV)
    orders : pandas.DataFrame (:data:`~computefolio.rebalance.orders.ORDER_FIELDS`)
    dropped : pandas.DataFrame (orders below the venue's minimums, or not routable)
    transfers : list of dict (proposed cash transfers between accounts)
    prices : prices at the cut-off of every symbol involved, with dates and ages
    pre_post : dict (the book before and after, side by side)
    notes : list of str
    """

    list_id: str
    asof: pd.Timestamp
    trade_date: pd.Timestamp
    strategy: str
    state: dict
    valuation: Valuation
    targets: pd.Series
    orders: pd.DataFrame
    dropped: pd.DataFrame
    transfers: list
    prices: pd.DataFrame
    adv: pd.Series
    pre_post: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    basis: str = "session"
    market: str = ""

    @property
    def cutoff(self) -> str:
        return cutoff_label(self.asof)

    def post_units(self) -> pd.Series:
        u = self.valuation.units().copy()
        for s, side, q in self.orders[["symbol", "side", "quantity"]].itertuples(index=False):
            u[s] = u.get(s, 0.0) + (q if side == "buy" else -q)
        return u

    def payload(self) -> dict:
        """What is stored with the list (JSON-safe)."""
        pr = self.prices.reset_index()
        return _clean({
            "cutoff": self.cutoff, "cutoff_rule": CUTOFF_RULE, "basis": self.basis, "market": self.market,
            "targets": {s: float(v) for s, v in self.targets.items()},
            "transfers": self.transfers, "dropped": self.dropped.to_dict("records"), "notes": self.notes,
            "prices": pr[["symbol", "price", "date", "field", "age_days", "stale_days", "status"]].to_dict("records"),
            "pre_post": self.pre_post})

    def to_dict(self, compliance=None) -> dict:
        """``orders.json``: the list, its orders, transfers, dropped orders, prices with ages,
        the book before and after, and the compliance results (when given)."""
        out = {"schema": "computefolio.orders/1", "list_id": self.list_id, "asof": str(self.asof.date()),
               "trade_date": str(self.trade_date.date()), "strategy": self.strategy, "book_state": self.state,
               "nav": self.valuation.nav, "currency": self.valuation.currency,
               "units": {"quantity": "units of the asset", "price": "quote currency per unit",
                         "notional": "quote currency (USDT at par with USD)", "est_*": "book currency",
                         "weights": "fraction of NAV"},
               "orders": self.orders[list(ORDER_FIELDS)].to_dict("records"), **self.payload()}
        if compliance is not None:
            out["compliance"] = compliance.to_dict()
        return _clean(out)

    def write(self, folder: str | Path, compliance=None) -> tuple[Path, Path]:
        """Write ``orders.csv`` and ``orders.json`` into ``folder``; returns their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / "orders.csv"
        o = self.orders[list(ORDER_FIELDS)].copy()
        for c in ("price_date", "trade_date", "session", "settle_date"):
            o[c] = pd.to_datetime(o[c]).dt.strftime("%Y-%m-%d")
        o.to_csv(csv, index=False, float_format="%.10g")
        js = folder / "orders.json"
        js.write_text(json.dumps(self.to_dict(compliance), indent=1, allow_nan=False, default=str))
        return csv, js


# ----------------------------------------------------------------------------- targets
def strategy_targets(strategy, universe, mandate, market, valuation: Valuation, asof,
                     notes: list | None = None) -> tuple[pd.Series, dict]:
    """The strategy's target weights on the book as of ``asof`` (see the module docstring).

    Returns ``(weights, info)``; ``info`` has the fit date, the symbols used and those left
    out (not enough history in the window).
    """
    from ..job.steps import build_policy, investable_symbols

    notes = notes if notes is not None else []
    basis = strategy.basis
    rets = market.returns(basis).loc[: pd.Timestamp(asof)]
    if len(rets) < 2:
        raise DataError(f"no returns on or before {pd.Timestamp(asof).date()}: the market starts "
                        f"{market.start.date()}")
    window = rets.iloc[-strategy.lookback:]
    inv = investable_symbols(strategy, universe, market)
    full = [s for s in inv if window[s].notna().all()]
    short = [s for s in inv if s not in full]
    if not full:
        raise DataError(f"no asset of strategy {strategy.name!r} has a full lookback of {strategy.lookback} "
                        f"{basis} returns up to {pd.Timestamp(asof).date()}")
    if short:
        notes.append(f"left out of the targets (returns missing in the {strategy.lookback}-period window, e.g. "
                     f"stale or young): {', '.join(short)}")
    window = window[full]
    policy = build_policy(strategy, universe, mandate, full, market)
    cw = valuation.weights().reindex(full).fillna(0.0)
    cw = cw if (cw != 0).any() else None
    # ADV per trading day of each asset's own venue: the same measure compliance checks orders against
    adv = market.venue_adv(20, asof).reindex(full)
    adv = adv.where(adv > 0)
    from ..errors import SolverError

    kw = dict(universe=universe, adv=adv, date=window.index[-1], periods_per_year=market.periods_per_year(basis),
              capital=valuation.nav)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            w = policy.target(window, current_weights=cw, **kw)
        except SolverError as exc:
            if cw is None:
                raise
            # the rules cannot all hold against today's book (e.g. turnover from a mostly-cash book)
            notes.append(f"{exc}: targets computed without the current book (turnover rule not applied); "
                         f"compliance checks turnover on the orders")
            w = policy.target(window, current_weights=None, **kw)
    for c in caught:
        msg = str(c.message)
        if msg not in notes:
            notes.append(msg)
    w = w[w.abs() > 1e-10]
    if mandate is not None and mandate.long_only and float(w.sum()) > mandate.invested_fraction() + 1e-9:
        f = mandate.invested_fraction() / float(w.sum())
        notes.append(f"targets sum to {float(w.sum()):.4f} after the volatility target; scaled by {f:.4f} to the "
                     f"mandate's invested fraction {mandate.invested_fraction():g} (cash_min)")
        w = w * f
    return w, {"fit_date": str(window.index[-1].date()), "symbols": full, "left_out": short}


# ----------------------------------------------------------------------------- risk before/after
def book_risk(weights: pd.Series, market, universe, *, basis: str, asof, capital: float, window: int = 756,
              confidence: float = 0.99, participation: float = 0.2, budgets: dict | None = None,
              budget_by: str = "sleeve") -> dict:
    """Volatility, VaR/ES, risk shares and days to liquidate of a book (fractions of NAV)."""
    from ..risk.covariance import PairwiseShrunkCovariance
    from ..risk.decompose import risk_decomposition
    from ..risk.liquidity import liquidity
    from ..risk.proxies import proxy_fill
    from ..risk.var import value_at_risk

    w = weights[weights.abs() > 1e-12].astype(float)
    out: dict = {"invested": float(w.sum()), "cash": float(1 - w.sum()), "weights": {}}
    lt = universe.look_through(w)
    for by in ("sleeve", "layer"):
        e = universe.exposure(lt, by)
        out["weights"][by] = {k: float(v) for k, v in e.items() if abs(v) > 1e-12}
    if not len(w):
        return out
    held = list(w.index)
    rets = market.returns(basis).loc[: pd.Timestamp(asof), held]
    rets = rets.iloc[-window:]
    notes = []
    try:
        rets, fill = proxy_fill(rets, universe, held)
        if fill:
            notes.append("history filled from proxies: " + "; ".join(f"{k}: {v}" for k, v in fill.items()))
        var = value_at_risk(w, rets, method="historical", confidence=confidence, capital=capital,
                            currency=market.currency)
        out.update(var_pct=var.var_pct, es_pct=var.es_pct, var=var.var, es=var.es, var_periods=var.n_observations,
                   confidence=confidence)
        dec = risk_decomposition(w, rets, universe, estimator=PairwiseShrunkCovariance(), es=var,
                                 by=(budget_by,))
        out["volatility"] = dec.volatility
        # risk shares with the same look-through as the weights above (IBIT's risk counts as bitcoin's)
        share = universe.exposure(universe.look_through(dec.by_asset["vol_share"]), budget_by)
        out["risk_share"] = {k: float(v) for k, v in share.items() if abs(v) > 1e-12}
        if budgets:
            out["budgets"] = {k: float(v) for k, v in budgets.items()}
    except (ComputefolioError, ValueError) as exc:
        notes.append(f"risk: {exc}")
    try:
        liq = liquidity(w, market, universe, capital=capital, participation=participation, asof=asof)
        days = liq.table["days"]
        out["liquidity"] = {"max_days": float(days.max()) if days.notna().any() else None,
                            "worst": str(days.idxmax()) if days.notna().any() else None,
                            "liquid_share": {str(k): float(v) for k, v in liq.liquid_share.items()},
                            "no_volume": [s for s, n in liq.table["note"].items() if "no volume" in n]}
    except (ComputefolioError, ValueError) as exc:
        notes.append(f"liquidity: {exc}")
    out["notes"] = notes
    return out


# ----------------------------------------------------------------------------- the step
def plan_rebalance(strategy, *, entries: pd.DataFrame, accounts: dict, state, market, universe, mandate=None,
                   asof=None, trade_date=None, venues=None, costs=None, fx=None, supersede_n: int = 1,
                   hold_stale: bool = True, risk: bool = True) -> RebalancePlan:
    """Plan today's orders (see the module docstring).

    Parameters
    ----------
    strategy : Strategy
    entries, accounts, state : the book (:class:`~computefolio.book.store.BookStore` ``entries()``,
        ``accounts()``, ``state()``)
    market : MarketData (up to at least ``asof``)
    universe, mandate : as for the strategy
    asof : NAV date (default: the market's last date)
    trade_date : date the orders are placed (default: ``asof`` + 1 day)
    venues, costs : venue rules file and cost model (shipped by default)
    fx : extra cash currency rates
    hold_stale : keep positions whose price is stale as they are
    risk : compute the pre/post risk comparison
    """
    asof = pd.Timestamp(asof if asof is not None else market.end).normalize()
    td = pd.Timestamp(trade_date).normalize() if trade_date is not None else asof + pd.Timedelta(days=1)
    if td < asof:
        raise DataError(f"--trade-date {td.date()} is before the NAV date {asof.date()}")
    if state.entries == 0:
        raise DataError("the book is empty: import accounts and a positions snapshot or transactions first "
                        "(computefolio book import FILE)")
    if not accounts:
        raise DataError("no accounts: import an accounts file first (computefolio book import accounts.csv)")
    notes: list[str] = []
    val = value_book(entries, market, asof, fx=fx, state=state)
    notes += val.notes
    if val.nav <= 0:
        raise DataError(f"the book's NAV on {asof.date()} is {val.nav:,.0f}: nothing to rebalance")
    targets, info = strategy_targets(strategy, universe, mandate, market, val, asof, notes)
    syms = list(dict.fromkeys([*val.units().index, *targets.index]))
    syms += [universe.asset(s).underlying for s in syms if s in universe and universe.asset(s).underlying
             and universe.asset(s).underlying in market.symbols]
    syms = list(dict.fromkeys(syms))
    prices = prices_at(market, asof, syms)
    hold: set[str] = set()
    if hold_stale:
        stale = [s for s in val.units().index if prices.at[s, "status"] != "fresh"]
        if stale:
            hold = set(stale)
            hw = float(val.weights().reindex(stale).sum())
            budget = mandate.invested_fraction() if mandate is not None else 1.0
            others = targets.drop([s for s in stale if s in targets.index])
            tot = float(others.sum())
            if tot + hw > budget + 1e-12 and tot > 0:
                others = others * max(0.0, budget - hw) / tot
                notes.append(f"targets of the other assets scaled by {max(0.0, budget - hw) / tot:.4f} to keep the "
                             f"invested total within {budget:g} beside the held stale positions")
            targets = pd.concat([others, val.weights().reindex(stale)])
            notes.append("held as they are (price stale, not traded): " + ", ".join(
                f"{s} ({int(prices.at[s, 'stale_days'])} days, last price {pd.Timestamp(prices.at[s, 'date']).date()})"
                for s in stale))
    rules = VenueRules(venues, costs, universe)
    lid = list_id_for(state.head, asof, td, strategy.name, supersede_n)
    basis = strategy.basis
    rets = market.returns(basis).loc[:asof]
    sigma = rets.tail(20).std()
    adv_basis = market.adv(20, basis, asof)
    # two passes: targets apply to the NAV net of the orders' estimated costs (costs are paid from cash)
    cost = 0.0
    for _ in range(2):
        orders, dropped, more = size_orders(val, targets, accounts=accounts, rules=rules, prices=prices,
                                            trade_date=td, list_id=lid, hold=hold, nav=val.nav - cost)
        orders = estimate_costs(orders, rules.costs, sigma=sigma, adv=adv_basis)
        cost = float(orders["est_cost"].sum()) if len(orders) else 0.0
    notes += more
    orders, transfers, more = sequence_cash(orders, val, accounts, rules)
    notes += more
    plan = RebalancePlan(list_id=lid, asof=asof, trade_date=td, strategy=strategy.name, state=state.to_dict(),
                         valuation=val, targets=targets, orders=orders, dropped=dropped, transfers=transfers,
                         prices=prices, adv=market.venue_adv(20, asof), notes=notes, basis=basis,
                         market=getattr(market, "label", ""))
    plan.pre_post = {"fit": info}
    if risk:
        nav_post = val.nav - float(orders["est_cost"].sum()) if len(orders) else val.nav
        units = plan.post_units()
        px = prices["price"].reindex(units.index)
        w_post = (units * px / nav_post).fillna(0.0)
        budgets = {g: b.budget for g, b in strategy.budgets.items()} if strategy.budget_kind == "risk" else None
        kw = dict(basis=basis, asof=asof, window=strategy.risk.window, confidence=strategy.risk.confidence,
                  participation=strategy.risk.participation, budgets=budgets, budget_by=strategy.budget_by)
        plan.pre_post.update({
            "nav_pre": val.nav, "nav_post": nav_post, "est_cost": val.nav - nav_post,
            "pre": book_risk(val.weights(), market, universe, capital=val.nav, **kw),
            "post": book_risk(w_post, market, universe, capital=nav_post, **kw)})
    return plan
