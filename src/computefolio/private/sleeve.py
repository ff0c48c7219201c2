"""The private sleeve of a run: values through time, today's positions, risk stand-ins and access.

The main job holds the private positions file (:mod:`computefolio.private.positions`) as a
**sleeve beside the liquid book**: bought at their entry marks on their acquisition dates with
money from outside the liquid book (commitments are paid in, not taken from the allocator's
cash), never traded by the allocator, valued every day by their marks (the NAV policy of
:mod:`computefolio.private.nav`), by their market price once listed, and token grants at the
token's market price (no discount for lack of marketability; the lock shows in liquidity).

:func:`value_sleeve` values every position on the run's dates; :func:`private_risk` builds
the daily return series the risk model uses for positions valued by marks -- never the
smoothed mark returns: either the proxy exposure (``beta x`` the proxy basket's returns) or,
when the marks are regular enough to unsmooth (:func:`~computefolio.private.unsmooth.unsmooth_marks`),
the proxy basket's daily moves scaled to the unsmoothed volatility -- and says which;
:func:`access_terms` gives the liquidity engine what is unlocked on each day and how each
position can be sold (market, fund gate, or not at all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..book.pricing import unit_prices
from ..clock import periods_per_year
from ..errors import DataError
from .marks import Marks
from .nav import POLICY_TEXT, Basket, MarkValuation, check_policy, mark_valuation
from .positions import PrivateBook
from .unsmooth import unsmooth_marks


@dataclass
class SleeveValuation:
    """A private sleeve valued on a run's dates.

    Attributes
    ----------
    book : PrivateBook
    marks : Marks
    policy : str
        NAV policy between marks (``last_mark`` or ``roll_forward``).
    days : DatetimeIndex
    values : DataFrame
        Days x position id, currency; 0 before a position's acquisition date.
    prices : DataFrame
        Days x symbol, currency per unit (marks, rolled marks or market prices).
    methods : DataFrame
        Days x symbol: ``mark``, ``last_mark``, ``roll_forward``, ``market``.
    ages : DataFrame
        Days x symbol: calendar days since the mark's valuation date (or the market price's date).
    marked : dict symbol -> MarkValuation
    notes : list of str
    """

    book: PrivateBook
    marks: Marks
    policy: str
    days: pd.DatetimeIndex
    values: pd.DataFrame
    prices: pd.DataFrame
    methods: pd.DataFrame
    ages: pd.DataFrame
    marked: dict
    currency: str = "USD"
    notes: list = field(default_factory=list)

    @property
    def policy_text(self) -> str:
        return POLICY_TEXT[self.policy]

    def total(self) -> pd.Series:
        """Sleeve value per day (currency)."""
        return self.values.sum(axis=1).rename("private")

    def by_symbol(self) -> pd.DataFrame:
        """Days x symbol values (positions in one symbol summed)."""
        sym = {p.id: p.symbol for p in self.book.positions}
        return self.values.T.groupby(pd.Index([sym[c] for c in self.values.columns])).sum().T

    def invested(self) -> pd.Series:
        """Cumulative money paid in (quantity x cost at each acquisition; grants cost nothing)."""
        out = pd.Series(0.0, index=self.days)
        for p in self.book.positions:
            if p.cost is not None:
                out[self.days >= pd.Timestamp(p.acquired)] += p.quantity * p.cost
        return out.rename("paid_in")

    def trueups(self) -> pd.DataFrame:
        """Every true-up of every marked symbol inside the run's window (module nav)."""
        rows = []
        for s, mv in self.marked.items():
            t = mv.trueups
            if len(t):
                t = t[(t["date"] >= self.days[0]) & (t["date"] <= self.days[-1])]
                rows.append(t.assign(symbol=s))
        if not rows:
            return pd.DataFrame(columns=["symbol", "date", "kind", "mark_date", "source", "previous", "new", "trueup",
                                         "trueup_pct"])
        out = pd.concat(rows, ignore_index=True)
        return out[["symbol", *[c for c in out.columns if c != "symbol"]]].sort_values(["date", "symbol"])

    def snapshot(self, day=None) -> pd.DataFrame:
        """The positions on ``day`` (default: the last date): one row per position held then.

        Columns: ``id, symbol, name, kind, quantity, unit, price, value, cost, method, source,
        mark_date, age_days, unlocked, locked_value, terms``.
        """
        d = self.days[-1] if day is None else pd.Timestamp(day).normalize()
        if d not in self.days:
            raise DataError(f"{d.date()} is not a valuation date of the sleeve")
        rows = []
        for p in self.book.positions:
            if pd.Timestamp(p.acquired) > d:
                continue
            s = p.symbol
            u = p.terms.unlocked_fraction(p.quantity, d)
            v = float(self.values.at[d, p.id])
            md = None
            if s in self.marked and self.methods.at[d, s] != "market":
                md = self.marked[s].frame.at[d, "mark_date"]
            rows.append({"id": p.id, "symbol": s, "name": p.name or s, "kind": p.kind, "quantity": p.quantity,
                         "unit": p.unit, "price": float(self.prices.at[d, s]), "value": v, "cost": p.cost,
                         "method": str(self.methods.at[d, s]),
                         "source": str(self.marked[s].frame.at[d, "source"]) if s in self.marked else "market",
                         "mark_date": None if md is None or pd.isna(md) else pd.Timestamp(md),
                         "age_days": float(self.ages.at[d, s]) if pd.notna(self.ages.at[d, s]) else None,
                         "unlocked": u, "locked_value": v * (1.0 - u), "terms": p.terms.describe()})
        return pd.DataFrame(rows)


def value_sleeve(book: PrivateBook, market, universe, days, *, policy: str | None = None) -> SleeveValuation:
    """Value every position of ``book`` on ``days`` (see the module docstring).

    Parameters
    ----------
    book : PrivateBook
    market : MarketData
        Prices of the proxy baskets, of tokens, and of assets once listed.
    universe : Universe
        The private assets with their proxy baskets and listing dates.
    days : DatetimeIndex-like
        Valuation dates (the run's dates on its basis).
    policy : {"last_mark", "roll_forward"}, optional
        Default: the file's ``policy``.

    Raises
    ------
    DataError
        A token without market prices, or a position without a price on a day it is held.
    """
    pol = check_policy(policy or book.policy)
    days = pd.DatetimeIndex(pd.to_datetime(days)).normalize()
    marks = book.get_marks(universe=universe)
    px, _ = unit_prices(market)
    have = set(market.symbols)
    prices, methods, ages = {}, {}, {}
    marked: dict[str, MarkValuation] = {}
    notes: list[str] = []
    for s in book.symbols:
        a = universe.asset(s)
        if a.asset_class == "crypto":
            if s not in have or px[s].notna().sum() == 0:
                raise DataError(f"private positions: token {s} has no market prices: load prices for it")
            col = px[s].dropna()
            union = col.index.union(days)
            p = col.reindex(union).ffill().reindex(days)
            d = pd.Series(np.where(col.reindex(union).notna(), union.values, np.datetime64("NaT")),
                          index=union).astype("datetime64[ns]").ffill().reindex(days)
            prices[s], methods[s] = p, pd.Series("market", index=days)
            ages[s] = pd.Series((days - pd.DatetimeIndex(d)).days, index=days, dtype=float)
            continue
        basket = None
        bprices = None
        if a.proxy_basket is not None:
            basket = Basket(dict(a.proxy_basket.weights), float(a.proxy_basket.beta))
            members = [m for m in basket.weights if m in have]
            bprices = px[members] if members else None
        mprices = px[s] if s in have and px[s].notna().any() else None
        mv = mark_valuation(s, marks.of(s), days, policy=pol, basket=basket, basket_prices=bprices,
                            listed=a.listed, market_prices=mprices)
        marked[s] = mv
        notes.extend(mv.notes)
        prices[s], methods[s], ages[s] = mv.frame["price"], mv.frame["method"], mv.frame["age_days"]
    P = pd.DataFrame(prices, index=days)
    values = {}
    for p in book.positions:
        held = days >= pd.Timestamp(p.acquired)
        col = P[p.symbol].to_numpy(dtype=float)
        bad = held & ~np.isfinite(col)
        if bad.any() and p.symbol not in marked:
            first = days[np.flatnonzero(bad)[0]]
            starts = px[p.symbol].first_valid_index()
            raise DataError(f"private position {p.id}: token {p.symbol} has no market price on or before "
                            f"{first.date()} (its prices start {starts.date() if starts is not None else 'nowhere'}); "
                            f"a grant is valued at the token's price: start the run later or load earlier prices")
        if bad.any():
            first = days[np.flatnonzero(bad)[0]]
            raise DataError(f"private position {p.id} ({p.symbol}) has no price on {first.date()}: its first mark is "
                            f"known later than its acquisition {p.acquired} (give a mark on the acquisition date, "
                            f"or its cost)")
        values[p.id] = np.where(held, p.quantity * np.nan_to_num(col), 0.0)
    V = pd.DataFrame(values, index=days)
    return SleeveValuation(book=book, marks=marks, policy=pol, days=days, values=V, prices=P,
                           methods=pd.DataFrame(methods, index=days), ages=pd.DataFrame(ages, index=days),
                           marked=marked, currency=book.currency, notes=list(dict.fromkeys(notes)))


# ----------------------------------------------------------------------------- risk
@dataclass
class PrivateRisk:
    """Daily stand-in returns for positions valued by marks, and how each was made.

    Attributes
    ----------
    returns : DataFrame
        Dates (the basis) x symbols, simple returns the covariance uses for those positions.
    methods : dict symbol -> str
        One sentence per symbol: ``proxy exposure ...`` or ``unsmoothed (GLM|Geltner) ...``.
    kinds : dict symbol -> str
        ``"proxy"``, ``"glm"`` or ``"geltner"``.
    unsmoothing : dict symbol -> UnsmoothingResult
        Observed vs unsmoothed volatility of every marked symbol's marks.
    """

    returns: pd.DataFrame
    methods: dict
    kinds: dict
    unsmoothing: dict

    def to_dict(self) -> dict:
        return {"methods": dict(self.methods), "kinds": dict(self.kinds),
                "unsmoothing": {k: v.to_dict() for k, v in self.unsmoothing.items()},
                "rule": "the covariance never uses smoothed mark returns: each marked position enters with its proxy "
                        "basket's daily returns times beta (proxy exposure), or with them scaled to the volatility "
                        "unsmoothed from its marks (GLM or Geltner), as stated per position"}


def _basket_returns(weights: dict, rets: pd.DataFrame) -> pd.Series:
    syms = [s for s in weights if s in rets.columns]
    if not syms:
        return pd.Series(np.nan, index=rets.index)
    r = rets[syms]
    w = np.array([weights[s] for s in syms], dtype=float)
    ok = r.notna().to_numpy()
    num = np.nansum(r.to_numpy() * w, axis=1)
    den = (ok * w).sum(axis=1)
    return pd.Series(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan), index=rets.index)


def private_risk(sleeve: SleeveValuation, market, universe, *, basis: str = "session", asof=None,
                 lookback: int | None = 756, symbols=None, frequency: str = "quarterly") -> PrivateRisk:
    """Stand-in daily returns (on ``basis``) for the sleeve's symbols valued by marks on ``asof``.

    For each such symbol: the proxy basket's daily returns (buy weights renormalized over the
    members with a return that day). When its marks known on ``asof`` give at least 8
    quarterly returns, they are unsmoothed (GLM preferred, Geltner otherwise) and the basket's
    returns are scaled so that their annualized volatility over the last ``lookback`` periods
    equals the unsmoothed volatility (the basket gives the co-movement, the marks the size);
    otherwise ``beta`` times the basket's returns (the proxy exposure). Symbols valued at their
    market price are left to the market's own returns.
    """
    asof_ts = pd.Timestamp(asof).normalize() if asof is not None else sleeve.days[-1]
    if symbols is None:
        last = sleeve.methods.loc[:asof_ts].iloc[-1]
        symbols = [s for s in sleeve.marked if last.get(s) != "market"]
    rets = market.returns(basis).loc[:asof_ts]
    window = rets.iloc[-lookback:] if lookback else rets
    ppy = periods_per_year(basis)
    out, methods, kinds, uns = {}, {}, {}, {}
    for s in sleeve.marked:
        mk = [m for m in sleeve.marks.of(s) if pd.Timestamp(m.known) <= asof_ts]
        mp = pd.Series({pd.Timestamp(m.date): m.price for m in mk}, dtype=float).sort_index()
        uns[s] = unsmooth_marks(s, mp, frequency=frequency)
    for s in symbols:
        a = universe.asset(s)
        if a.proxy_basket is None:
            methods[s] = "no proxy basket: left out of the covariance (say a basket in the universe)"
            kinds[s] = "none"
            continue
        w = dict(a.proxy_basket.weights)
        rb = _basket_returns(w, rets)
        rbw = rb.reindex(window.index).dropna()
        sd_b = float(rbw.std(ddof=1) * math.sqrt(ppy)) if len(rbw) > 2 else float("nan")
        names = " + ".join(f"{v:.0%} {k}" for k, v in w.items())
        u = uns.get(s)
        if u is not None and u.method_used in ("glm", "geltner") and u.volatility_used and np.isfinite(sd_b) and sd_b > 0:
            k = u.volatility_used / sd_b
            out[s] = rb * k
            kinds[s] = u.method_used
            extra = (f"xi {u.xi:.2f}" if u.method_used == "glm" and u.xi is not None else f"rho {u.rho:.2f}")
            methods[s] = (f"unsmoothed ({'GLM' if u.method_used == 'glm' else 'Geltner'}, {extra}): the proxy basket's "
                          f"daily returns ({names}) scaled to the unsmoothed volatility {u.volatility_used:.1%}/yr of "
                          f"{u.n} {u.frequency} mark returns (observed on the marks {u.volatility_observed:.1%}/yr; "
                          f"basket {sd_b:.1%}/yr)")
        else:
            b = float(a.proxy_basket.beta)
            out[s] = rb * b
            kinds[s] = "proxy"
            why = "; ".join(u.notes) if u is not None and u.notes else "marks too few to unsmooth"
            methods[s] = f"proxy exposure: {b:g} x the proxy basket's daily returns ({names}); {why}"
    R = pd.DataFrame(out, index=rets.index)
    R.attrs.update(rets.attrs)
    return PrivateRisk(R, methods, kinds, uns)


# ----------------------------------------------------------------------------- access (liquidity)
def access_terms(sleeve: SleeveValuation, asof, *, other_values=None, universe=None) -> dict:
    """What the liquidity engine needs per symbol of the sleeve: unlocked share and sale channel.

    Parameters
    ----------
    sleeve : SleeveValuation
    asof : date-like
    other_values : Series, optional
        Value of the same symbols held outside the sleeve (the liquid book's tokens, say):
        they are unlocked, so a symbol's unlocked share is
        ``1 - locked value in the sleeve / (sleeve value + other value)``.
    universe : Universe, optional
        To tell a listed asset without market data (liquidity unknown) from a private one.

    Returns
    -------
    dict symbol -> :class:`computefolio.risk.liquidity.Access`
    """
    from ..risk.liquidity import Access

    d = pd.Timestamp(asof).normalize()
    snap = sleeve.snapshot(d) if d in sleeve.days else sleeve.snapshot(sleeve.days[sleeve.days <= d][-1])
    other = pd.Series(dtype=float) if other_values is None else pd.Series(other_values, dtype=float)
    out = {}
    for s, grp in snap.groupby("symbol", sort=False):
        pos = [sleeve.book.position(i) for i in grp["id"]]
        vals = grp.set_index("id")["value"]
        total = float(vals.sum()) + float(other.get(s, 0.0))
        method = str(grp["method"].iloc[0])

        def unlocked(t, pos=pos, vals=vals, total=total):
            if total <= 0:
                return 1.0
            locked = sum(float(vals[p.id]) * (1.0 - p.terms.unlocked_fraction(p.quantity, t)) for p in pos)
            return float(max(0.0, 1.0 - locked / total))

        gates = [p.terms.gate for p in pos if p.terms.gate is not None]
        if method == "market":
            out[s] = Access(unlocked=unlocked, market=True, note="; ".join(p.terms.describe() for p in pos))
        elif gates:
            g = gates[0]
            out[s] = Access(unlocked=unlocked, market=False, redeem=lambda h, g=g, d=d: g.redeemable(d, h),
                            note=f"fund interest: {pos[0].terms.describe()}")
        else:
            a = universe.asset(s) if universe is not None and s in universe else None
            if a is not None and a.listed is not None and pd.Timestamp(a.listed) <= d:
                why = f"listed {a.listed} but no market data: liquidity unknown, counted as not liquid"
            else:
                why = "private: no market"
            out[s] = Access(unlocked=unlocked, market=False, redeem=None,
                            note=f"{why} ({'; '.join(p.terms.describe() for p in pos)})")
    return out
