"""Liquidity of a book: days to liquidate each position and the share liquid by horizon.

``days_to_liquidate = |position value| / (participation x ADV)``, ADV being the average
traded value (volume x its source's close, in currency) over the last ``window`` bars of
the asset's *own* calendar (sessions for equities, calendar days for crypto) on or before
the as-of date, so "days" are trading days of the asset's venue. Each ADV carries its
window and age (``adv_window``: "ADV over 20 bars to 2025-04-04, 222 days old (file)"). The share of the book liquid within ``d`` days assumes each
position is sold evenly at the participation rate: ``sum_i |v_i| min(1, d / days_i) /
sum_i |v_i|``. Positions with no volume data have ``days = NaN``, count as not liquid and
say so; tokens or stakes locked past the as-of date (universe ``liquidity.locked_until``)
count as not liquid until then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .portfolio import DEFAULT_CAPITAL, check_weights

HORIZONS = (1, 5, 20)


def native_adv(market, window: int = 20, asof=None) -> pd.Series:
    """ADV in currency on each asset's own venue calendar: :meth:`MarketData.venue_adv`."""
    return market.venue_adv(window, asof)


@dataclass
class LiquidityReport:
    table: pd.DataFrame       # per position: value, adv, days, note
    liquid_share: dict        # horizon days -> fraction of gross book
    participation: float
    window: int
    currency: str
    asof: str | None

    def to_dict(self) -> dict:
        rows = {str(k): {c: (v if isinstance(v, str) else (None if pd.isna(v) else float(v)))
                         for c, v in r.items()} for k, r in self.table.iterrows()}
        return {"participation": self.participation, "adv_window_bars": self.window, "currency": self.currency,
                "asof": self.asof, "liquid_share": {str(k): v for k, v in self.liquid_share.items()},
                "units": {"value": self.currency, "adv": f"{self.currency} per trading day of the asset's venue",
                          "days": "trading days of the asset's venue", "liquid_share": "fraction of gross book"},
                "positions": rows}


def liquidity(weights: pd.Series, market, universe=None, *, capital: float = DEFAULT_CAPITAL,
              participation: float = 0.2, window: int = 20, asof=None,
              horizons=HORIZONS) -> LiquidityReport:
    """Days to liquidate each position and the share of the book liquid within ``horizons`` days."""
    if not 0 < participation <= 1:
        raise ValueError(f"participation must be in (0, 1], got {participation}")
    w = check_weights(weights)
    w = w[w != 0]
    value = (w * capital).abs()
    info = market.adv_info(window, asof).reindex(w.index)
    adv = info["adv"].astype(float)
    days = value / (participation * adv)
    notes = pd.Series("", index=w.index, dtype=object)
    notes[adv.isna()] = "no volume data: liquidity unknown"
    asof_ts = pd.Timestamp(asof) if asof is not None else market.end
    locked = pd.Series(np.nan, index=w.index)
    if universe is not None:
        for s in w.index:
            if s in universe:
                liq = universe.asset(s).liquidity
                if liq is not None and liq.locked_until is not None and pd.Timestamp(liq.locked_until) > asof_ts:
                    locked[s] = (pd.Timestamp(liq.locked_until) - asof_ts).days + liq.notice_days
                    notes[s] = f"locked until {liq.locked_until}"
    eff = days.copy()
    eff[locked.notna()] = np.maximum(days[locked.notna()].fillna(0), locked[locked.notna()])
    gross = float(value.sum())
    share = {}
    for d in horizons:
        frac = np.where(np.isfinite(eff), np.minimum(1.0, d / eff.replace(0, np.nan).fillna(np.inf)), 0.0)
        frac = np.where(eff == 0, 1.0, frac)
        share[int(d)] = float((value * frac).sum() / gross) if gross else float("nan")
    src = info["source"].fillna("").astype(str)
    adv_window = info["text"].fillna("no volume data").astype(str) + np.where(src != "", " (" + src + ")", "")
    table = pd.DataFrame({"value": value, "adv": adv, "days": eff, "adv_window": adv_window,
                          "note": notes}).sort_values("days", ascending=False)
    return LiquidityReport(table, share, participation, window, market.currency,
                           str(asof_ts.date()))
