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
from .pricing import CUTOFF_RULE, cutoff_label, price_panel, prices_at, unit_prices


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


def _first_dates(entries: pd.DataFrame) -> dict:
    """First ledger date per symbol (the day its position began)."""
    e = entries[entries["symbol"].notna()] if "symbol" in entries else entries.iloc[0:0]
    return e.groupby("symbol")["date"].min().to_dict() if len(e) else {}


def _mark_prices(private, market, day: pd.Timestamp, symbols: list, entries: pd.DataFrame, universe) -> pd.DataFrame:
    """Rows like :func:`prices_at` for symbols priced by their marks (computefolio.private.nav)."""
    from ..private.nav import Basket, mark_valuation

    px, _ = unit_prices(market)
    first = _first_dates(entries)
    rows = {}
    for s in symbols:
        ms = private.marks.of(s)
        f0 = first.get(s)
        early = [m for m in ms if f0 is not None and pd.Timestamp(m.date) < pd.Timestamp(f0)]
        if early:
            raise DataError(f"private marks: {s} mark of {early[0].date}: field 'date': on or after "
                            f"{pd.Timestamp(f0).date()}, when the position was first booked (a mark before the "
                            f"position exists), got {early[0].date}")
        a = universe.asset(s) if universe is not None and s in universe else None
        basket, bp = None, None
        if a is not None and a.proxy_basket is not None:
            basket = Basket(dict(a.proxy_basket.weights), float(a.proxy_basket.beta))
            mem = [m for m in basket.weights if m in market.symbols]
            bp = px[mem] if mem else None
        mp = px[s] if s in market.symbols and px[s].notna().any() else None
        mv = mark_valuation(s, ms, [day], policy=private.policy, basket=basket, basket_prices=bp,
                            listed=a.listed if a is not None else None, market_prices=mp)
        f = mv.frame.iloc[0]
        src = f["source"]
        rows[s] = {"price": float(f["price"]), "date": f["mark_date"],
                   "field": f"{f['method']}:{src}" if f["method"] != "market" else "close",
                   "calendar": a.calendar if a is not None else "XNYS", "expected": pd.NaT,
                   "age_days": float(f["age_days"]), "stale_days": float(f["age_days"]), "missed_bars": 0,
                   "status": "mark" if f["method"] != "market" else "fresh"}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "symbol"
    return out


def fresh_asof(weights: pd.Series, market, universe) -> tuple[pd.Timestamp, str]:
    """The book's as-of date when the user gives none, and why.

    The last date on which every sleeve of the book has fresh prices for most of its weight
    (:meth:`computefolio.data.market.MarketData.last_fresh_date`), so that one asset whose
    data stopped neither moves the book's date back nor lets it run months into a frozen
    sleeve (e.g. real files whose crypto ends months before the equities).

    Parameters
    ----------
    weights : pandas.Series
        Symbol -> weight or value (signs ignored); symbols outside the universe form a group
        of their own.
    """
    w = pd.Series(weights, dtype=float)
    w = w[w != 0].abs()
    groups: dict[str, dict] = {}
    for sym, v in w.items():
        if sym not in market.symbols:
            continue
        sl = universe.asset(sym).sleeve if sym in universe else "other"
        groups.setdefault(sl, {})[sym] = float(v)
    delisted = {a.symbol: a.delisted for a in universe.assets if a.delisted is not None}
    day, fail = market.last_fresh_date(groups, delisted=delisted) if groups else (market.end, None)
    if day is None:
        return market.end, f"as of {market.end.date()}, the last date of the data"
    if fail is None:
        return day, f"as of {day.date()}, the last date of the data"
    return day, (f"as of {day.date()}, the last date on which every sleeve of the book has fresh prices for most of "
                 f"its weight (after it {fail['group']} has {fail['share']:.0%} of its weight fresh); choose another "
                 "date to see the book later, with stale prices carried and their ages")


def value_book(entries: pd.DataFrame, market, day, *, fx=None, state=None, currency: str = "USD", private=None,
               universe=None) -> Valuation:
    """Value the book on ``day`` at the cut-off (see :mod:`computefolio.book.pricing`).

    Parameters
    ----------
    entries : pandas.DataFrame
        Ledger entries (:meth:`BookStore.entries`).
    market : MarketData
    day : date-like
    fx : mapping currency -> USD per unit, optional (beyond the pegged ones)
    state : BookState, optional (recorded in the result)
    private : computefolio.private.store.PrivateData, optional
        Marks, lock-up terms and the NAV policy between marks: a held symbol without a market
        price on ``day`` (a private stake, a company before its listing) is priced by its marks
        (``status`` ``mark``, ``field`` ``<method>:<source>``, ``age_days`` from the mark's
        valuation date); positions gain ``locked_units`` and ``locked_value`` under the terms.
    universe : Universe, optional
        Proxy baskets and listing dates of marked assets (roll-forward; the switch to prices).

    Raises
    ------
    DataError
        A held symbol without any price or mark on or before ``day`` (named with its account); a
        mark dated before its position's first ledger entry.
    """
    day = pd.Timestamp(day).normalize()
    h = holdings(entries, day)
    pos = h[~h["cash"]].rename(columns={"instrument": "symbol"})[["account", "symbol", "quantity"]]
    cs = h[h["cash"]].rename(columns={"instrument": "currency", "quantity": "amount"})[["account", "currency", "amount"]]
    syms = list(dict.fromkeys(pos["symbol"]))
    marked = set(private.marks.symbols) if private is not None else set()
    missing = [s for s in syms if s not in market.symbols and s not in marked]
    if missing:
        where = pos[pos["symbol"].isin(missing)]
        raise DataError(f"no market data for held {', '.join(f'{s} ({a})' for a, s in where[['account', 'symbol']].itertuples(index=False))}"
                        f": load prices for them (computefolio data import)")
    in_mkt = [s for s in syms if s in market.symbols]
    pr = prices_at(market, day, in_mkt)
    by_mark = [s for s in syms if s in marked and (s not in market.symbols or not np.isfinite(pr.at[s, "price"]))]
    if by_mark:
        pr = pd.concat([pr.drop(index=[s for s in by_mark if s in pr.index]),
                        _mark_prices(private, market, day, by_mark, entries, universe)]).reindex(syms)
    nopx = [s for s in syms if not np.isfinite(pr.at[s, "price"])]
    if nopx:
        hint = ""
        if private is None and any(s in market.symbols and not market.close[s].notna().any() for s in nopx):
            hint = ("; a private position is priced by its stored marks in book show/nav and compliance check "
                    "(computefolio private import FILE); computefolio rebalance does not value private positions yet")
        raise DataError(f"no price on or before {day.date()} for held {', '.join(nopx)}{hint}")
    pos = pos.reset_index(drop=True)
    for c in ("price", "date", "field", "age_days", "stale_days", "status"):
        pos[c if c != "date" else "price_date"] = pos["symbol"].map(pr[c]) if len(pos) else pd.Series(dtype=object)
    pos["value"] = pos["quantity"] * pos["price"].astype(float) if len(pos) else pd.Series(dtype=float)
    if private is not None and len(pos):
        lk = np.array([min(max(private.locked_units(a, s, day), 0.0), q) for a, s, q in
                       pos[["account", "symbol", "quantity"]].itertuples(index=False)], dtype=float)
        pos["locked_units"] = lk
        pos["locked_value"] = lk * pos["price"].astype(float)
    cs = cs.reset_index(drop=True)
    cs["rate"] = [fx_rate(c, fx) for c in cs["currency"]]
    cs["value"] = cs["amount"] * cs["rate"]
    nav = float(pos["value"].sum() + cs["value"].sum())
    pos["weight"] = pos["value"] / nav if nav else np.nan
    cs["weight"] = cs["value"] / nav if nav else np.nan
    notes = []
    if by_mark:
        from ..private.nav import POLICY_TEXT

        notes.append(f"private positions valued by marks ({private.policy}: {POLICY_TEXT[private.policy]}): "
                     + ", ".join(f"{s} {pr.at[s, 'field']} of {pd.Timestamp(pr.at[s, 'date']).date()} "
                                 f"({int(pr.at[s, 'age_days'])} days)" for s in by_mark))
    st = pr[(pr["status"] != "fresh") & (pr["status"] != "mark")]
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
               fx=None, private=None, universe=None) -> pd.DataFrame:
    """NAV on every day of ``basis`` from ``start`` to ``end`` (cut-off 24:00 UTC each day).

    Parameters
    ----------
    entries : ledger entries
    market : MarketData
    start, end : date-like, optional
        Default: the first ledger date to the market's last date.
    basis : {"calendar", "session"}
        Every calendar day, or every XNYS session.

    private, universe
        As for :func:`value_book`: held symbols without a market price are priced by their
        marks under the NAV policy (the listing switch included); they add the columns
        ``marked`` (positions priced by a mark) and ``oldest_mark_days``.

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
    marked_syms = [s for s in syms if private is not None and s in private.marks.symbols]
    missing = [s for s in syms if s not in market.symbols and s not in marked_syms]
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
    in_mkt = [s for s in syms if s in market.symbols]
    px, pdates = price_panel(market, days, in_mkt)
    px, pdates = px.reindex(columns=syms), pdates.reindex(columns=syms)
    by_mark = np.zeros((len(days), len(syms)), dtype=bool)
    if marked_syms:
        from ..private.nav import Basket, mark_valuation

        upx, _ = unit_prices(market)
        first = _first_dates(entries)
        for s in marked_syms:
            ms = private.marks.of(s)
            early = [m for m in ms if s in first and pd.Timestamp(m.date) < pd.Timestamp(first[s])]
            if early:
                raise DataError(f"private marks: {s} mark of {early[0].date}: field 'date': on or after "
                                f"{pd.Timestamp(first[s]).date()}, when the position was first booked (a mark before "
                                f"the position exists), got {early[0].date}")
            a = universe.asset(s) if universe is not None and s in universe else None
            basket, bp = None, None
            if a is not None and a.proxy_basket is not None:
                basket = Basket(dict(a.proxy_basket.weights), float(a.proxy_basket.beta))
                mem = [m for m in basket.weights if m in market.symbols]
                bp = upx[mem] if mem else None
            mp = upx[s] if s in market.symbols and upx[s].notna().any() else None
            mv = mark_valuation(s, ms, days, policy=private.policy, basket=basket, basket_prices=bp,
                                listed=a.listed if a is not None else None, market_prices=mp)
            j = syms.index(s)
            px[s] = mv.frame["price"].to_numpy()
            pdates[s] = mv.frame["mark_date"].to_numpy()
            by_mark[:, j] = (mv.frame["method"] != "market").to_numpy() & mv.frame["price"].notna().to_numpy()
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
        if s not in market.symbols:
            continue  # priced by marks only: their age is the mark's (oldest_mark_days), never "stale"
        cal = market.calendars[s]
        if cal == CRYPTO:
            stale[:, j] = a > 0
        else:
            # last session of its calendar on or before each day
            allsess = sessions(cal, days[0] - pd.Timedelta(days=15), days[-1])
            k = allsess.searchsorted(days, side="right") - 1
            exp = np.where(k >= 0, allsess.values[np.maximum(k, 0)], days.values)
            stale[:, j] = pdj < exp
    stale &= held & ~by_mark
    oldest = np.where(held & ~by_mark, age, np.nan)
    with np.errstate(all="ignore"):
        oldest_days = np.nanmax(np.where(np.isnan(oldest), -np.inf, oldest), axis=1) if syms else np.zeros(len(days))
    oldest_days = np.where(np.isfinite(oldest_days), oldest_days, np.nan)
    out = pd.DataFrame({"nav": invested + cash_v, "invested": invested, "cash": cash_v,
                        "positions": held.sum(axis=1), "stale": stale.sum(axis=1),
                        "oldest_price_days": oldest_days}, index=days)
    if private is not None:
        mk = held & by_mark
        out["marked"] = mk.sum(axis=1)
        with np.errstate(all="ignore"):
            om = np.where(mk, age, -np.inf).max(axis=1) if syms else np.full(len(days), -np.inf)
        out["oldest_mark_days"] = np.where(np.isfinite(om), om, np.nan)
        out.attrs["private_policy"] = private.policy
    out.index.name = "date"
    out.attrs.update({"cutoff_rule": CUTOFF_RULE, "basis": basis, "currency": market.currency})
    return out
