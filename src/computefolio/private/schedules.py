"""Lock-ups, vesting and redemption terms as data: what is unlocked on a day, and when.

Schedules are lists of **sections**, the way public token-unlock datasets describe them:

``cliff``   ``{kind: cliff, date: D, amount: X}``: X units unlock on D.
``linear``  ``{kind: linear, start: S, end: E, amount: X}``: X units unlock evenly per calendar
            day over (S, E]: ``X * (t - S) / (E - S)`` of them by day t, all of them on E.
``step``    ``{kind: step, start: S, every_months: n (or every_days: n), count: c, amount: X}``:
            X / c units on each of c dates S, S + n, ..., S + (c - 1) n.

``amount`` is in units; ``fraction`` (of the position's quantity, or of a network's total)
may be given instead. A unit unlocked "on D" can be sold on D: a position past its unlock
date is liquid that day.

Terms of a position (:class:`Terms`):

* ``vesting``: a grant that unlocks by its sections (a token grant, an SAFT);
* ``lockup``: every unit locked until ``until`` (a holder's lock-up); ``ipo_lockup`` is the
  same tied to a listing: ``listing + days`` (180 by default) or an early ``release`` date
  stated in the prospectus;
* ``gate``: a fund interest redeemable on dates of a ``frequency`` (monthly, quarterly),
  after ``notice_days`` of notice, at most ``max_fraction`` of the original holding per date,
  and not before ``lockup_until``.

Token **overhang** (:class:`TokenSupply`): a network's scheduled unlocks (all holders) and its
circulating supply on a date; :meth:`TokenSupply.overhang` is the supply unlocking in the next
30/90/180 days as a fraction of circulating supply.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ItemFieldError

#: Horizons of the overhang, calendar days.
OVERHANG_DAYS: tuple[int, ...] = (30, 90, 180)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Amount(_Strict):
    amount: float | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_amount(self):
        if (self.amount is None) == (self.fraction is None):
            raise ItemFieldError(f"{self.kind} section", "amount", "exactly one of 'amount' (units) or 'fraction'")
        return self

    def units(self, total: float | None) -> float:
        if self.amount is not None:
            return float(self.amount)
        if total is None:
            raise ItemFieldError(f"{self.kind} section", "fraction", "a total to take the fraction of ('amount' "
                                                                    "in units where there is none)")
        return float(self.fraction) * float(total)


class Cliff(_Amount):
    kind: Literal["cliff"] = "cliff"
    date: dt.date

    def events(self, total):
        return [(self.date, self.units(total))]

    def unlocked(self, day: dt.date, total) -> float:
        return self.units(total) if day >= self.date else 0.0


class Linear(_Amount):
    kind: Literal["linear"] = "linear"
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ItemFieldError("linear section", "end", f"after start {self.start}, got {self.end}")
        return self

    def unlocked(self, day: dt.date, total) -> float:
        x = self.units(total)
        if day <= self.start:
            return 0.0
        if day >= self.end:
            return x
        return x * (day - self.start).days / (self.end - self.start).days


class Step(_Amount):
    kind: Literal["step"] = "step"
    start: dt.date
    count: int = Field(ge=1, le=10_000)
    every_months: int | None = Field(default=None, ge=1, le=120)
    every_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _one_period(self):
        if (self.every_months is None) == (self.every_days is None):
            raise ItemFieldError("step section", "every_months", "exactly one of 'every_months' or 'every_days'")
        return self

    def dates(self) -> list[dt.date]:
        s = pd.Timestamp(self.start)
        if self.every_months is not None:
            return [(s + pd.DateOffset(months=self.every_months * k)).date() for k in range(self.count)]
        return [(s + pd.Timedelta(days=self.every_days * k)).date() for k in range(self.count)]

    def events(self, total):
        per = self.units(total) / self.count
        return [(d, per) for d in self.dates()]

    def unlocked(self, day: dt.date, total) -> float:
        n = sum(1 for d in self.dates() if d <= day)
        return self.units(total) * n / self.count


Section = Annotated[Cliff | Linear | Step, Field(discriminator="kind")]


def unlocked_units(sections, day, total: float | None = None) -> float:
    """Units unlocked by the end of ``day`` under ``sections`` (sum over sections)."""
    d = pd.Timestamp(day).date()
    return float(sum(s.unlocked(d, total) for s in sections))


def scheduled_units(sections, total: float | None = None) -> float:
    """Units the sections unlock in all."""
    return float(sum(s.units(total) for s in sections))


def last_unlock(sections) -> dt.date | None:
    """The day the last section finishes."""
    ends = []
    for s in sections:
        ends.append(s.date if isinstance(s, Cliff) else s.end if isinstance(s, Linear) else s.dates()[-1])
    return max(ends) if ends else None


class Lockup(_Strict):
    """Every unit locked until ``until`` (sellable on ``until``)."""

    until: dt.date
    reference: str = ""
    note: str = ""


class IpoLockup(_Strict):
    """The lock-up after a listing: ``release`` when stated, else ``listing + days``.

    ``release`` is the first day the shares may be sold (a prospectus's early-release terms,
    e.g. "after the close of the second trading day after the second earnings report").
    """

    listing: dt.date
    days: int = Field(default=180, ge=0, le=3650)
    release: dt.date | None = None
    reference: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _after_listing(self):
        if self.release is not None and self.release < self.listing:
            raise ItemFieldError("ipo_lockup", "release", f"on or after the listing {self.listing}, got {self.release}")
        return self

    @property
    def until(self) -> dt.date:
        return self.release or (pd.Timestamp(self.listing) + pd.Timedelta(days=self.days)).date()


class Gate(_Strict):
    """Redemption terms of a fund interest (see the module docstring).

    The fraction redeemable by day ``asof + h`` is ``min(1, n * max_fraction)``, ``n`` the
    redemption dates in ``(asof + notice_days, asof + h]`` on or after ``lockup_until``
    (an investor-level gate on the original holding).
    """

    frequency: Literal["monthly", "quarterly", "semiannual", "annual"] = "quarterly"
    notice_days: int = Field(default=90, ge=0, le=3650)
    max_fraction: float = Field(default=0.25, gt=0, le=1)
    lockup_until: dt.date | None = None
    reference: str = ""
    note: str = ""

    def redemption_dates(self, start, end) -> pd.DatetimeIndex:
        """Period-end redemption dates in ``[start, end]``."""
        freq = {"monthly": "ME", "quarterly": "QE", "semiannual": "2QE", "annual": "YE"}[self.frequency]
        try:
            days = pd.date_range(pd.Timestamp(start).normalize() - pd.Timedelta(days=400), pd.Timestamp(end),
                                 freq=freq)
        except ValueError:  # pandas < 2.2 spells period ends M / Q / A
            days = pd.date_range(pd.Timestamp(start).normalize() - pd.Timedelta(days=400), pd.Timestamp(end),
                                 freq={"ME": "M", "QE": "Q", "2QE": "2Q", "YE": "A"}[freq])
        if self.frequency == "semiannual":
            days = days[days.month.isin([6, 12])]
        return days[(days >= pd.Timestamp(start).normalize())]

    def redeemable(self, asof, horizon_days: int) -> float:
        """Fraction of the holding redeemable within ``horizon_days`` calendar days of ``asof``."""
        a = pd.Timestamp(asof).normalize()
        first = a + pd.Timedelta(days=self.notice_days)
        if self.lockup_until is not None:
            first = max(first, pd.Timestamp(self.lockup_until))
        end = a + pd.Timedelta(days=int(horizon_days))
        if end < first:
            return 0.0
        n = len(self.redemption_dates(first, end))
        return float(min(1.0, n * self.max_fraction))


class Terms(_Strict):
    """A position's lock-up, vesting and redemption terms (any may be absent)."""

    vesting: list[Section] = Field(default_factory=list)
    lockup: Lockup | None = None
    ipo_lockup: IpoLockup | None = None
    gate: Gate | None = None

    def unlocked_fraction(self, quantity: float, day) -> float:
        """Fraction of ``quantity`` units unlocked on ``day`` (1 when no term locks it)."""
        d = pd.Timestamp(day).date()
        frac = 1.0
        if self.vesting:
            frac = min(frac, unlocked_units(self.vesting, d, quantity) / quantity if quantity else 1.0)
        for lk in (self.lockup, self.ipo_lockup):
            if lk is not None and d < lk.until:
                frac = 0.0
        if self.gate is not None and self.gate.lockup_until is not None and d < self.gate.lockup_until:
            frac = 0.0
        return float(min(max(frac, 0.0), 1.0))

    def unlock_dates(self, quantity: float) -> list[tuple[dt.date, float]]:
        """(date, units) of every scheduled unlock, oldest first (vesting events, lock-up ends)."""
        ev: list[tuple[dt.date, float]] = []
        for s in self.vesting:
            if isinstance(s, Linear):
                continue
            ev.extend(s.events(quantity))
        for lk in (self.lockup, self.ipo_lockup):
            if lk is not None:
                ev.append((lk.until, quantity))
        if self.gate is not None and self.gate.lockup_until is not None:
            ev.append((self.gate.lockup_until, quantity))
        return sorted(ev)

    @property
    def locked_until(self) -> dt.date | None:
        """The last day any unit is locked, plus one (the day everything is sellable)."""
        ends = [d for d in (last_unlock(self.vesting) if self.vesting else None,
                            self.lockup.until if self.lockup else None,
                            self.ipo_lockup.until if self.ipo_lockup else None,
                            self.gate.lockup_until if self.gate else None) if d is not None]
        return max(ends) if ends else None

    def describe(self) -> str:
        parts = []
        if self.vesting:
            kinds = ", ".join(s.kind for s in self.vesting)
            parts.append(f"vesting ({kinds}) to {last_unlock(self.vesting)}")
        if self.lockup:
            parts.append(f"locked until {self.lockup.until}")
        if self.ipo_lockup:
            parts.append(f"IPO lock-up until {self.ipo_lockup.until} (listing {self.ipo_lockup.listing})")
        if self.gate:
            g = self.gate
            parts.append(f"{g.frequency} redemptions, {g.notice_days} days notice, gate {g.max_fraction:.0%} per date"
                         + (f", locked until {g.lockup_until}" if g.lockup_until else ""))
        return "; ".join(parts) or "no lock-up"


class TokenSupply(_Strict):
    """A token network's circulating supply on ``as_of`` and its scheduled unlocks (all holders).

    ``unlocks`` are sections in tokens (team, investors, ecosystem tranches), like a public
    token-unlock dataset; ``source`` says where the numbers come from.
    """

    circulating: float = Field(gt=0)
    as_of: dt.date
    unlocks: list[Section] = Field(default_factory=list)
    source: str = Field(min_length=3)

    def unlocking(self, asof, days: int) -> float:
        """Tokens unlocking in ``(asof, asof + days]``."""
        a = pd.Timestamp(asof).date()
        b = (pd.Timestamp(asof) + pd.Timedelta(days=int(days))).date()
        return unlocked_units(self.unlocks, b) - unlocked_units(self.unlocks, a)

    def circulating_at(self, asof) -> float:
        """Circulating supply on ``asof``: ``circulating`` plus (minus) what the schedule unlocks
        between ``as_of`` and ``asof`` (emissions and burns outside the schedule are not modelled)."""
        return float(self.circulating + unlocked_units(self.unlocks, asof) - unlocked_units(self.unlocks, self.as_of))

    def overhang(self, asof, horizons=OVERHANG_DAYS) -> dict[int, float]:
        """Supply unlocking in the next ``h`` days as a fraction of circulating supply on ``asof``."""
        c = self.circulating_at(asof)
        return {int(h): (self.unlocking(asof, h) / c if c > 0 else float("nan")) for h in horizons}


def locked_value_by_month(values: pd.Series, terms: dict, quantities: pd.Series, asof, months: int = 12
                          ) -> pd.DataFrame:
    """Locked value at each month-end after ``asof``, per position, at today's values.

    Parameters
    ----------
    values : Series, position id -> value today (currency)
    terms : dict position id -> :class:`Terms`
    quantities : Series, position id -> units held
    asof : date-like
    months : int
        Month-ends to show.

    Returns
    -------
    DataFrame
        Index = month-ends (the first is the end of ``asof``'s month), columns = position ids;
        cell = value x locked fraction on that day (currency, at today's price).
    """
    a = pd.Timestamp(asof).normalize()
    ends = pd.DatetimeIndex([a + pd.offsets.MonthEnd(k) for k in range(0 if a.is_month_end else 1, months + 1)])
    ends = ends[:months]
    out = {}
    for pid, v in values.items():
        t = terms.get(pid)
        q = float(quantities.get(pid, 0.0))
        if t is None:
            out[pid] = np.zeros(len(ends))
            continue
        out[pid] = np.array([float(v) * (1.0 - t.unlocked_fraction(q, e)) for e in ends])
    return pd.DataFrame(out, index=ends)
