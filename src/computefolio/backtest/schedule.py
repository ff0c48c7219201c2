"""When to rebalance: calendar schedules on either clock, and drift bands.

:class:`Calendar`
    Weekly, monthly or quarterly (or every period), on the last (or first) day of each
    period that is a valuation date of the book *and* a day of the chosen clock:
    ``clock="session"`` picks XNYS sessions (so a calendar-basis book still trades
    at a session close), ``clock="calendar"`` any day (a month end may be a Sunday
    on the calendar basis; on the session basis only sessions exist).
:class:`DriftBands`
    Rebalance when any asset weight, or any group weight, drifts from its target by
    more than an absolute band (``abs=0.05``: 5 percentage points) or a relative
    band (``rel=0.25``: 25% of the target weight). Checked on every valuation date
    after marking to market, against the target of the last rebalance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..clock import SESSION_CALENDAR, is_session

_FREQ = {"D": None, "W": "W", "M": "M", "Q": "Q", "Y": "Y",
         "daily": None, "weekly": "W", "monthly": "M", "quarterly": "Q", "yearly": "Y"}


@dataclass(frozen=True)
class Calendar:
    """A calendar rebalance schedule.

    Parameters
    ----------
    freq : {"weekly", "monthly", "quarterly", "yearly", "daily"} or {"W", "M", "Q", "Y", "D"}
    clock : {"session", "calendar"} or None
        Which days qualify; None uses every valuation date of the book.
    anchor : {"last", "first"}
        Last or first qualifying day of each period.
    """

    freq: str = "monthly"
    clock: Literal["session", "calendar"] | None = None
    anchor: Literal["last", "first"] = "last"

    def __post_init__(self):
        if self.freq not in _FREQ:
            raise ValueError(f"freq must be one of {', '.join(_FREQ)}; got {self.freq!r}")
        if self.clock not in (None, "session", "calendar"):
            raise ValueError(f"clock must be 'session', 'calendar' or None; got {self.clock!r}")
        if self.anchor not in ("last", "first"):
            raise ValueError(f"anchor must be 'last' or 'first'; got {self.anchor!r}")

    def dates(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """Rebalance dates among ``index`` (the book's valuation dates)."""
        index = pd.DatetimeIndex(index)
        cand = index[is_session(SESSION_CALENDAR, index)] if self.clock == "session" else index
        f = _FREQ[self.freq]
        if f is None or len(cand) == 0:
            return cand
        key = cand.to_period(f)
        pos = pd.Series(np.arange(len(cand)), index=cand)
        g = pos.groupby(np.asarray(key))
        sel = g.max() if self.anchor == "last" else g.min()
        return cand[np.sort(sel.to_numpy())]

    def to_dict(self) -> dict:
        return {"type": "calendar", "freq": self.freq, "clock": self.clock, "anchor": self.anchor}


@dataclass(frozen=True)
class DriftBands:
    """Drift bands around the target weights (fractions of book value).

    Parameters
    ----------
    abs, rel : float, optional
        Per-asset absolute band (|w - w*| > abs) and relative band (|w - w*| > rel |w*|).
    group_abs, group_rel : float, optional
        Same on group weights ``G.T @ w`` (look-through by layer, sleeve, ...).
    groups : pandas.DataFrame, optional
        Membership, symbols x groups (e.g. ``universe.membership("sleeve")``).
    review : Calendar, optional
        Also rebalance on this calendar (bands *and* a schedule).
    """

    abs: float | None = None
    rel: float | None = None
    group_abs: float | None = None
    group_rel: float | None = None
    groups: pd.DataFrame | None = None
    review: Calendar | None = None

    def __post_init__(self):
        for name in ("abs", "rel", "group_abs", "group_rel"):
            v = getattr(self, name)
            if v is not None and not (v >= 0):
                raise ValueError(f"DriftBands.{name} must be >= 0, got {v}")
        if (self.group_abs is not None or self.group_rel is not None) and self.groups is None:
            raise ValueError("group bands need groups= (a symbols x groups membership frame)")

    def arrays(self, symbols) -> tuple[float, float, np.ndarray, float, float]:
        """``(abs, rel, G, group_abs, group_rel)`` for the kernel (NaN = off, G (n, m))."""
        nan = float("nan")
        if self.groups is not None:
            G = self.groups.reindex(index=list(symbols)).fillna(0.0).to_numpy(dtype=float)
        else:
            G = np.zeros((len(symbols), 0))
        return (nan if self.abs is None else float(self.abs), nan if self.rel is None else float(self.rel),
                np.ascontiguousarray(G), nan if self.group_abs is None else float(self.group_abs),
                nan if self.group_rel is None else float(self.group_rel))

    def dates(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """Scheduled review dates (none unless ``review`` is set)."""
        return self.review.dates(index) if self.review is not None else pd.DatetimeIndex([])

    def to_dict(self) -> dict:
        return {"type": "bands", "abs": self.abs, "rel": self.rel, "group_abs": self.group_abs,
                "group_rel": self.group_rel, "groups": None if self.groups is None else list(self.groups.columns),
                "review": None if self.review is None else self.review.to_dict()}


def no_bands(n: int):
    """Kernel arrays for 'no drift bands'."""
    nan = float("nan")
    return nan, nan, np.zeros((n, 0)), nan, nan
