"""A private position's price between marks, and across its listing: the NAV policy.

Between two marks the NAV takes one of two policies (a setting; every NAV says which):

``last_mark``
    The last known mark, carried, flagged with its age (calendar days from its valuation
    date).
``roll_forward``
    The last known mark moved with its **proxy basket** of listed assets::

        m_t = m_q * (P_t / P_q) ** beta

    ``q`` the mark's valuation date, ``P`` the basket: a buy-and-hold basket of the proxy
    weights from ``q`` (``P_t / P_q = sum_i w_i p_i,t / p_i,q``, prices at the NAV cut-off,
    carried); members without a price on ``q`` are left out and the others re-weighted (said
    in the notes). ``beta`` scales the basket's moves (a stake riskier than its peers has
    ``beta > 1``).

When the next mark arrives (on its *reported* date ``r``), the NAV moves from the policy's
estimate to the new mark (rolled from its own valuation date to ``r`` under
``roll_forward``): that jump is the **true-up**, recorded with both values
(:attr:`MarkValuation.trueups`). A true-up near zero says the policy tracked the marks.

**Listing** (one position history across an IPO): from the asset's ``listed`` date, once the
market has a price for it, the position is valued at its market price (the NAV cut-off rule of
:mod:`computefolio.book.pricing`, carried with its age when stale); the last mark before is
usually the offering price. The switch is recorded as a true-up of kind ``listing`` (the
first market price against the policy's estimate). If the market has no price after the
listing the marks go on and the notes say so. There is no gap: every day from the first
known mark has a price.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from .marks import Mark

#: NAV policies between marks.
POLICIES: tuple[str, ...] = ("last_mark", "roll_forward")

POLICY_TEXT = {
    "last_mark": "last mark carried between marks (flagged with its age)",
    "roll_forward": "last mark rolled forward on its proxy basket, m_t = m_q (P_t/P_q)^beta, trued up at each new mark",
}


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise DataError(f"NAV policy between marks: one of {', '.join(POLICIES)}, got {policy!r}")
    return policy


@dataclass(frozen=True)
class Basket:
    """Proxy basket: weights over listed symbols (summing to 1) and a beta."""

    weights: dict
    beta: float = 1.0

    def describe(self) -> str:
        w = ", ".join(f"{s} {v:.0%}" for s, v in self.weights.items())
        return f"{w}; beta {self.beta:g}"


@dataclass
class MarkValuation:
    """A position's price on every requested day and the true-ups of its marks.

    Attributes
    ----------
    symbol : str
    policy : str
    frame : pandas.DataFrame
        Index = days; ``price`` (currency per unit, NaN before the first known mark),
        ``method`` (``mark`` on a mark's own date, ``last_mark``, ``roll_forward``, ``market``,
        or ``none``), ``mark_date``, ``source`` (of the mark in use; ``market`` after the
        listing), ``age_days`` (calendar days since the mark's valuation date, or since the
        market price's date), ``basket_ratio`` (``(P_t/P_q)^beta`` applied; 1 otherwise).
    trueups : pandas.DataFrame
        ``date`` (the day the new value took over), ``kind`` (``mark`` or ``listing``),
        ``mark_date``, ``source``, ``previous`` (the policy's estimate that day), ``new``,
        ``trueup`` (new - previous, per unit) and ``trueup_pct`` (fraction of ``previous``).
    notes : list of str
    """

    symbol: str
    policy: str
    frame: pd.DataFrame
    trueups: pd.DataFrame
    notes: list = field(default_factory=list)

    @property
    def prices(self) -> pd.Series:
        return self.frame["price"]


def _carried(prices: pd.DataFrame | pd.Series, when: pd.DatetimeIndex):
    """Last value on or before each of ``when`` (and its date)."""
    px = prices.sort_index()
    union = px.index.union(when)
    p = px.reindex(union)
    if isinstance(p, pd.Series):
        d = pd.Series(np.where(p.notna(), union.values, np.datetime64("NaT")), index=union).astype("datetime64[ns]")
    else:
        d = pd.DataFrame(np.where(p.notna(), union.values[:, None], np.datetime64("NaT")), index=union,
                         columns=p.columns).astype("datetime64[ns]")
    return p.ffill().reindex(when), d.ffill().reindex(when)


def _basket_ratio(basket: Basket | None, basket_prices: pd.DataFrame | None, q: pd.Timestamp,
                  days: pd.DatetimeIndex, notes: list, symbol: str, gaps: dict | None = None) -> np.ndarray:
    """``(P_t / P_q) ** beta`` for ``days`` (ones when there is no usable basket)."""
    if basket is None or basket_prices is None or not len(days):
        return np.ones(len(days))
    syms = [s for s in basket.weights if s in basket_prices.columns]
    missing = [s for s in basket.weights if s not in basket_prices.columns]
    if missing:
        notes.append(f"{symbol}: proxy basket member(s) without market data left out: {', '.join(missing)}")
    if not syms:
        notes.append(f"{symbol}: no proxy basket member has market data: last mark carried instead of rolled forward")
        return np.ones(len(days))
    bp = basket_prices[syms]
    if not bp.index.is_monotonic_increasing:
        bp = bp.sort_index()
    ff = bp.ffill().to_numpy(dtype=float)  # the last price on or before each row, per member

    def carried(when):
        pos = bp.index.searchsorted(pd.DatetimeIndex(when), side="right") - 1
        out = ff[np.clip(pos, 0, None)]
        out[pos < 0] = np.nan
        return out

    p_q = pd.Series(carried([q])[0], index=syms)
    ok = [s for s in syms if np.isfinite(p_q[s]) and p_q[s] > 0]
    if not ok:
        notes.append(f"{symbol}: no proxy basket member had a price on the mark date {q.date()}: last mark carried")
        return np.ones(len(days))
    if len(ok) < len(syms):
        left = tuple(s for s in syms if s not in ok)
        if gaps is not None:
            gaps.setdefault(left, []).append(q)
        else:
            notes.append(f"{symbol}: basket member(s) without a price on the mark date {q.date()} left out of the "
                         f"roll from that mark: {', '.join(left)}")
    w = np.array([basket.weights[s] for s in ok], dtype=float)
    w = w / w.sum()
    cols = [syms.index(s) for s in ok]
    rel = carried(days)[:, cols] / p_q[ok].to_numpy(dtype=float)
    ratio = np.nansum(rel * w, axis=1) / np.where(np.isfinite(rel), w, 0.0).sum(axis=1)
    ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
    return ratio ** float(basket.beta)


def mark_valuation(symbol: str, marks: list[Mark], days, *, policy: str = "last_mark",
                   basket: Basket | None = None, basket_prices: pd.DataFrame | None = None,
                   listed: dt.date | None = None, market_prices: pd.Series | None = None) -> MarkValuation:
    """Price a marked position on ``days`` under ``policy`` (see the module docstring).

    Parameters
    ----------
    symbol : str
    marks : list of Mark
        The symbol's marks (any order; checked already).
    days : DatetimeIndex-like
        NAV dates (cut-off 24:00 UTC each).
    policy : {"last_mark", "roll_forward"}
    basket : Basket, optional
        Proxy basket for ``roll_forward`` (without one the last mark is carried, said in notes).
    basket_prices : DataFrame, optional
        Unit prices of the basket's members on their native dates (``market.close``).
    listed : date, optional
        The asset's listing date; from then on its market price is used where the market
        has one (``market_prices``).
    market_prices : Series, optional
        The asset's own unit prices on its native dates.

    Returns
    -------
    MarkValuation
    """
    check_policy(policy)
    days = pd.DatetimeIndex(pd.to_datetime(days)).normalize()
    notes: list[str] = []
    ms = sorted(marks, key=lambda m: (m.known, m.date))
    n = len(days)
    price = np.full(n, np.nan)
    method = np.array(["none"] * n, dtype=object)
    mdate = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    source = np.array([""] * n, dtype=object)
    age = np.full(n, np.nan)
    bratio = np.ones(n)
    if policy == "roll_forward" and basket is None:
        notes.append(f"{symbol}: no proxy basket: the last mark is carried (roll_forward needs a basket)")
    # the mark in force on each day: the latest valuation date among marks known by then
    known = np.array([np.datetime64(pd.Timestamp(m.known)) for m in ms], dtype="datetime64[ns]")
    active = np.full(n, -1)
    best = -1
    j = 0
    order = np.argsort(known, kind="stable")
    for i, d in enumerate(days.values):
        while j < len(order) and known[order[j]] <= d:
            cand = order[j]
            if best < 0 or ms[cand].date >= ms[best].date:
                best = cand
            j += 1
        active[i] = best
    gaps: dict = {}
    for k in np.unique(active[active >= 0]):
        m = ms[k]
        sel = np.flatnonzero(active == k)
        q = pd.Timestamp(m.date)
        r = _basket_ratio(basket, basket_prices, q, days[sel], notes, symbol, gaps) if policy == "roll_forward" \
            else np.ones(len(sel))
        price[sel] = m.price * r
        bratio[sel] = r
        on_mark = days[sel] == q
        method[sel] = np.where(on_mark, "mark", "roll_forward" if policy == "roll_forward" and basket is not None
                               else "last_mark")
        mdate[sel] = np.datetime64(q)
        source[sel] = m.source
        age[sel] = (days[sel] - q).days
    for left, qs in gaps.items():
        qs = sorted(qs)
        notes.append(f"{symbol}: proxy basket member(s) {', '.join(left)} had no price on {len(qs)} mark date(s) "
                     f"(first {qs[0].date()}, last {qs[-1].date()}): the roll from those marks re-weights the others")
    # listing: market prices take over
    mkt_first = None
    if listed is not None and market_prices is not None:
        mp = market_prices.dropna()
        mp = mp[mp.index >= pd.Timestamp(listed)]
        if len(mp):
            mkt_first = mp.index[0]
            p_m, d_m = _carried(mp, days)
            on = (days >= mkt_first) & p_m.notna().to_numpy()
            price[on] = p_m.to_numpy()[on]
            method[on] = "market"
            source[on] = "market"
            mdate[on] = d_m.to_numpy()[on]
            age[on] = (days[on] - pd.DatetimeIndex(d_m.to_numpy()[on])).days
            bratio[on] = 1.0
    if listed is not None and mkt_first is None and len(days) and days[-1] >= pd.Timestamp(listed):
        notes.append(f"{symbol} listed on {listed} but the market has no price for it after that: valued by its "
                     f"marks ({POLICY_TEXT[policy]})")
    frame = pd.DataFrame({"price": price, "method": method, "mark_date": mdate, "source": source,
                          "age_days": age, "basket_ratio": bratio}, index=days)
    frame.index.name = "date"
    trueups = _trueups(symbol, ms, policy, basket, basket_prices, mkt_first, market_prices, notes)
    return MarkValuation(symbol, policy, frame, trueups, list(dict.fromkeys(notes)))


def _value_with(ms: list[Mark], upto: pd.Timestamp, strict: bool, policy, basket, basket_prices, notes, symbol):
    """The policy's estimate on ``upto`` from marks known before it (``strict``) or by it."""
    avail = [m for m in ms if (pd.Timestamp(m.known) < upto if strict else pd.Timestamp(m.known) <= upto)]
    if not avail:
        return None, None
    m = max(avail, key=lambda x: x.date)
    r = 1.0
    if policy == "roll_forward":
        r = float(_basket_ratio(basket, basket_prices, pd.Timestamp(m.date), pd.DatetimeIndex([upto]), [], symbol)[0])
    return m.price * r, m


def _trueups(symbol, ms, policy, basket, basket_prices, mkt_first, market_prices, notes) -> pd.DataFrame:
    rows = []
    seen_first = False
    for m in sorted(ms, key=lambda x: (x.known, x.date)):
        r = pd.Timestamp(m.known)
        if mkt_first is not None and r >= mkt_first:
            continue  # after the listing the market price is the value; later marks are history
        prev, pm = _value_with(ms, r, True, policy, basket, basket_prices, notes, symbol)
        new, nm = _value_with(ms, r, False, policy, basket, basket_prices, notes, symbol)
        if not seen_first:
            seen_first = True
            if prev is None:
                continue
        if prev is None or nm is not m:
            continue  # an older mark reported late does not replace a newer one
        rows.append({"date": r, "kind": "mark", "mark_date": pd.Timestamp(m.date), "source": m.source,
                     "previous": prev, "new": new, "trueup": new - prev,
                     "trueup_pct": (new / prev - 1.0) if prev else np.nan})
    if mkt_first is not None:
        prev, pm = _value_with(ms, mkt_first, False, policy, basket, basket_prices, notes, symbol)
        if prev is not None:
            new = float(market_prices.loc[mkt_first])
            rows.append({"date": mkt_first, "kind": "listing", "mark_date": pd.Timestamp(pm.date),
                         "source": "market", "previous": prev, "new": new, "trueup": new - prev,
                         "trueup_pct": (new / prev - 1.0) if prev else np.nan})
    cols = ["date", "kind", "mark_date", "source", "previous", "new", "trueup", "trueup_pct"]
    return pd.DataFrame(rows, columns=cols)
