"""Drawdowns of a value path: depth, duration, recovery.

Conventions: a drawdown at t is ``V_t / max_{s <= t} V_s - 1`` (a fraction, <= 0). The
*maximum drawdown* is its minimum; ``peak`` is the last high before the trough,
``trough`` the date of the minimum, ``recovery`` the first date at or above the peak
value afterwards (None if not yet). Durations are counted in periods of the series'
basis (sessions or calendar days) and also given in calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DrawdownStats:
    max_drawdown: float            # fraction (negative)
    peak: str | None
    trough: str | None
    recovery: str | None           # None: not recovered by the last date
    peak_to_trough_periods: int
    recovery_periods: int | None   # trough -> recovery
    underwater_periods: int        # peak -> recovery, or peak -> last date if not recovered
    underwater_days: int           # calendar days of the same span
    longest_underwater_periods: int
    current_drawdown: float
    basis: str | None
    periods_per_year: int | None

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["units"] = {"max_drawdown": "fraction of peak value", "*_periods": f"periods of the {self.basis} basis",
                      "underwater_days": "calendar days"}
        return d


def drawdown_series(values: pd.Series) -> pd.Series:
    """``V_t / running max - 1`` of a value (or cumulative wealth) series."""
    v = values.astype(float)
    return (v / v.cummax() - 1.0).rename("drawdown")


def wealth_drawdown(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wealth path starting at 1 before the first return, and its drawdown.

    ``returns``: 1-D per-period simple returns without NaN, shape (n,). Returns
    ``(wealth, drawdown)``, both shape (n + 1,); position 0 is the start (wealth 1,
    drawdown 0), so a first-period loss counts.
    """
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    return wealth, wealth / np.maximum.accumulate(wealth) - 1.0


def longest_underwater(drawdown: np.ndarray) -> tuple[int, int | None]:
    """Longest run of periods with ``drawdown < 0``: ``(length, start position)``.

    The first of equally long runs; ``(0, None)`` when never under water.
    """
    best, best_s, cur_s = 0, None, None
    for i, v in enumerate(drawdown):
        if v < 0:
            if cur_s is None:
                cur_s = i
            if i - cur_s + 1 > best:
                best, best_s = i - cur_s + 1, cur_s
        else:
            cur_s = None
    return best, best_s


def drawdown_stats(returns: pd.Series) -> DrawdownStats:
    """Drawdown statistics of a per-period simple return series (NaN periods are skipped)."""
    r = returns.dropna()
    if len(r) == 0:
        raise ValueError("no returns: cannot compute a drawdown")
    wealth, dd = wealth_drawdown(r.to_numpy())
    idx = r.index
    t = int(np.argmin(dd))
    attrs = getattr(returns, "attrs", {}) or {}
    # index position 0 of wealth is the start (before the first return)
    dates = [idx[0] - (idx[1] - idx[0]) if len(idx) > 1 else idx[0], *idx]
    if dd[t] == 0:
        return DrawdownStats(0.0, None, None, None, 0, None, 0, 0, 0, 0.0, attrs.get("basis"),
                             attrs.get("periods_per_year"))
    p = int(np.nonzero(wealth[: t + 1] == wealth[: t + 1].max())[0][-1])
    after = np.nonzero(wealth[t:] >= wealth[p])[0]
    rec = t + int(after[0]) if len(after) else None
    end = rec if rec is not None else len(wealth) - 1
    longest = longest_underwater(dd)[0]
    return DrawdownStats(
        max_drawdown=float(dd[t]), peak=str(pd.Timestamp(dates[p]).date()), trough=str(pd.Timestamp(dates[t]).date()),
        recovery=str(pd.Timestamp(dates[rec]).date()) if rec is not None else None,
        peak_to_trough_periods=t - p, recovery_periods=(rec - t) if rec is not None else None,
        underwater_periods=end - p, underwater_days=int((pd.Timestamp(dates[end]) - pd.Timestamp(dates[p])).days),
        longest_underwater_periods=longest, current_drawdown=float(dd[-1]),
        basis=attrs.get("basis"), periods_per_year=attrs.get("periods_per_year"))
