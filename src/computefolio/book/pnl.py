"""P&L of the book net of external flows: today, month to date, year to date.

A change of NAV is not a profit when money came in: a deposit raises the NAV without
earning anything. External flows are the entries that move value across the book's
boundary: ``deposit``, ``withdrawal``, ``adjustment`` (a positions snapshot bringing
holdings in or out) and reversals of them. A transfer between two accounts of the
book, a buy, a sell, a fee, a dividend or interest is *not* a flow (fees lose money,
dividends earn it).

For each NAV date t (cut-off 24:00 UTC, :mod:`computefolio.book.pricing`):

* ``flow_t`` = the value of the flows dated t, cash at its rate and assets at their
  cut-off price of t;
* ``pnl_t = NAV_t - NAV_{t-1} - flow_t`` (currency);
* ``return_t = pnl_t / (NAV_{t-1} + flow_t)`` (flows taken at the start of the day,
  the daily Modified Dietz return); periods chain daily returns (time-weighted) and
  sum daily P&L.

This is the one place the service's overview and any command read today's, MTD and
YTD P&L from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .ledger import fx_rate, legs
from .pricing import price_panel
from .valuation import nav_series

#: Entry kinds that move value across the book's boundary.
FLOW_KINDS: tuple[str, ...] = ("deposit", "withdrawal", "adjustment")


def flows(entries: pd.DataFrame, market, days: pd.DatetimeIndex, *, fx=None) -> pd.Series:
    """Value of external flows per NAV date (currency; positive = into the book).

    Parameters
    ----------
    entries : ledger entries (:meth:`~computefolio.book.store.BookStore.entries`)
    market : MarketData
    days : NAV dates (each flow counts on the first of ``days`` on or after its date)
    fx : extra cash currency rates (USD per unit)
    """
    out = pd.Series(0.0, index=days, name="flow")
    if entries is None or not len(entries):
        return out
    kind = entries.set_index("entry_id")["kind"]
    rev = entries.set_index("entry_id")["reverses"]
    ids = [i for i, k in kind.items()
           if k in FLOW_KINDS or (k == "reversal" and pd.notna(rev.get(i)) and kind.get(int(rev[i])) in FLOW_KINDS)]
    if not ids:
        return out
    lg = legs(entries)
    lg = lg[lg["entry_id"].isin(ids)]
    if lg.empty:
        return out
    pos = days.searchsorted(lg["date"].to_numpy(), side="left")
    keep = pos < len(days)
    lg, pos = lg[keep], pos[keep]
    if lg.empty:
        return out
    day = days[pos]
    cash = lg["cash"].to_numpy(bool)
    value = np.zeros(len(lg))
    if cash.any():
        value[cash] = lg.loc[cash, "quantity"].to_numpy(float) * np.array(
            [fx_rate(c, fx) for c in lg.loc[cash, "instrument"]])
    if (~cash).any():
        syms = list(dict.fromkeys(lg.loc[~cash, "instrument"]))
        px, _ = price_panel(market, days, syms)
        a = lg[~cash]
        p = px.to_numpy()[pos[~cash], [syms.index(s) for s in a["instrument"]]]
        value[~cash] = a["quantity"].to_numpy(float) * np.nan_to_num(p, nan=0.0)
    return out.add(pd.Series(value, index=day).groupby(level=0).sum(), fill_value=0.0)


def daily_pnl(entries: pd.DataFrame, market, end=None, *, fx=None) -> pd.DataFrame:
    """NAV, flows, P&L and return per calendar day from the first ledger date to ``end``
    (default: the last price date; see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Index = calendar days; ``nav``, ``flow``, ``pnl`` (currency) and ``return``
        (fraction; NaN on a day that starts with nothing invested), beside the columns
        of :func:`~computefolio.book.valuation.nav_series`.
    """
    s = nav_series(entries, market, None, end, basis="calendar", fx=fx)
    f = flows(entries, market, s.index, fx=fx).to_numpy()
    nav = s["nav"].to_numpy(float)
    prev = np.concatenate([[0.0], nav[:-1]])  # nothing was held before the first ledger date
    pnl = nav - prev - f
    base = prev + f
    with np.errstate(all="ignore"):
        ret = np.where(np.abs(base) > 1e-9, pnl / base, np.nan)
    out = s.copy()
    out["flow"] = f
    out["pnl"] = pnl
    out["return"] = ret
    out.attrs.update(s.attrs)
    return out


def pnl_summary(daily: pd.DataFrame, day=None) -> dict:
    """Today, month to date and year to date from :func:`daily_pnl` (up to ``day``).

    Returns
    -------
    dict
        ``{"day", "nav", "today": {"pnl", "return", "from"}, "mtd": {...}, "ytd": {...}}``:
        ``pnl`` in currency (sum of daily P&L), ``return`` a fraction (daily returns
        chained), ``from`` the last NAV date before the period (the base).
    """
    d = daily if day is None else daily.loc[: pd.Timestamp(day)]
    if not len(d):
        return {}
    last = d.index[-1]
    out = {"day": str(last.date()), "nav": float(d["nav"].iloc[-1])}
    for key, first in (("today", last), ("mtd", last.replace(day=1)), ("ytd", last.replace(month=1, day=1))):
        w = d.loc[first:last]
        r = w["return"].dropna()
        out[key] = {"pnl": float(w["pnl"].sum()), "return": float(np.prod(1 + r.to_numpy()) - 1) if len(r) else None,
                    "from": str((first - pd.Timedelta(days=1)).date()), "days": int(len(w))}
    return out
