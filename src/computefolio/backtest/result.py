"""The result of a backtest: curves, weights, trades and costs, each with its unit and basis."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Result:
    """What a simulation produced.

    Attributes
    ----------
    equity : pandas.Series
        Net book value after every cost, in ``currency``, on the valuation dates
        (post-trade on rebalance days).
    gross_equity : pandas.Series
        The same share trades with no cost deducted: ``equity + costs.cumsum()``
        exactly (interest is computed on the net book's cash in both).
    returns : pandas.Series
        Simple per-period returns of ``equity``; the first is against the starting
        capital. ``attrs``: ``basis``, ``periods_per_year``, ``currency``.
    gross_returns : pandas.Series
        Same for ``gross_equity``.
    weights : pandas.DataFrame or None
        Post-trade weights per date (fractions of equity); None when not kept.
    trades : pandas.DataFrame
        One row per executed trade: ``date, symbol, venue, side, quantity, price,
        notional, fee, spread, impact, cost, kind`` (kind: rebalance, deferred,
        delist). Quantities in units, money in ``currency``.
    skipped : pandas.DataFrame
        Trades not done: below a venue's minimum notional (``kind="min_notional"``,
        with the quantity that was wanted) or targets on an asset without a price
        (``kind="not_listed"``, ``weight`` reallocated to cash).
    costs : pandas.Series
        Costs paid per date (currency).
    turnover : pandas.Series
        One-sided turnover per date: traded notional / (2 x pre-trade value).
    cash : pandas.Series
        Cash per date (currency; negative = borrowed).
    manifest : dict
        Data hash, configuration, package version, seed.
    warnings : list of str
    stale : pandas.DataFrame
        Positions held on the last date at a stale price (the series ended without a
        dated delisting): index = symbol; ``last_price_date``, ``age_days`` (calendar
        days to the last valuation date), ``price``, ``value`` (currency), ``weight``.
        Empty when every held price is fresh.
    rebalances : list of dict
        Policy backtests: one entry per allocator fit (``date``, allocator ``status``,
        ``stale`` = weights held because their price had stopped, ``excluded``,
        ``skipped_rules``, ``book_value`` in currency).
    """

    equity: pd.Series
    gross_equity: pd.Series
    returns: pd.Series
    gross_returns: pd.Series
    weights: pd.DataFrame | None
    trades: pd.DataFrame
    skipped: pd.DataFrame
    costs: pd.Series
    turnover: pd.Series
    cash: pd.Series
    capital: float
    basis: str
    periods_per_year: int
    currency: str = "USD"
    manifest: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    rebalances: list = field(default_factory=list)
    stale: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["last_price_date", "age_days", "price", "value", "weight"]))

    @property
    def costs_by_venue(self) -> pd.DataFrame:
        """Fee, spread, impact and total cost per venue (currency)."""
        return self._costs_by("venue")

    @property
    def costs_by_asset(self) -> pd.DataFrame:
        """Fee, spread, impact and total cost per symbol (currency)."""
        return self._costs_by("symbol")

    def _costs_by(self, key: str) -> pd.DataFrame:
        cols = ["fee", "spread", "impact", "cost", "notional"]
        if self.trades.empty:
            return pd.DataFrame(columns=cols, dtype=float)
        return self.trades.groupby(key)[cols].sum().sort_values("cost", ascending=False)

    @property
    def total_costs(self) -> float:
        """Every cost paid (currency)."""
        return float(self.costs.sum())

    def metrics(self, benchmark: pd.Series | None = None, risk_free: float | pd.Series = 0.0) -> dict:
        """Performance metrics of the net returns (see :func:`computefolio.metrics.summary`)."""
        from ..metrics import summary

        return summary(self.returns, benchmark=benchmark, risk_free=risk_free, turnover=self.turnover,
                       periods_per_year=self.periods_per_year)

    def to_dict(self) -> dict:
        """JSON-ready summary: curves as {date: value}, metrics, costs, manifest."""
        def ser(s):
            return {d.strftime("%Y-%m-%d"): (None if not np.isfinite(v) else float(v)) for d, v in s.items()}

        return {
            "basis": self.basis,
            "periods_per_year": self.periods_per_year,
            "currency": self.currency,
            "capital": self.capital,
            "equity": ser(self.equity),
            "gross_equity": ser(self.gross_equity),
            "costs_total": self.total_costs,
            "costs_by_venue": {k: float(v) for k, v in self.costs_by_venue["cost"].items()},
            "n_trades": int(len(self.trades)),
            "metrics": {k: _plain(v) for k, v in self.metrics().items()},
            "warnings": list(self.warnings),
            "manifest": self.manifest,
        }

    def __repr__(self) -> str:
        e = self.equity
        return (f"Result({e.index[0].date()}..{e.index[-1].date()}, {len(e)} periods, {self.basis} basis "
                f"{self.periods_per_year}/yr, equity {e.iloc[-1]:,.0f} {self.currency}, "
                f"costs {self.total_costs:,.0f}, {len(self.trades)} trades)")


def _plain(v):
    """A JSON-ready scalar: floats (None for NaN), ints, strings; dates as YYYY-MM-DD."""
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v
