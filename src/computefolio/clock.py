"""The two clocks of a hybrid book: exchange sessions and the 24/7 calendar day.

Calendars are data: an asset names its calendar (``"XNYS"`` for US equities, taken
from ``exchange_calendars``; ``"24/7"`` for crypto, every calendar day), and every
question about dates goes through this module.

Conventions
-----------
* Dates are timezone-naive, normalized ``pandas.Timestamp`` labels. An equity label is
  the New York trading day (close 16:00 America/New_York); a crypto label is the UTC
  day of the daily bar (close 24:00 UTC, i.e. 19:00/20:00 New York the same day).
  The two are aligned by label: the crypto close of day D stands beside the equity
  close of session D (a few hours later; see ``risk.crosscorr`` for what that does
  to correlations).
* Two valuation bases (DESIGN.md): ``"session"`` values the whole book on equity
  sessions (crypto compounded over weekends and holidays into the next session);
  ``"calendar"`` values it every day (equities carried flat when closed).
* Periods per year are *derived* from the calendar (mean count of sessions per full
  year over 2000-2024, rounded), not hard-coded: 252 for XNYS, 365 for 24/7.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from .errors import ConfigError

CRYPTO = "24/7"
XNYS = "XNYS"
Basis = Literal["session", "calendar"]
BASES: tuple[str, ...] = ("session", "calendar")

#: The equity calendar that defines the session basis of a mixed book.
SESSION_CALENDAR = XNYS
_CAL_START = pd.Timestamp("1990-01-01")
_CAL_END = pd.Timestamp("2030-12-31")


def check_basis(basis: str) -> str:
    """Return ``basis`` if it is ``"session"`` or ``"calendar"``, else raise ValueError."""
    if basis not in BASES:
        raise ValueError(f"basis must be 'session' or 'calendar', got {basis!r}")
    return basis


def known_calendars() -> list[str]:
    """Calendar names an asset may use: ``"24/7"`` and every exchange_calendars code."""
    import exchange_calendars as xcals

    return [CRYPTO, *sorted(xcals.get_calendar_names(include_aliases=False))]


@lru_cache(maxsize=16)
def _exchange_sessions(name: str) -> pd.DatetimeIndex:
    import exchange_calendars as xcals

    try:
        cal = xcals.get_calendar(name, start=_CAL_START, end=_CAL_END)
    except Exception as exc:  # InvalidCalendarName and friends
        raise ConfigError(None, "calendar", f"'24/7' or an exchange_calendars code such as 'XNYS' (got {name!r}: {exc})") from None
    idx = pd.DatetimeIndex(cal.sessions)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.normalize()


def sessions(calendar: str, start, end) -> pd.DatetimeIndex:
    """Trading days of ``calendar`` between ``start`` and ``end`` inclusive.

    Parameters
    ----------
    calendar : str
        ``"24/7"`` (every calendar day) or an exchange_calendars code (``"XNYS"``).
    start, end : date-like
        Inclusive bounds. Exchange calendars are known from 1990 to 2030; asking
        outside that range raises ``ValueError``.

    Returns
    -------
    pandas.DatetimeIndex
        Naive, normalized dates.
    """
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    if calendar == CRYPTO:
        return pd.date_range(start, end, freq="D")
    if start < _CAL_START or end > _CAL_END:
        if end < _CAL_START or start > _CAL_END:
            raise ValueError(f"{calendar} sessions are known from {_CAL_START.date()} to {_CAL_END.date()}")
        start, end = max(start, _CAL_START), min(end, _CAL_END)
    s = _exchange_sessions(calendar)
    return s[(s >= start) & (s <= end)]


def is_session(calendar: str, dates) -> np.ndarray:
    """Boolean array: is each date a trading day of ``calendar``?"""
    dates = pd.DatetimeIndex(dates).normalize()
    if calendar == CRYPTO:
        return np.ones(len(dates), dtype=bool)
    return dates.isin(_exchange_sessions(calendar))


@lru_cache(maxsize=16)
def calendar_periods_per_year(calendar: str) -> int:
    """Mean number of trading days per full year 2000-2024, rounded (252 XNYS, 365 24/7)."""
    if calendar == CRYPTO:
        days = pd.date_range("2000-01-01", "2024-12-31", freq="D")
    else:
        days = sessions(calendar, "2000-01-01", "2024-12-31")
    counts = pd.Series(1, index=days).groupby(days.year).sum()
    return int(round(float(counts.mean())))


def periods_per_year(basis: str) -> int:
    """Periods per year of a valuation basis: the session calendar's or the 24/7 day's."""
    check_basis(basis)
    return calendar_periods_per_year(SESSION_CALENDAR if basis == "session" else CRYPTO)


def basis_index(basis: str, start, end) -> pd.DatetimeIndex:
    """The dates a book is valued on under ``basis`` between ``start`` and ``end``."""
    check_basis(basis)
    return sessions(SESSION_CALENDAR if basis == "session" else CRYPTO, start, end)


def basis_label(basis: str, currency: str = "USD") -> str:
    """Human label stating the basis, e.g. ``"session basis (XNYS, 252/yr), USD"``."""
    ppy = periods_per_year(basis)
    cal = SESSION_CALENDAR if basis == "session" else "every day"
    return f"{basis} basis ({cal}, {ppy}/yr), {currency}"
