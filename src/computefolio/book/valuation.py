"""The book's value: positions and cash at the NAV cut-off, and NAV per day.

:func:`value_book` answers "what is the book worth on D?" from the ledger and the market:
positions (units, trade date) at their cut-off prices (:mod:`computefolio.book.pricing`),
cash per account and currency at its USD rate, and the NAV = positions + cash, in the
base currency. Every :class:`Valuation` states its cut-off and the date and age of every
price it used; stale prices are carried and flagged, never dropped.

:func:`nav_series` values the book every calendar day (or every XNYS session) of a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..clock import CRYPTO, basis_index, check_basis, sessions
from ..errors import DataError
from .ledger import fx_rate, holdings, legs
from .pricing import CUTOFF_RULE, cutoff_label, price_panel, prices_at


@dataclass
class Valuation:
    """The book on one NAV date.

    Attributes
    ----------
    day : pandas.Timestamp
        NAV date D (cut-off 24:00 UTC on D).
    positions : pandas.DataFrame
        One row per (account, symbol): ``account, symbol, quantity`` (units), ``price``
        (currency per unit), ``price_date``, ``field``, ``age_days``, ``stale_days``,
        ``status``, ``value`` (currency), ``weight`` (fraction of NAV).
    cash : pandas.DataFrame
        ``account, currency, amount`` (in that currency), ``rate`` (USD per unit),
        ``value`` (base currency), ``weight``.
    nav : float
        Positions plus cash, base currency.
    prices : pandas.DataFrame
        :func:`~computefolio.book.pricing.prices_at` of the held symbols.
    currency : str
    state : dict or None
        The ledger state valued (:class:`~computefolio.book.store.BookState` as dict).
    """

    day: pd.Timestamp
    positions: pd.DataFrame
    cash: pd.DataFrame
    nav: float
    prices: pd.DataFrame
    currency: str = "USD"
    market: str = ""
    state: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cutoff(self) -> str:
        return cutoff_label(self.day)

    @property
    def rule(self) -> str:
        return CUTOFF_RULE

    @property
    def invested(self) -> float:
        return float(self.positions["value"].sum()) if len(self.positions) else 0.0

    @property
    def cash_total(self) -> float:
        return float(self.cash["value"].sum()) if len(self.cash) else 0.0

    def values(self) -> pd.Series:
        """Value per symbol (currency), summed over accounts."""
        if not len(self.positions):
            return pd.Series(dtype=float, name="value")
        return self.positions.groupby("symbol", sort=False)["value"].sum().rename("value")

    def weights(self) -> pd.Series:
        """Weight per symbol, fraction of NAV (cash is the rest)."""
        return (self.values() / self.nav).rename("weight") if self.nav else self.values() * np.nan

    def units(self) -> pd.Series:
        """Units per symbol summed over accounts."""
        if not len(self.positions):
            return pd.Series(dtype=float, name="quantity")
        return self.positions.groupby("symbol", sort=False)["quantity"].sum()

    def stale(self) -> pd.DataFrame:
        """Held symbols whose price is stale or older than the NAV date, with ages."""
        p = self.prices
        return p[(p["status"] != "fresh") | (p["age_days"] > 0)]

    def cash_by_account(self) -> pd.Series:
        """Cash per account in the base currency."""
        if not len(self.cash):
            return pd.Series(dtype=float)
        return self.cash.groupby("account")["value"].sum()

    def to_dict(self) -> dict:
        """JSON-safe layout (``schema: computefolio.book.nav/1``); amounts in ``currency``."""
        def rec(df):
            out = []
            for r in df.to_dict("records"):
                out.append({k: (None if (isinstance(v, float) and not np.isfinite(v)) or v is pd.NaT
                                else (str(v.date()) if isinstance(v, pd.Timestamp) else
                                      (v.item() if hasattr(v, "item") else v))) for k, v in r.items()})
            return out

        pr = self.prices.reset_index()
        return {"schema": "computefolio.book.nav/1", "day": str(self.day.date()), "cutoff": self.cutoff,
                "cutoff_rule": self.rule, "currency": self.currency, "market": self.market, "nav": self.nav,
                "invested": self.invested, "cash": self.cash_total, "state": self.state,
                "units": {"quantity": "units of the asset", "price": f"{self.currency} per unit",
                          "value": self.currency, "weight": "fraction of NAV", "age_days": "calendar days"},
                "positions": rec(self.positions), "cash_balances": rec(self.cash), "prices": rec(pr),
                "stale": [r["symbol"] for r in rec(pr) if r["status"] != "fresh"], "notes": list(self.notes)}


def value_book(entries: pd.DataFrame, market, day, *, fx=None, state=None, currency: str = "USD") -> Valuation:
    """Value the book on ``day`` at the cut-off (see :mod:`computefolio.book.pricing`).

    Parameters
    ----------
    entries : pandas.DataFrame
        Ledger entries (:meth:`BookStore.entries`).
    market : MarketData
    day : date-like
    fx : mapping currency -> USD per unit, optional (beyond the pegged ones)
    state : BookState, optional (recorded in the result)

    Raises
    ------
    DataError
        A held symbol without any price on or before ``day`` (named with its account).
    """
    day = pd.Timestamp(day).normalize()
    h = holdings(entries, day)
    pos = h[~h["cash"]].rename(columns={"instrument": "symbol"})[["account", "symbol", "quantity"]]
    cs = h[h["cash"]].rename(columns={"instrument": "currency", "quantity": "amount"})[["account", "currency", "amount"]]
    syms = list(dict.fromkeys(pos["symbol"]))
    missing = [s for s in syms if s not in market.symbols]
    if missing:
        where = pos[pos["symbol"].isin(missing)]
        raise DataError(f"no market data for held {', '.join(f'{s} ({a})' for a, s in where[['account', 'symbol']].itertuples(index=False))}"
                        f": load prices for them (computefolio data import)")
    pr = prices_at(market, day, syms) if syms else prices_at(market, day, [])
    nopx = [s for s in syms if not np.isfinite(pr.at[s, "price"])]
    if nopx:
        raise DataError(f"no price on or before {day.date()} for held {', '.join(nopx)}")
    pos = pos.reset_index(drop=True)
    for c in ("price", "date", "field", "age_days", "stale_days", "status"):
        pos[c if c != "date" else "price_date"] = pos["symbol"].map(pr[c]) if len(pos) else pd.Series(dtype=object)
    pos["value"] = pos["quantity"] * pos["price"].astype(float) if len(pos) else pd.Series(dtype=float)
    cs = cs.reset_index(drop=True)
    cs["rate"] = [fx_rate(c, fx) for c in cs["currency"]]
    cs["value"] = cs["amount"] * cs["rate"]
    nav = float(pos["value"].sum() + cs["value"].sum())
    pos["weight"] = pos["value"] / nav if nav else np.nan
    cs["weight"] = cs["value"] / nav if nav else np.nan
    notes = []
    st = pr[pr["status"] != "fresh"]
    if len(st):
        notes.append(f"stale prices carried: " + ", ".join(f"{s} from {r.date.date()} ({int(r.stale_days)} days stale)"
                                                            for s, r in st.iterrows()))
    adj = pr[pr["field"] == "adj_close"]
    if len(adj):
        notes.append(f"adjusted close used as unit price (no traded close in the source): {', '.join(adj.index)}")
    if nav <= 0 and (len(pos) or len(cs)):
        notes.append(f"NAV is not positive ({nav:,.0f} {currency})")
    return Valuation(day=day, positions=pos, cash=cs, nav=nav, prices=pr, currency=currency,
                     market=getattr(market, "label", ""), state=state.to_dict() if state is not None else None,
                     notes=notes)


def nav_series(entries: pd.DataFrame, market, start=None, end=None, *, basis: str = "calendar",
               fx=None) -> pd.DataFrame:
    """NAV on every day of ``basis`` from ``start`` to ``end`` (cut-off 24:00 UTC each day).

    Parameters
    ----------
    entries : ledger entries
    market : MarketData
    start, end : date-like, optional
        Default: the first ledger date to the market's last date.
    basis : {"calendar", "session"}
        Every calendar day, or every XNYS session.

    Returns
    -------
    pandas.DataFrame
        Index = NAV dates; columns ``nav``, ``invested``, ``cash`` (currency),
        ``positions`` (count), ``stale`` (positions whose price is stale) and
        ``oldest_price_days`` (age of the oldest price used, calendar days).
    """
    check_basis(basis)
    lg = legs(entries)
    if lg.empty:
        raise DataError("the book has no ledger entries yet (computefolio book import FILE)")
    start = pd.Timestamp(start).normalize() if start is not None else lg["date"].min()
    end = pd.Timestamp(end).normalize() if end is not None else max(market.end, lg["date"].max())
    if end < start:
        raise DataError(f"--to {end.date()} is before --from {start.date()}")
    days = basis_index(basis, start, end)
    if not len(days):
        raise DataError(f"no {basis} dates between {start.date()} and {end.date()}")
    assets = lg[~lg["cash"]]
    cashl = lg[lg["cash"]]
    syms = list(dict.fromkeys(assets["instrument"]))
    missing = [s for s in syms if s not in market.symbols]
    if missing:
        raise DataError(f"no market data for held {', '.join(missing)}")

    def cum(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(index=days)
        w = frame.pivot_table(index="date", columns="instrument", values="quantity", aggfunc="sum")
        w = w.reindex(w.index.union(days)).fillna(0.0).cumsum()
        return w.reindex(days)

    units = cum(assets)
    money = cum(cashl)
    px, pdates = price_panel(market, days, syms)
    val = (units.reindex(columns=syms).to_numpy() * px.to_numpy()) if syms else np.zeros((len(days), 0))
    held = units.reindex(columns=syms).abs().to_numpy() > 1e-12 if syms else np.zeros((len(days), 0), bool)
    unpriced = held & ~np.isfinite(val)
    if unpriced.any():
        i, j = np.argwhere(unpriced)[0]
        raise DataError(f"no price on or before {days[i].date()} for held {syms[j]}: start the NAV later (--from)")
    invested = np.where(held, val, 0.0).sum(axis=1)
    rates = np.array([fx_rate(c, fx) for c in money.columns]) if money.shape[1] else np.zeros(0)
    cash_v = money.to_numpy() @ rates if money.shape[1] else np.zeros(len(days))
    # staleness per (day, symbol): price date before the symbol's last expected bar
    age = np.full(val.shape, np.nan)
    stale = np.zeros(val.shape, dtype=bool)
    for j, s in enumerate(syms):
        pdj = pdates[s].to_numpy()
        a = (days.values - pdj).astype("timedelta64[D]").astype(float)
        age[:, j] = a
        cal = market.calendars[s]
        if cal == CRYPTO:
            stale[:, j] = a > 0
        else:
            # last session of its calendar on or before each day
            allsess = sessions(cal, days[0] - pd.Timedelta(days=15), days[-1])
            k = allsess.searchsorted(days, side="right") - 1
            exp = np.where(k >= 0, allsess.values[np.maximum(k, 0)], days.values)
            stale[:, j] = pdj < exp
    stale &= held
    oldest = np.where(held, age, np.nan)
    with np.errstate(all="ignore"):
        oldest_days = np.nanmax(np.where(np.isnan(oldest), -np.inf, oldest), axis=1) if syms else np.zeros(len(days))
    oldest_days = np.where(np.isfinite(oldest_days), oldest_days, np.nan)
    out = pd.DataFrame({"nav": invested + cash_v, "invested": invested, "cash": cash_v,
                        "positions": held.sum(axis=1), "stale": stale.sum(axis=1),
                        "oldest_price_days": oldest_days}, index=days)
    out.index.name = "date"
    out.attrs.update({"cutoff_rule": CUTOFF_RULE, "basis": basis, "currency": market.currency})
    return out
