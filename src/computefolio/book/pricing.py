"""Prices at the NAV cut-off, with their dates and ages.

The cut-off rule (one rule for both clocks, used alike by the NAV, the book's risk and the
backtest's session basis, which aligns a crypto bar and an equity session by their date
label):

    **The NAV of day D is struck at 24:00 UTC on D.** Every asset is taken at its last
    price at or before that instant: an equity at the 16:00 New York close of its last
    session on or before D (20:00 or 21:00 UTC, before the cut-off), a crypto asset at the
    close of its UTC-day bar of D (24:00 UTC, the cut-off itself) or of an earlier day.

The price of a unit is the traded close; where a source gives only an adjusted close
(dividend-adjusted, e.g. the shared equity file) that is used and said (``field``).

A price is **stale** when its asset's own calendar had a bar after it up to D (a crypto
day or an equity session without a price): it is carried at its last value with
``age_days`` (calendar days from the price's date to D), ``stale_days`` (calendar days
from the price's date to the last bar its calendar should have had) and ``missed_bars``
(bars of its calendar after the price, up to D). An equity on a Saturday is at Friday's
close, 1 day old and not stale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..clock import CRYPTO, sessions
from ..errors import DataError

#: The cut-off rule in one sentence (printed with every NAV).
CUTOFF_RULE = ("NAV of day D at 24:00 UTC on D: equities at their last 16:00 New York close on or before D, "
               "crypto at the close of the UTC-day bar of D or earlier; older prices are carried and flagged stale")


def cutoff_label(day) -> str:
    """``"2025-06-30 24:00 UTC"`` for the NAV of 2025-06-30."""
    return f"{pd.Timestamp(day).date()} 24:00 UTC"


def unit_prices(market) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prices of one unit on the market's native dates: the close, else the adjusted close.

    Returns ``(price, adjusted)``: dates x symbols, and a boolean frame that is True where
    the adjusted close was used.
    """
    close = market.close
    if market.adj_close is None:
        return close, pd.DataFrame(False, index=close.index, columns=close.columns)
    adjusted = close.isna() & market.adj_close.notna()
    return close.where(~adjusted, market.adj_close), adjusted


def _expected_bar(cal: str, day: pd.Timestamp, cache: dict) -> pd.Timestamp:
    if cal == CRYPTO:
        return day
    if cal not in cache:
        cache[cal] = sessions(cal, "1990-01-01", "2030-12-31")
    s = cache[cal]
    k = int(s.searchsorted(day, side="right")) - 1
    return s[k] if k >= 0 else day


def _missed(cal: str, last: pd.Timestamp, expected: pd.Timestamp, cache: dict) -> int:
    if expected <= last:
        return 0
    if cal == CRYPTO:
        return int((expected - last).days)
    s = cache[cal]
    return int(s.searchsorted(expected, side="right") - s.searchsorted(last, side="right"))


def prices_at(market, day, symbols=None) -> pd.DataFrame:
    """Each symbol's price at the cut-off of ``day``, with its date and age.

    Parameters
    ----------
    market : :class:`~computefolio.data.market.MarketData`
    day : date-like
        The NAV date D (cut-off 24:00 UTC on D).
    symbols : list of str, optional
        Default: every symbol of the market. A symbol not in the market raises DataError.

    Returns
    -------
    pandas.DataFrame
        Index = symbols; ``price`` (currency per unit, NaN when no price on or before D),
        ``date`` (of that price), ``field`` (``close`` or ``adj_close``), ``calendar``,
        ``expected`` (last bar its calendar should have had), ``age_days``,
        ``stale_days``, ``missed_bars``, ``status`` (``fresh``, ``stale``, ``no price``).
    """
    day = pd.Timestamp(day).normalize()
    symbols = list(market.symbols if symbols is None else symbols)
    unknown = [s for s in symbols if s not in market.symbols]
    if unknown:
        raise DataError(f"no market data for {', '.join(unknown)}")
    if not symbols:
        return pd.DataFrame(columns=["price", "date", "field", "calendar", "expected", "age_days", "stale_days",
                                     "missed_bars", "status"], index=pd.Index([], name="symbol"))
    px, adj = unit_prices(market)
    px = px.loc[:day, symbols]
    adj = adj.loc[:day, symbols]
    cache: dict = {}
    rows = {}
    for s in symbols:
        col = px[s]
        ok = col.notna().to_numpy()
        cal = market.calendars[s]
        if not ok.any():
            rows[s] = {"price": np.nan, "date": pd.NaT, "field": "", "calendar": cal, "expected": pd.NaT,
                       "age_days": np.nan, "stale_days": np.nan, "missed_bars": np.nan, "status": "no price"}
            continue
        k = int(np.flatnonzero(ok)[-1])
        last = col.index[k]
        exp = _expected_bar(cal, day, cache)
        missed = _missed(cal, last, exp, cache)
        rows[s] = {"price": float(col.iloc[k]), "date": last, "field": "adj_close" if adj[s].iloc[k] else "close",
                   "calendar": cal, "expected": exp, "age_days": int((day - last).days),
                   "stale_days": int(max((exp - last).days, 0)), "missed_bars": missed,
                   "status": "stale" if missed > 0 else "fresh"}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "symbol"
    return out


def price_panel(market, days: pd.DatetimeIndex, symbols) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut-off prices over many NAV dates: ``(price, price_date)``, days x symbols.

    Each cell is the symbol's last unit price on or before that day (carried), and the
    date of that price (NaT before its first price).
    """
    symbols = list(symbols)
    px, _ = unit_prices(market)
    px = px.reindex(columns=symbols)
    union = px.index.union(days)
    p = px.reindex(union)
    dates = pd.DataFrame(np.where(p.notna(), union.values[:, None], np.datetime64("NaT")), index=union,
                         columns=symbols).astype("datetime64[ns]")
    return p.ffill().reindex(days), dates.ffill().reindex(days)
