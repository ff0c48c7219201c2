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

Private positions, lock-ups and vesting (``access``, one :class:`Access` per symbol, built
by :func:`computefolio.private.sleeve.access_terms`): a position sells either on its market
(participation x ADV, as above) or, without a market, only through its redemption terms (a
fund gate) or not at all; and only its *unlocked* part can be sold. The **liquidity ladder**
(:attr:`LiquidityReport.ladder`, horizons in calendar days, :data:`LADDER_DAYS`) takes for
each position, at each horizon ``h``, the smaller of what the market absorbs in the trading
days of its venue within ``h`` (``min(1, n_h / days_to_liquidate)`` of its value; the gate's
redeemable fraction without a market) and what is unlocked on ``asof + h``, and sums them.
A unit that unlocks on D can be sold on D.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .portfolio import DEFAULT_CAPITAL, check_weights

HORIZONS = (1, 5, 20)
#: Horizons of the liquidity ladder, calendar days.
LADDER_DAYS = (1, 7, 30, 90, 180, 365)


@dataclass(frozen=True)
class Access:
    """How a position can be sold beyond its ADV (see the module docstring).

    Attributes
    ----------
    unlocked : callable ``Timestamp -> float``
        Fraction of the position unlocked (sellable) on a day, in [0, 1].
    market : bool
        True: it trades on a market at participation x ADV. False: only through ``redeem``.
    redeem : callable ``int -> float``, optional
        Fraction redeemable off-market within ``h`` calendar days (a fund gate); None: none.
    note : str
    """

    unlocked: Callable[[pd.Timestamp], float]
    market: bool = True
    redeem: Callable[[int], float] | None = None
    note: str = ""


def _bars_within(cal: str, asof: pd.Timestamp, days: int, cache: dict) -> int:
    """Trading days of ``cal`` in ``(asof, asof + days]``."""
    from ..clock import CRYPTO, sessions

    if cal == CRYPTO:
        return int(days)
    key = (cal, asof)
    if key not in cache:
        cache[key] = sessions(cal, asof + pd.Timedelta(days=1), asof + pd.Timedelta(days=max(LADDER_DAYS) + 400))
    s = cache[key]
    return int(s.searchsorted(asof + pd.Timedelta(days=int(days)), side="right"))


def _bar_date(cal: str, asof: pd.Timestamp, bars: int, cache: dict) -> pd.Timestamp:
    """The date of the ``bars``-th trading day of ``cal`` after ``asof``."""
    from ..clock import CRYPTO

    if cal == CRYPTO or bars <= 0:
        return asof + pd.Timedelta(days=max(int(bars), 0))
    _bars_within(cal, asof, 1, cache)
    s = cache[(cal, asof)]
    return s[min(int(bars), len(s)) - 1]


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
    #: Calendar-day ladder: per horizon, value the market absorbs, value unlocked, value liquid
    #: (the smaller of the two, per position) and its share of the gross book.
    ladder: pd.DataFrame | None = None
    #: Per horizon and position: liquid value (currency).
    ladder_positions: pd.DataFrame | None = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        rows = {str(k): {c: (v if isinstance(v, str) else (None if pd.isna(v) else float(v)))
                         for c, v in r.items()} for k, r in self.table.iterrows()}
        out = {"participation": self.participation, "adv_window_bars": self.window, "currency": self.currency,
               "asof": self.asof, "liquid_share": {str(k): v for k, v in self.liquid_share.items()},
               "units": {"value": self.currency, "adv": f"{self.currency} per trading day of the asset's venue",
                         "days": "trading days of the asset's venue", "liquid_share": "fraction of gross book",
                         "ladder": f"horizon in calendar days; values in {self.currency}"},
               "positions": rows}
        if self.ladder is not None:
            out["ladder"] = [{k: (None if isinstance(v, float) and not np.isfinite(v) else
                                  (int(v) if k == "horizon_days" else float(v))) for k, v in r.items()}
                             for r in self.ladder.reset_index().to_dict("records")]
            out["ladder_rule"] = ("at each horizon, per position, the smaller of what its market absorbs at the "
                                  "participation rate in its venue's trading days (a fund: its gate) and what is "
                                  "unlocked that day; summed over positions")
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def liquidity(weights: pd.Series, market, universe=None, *, capital: float = DEFAULT_CAPITAL,
              participation: float = 0.2, window: int = 20, asof=None,
              horizons=HORIZONS, access: Mapping[str, Access] | None = None,
              ladder_days=LADDER_DAYS) -> LiquidityReport:
    """Days to liquidate each position, the share of the book liquid within ``horizons`` trading
    days, and the calendar-day ladder with lock-ups and vesting (``access``; module docstring)."""
    if not 0 < participation <= 1:
        raise ValueError(f"participation must be in (0, 1], got {participation}")
    w = check_weights(weights)
    w = w[w != 0]
    value = (w * capital).abs()
    access = dict(access or {})
    info = market.adv_info(window, asof).reindex(w.index)
    adv = info["adv"].astype(float)
    for s, ac in access.items():
        if s in adv.index and not ac.market:
            adv[s] = np.nan  # no market: nothing sells at ADV
    days = value / (participation * adv)
    notes = pd.Series("", index=w.index, dtype=object)
    notes[adv.isna()] = "no volume data: liquidity unknown"
    for s, ac in access.items():
        if s in notes.index and (not ac.market or ac.note):
            notes[s] = ac.note or ("private: no market" if not ac.market else "")
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
    asof_ts = asof_ts.normalize()
    cals = {s: (universe.asset(s).calendar if universe is not None and s in universe
                else market.calendars.get(s, "XNYS")) for s in w.index}
    cache: dict = {}

    def access_frac(s: str, when: pd.Timestamp, cal_days: int, mkt: float) -> float:
        """Sellable fraction of ``s`` by ``when``: min(market or redemption, unlocked)."""
        ac = access[s]
        chan = mkt if ac.market else (float(ac.redeem(cal_days)) if ac.redeem is not None else 0.0)
        return float(min(chan, max(0.0, min(1.0, float(ac.unlocked(when))))))

    share = {}
    for d in horizons:
        frac = np.where(np.isfinite(eff), np.minimum(1.0, d / eff.replace(0, np.nan).fillna(np.inf)), 0.0)
        frac = np.where(eff == 0, 1.0, frac)
        for i, s in enumerate(w.index):
            if s in access:
                when = _bar_date(cals[s], asof_ts, int(d), cache)
                frac[i] = access_frac(s, when, int((when - asof_ts).days), float(frac[i]))
        share[int(d)] = float((value * frac).sum() / gross) if gross else float("nan")
    # the calendar-day ladder
    lad_rows, lad_pos = [], {}
    for h in ladder_days:
        when = asof_ts + pd.Timedelta(days=int(h))
        mk = np.zeros(len(w))
        un = np.ones(len(w))
        lq = np.zeros(len(w))
        for i, s in enumerate(w.index):
            n = _bars_within(cals[s], asof_ts, int(h), cache)
            dd = days.iloc[i]
            m = 1.0 if dd == 0 else (min(1.0, n / dd) if np.isfinite(dd) else 0.0)
            if s in access:
                ac = access[s]
                m = m if ac.market else (float(ac.redeem(int(h))) if ac.redeem is not None else 0.0)
                un[i] = max(0.0, min(1.0, float(ac.unlocked(when))))
            elif np.isfinite(locked.iloc[i]):
                un[i] = 0.0 if when < asof_ts + pd.Timedelta(days=float(locked.iloc[i])) else 1.0
            mk[i] = m
            lq[i] = min(m, un[i])
        v = value.to_numpy()
        lad_rows.append({"horizon_days": int(h), "market": float(v @ mk), "unlocked": float(v @ un),
                         "liquid": float(v @ lq), "liquid_share": float(v @ lq / gross) if gross else float("nan")})
        lad_pos[int(h)] = pd.Series(v * lq, index=w.index)
    ladder = pd.DataFrame(lad_rows).set_index("horizon_days")
    ladder_pos = pd.DataFrame(lad_pos)
    src = info["source"].fillna("").astype(str)
    adv_window = info["text"].fillna("no volume data").astype(str) + np.where(src != "", " (" + src + ")", "")
    for s, ac in access.items():
        if s in adv_window.index and not ac.market:
            adv_window[s] = "no market"
    table = pd.DataFrame({"value": value, "adv": adv, "days": eff, "adv_window": adv_window,
                          "note": notes}).sort_values("days", ascending=False)
    return LiquidityReport(table, share, participation, window, market.currency,
                           str(asof_ts.date()), ladder=ladder, ladder_positions=ladder_pos)
