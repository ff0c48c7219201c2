"""The risk report of a book: one call, one JSON-safe dictionary with units stated.

:func:`risk_report` runs every part of the risk engine on a book and returns a
:class:`RiskReport`; ``RiskReport.to_dict()`` is what ``computefolio risk --json`` writes
and what the HTML report reads. Its layout is stable (``"schema": "computefolio.risk/1"``):

.. code-block:: text

    {
      "schema": "computefolio.risk/1",
      "meta": {asof, basis, periods_per_year, currency, capital, confidence, horizon_periods,
               market (label), simulated, data_hash, first, last (dates of returns used),
               lookback_periods, conventions: {sign, var_quantile, es, horizon_scaling, ...},
               history_fill: {symbol: "n of m missing periods filled from PROXY ..."},
               drawdown_rule: str},
      "book": {"weights": {sym: fraction}, "gross": f, "net": f, "cash": f,
               "exposure": {"layer": {group: fraction}, "theme": {...}, "sleeve": {...}}},
      "volatility": {"annualized": f, "per_period": f, "units": str,
                     "covariance": {estimator, params, nan_policy, basis, periods_per_year, n_periods}},
      "var": {method: VaRResult.to_dict()  # var_pct, es_pct, var, es (currency), contributions
              for method in historical, gaussian, cornish_fisher, filtered_historical, monte_carlo},
      "contributions": Decomposition.to_dict()  # by_asset, by_group {layer, theme, sleeve}
      "correlation": {"pairs": [{"a", "b", "raw": {...}, "lead_lag": {...}, "horizon": {...}}],
                      "regimes": [{"a", "b", "current": {...}, "regime_share": {...}, "thresholds": {...},
                                   "dcc": {...}, "window", "halflife"}]},
      "stress": [StressResult.to_dict() or {"name", "error"}],
      "drawdown": DrawdownStats.to_dict()  # of the book with today's weights over the history
      "liquidity": LiquidityReport.to_dict(),
      "warnings": [str]
    }

Fractions are fractions (0.05 = 5%); currency amounts are in ``meta.currency``; every
VaR/ES is a positive loss. Time series (rolling/EW/DCC correlation, drawdown path) are on
the :class:`RiskReport` object (``regime_series``, ``drawdown_path``), not in the dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ComputefolioError, DataError
from .covariance import PairwiseShrunkCovariance
from .crosscorr import correlation_comparison
from .decompose import risk_decomposition
from .drawdown import drawdown_series, drawdown_stats
from .liquidity import liquidity
from .portfolio import DEFAULT_CAPITAL, check_weights, portfolio_returns
from .proxies import proxy_fill
from .regimes import _as_leg, correlation_regimes
from .stress import load_scenarios, stress_test
from .var import METHODS, value_at_risk

SCHEMA = "computefolio.risk/1"

CONVENTIONS = {
    "sign": "VaR and ES are positive losses; *_pct are fractions of capital, the others currency",
    "var_quantile": "historical VaR = -(k-th smallest return), k = ceil(n (1 - confidence)) (lower empirical quantile)",
    "es": "empirical ES = Acerbi-Tasche tail mean; parametric ES closed form",
    "horizon_scaling": "parametric: mean x h, vol x sqrt(h); historical/filtered: overlapping h-period sums; "
                       "Monte Carlo: sum of h simulated periods",
    "contributions": "Euler (w_i dRisk/dw_i), sum to the total",
    "groups": "weighted membership of the universe (layers and sleeves add up; themes overlap)",
    "stress": "historical windows: cumulative return over (start, end] on the basis, on today's weights; "
              "missing assets use a stated proxy",
    "correlation": "raw = same-label daily; lead_lag = Dimson sum of cross-covariances at lags -1..1; "
                   "horizon = non-overlapping weekly sums",
}


def _clean(o):
    """Make a nested structure JSON-safe (NaN/inf -> None, numpy scalars -> Python)."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return str(o.date())
    if isinstance(o, np.str_):
        return str(o)
    return o


@dataclass
class RiskReport:
    """Everything :func:`risk_report` computed; ``to_dict()`` gives the stable layout."""

    meta: dict
    book: dict
    volatility: dict
    var: dict
    decomposition: object | None
    correlation: dict
    stress: list
    drawdown: object | None
    liquidity: object | None
    warnings: list = field(default_factory=list)
    regime_series: dict = field(default_factory=dict)
    drawdown_path: pd.Series | None = None

    def to_dict(self) -> dict:
        return _clean({
            "schema": SCHEMA,
            "meta": self.meta,
            "book": self.book,
            "volatility": self.volatility,
            "var": {k: v.to_dict() for k, v in self.var.items()},
            "contributions": self.decomposition.to_dict() if self.decomposition is not None else None,
            "correlation": self.correlation,
            "stress": [s if isinstance(s, dict) else s.to_dict() for s in self.stress],
            "drawdown": self.drawdown.to_dict() if self.drawdown is not None else None,
            "liquidity": self.liquidity.to_dict() if self.liquidity is not None else None,
            "warnings": self.warnings,
        })


def risk_report(weights: pd.Series, market, universe=None, *, capital: float = DEFAULT_CAPITAL,
                basis: str = "session", confidence: float = 0.99, horizon: int = 1, scenarios=None,
                methods=METHODS, lookback: int | None = 756, asof=None, participation: float = 0.2,
                pairs=(("BTC", "QQQ"),), regime_legs=(("sleeve:digital_assets", "sleeve:ai_equities"),),
                correlation_window: int = 63, n_sims: int = 20_000, seed: int = 7,
                dcc: bool = True, fill: str | None = "proxy", extra_returns: pd.DataFrame | None = None,
                extra_methods: dict | None = None, access=None) -> RiskReport:
    """Risk report of a book.

    Parameters
    ----------
    weights : pandas.Series
        Fractions of capital per symbol (the rest is cash). For currency holdings use
        :func:`~computefolio.risk.portfolio.weights_from_holdings`.
    market : :class:`~computefolio.data.market.MarketData`
    universe : :class:`~computefolio.universe.Universe`, optional
        Needed for groups (layer/theme/sleeve), proxies and regime legs by sleeve.
    capital : float
        Book value in ``market.currency`` (default 100,000,000).
    basis : {"session", "calendar"}
    confidence, horizon : VaR/ES confidence and horizon in periods of ``basis``.
    scenarios : list, path or None (the shipped stress library).
    methods : VaR methods to run.
    lookback : int or None
        Periods of history for VaR, covariance and correlation regimes (default 756 = 3 years
        of sessions); stress and drawdown use the full history.
    asof : date-like, optional
        Last date used (default: the market's last date).
    participation : share of ADV for liquidation.
    pairs : pairs of symbols for the raw / lead-lag / weekly correlation table.
    regime_legs : pairs of legs (symbol, list of symbols, or "sleeve:NAME"/"layer:NAME").
    fill : {"proxy", None}
        ``"proxy"`` (default): inside the lookback, periods before a young held asset's
        listing take its proxy's return (:func:`~computefolio.risk.proxies.proxy_fill`), so
        VaR, contributions and drawdown use the whole window; what was filled is listed in
        ``meta.history_fill``. None: only periods where every held asset has a return.
    extra_returns : pandas.DataFrame, optional
        Returns on ``basis`` for held symbols the market does not price (private positions
        valued by marks): their stand-in series (:func:`computefolio.private.sleeve.private_risk`,
        never smoothed mark returns); they replace the market's column of the same symbol.
    extra_methods : dict, optional
        Symbol -> how its ``extra_returns`` were made (``meta.private``).
    access : dict, optional
        Symbol -> :class:`~computefolio.risk.liquidity.Access` (lock-ups, vesting, gates, no
        market) for the liquidity report and its ladder.
    """
    w = check_weights(weights)
    extra_cols = set(extra_returns.columns) if extra_returns is not None else set()
    missing = [s for s in w.index if s not in market.symbols and s not in extra_cols]
    if missing:
        raise DataError(f"no market data for held symbols: {', '.join(missing)}")
    if universe is not None:
        unknown = [s for s in w.index if s not in universe]
        if unknown:
            raise DataError(f"held symbols not in the universe: {', '.join(unknown)}")
    warnings: list[str] = []
    rets_all = market.returns(basis)
    if extra_returns is not None and len(extra_cols):
        rets_all = rets_all.copy()
        for c in extra_returns.columns:
            rets_all[c] = extra_returns[c].reindex(rets_all.index)
    if asof is not None:
        rets_all = rets_all.loc[: pd.Timestamp(asof)]
    if rets_all.empty:
        raise DataError(f"no market data on or before {pd.Timestamp(asof).date() if asof is not None else 'the end'}")
    held = [s for s in w.index if w[s] != 0]
    # the as-of date is the user's: a held series that stopped earlier is stale (its last price
    # is carried with its age), never a reason to move the report's date back
    asof_ts = pd.Timestamp(asof).normalize() if asof is not None else rets_all.index[-1]
    delisted = None
    if universe is not None:
        delisted = {a.symbol: a.delisted for a in universe.assets if a.delisted is not None}
    fr = market.freshness(asof_ts, delisted)
    stale = {s: {"last": str(fr.at[s, "last"].date()), "age_days": int(fr.at[s, "age_days"]),
                 "status": str(fr.at[s, "status"])}
             for s in held if s in fr.index and fr.at[s, "status"] in ("stale", "delisted")}
    if stale:
        warnings.append(f"{len(stale)} held position(s) have no price on {asof_ts.date()}: valued at their last price "
                        "(stale), returns after it missing, filled from proxies where stated: " + ", ".join(
                            f"{s} {v['status']} since {v['last']} ({v['age_days']} days)" for s, v in stale.items()))
    rets = rets_all.iloc[-lookback:] if lookback else rets_all
    fill_notes: dict = {}
    if fill == "proxy" and universe is not None:
        rets, fill_notes = proxy_fill(rets, universe, held, trailing=True)
    elif fill not in (None, "proxy"):
        raise ValueError(f"fill must be 'proxy' or None, got {fill!r}")
    ppy = rets.attrs.get("periods_per_year")
    cur = market.currency
    held_w = w[held]
    meta = {
        "asof": str(asof_ts.date()), "basis": basis, "periods_per_year": ppy, "currency": cur,
        "capital": float(capital), "confidence": confidence, "horizon_periods": int(horizon),
        "market": market.label, "simulated": bool(market.simulated), "data_hash": market.data_hash(),
        "first": str(rets.index[0].date()), "last": str(rets.index[-1].date()), "lookback_periods": len(rets),
        "conventions": CONVENTIONS, "history_fill": fill_notes, "stale": stale,
        "capital_rule": "money at risk on the book's value today (AUM given as capital), not a backtest's grown value",
    }
    if extra_methods:
        meta["private"] = {s: str(v) for s, v in extra_methods.items() if s in w.index}
    if market.simulated:
        warnings.append("SIMULATED sample market: numbers illustrate the method, not real risk")

    book = {"weights": {s: float(v) for s, v in w.items()}, "gross": float(w.abs().sum()),
            "net": float(w.sum()), "cash": float(1.0 - w.sum()), "units": "fraction of capital", "exposure": {}}
    if universe is not None:
        for by in ("layer", "theme", "sleeve"):
            book["exposure"][by] = {k: float(v) for k, v in universe.exposure(held_w, by).items() if v != 0}

    # ---- VaR / ES by method
    var = {}
    for m in methods:
        try:
            var[m] = value_at_risk(held_w, rets, method=m, confidence=confidence, horizon=horizon,
                                   capital=capital, currency=cur, n_sims=n_sims, seed=seed)
        except ComputefolioError as exc:
            warnings.append(f"VaR {m}: {exc}")

    # ---- volatility and contributions
    est = PairwiseShrunkCovariance()
    decomp = None
    vol = {}
    try:
        es_for = var.get("historical") or next(iter(var.values()), None)
        decomp = risk_decomposition(held_w, rets, universe, estimator=est, es=es_for)
        vol = {"annualized": decomp.volatility,
               "per_period": decomp.volatility / math.sqrt(ppy) if ppy else None,
               "covariance": decomp.covariance, "units": "fraction, annualized with periods_per_year"}
    except (ComputefolioError, ValueError) as exc:
        warnings.append(f"risk contributions: {exc}")

    # ---- correlation
    corr: dict = {"pairs": [], "regimes": []}
    series: dict = {}
    for a, b in pairs:
        if a in rets_all.columns and b in rets_all.columns:
            try:
                c = correlation_comparison(market.returns(basis, kind="log").loc[rets.index[0]: asof_ts], a, b)
                corr["pairs"].append({"a": a, "b": b, **{k: v.to_dict() for k, v in c.items()}})
            except ComputefolioError as exc:
                warnings.append(f"correlation {a}-{b}: {exc}")
    for a, b in regime_legs:
        try:
            la, lb = _as_leg(universe, a), _as_leg(universe, b)
            la = [s for s in la if s in rets.columns] if isinstance(la, list) else la
            lb = [s for s in lb if s in rets.columns] if isinstance(lb, list) else lb
            if (isinstance(la, str) and la not in rets.columns) or (isinstance(lb, str) and lb not in rets.columns) \
                    or not la or not lb:
                continue
            out = correlation_regimes(rets, la, lb, window=correlation_window, dcc=dcc)
            key = f"{a} vs {b}"
            series[key] = out.pop("series")
            out["a"], out["b"] = str(a), str(b)
            corr["regimes"].append(out)
        except (ComputefolioError, ValueError) as exc:
            warnings.append(f"correlation regimes {a} vs {b}: {exc}")

    # ---- stress
    stress: list = []
    scen = scenarios
    if scen is None or isinstance(scen, (str, Path)):
        scen = load_scenarios(scen, universe)
    for s in scen:
        try:
            stress.append(stress_test(held_w, s, rets_all, universe, capital=capital, currency=cur,
                                      confidence=confidence, simulated=bool(market.simulated)))
        except ComputefolioError as exc:
            stress.append({"name": s.name, "kind": s.kind, "title": s.title, "error": str(exc)})

    # ---- drawdown of today's book over the lookback window (same returns as VaR)
    dd = None
    path = None
    try:
        pr = portfolio_returns(held_w, rets, missing="renormalize")
        dd = drawdown_stats(pr)
        path = drawdown_series((1 + pr).cumprod())
        meta["drawdown_rule"] = ("today's weights over the lookback window, rebalanced every period; periods where "
                                 "a held asset has no return (even after proxy fill) re-weight the others to the "
                                 "same gross")
    except (ComputefolioError, ValueError) as exc:
        warnings.append(f"drawdown: {exc}")

    # ---- liquidity
    liq = None
    try:
        liq = liquidity(held_w, market, universe, capital=capital, participation=participation, asof=asof_ts,
                        access=access)
        nov = [s for s, n in liq.table["note"].items() if "no volume" in n]
        if nov:
            warnings.append(f"no volume data for {', '.join(nov)}: their liquidity is unknown (counted as not liquid)")
    except (ComputefolioError, ValueError) as exc:
        warnings.append(f"liquidity: {exc}")

    return RiskReport(meta=meta, book=book, volatility=vol, var=var, decomposition=decomp, correlation=corr,
                      stress=stress, drawdown=dd, liquidity=liq, warnings=warnings, regime_series=series,
                      drawdown_path=path)
