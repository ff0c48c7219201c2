"""MarketData: prices and volumes per symbol, each on its own calendar, on two bases.

Storage is *wide*: one DatetimeIndex (the union of every symbol's own dates) and one
column per symbol, NaN where a symbol has no bar (not listed yet, delisted, or not a
trading day of its calendar). Reading goes through a *basis*:

``basis="session"``
    Index = the XNYS sessions spanned by the data. Equities are their session
    closes. Crypto is sampled at the close of the same date label, so a session
    return compounds every calendar day since the previous session (Friday ->
    Monday returns include the weekend; holidays likewise). 252 periods a year.
``basis="calendar"``
    Index = every calendar day. Crypto as is; equities carried flat (their last
    session close) on days their exchange is closed, so their return there is 0.
    365 periods a year.

Inside a symbol's life a missing bar stays NaN (validation reports it; nothing is
filled silently); outside its life (before the first, after the last observation,
or outside the universe's listed/delisted dates) every value is NaN, never a zero
return.

Prices for returns are total-return prices: ``adj_close`` where the source gives it,
else ``close``.

**Stale, not delisted.** A series that ends before the as-of date is *stale*: its last
price is the best knowledge we have, carried with its age (:meth:`MarketData.freshness`),
and its returns after that date are missing (NaN), never zero. A delisting is a dated fact
of the universe (``Asset.delisted``), never inferred from the end of a file.

**Traded value.** Liquidity needs the value traded per bar (currency). Where a source plan
takes volume from another file than the price (``volume.csv``), the traded value is that
file's volume times *that file's own close*, so that two files split-adjusted at different
dates cannot mis-scale it (:attr:`MarketData.traded_value`); otherwise it is close x volume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..clock import CRYPTO, SESSION_CALENDAR, basis_index, check_basis, is_session, periods_per_year
from ..errors import DataError

FIELDS = ("open", "high", "low", "close", "adj_close", "volume")
LONG_COLUMNS = ["date", "symbol", *FIELDS]
SAMPLE_LABEL = "sample market (simulated)"


@dataclass
class MarketData:
    """Prices and volumes of a universe of symbols, each on its own calendar.

    Parameters
    ----------
    close : pandas.DataFrame
        Dates x symbols, closing prices in ``currency`` (NaN where no bar).
    calendars : mapping of str to str
        Symbol -> calendar (``"XNYS"``, ``"24/7"``, ...). Every column needs one.
    adj_close, open, high, low, volume : pandas.DataFrame, optional
        Same shape conventions; volume in base units (shares or coins).
    traded_value : pandas.DataFrame, optional
        Value traded per bar in ``currency`` (volume x the volume source's own close).
        Default: ``close x volume``.
    currency : str
        Currency of every price (default USD).
    source : str
        Human description of where the data came from (shown in reports).
    simulated : bool
        True for the built-in sample market; reports then carry a banner.
    provenance : dict
        Free-form details (files, primary-source choices, data hash).
    """

    close: pd.DataFrame
    calendars: Mapping[str, str]
    adj_close: pd.DataFrame | None = None
    open: pd.DataFrame | None = None
    high: pd.DataFrame | None = None
    low: pd.DataFrame | None = None
    volume: pd.DataFrame | None = None
    currency: str = "USD"
    source: str = ""
    simulated: bool = False
    provenance: dict = field(default_factory=dict)
    traded_value: pd.DataFrame | None = None

    def __post_init__(self):
        self.close = _clean_wide(self.close, "close")
        idx, cols = self.close.index, self.close.columns
        for name in ("adj_close", "open", "high", "low", "volume", "traded_value"):
            frame = getattr(self, name)
            if frame is not None:
                setattr(self, name, _clean_wide(frame, name).reindex(index=idx, columns=cols))
        missing = [s for s in cols if s not in self.calendars]
        if missing:
            raise DataError(f"no calendar given for: {', '.join(map(str, missing))}")
        self.calendars = {s: self.calendars[s] for s in cols}
        self._cache: dict = {}

    # ---------------------------------------------------------------- building
    @classmethod
    def from_long(cls, df: pd.DataFrame, calendars: Mapping[str, str], **kwargs) -> "MarketData":
        """Build from long format: columns ``date, symbol`` plus any of :data:`FIELDS`.

        Rows with a symbol missing from ``calendars`` raise :class:`DataError`.
        Duplicate (symbol, date) rows raise :class:`DataError` (choose a source first).
        """
        if not {"date", "symbol"} <= set(df.columns):
            raise DataError("long-format prices need 'date' and 'symbol' columns")
        d = df.copy()
        d["date"] = pd.to_datetime(d["date"]).dt.normalize()
        d["symbol"] = d["symbol"].astype(str)
        dup = d.duplicated(["symbol", "date"], keep=False)
        if dup.any():
            first = d.loc[dup, ["symbol", "date"]].iloc[0]
            raise DataError(f"{int(dup.sum())} duplicated (symbol, date) rows, first {first['symbol']} "
                            f"{first['date'].date()}: pick one source per symbol and date")
        frames = {}
        for f in FIELDS:
            if f in d.columns and d[f].notna().any():
                frames[f] = d.pivot(index="date", columns="symbol", values=f).astype(float).sort_index()
        if "close" not in frames and "adj_close" not in frames:
            raise DataError("long-format prices need a 'close' or 'adj_close' column with values")
        close = frames.pop("close", None)
        if close is None:
            close = frames["adj_close"].copy()
        syms = sorted(set(d["symbol"]))
        close = close.reindex(columns=syms)
        unknown = [s for s in syms if s not in calendars]
        if unknown:
            raise DataError(f"symbols not in the universe (no calendar): {', '.join(unknown)}")
        return cls(close=close, calendars={s: calendars[s] for s in syms}, **frames, **kwargs)

    def to_long(self) -> pd.DataFrame:
        """Long format (``date, symbol, open, high, low, close, adj_close, volume``), rows with a close."""
        parts = {}
        for f in FIELDS:
            frame = getattr(self, f)
            if frame is not None:
                parts[f] = frame.stack(future_stack=True)
        out = pd.DataFrame(parts)
        out.index.names = ["date", "symbol"]
        out = out.reset_index()
        out = out[out["close"].notna() | (out["adj_close"].notna() if "adj_close" in out else False)]
        for f in FIELDS:
            if f not in out:
                out[f] = np.nan
        return out[LONG_COLUMNS].sort_values(["symbol", "date"]).reset_index(drop=True)

    # ---------------------------------------------------------------- describing
    @property
    def symbols(self) -> list[str]:
        return [str(s) for s in self.close.columns]

    @property
    def start(self) -> pd.Timestamp:
        return self.close.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.close.index[-1]

    def calendar(self, symbol: str) -> str:
        return self.calendars[symbol]

    @property
    def label(self) -> str:
        """``"sample market (simulated)"`` for the sample, else the source description."""
        return SAMPLE_LABEL if self.simulated else (self.source or "market data")

    def life(self, symbol: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last date with a price for ``symbol`` (None, None if it has none)."""
        s = self.price.loc[:, symbol]
        v = s.index[s.notna().to_numpy()]
        return (v[0], v[-1]) if len(v) else (None, None)

    def lives(self) -> pd.DataFrame:
        """First and last priced date per symbol (columns ``first``, ``last``)."""
        p = self.price
        mask = p.notna()
        first = mask.idxmax().where(mask.any())
        last = mask[::-1].idxmax().where(mask.any())
        return pd.DataFrame({"first": first, "last": last})

    def data_hash(self) -> str:
        """SHA-256 of every stored value and the calendars: identifies the inputs of a run."""
        h = hashlib.sha256()
        for f in FIELDS:
            frame = getattr(self, f)
            if frame is None:
                continue
            h.update(f.encode())
            h.update(np.ascontiguousarray(frame.index.asi8).tobytes())
            h.update("|".join(map(str, frame.columns)).encode())
            h.update(np.ascontiguousarray(frame.to_numpy(dtype=float)).tobytes())
        if self.traded_value is not None:
            h.update(b"traded_value")
            h.update(np.ascontiguousarray(self.traded_value.to_numpy(dtype=float)).tobytes())
        h.update(repr(sorted(self.calendars.items())).encode())
        return h.hexdigest()

    # ---------------------------------------------------------------- views
    @property
    def price(self) -> pd.DataFrame:
        """Total-return price on the native union index: adj_close where given, else close."""
        if "price" not in self._cache:
            p = self.close
            if self.adj_close is not None:
                has_adj = self.adj_close.notna().any()
                p = p.copy()
                for s in has_adj.index[has_adj.to_numpy()]:
                    p[s] = self.adj_close[s]
            self._cache["price"] = p
        return self._cache["price"]

    def subset(self, symbols: Iterable[str]) -> "MarketData":
        """A MarketData with only ``symbols`` (in that order); unknown symbols raise KeyError."""
        symbols = list(symbols)
        missing = [s for s in symbols if s not in self.close.columns]
        if missing:
            raise KeyError(f"not in market data: {', '.join(missing)}")
        kw = {f: (getattr(self, f)[symbols] if getattr(self, f) is not None else None)
              for f in ("adj_close", "open", "high", "low", "volume", "traded_value")}
        return MarketData(close=self.close[symbols], calendars={s: self.calendars[s] for s in symbols},
                          currency=self.currency, source=self.source, simulated=self.simulated,
                          provenance=dict(self.provenance), **kw)

    def between(self, start=None, end=None) -> "MarketData":
        """A MarketData restricted to dates in [start, end]."""
        sl = slice(pd.Timestamp(start) if start is not None else None, pd.Timestamp(end) if end is not None else None)
        kw = {f: (getattr(self, f).loc[sl] if getattr(self, f) is not None else None)
              for f in ("adj_close", "open", "high", "low", "volume", "traded_value")}
        return MarketData(close=self.close.loc[sl], calendars=dict(self.calendars), currency=self.currency,
                          source=self.source, simulated=self.simulated, provenance=dict(self.provenance), **kw)

    def index(self, basis: str = "session") -> pd.DatetimeIndex:
        """Dates of ``basis`` spanned by the data."""
        check_basis(basis)
        return basis_index(basis, self.start, self.end)

    def periods_per_year(self, basis: str = "session") -> int:
        """252 on the session basis, 365 on the calendar basis (derived from the calendars)."""
        return periods_per_year(basis)

    def _on_basis(self, frame: pd.DataFrame, basis: str, carry: bool) -> pd.DataFrame:
        """Reindex a native frame onto a basis.

        ``carry``: on the calendar basis, carry a symbol's last value over days its
        own calendar is closed (prices); otherwise leave NaN there (volumes -> 0 below).
        """
        idx = self.index(basis)
        out = frame.reindex(idx)
        if basis == "calendar" and carry:
            lives = self.lives()
            for s in out.columns:
                cal = self.calendars[s]
                if cal == CRYPTO:
                    continue
                first, last = lives.at[s, "first"], lives.at[s, "last"]
                if pd.isna(first):
                    continue
                closed = ~is_session(cal, idx)
                inside = (idx >= first) & (idx <= last)
                fill = closed & inside
                if fill.any():
                    col = out[s].to_numpy(copy=True)
                    ff = out[s].ffill().to_numpy()
                    col[fill] = ff[fill]
                    out[s] = col
        return out

    def prices(self, basis: str = "session") -> pd.DataFrame:
        """Total-return prices on ``basis`` (see the module docstring).

        Returns
        -------
        pandas.DataFrame
            Dates of the basis x symbols, in ``currency``; ``attrs`` carry ``basis``,
            ``periods_per_year`` and ``currency``.
        """
        key = ("prices", basis)
        if key not in self._cache:
            out = self._on_basis(self.price, basis, carry=True)
            self._cache[key] = _tag(out, basis, self.currency)
        return self._cache[key].copy()

    def returns(self, basis: str = "session", kind: str = "simple") -> pd.DataFrame:
        """Per-period returns on ``basis``.

        Parameters
        ----------
        basis : {"session", "calendar"}
        kind : {"simple", "log"}

        Returns
        -------
        pandas.DataFrame
            Dates x symbols, fractions (0.01 = 1%). NaN before a symbol's first price,
            after its last, and after any missing bar; never a filled zero.
            ``attrs``: ``basis``, ``periods_per_year``, ``currency``, ``kind``.
        """
        key = ("returns", basis, kind)
        if key not in self._cache:
            p = self.prices(basis).to_numpy()
            r = np.full_like(p, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                r[1:] = p[1:] / p[:-1]
            r = np.log(r) if kind == "log" else r - 1.0
            out = pd.DataFrame(r, index=self.index(basis), columns=self.close.columns)
            out = _tag(out, basis, self.currency)
            out.attrs["kind"] = kind
            self._cache[key] = out
        return self._cache[key].copy()

    def volumes(self, basis: str = "session") -> pd.DataFrame | None:
        """Volumes in base units on ``basis``; on the session basis crypto volume is summed
        over the calendar days since the previous session; closed days of an equity on the
        calendar basis have volume 0. None when no volume was given."""
        if self.volume is None:
            return None
        key = ("volumes", basis)
        if key not in self._cache:
            v = self.volume
            if basis == "session":
                idx = self.index("session")
                # bucket each native date into the next session on or after it
                pos = idx.searchsorted(v.index, side="left")
                ok = pos < len(idx)
                grouped = v[ok].groupby(idx[pos[ok]]).sum(min_count=1)
                out = grouped.reindex(idx)
            else:
                out = v.reindex(self.index("calendar"))
                for s in out.columns:
                    if self.calendars[s] != CRYPTO:
                        closed = ~is_session(self.calendars[s], out.index)
                        col = out[s].to_numpy(copy=True)
                        col[closed & ~np.isnan(self.prices("calendar")[s].to_numpy())] = 0.0
                        out[s] = col
            self._cache[key] = _tag(out, basis, self.currency)
        return self._cache[key].copy()

    @property
    def value(self) -> pd.DataFrame | None:
        """Value traded per native bar, in ``currency`` (dates x symbols), None without volume.

        :attr:`traded_value` for symbols it covers (volume from another source, valued at
        that source's own close), else ``close x volume``. NaN where no volume is known.
        """
        if "value" not in self._cache:
            out = None
            if self.volume is not None:
                out = self.close * self.volume
            if self.traded_value is not None:
                tv = self.traded_value
                covered = tv.notna().any()
                if out is None:
                    out = tv.copy()
                else:
                    out = out.copy()
                    for s in covered.index[covered.to_numpy()]:
                        out[s] = tv[s]
            self._cache["value"] = out
        return self._cache["value"]

    def has_volume(self, symbol: str) -> bool:
        """True when any bar of ``symbol`` has a traded value (volume data exists)."""
        v = self.value
        return v is not None and bool(v[symbol].notna().any())

    def traded_values(self, basis: str = "session") -> pd.DataFrame | None:
        """Traded value (currency) per period of ``basis``; None without volume.

        Session basis: crypto value summed over the calendar days since the previous
        session. Calendar basis: an equity's closed days trade 0 inside its life.
        """
        v = self.value
        if v is None:
            return None
        key = ("traded_values", basis)
        if key not in self._cache:
            if basis == "session":
                idx = self.index("session")
                pos = idx.searchsorted(v.index, side="left")
                ok = pos < len(idx)
                out = v[ok].groupby(idx[pos[ok]]).sum(min_count=1).reindex(idx)
            else:
                out = v.reindex(self.index("calendar"))
                carried = self.prices("calendar")
                for s in out.columns:
                    if self.calendars[s] != CRYPTO:
                        closed = ~is_session(self.calendars[s], out.index)
                        col = out[s].to_numpy(copy=True)
                        col[closed & ~np.isnan(carried[s].to_numpy())] = 0.0
                        out[s] = col
            self._cache[key] = _tag(out, basis, self.currency)
        return self._cache[key].copy()

    def adv(self, window: int = 20, basis: str = "session", asof=None) -> pd.Series:
        """Average traded value per period (currency) over the last ``window`` periods up to ``asof``.

        Uses :meth:`traded_values` on ``basis``. Symbols without volume data get NaN
        (callers must say so, not assume liquidity).
        """
        value = self.traded_values(basis)
        if value is None:
            return pd.Series(np.nan, index=self.close.columns, name="adv")
        if asof is not None:
            value = value.loc[: pd.Timestamp(asof)]
        tail = value.tail(window)
        adv = tail.mean(skipna=True)
        adv[tail.notna().sum() == 0] = np.nan
        return adv.rename("adv")

    def venue_adv(self, window: int = 20, asof=None) -> pd.Series:
        """Average daily traded value (currency) per symbol on its *own* venue calendar.

        Mean of the traded value over each symbol's last ``window`` bars with a positive
        traded value up to ``asof`` — a trading day of its venue, whatever the book's
        basis (so days to liquidate are venue trading days). NaN without volume data.
        :meth:`adv` is the same on a valuation basis instead; :meth:`adv_info` also says
        which window and how old it is.
        """
        return self.adv_info(window, asof)["adv"].rename("adv")

    def adv_info(self, window: int = 20, asof=None) -> pd.DataFrame:
        """ADV on each venue's own calendar with its window and age.

        Returns
        -------
        pandas.DataFrame
            Index = symbols; columns ``adv`` (currency per venue trading day), ``bars``
            (bars averaged, at most ``window``), ``first`` and ``last`` (dates of the
            window), ``age_days`` (calendar days from ``last`` to ``asof``, default the
            data's last date), ``source`` (file(s) the volume came from, when known) and
            ``text`` (e.g. "ADV over 20 bars to 2025-04-04, 457 days old").
        """
        asof_ts = pd.Timestamp(asof) if asof is not None else self.end
        vsrc = self.provenance.get("volume_sources") or {}
        rows = {}
        value = self.value
        for s in self.close.columns:
            row = {"adv": np.nan, "bars": 0, "first": pd.NaT, "last": pd.NaT, "age_days": np.nan,
                   "source": ", ".join(vsrc.get(s, [])), "text": "no volume data"}
            if value is not None:
                v = value[s].loc[:asof_ts].dropna()
                v = v[v > 0].tail(window)
                if len(v):
                    age = int((asof_ts - v.index[-1]).days)
                    row.update(adv=float(v.mean()), bars=len(v), first=v.index[0], last=v.index[-1], age_days=age,
                               text=f"ADV over {len(v)} bars to {v.index[-1].date()}"
                                    + (f", {age} days old" if age > 0 else ""))
            rows[s] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "symbol"
        return out

    def freshness(self, asof=None, delisted=None) -> pd.DataFrame:
        """How fresh each symbol's last price is on ``asof`` (default: the data's last date).

        Parameters
        ----------
        asof : date-like, optional
        delisted : mapping symbol -> date, optional
            Delisting dates of the universe; a symbol delisted on or before ``asof`` is
            ``delisted``, not stale.

        Returns
        -------
        pandas.DataFrame
            Index = symbols; columns ``first`` and ``last`` (first and last priced date
            on or before ``asof``), ``expected`` (the last bar its calendar should have
            on or before ``asof``: ``asof`` for 24/7 assets, the last session otherwise),
            ``status`` (``fresh``, ``stale``, ``delisted`` or ``no data``),
            ``age_days`` (calendar days from ``last`` to ``asof``) and ``missed_bars``
            (bars of its own calendar after ``last`` up to ``expected``).
        """
        from ..clock import sessions as _sessions

        asof_ts = pd.Timestamp(asof).normalize() if asof is not None else self.end
        p = self.price.loc[:asof_ts]
        mask = p.notna()
        if len(mask):
            first = mask.idxmax().where(mask.any())
            last = mask[::-1].idxmax().where(mask.any())
        else:  # an as-of date before the data starts: no symbol has a price yet
            first = last = pd.Series(pd.NaT, index=self.close.columns)
        delisted = {k: pd.Timestamp(v) for k, v in (delisted or {}).items() if v is not None}
        cache: dict[str, pd.DatetimeIndex] = {}
        rows = {}
        for s in self.close.columns:
            cal = self.calendars[s]
            lst = last[s]
            if cal == CRYPTO:
                expected = asof_ts
            else:
                if cal not in cache:
                    lo = min(self.start, asof_ts - pd.Timedelta(days=10))
                    cache[cal] = _sessions(cal, lo, asof_ts)
                ss = cache[cal]
                expected = ss[-1] if len(ss) else asof_ts
            if pd.isna(lst):
                rows[s] = {"first": pd.NaT, "last": pd.NaT, "expected": expected, "status": "no data",
                           "age_days": np.nan, "missed_bars": np.nan}
                continue
            if cal == CRYPTO:
                missed = int((expected - lst).days)
            else:
                ss = cache[cal]
                missed = int(((ss > lst) & (ss <= expected)).sum())
            d = delisted.get(s)
            status = "delisted" if d is not None and d <= asof_ts else ("stale" if missed > 0 else "fresh")
            rows[s] = {"first": first[s], "last": lst, "expected": expected, "status": status,
                       "age_days": int((asof_ts - lst).days), "missed_bars": missed}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "symbol"
        return out

    def last_fresh_date(self, groups: Mapping[str, Mapping[str, float]], *, delisted=None, majority: float = 0.5,
                        not_before=None) -> tuple[pd.Timestamp | None, dict | None]:
        """The last date on which every group still has fresh prices for most of its weight.

        Parameters
        ----------
        groups : mapping group -> {symbol: weight}
            E.g. sleeves with their members counted equally, or a book's holdings by sleeve.
        delisted : mapping symbol -> date, optional
            Delisted symbols drop out of their group after the date (they are not stale).
        majority : float
            Fresh weight must be more than this share of the group's weight that has data.
        not_before : date-like, optional
            Do not look before this date.

        Returns
        -------
        (date, failure)
            ``date``: the data's last date when every group passes there, else the last date
            that passes (None if none does). ``failure``: for the first failing date after
            ``date``, ``{"group", "date", "fresh", "alive", "share"}`` (None when the data's
            last date passes). Fresh shares only fall on a member's last date, so only those
            dates (and the data's end) are tried.
        """
        lives = self.lives()
        members = {g: {s: float(w) for s, w in ws.items() if s in lives.index and pd.notna(lives.at[s, "last"])
                       and w > 0} for g, ws in groups.items()}
        members = {g: ws for g, ws in members.items() if ws}
        cands = sorted({self.end, *[lives.at[s, "last"] for ws in members.values() for s in ws]}, reverse=True)
        lo = pd.Timestamp(not_before) if not_before is not None else None
        failure = None
        for day in cands:
            if day > self.end or (lo is not None and day < lo):
                continue
            fr = self.freshness(day, delisted)
            bad = None
            for g, ws in members.items():
                alive = {s: w for s, w in ws.items() if pd.notna(fr.at[s, "first"]) and fr.at[s, "status"] != "delisted"}
                if not alive:
                    continue
                fresh = {s: w for s, w in alive.items() if fr.at[s, "status"] == "fresh"}
                share = sum(fresh.values()) / sum(alive.values())
                if share <= majority:
                    bad = {"group": g, "date": day, "fresh": sorted(fresh), "alive": sorted(alive), "share": share}
                    break
            if bad is None:
                return day, failure
            failure = bad
        return None, failure

    def summary(self) -> pd.DataFrame:
        """Per symbol: calendar, first and last date, number of bars."""
        lives = self.lives()
        return pd.DataFrame({
            "calendar": pd.Series(self.calendars),
            "first": lives["first"],
            "last": lives["last"],
            "bars": self.price.notna().sum(),
        })


def _clean_wide(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{name} must be a DataFrame (dates x symbols)")
    f = frame.copy()
    f.index = pd.DatetimeIndex(pd.to_datetime(f.index)).normalize()
    if f.index.tz is not None:
        f.index = f.index.tz_localize(None)
    if f.index.has_duplicates:
        d = f.index[f.index.duplicated()][0]
        raise DataError(f"{name}: duplicated date {d.date()}")
    f.columns = [str(c) for c in f.columns]
    f = f.sort_index().astype(float)
    f.index.name = "date"
    return f


def _tag(frame: pd.DataFrame, basis: str, currency: str) -> pd.DataFrame:
    frame.attrs["basis"] = basis
    frame.attrs["periods_per_year"] = periods_per_year(basis)
    frame.attrs["currency"] = currency
    return frame


def annualization(frame: pd.DataFrame, default_basis: str | None = None) -> int:
    """Periods per year carried by a returns frame (``attrs``), or from ``default_basis``.

    Raises ValueError when neither is available: annualizing with a guessed factor is
    exactly the bug DESIGN.md warns about.
    """
    ppy = getattr(frame, "attrs", {}).get("periods_per_year")
    if ppy:
        return int(ppy)
    if default_basis is not None:
        return periods_per_year(default_basis)
    raise ValueError("returns carry no basis: pass basis='session' or 'calendar' (or periods_per_year)")
