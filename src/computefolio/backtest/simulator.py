"""The simulator: prices and target weights in, a :class:`Result` out.

Conventions (see also :mod:`computefolio.backtest._kernel`)
-----------------------------------------------------------
* **Valuation.** The book is valued on one basis: ``"session"`` (XNYS sessions, crypto
  sampled at the session's date label so weekend moves arrive compounded on Monday,
  252 periods a year) or ``"calendar"`` (every day, equities carried flat when their
  exchange is closed, 365 a year). Prices are total-return prices in ``currency``.
* **Trading.** Trades happen at the close of the rebalance date, at the valuation
  price. An asset trades only on a date with its own bar: on the calendar basis an
  equity's target set on a weekend or holiday is *deferred* to its next session
  (sized then on that day's book value; recorded with ``kind="deferred"``); a
  missing bar inside an asset's life defers likewise, and the asset is marked at its
  last price meanwhile.
* **Listing.** Before an asset's first price its weight is 0; a target weight on an
  asset without a price is moved to cash and recorded in ``Result.skipped`` (kind
  ``not_listed``) with a warning.
* **Stale, not delisted.** When an asset's prices end before the end of the data and
  the universe gives no delisting date, the series is *stale*: the position is held
  and valued at its last price (its age is in ``Result.stale``), and it cannot trade
  (a trade is deferred until a new bar arrives, never executed at an invented price).
  Only a dated delisting (``delisted=`` or the universe's ``Asset.delisted``) sells
  the position at its last price on or before that date (``kind="delist"``, costs
  charged); the date is taken as known in advance (it is announced).
* **Cash** earns ``cash_rate``: a constant annual rate or a Series of annual rates
  (fractions; e.g. ^IRX / 100), accrued simply per period on an act/360 day count,
  ``cash *= 1 + r * days / 360``, with the rate known on the previous valuation
  date. Negative cash (leverage, or costs above the cash held) pays the same rate.
* **Costs** per venue from a :class:`~computefolio.backtest.costs.CostModel`; paid
  from cash. ``gross_equity = equity + cumulative costs`` exactly.
* **Sizing convention** (``fee_convention``): ``"native"`` (self-financing: after
  trading, weights equal the targets of the post-cost value), ``"vectorbt"`` (fees on
  top, sells first, buys cut to available cash) or ``"bt"`` (each asset's change in
  value includes its costs). With zero costs all three are the same.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..clock import CRYPTO, check_basis, is_session, periods_per_year
from ..data.market import MarketData
from ..errors import DataError
from . import _kernel as K
from .costs import CostModel, as_cost_model
from .manifest import frame_hash, make_manifest
from .result import Result
from .schedule import DriftBands, no_bands

DEFAULT_CAPITAL = 100_000_000.0
CONVENTIONS = {"native": K.NATIVE, "vectorbt": K.VECTORBT, "bt": K.BT}
_KIND_NAMES = {K.KIND_REBALANCE: "rebalance", K.KIND_DEFERRED: "deferred", K.KIND_DELIST: "delist",
               K.KIND_SKIP_MIN: "min_notional", K.KIND_SKIP_UNLISTED: "not_listed"}


@dataclass
class Prepared:
    """Market arrays on one basis, ready for the kernel (all (T, N) unless noted)."""

    index: pd.DatetimeIndex
    symbols: list
    basis: str
    periods_per_year: int
    currency: str
    px: np.ndarray          # valuation prices, carried inside life, NaN outside
    pv: np.ndarray          # px with NaN -> 0 (for summing the book's value)
    tradable: np.ndarray    # bool: the asset has its own bar that day
    last_row: np.ndarray    # (N,) int64: row of a dated delisting (sold there), else T
    event: np.ndarray       # (T,) bool: some asset is delisted on this row
    sigma: np.ndarray       # daily return volatility known at each row (impact)
    adv: np.ndarray         # average traded value per period (currency) known at each row, 0 = unknown
    growth: np.ndarray      # (T,) cash growth factor from row i-1 to i
    open: np.ndarray | None = None  # (T, N) open prices on the basis (next-open trading), NaN = none
    data_hash: str = ""
    warnings: list = None
    last_date: np.ndarray | None = None  # (N,) datetime64: date of the asset's last price (NaT: none)
    calendars: dict | None = None       # symbol -> calendar, when known (stale = missed a bar of it)


def _infer_basis(index: pd.DatetimeIndex) -> str:
    return "calendar" if (pd.DatetimeIndex(index).day_of_week >= 5).any() else "session"


def cash_growth(index: pd.DatetimeIndex, cash_rate) -> np.ndarray:
    """Per-period cash growth factors, act/360 simple accrual at the previous date's rate.

    ``cash_rate``: annual rate as a fraction (0.05 = 5%), constant or a Series indexed by
    date (carried forward to each valuation date; the first date must be covered).
    """
    index = pd.DatetimeIndex(index)
    T = len(index)
    g = np.ones(T)
    if T < 2:
        return g
    days = np.diff(index.asi8) / 86_400e9
    if isinstance(cash_rate, pd.Series):
        s = cash_rate.astype(float).dropna().sort_index()
        s.index = pd.DatetimeIndex(s.index).normalize()
        s = s[~s.index.duplicated(keep="last")]
        r = s.reindex(s.index.union(index)).ffill().reindex(index).to_numpy()
        if np.isnan(r[:-1]).any():
            first = index[int(np.flatnonzero(np.isnan(r[:-1]))[0])]
            raise DataError(f"cash_rate series has no rate on or before {first.date()}")
        g[1:] = 1.0 + r[:-1] * days / 360.0
    else:
        r = float(cash_rate)
        if not np.isfinite(r):
            raise ValueError(f"cash_rate must be finite, got {cash_rate!r}")
        g[1:] = 1.0 + r * days / 360.0
    return g


def prepare(prices, *, basis: str | None = None, calendars: Mapping[str, str] | None = None,
            volumes: pd.DataFrame | None = None, cash_rate=0.0, impact_window: int = 20,
            need_impact: bool = True, currency: str | None = None,
            open_prices: pd.DataFrame | None = None, delisted: Mapping | None = None) -> Prepared:
    """Turn a :class:`MarketData` or a price DataFrame into kernel arrays.

    Parameters
    ----------
    prices : MarketData or pandas.DataFrame
        A DataFrame is dates x symbols of total-return prices on one basis; NaN means
        "no bar" (not listed, delisted, or not a trading day of the asset).
    basis : {"session", "calendar"}, optional
        MarketData: the valuation basis (default ``"session"``). DataFrame: its basis
        (default: ``attrs["basis"]``, else ``"calendar"`` when the index has weekend
        dates, else ``"session"``).
    calendars : mapping, optional
        For a DataFrame: symbol -> calendar, so that an equity carried flat on a closed
        day is not traded there.
    volumes : DataFrame, optional
        For a DataFrame: volumes in units (for ADV and impact).
    open_prices : DataFrame, optional
        For a DataFrame: open prices (next-open trading). A MarketData uses its ``open``.
    delisted : mapping symbol -> date, optional
        Dated delistings (the universe's ``Asset.delisted``). Such an asset is sold at its
        last price on or before the date. Any other series that ends early is *stale*:
        carried at its last price, not tradable (module docstring).
    """
    warns: list[str] = []
    if isinstance(prices, MarketData):
        md = prices
        basis = check_basis(basis or "session")
        p = md.prices(basis)
        idx = p.index
        tradable = md.price.reindex(idx).notna().to_numpy(copy=True)
        tv = md.traded_values(basis) if need_impact else None  # currency per period (volume x its own close)
        vol = None
        currency = currency or md.currency
        data_hash = md.provenance.get("data_hash") or md.data_hash()
        opn = None if md.open is None else md.open.reindex(idx)
        if opn is not None and md.adj_close is not None:
            # total-return prices: scale opens by the day's adj_close / close
            ratio = (md.adj_close / md.close).reindex(idx)
            opn = opn * ratio.where(ratio.notna(), 1.0)
    elif isinstance(prices, pd.DataFrame):
        p = prices.copy()
        p.index = pd.DatetimeIndex(pd.to_datetime(p.index)).normalize()
        if p.index.has_duplicates:
            raise DataError(f"prices: duplicated date {p.index[p.index.duplicated()][0].date()}")
        if not p.index.is_monotonic_increasing:
            raise DataError("prices: dates must be increasing")
        p.columns = [str(c) for c in p.columns]
        p = p.astype(float)
        if (p <= 0).any().any():
            bad = p.columns[(p <= 0).any()][0]
            raise DataError(f"prices: {bad} has a zero or negative price")
        basis = check_basis(basis or prices.attrs.get("basis") or _infer_basis(p.index))
        idx = p.index
        tradable = p.notna().to_numpy(copy=True)
        if calendars:
            for j, s in enumerate(p.columns):
                cal = calendars.get(s)
                if cal is not None and cal != CRYPTO:
                    tradable[:, j] &= is_session(cal, idx)
        vol = None if volumes is None else volumes.reindex(index=idx, columns=p.columns).astype(float)
        tv = None
        currency = currency or prices.attrs.get("currency", "USD")
        opn = None if open_prices is None else open_prices.reindex(index=idx, columns=p.columns).astype(float)
        data_hash = frame_hash(p, vol, opn)
    else:
        raise TypeError(f"prices must be a MarketData or a DataFrame (dates x symbols), got {type(prices).__name__}")
    raw = p.to_numpy(dtype=float)
    T, N = raw.shape
    if T == 0 or N == 0:
        raise DataError("prices are empty")
    valid = ~np.isnan(raw)
    has = valid.any(axis=0)
    first = np.where(has, valid.argmax(axis=0), T)
    last = np.where(has, T - 1 - valid[::-1].argmax(axis=0), -1)
    px = p.ffill().to_numpy(dtype=float, copy=True)
    rows = np.arange(T)[:, None]
    # a dated delisting ends the asset's life on its last priced row on or before the date;
    # any other series that ends early is stale: carried at its last price to the end
    end = np.full(N, T - 1, dtype=np.int64)
    last_row = np.full(N, T, dtype=np.int64)
    for j, sym in enumerate(map(str, p.columns)):
        d = (delisted or {}).get(sym)
        if d is None or not has[j]:
            continue
        k = int(idx.searchsorted(pd.Timestamp(d), side="right")) - 1  # last row on or before the date
        if k < T - 1:  # delisted inside the window: sold on that row at its last known price
            end[j] = max(k, int(first[j]))
            last_row[j] = end[j]
    px[(rows < first[None, :]) | (rows > end[None, :])] = np.nan
    sigma = np.zeros((T, N))
    adv = np.zeros((T, N))
    adv_known = None
    if vol is not None or tv is not None:
        value = pd.DataFrame(vol.to_numpy(dtype=float) * px if tv is None else tv.to_numpy(dtype=float), index=idx)
        # after a volume source ends, its last ADV is carried (stale, never invented as 0 or infinite);
        # the outputs state each ADV's window and age (MarketData.adv_info)
        adv_known = value.rolling(impact_window, min_periods=1).mean().ffill().to_numpy()
        adv = np.nan_to_num(adv_known, nan=0.0)
    if need_impact:
        pf = pd.DataFrame(px, index=idx)
        r = pf / pf.shift(1) - 1.0
        sigma = r.rolling(impact_window, min_periods=2).std().fillna(0.0).to_numpy()
        if adv_known is not None:
            nov = [str(s) for s, ok in zip(p.columns, np.isfinite(adv_known).any(axis=0)) if not ok]
        else:
            nov = list(map(str, p.columns))
        if nov:
            warns.append(f"no volume data (impact cost taken as 0) for: {', '.join(nov)}")
    growth = cash_growth(idx, cash_rate)
    event = np.zeros(T, dtype=bool)
    event[last_row[last_row < T]] = True
    return Prepared(index=idx, symbols=list(map(str, p.columns)), basis=basis, event=event,
                    periods_per_year=periods_per_year(basis), currency=currency or "USD",
                    px=np.ascontiguousarray(px), pv=np.ascontiguousarray(np.nan_to_num(px, nan=0.0)),
                    tradable=np.ascontiguousarray(tradable),
                    last_row=last_row, sigma=np.ascontiguousarray(sigma), adv=np.ascontiguousarray(adv),
                    growth=growth, data_hash=data_hash, warnings=warns,
                    last_date=np.array([idx[int(k)] if k >= 0 else np.datetime64("NaT") for k in last],
                                       dtype="datetime64[ns]"),
                    calendars=dict(md.calendars) if isinstance(prices, MarketData) else dict(calendars or {}),
                    open=None if opn is None else np.ascontiguousarray(opn.to_numpy(dtype=float)))


def align_targets(target_weights: pd.DataFrame, prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """``(targets (K, N), sig (T,))`` from a weights frame indexed by rebalance dates.

    Columns must be symbols of the prices (missing symbols get weight 0); dates must be
    valuation dates; NaN weights are an error.
    """
    if not isinstance(target_weights, pd.DataFrame):
        raise TypeError("target_weights must be a DataFrame indexed by rebalance dates, columns = symbols")
    tw = target_weights.copy()
    tw.columns = [str(c) for c in tw.columns]
    tw.index = pd.DatetimeIndex(pd.to_datetime(tw.index)).normalize()
    unknown = [c for c in tw.columns if c not in prep.symbols]
    if unknown:
        raise DataError(f"target_weights: symbols without prices: {', '.join(unknown)}")
    if tw.index.has_duplicates:
        raise DataError(f"target_weights: duplicated date {tw.index[tw.index.duplicated()][0].date()}")
    tw = tw.sort_index().reindex(columns=prep.symbols, fill_value=0.0).astype(float)
    vals = tw.to_numpy()
    if np.isnan(vals).any():
        r, c = np.argwhere(np.isnan(vals))[0]
        raise DataError(f"target_weights: NaN weight for {prep.symbols[c]} on {tw.index[r].date()} (use 0 for none)")
    pos = prep.index.get_indexer(tw.index)
    if (pos < 0).any():
        d = tw.index[pos < 0][0]
        raise DataError(f"target_weights: rebalance date {d.date()} is not a valuation date of the {prep.basis} basis")
    sig = np.full(len(prep.index), -1, dtype=np.int64)
    sig[pos] = np.arange(len(tw), dtype=np.int64)
    return np.ascontiguousarray(vals), sig


class Engine:
    """A resumable simulation over prepared arrays (used by :func:`simulate` and policies)."""

    def __init__(self, prep: Prepared, costs: CostModel, *, capital: float = DEFAULT_CAPITAL,
                 venues: Mapping[str, str] | None = None, fee_convention: str = "native", lots: bool = False,
                 bands: DriftBands | None = None, keep_weights: bool = True, keep_trades: bool = True,
                 max_targets: int | None = None, stop_on_breach: bool = False, trade_at: str = "close"):
        if fee_convention not in CONVENTIONS:
            raise ValueError(f"fee_convention must be one of {', '.join(CONVENTIONS)}; got {fee_convention!r}")
        if not (np.isfinite(capital) and capital > 0):
            raise ValueError(f"capital must be a positive amount, got {capital!r}")
        if trade_at not in ("close", "next_open"):
            raise ValueError(f"trade_at must be 'close' or 'next_open', got {trade_at!r}")
        if trade_at == "next_open" and bands is not None:
            raise ValueError("drift bands trade at the close of the breach; use trade_at='close' with bands")
        self.trade_at = trade_at
        self.prep = prep
        self.costs = costs
        self.capital = float(capital)
        self.fee_convention = fee_convention
        self.lots = bool(lots)
        T, N = prep.px.shape
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ca = costs.arrays(prep.symbols, venues)
        self.warnings = list(prep.warnings) + [str(w.message) for w in caught]
        self.venue = ca["venue"]
        self.fee, self.spread, self.impk = ca["fee"], ca["spread"], ca["impact_k"]
        self.min_notional, self.lot = ca["min_notional"], ca["lot"]
        if fee_convention != "native" and (self.impk.any() or self.min_notional.any() or (lots and self.lot.any())):
            self.warnings.append(f"fee_convention={fee_convention!r} applies commission and spread only "
                                 "(impact, minimum notional and lots ignored)")
            self.impk = np.zeros(N)
            self.min_notional = np.zeros(N)
            self.lots = False
        if trade_at == "next_open":
            if prep.open is None:
                self.warnings.append("no open prices: next-open trades execute at the next row's close")
                self.xp = np.full((T, N), np.nan)
            else:
                self.xp = prep.open
                miss = [s for s, ok in zip(prep.symbols, np.isfinite(prep.open).any(axis=0)) if not ok]
                if miss:
                    self.warnings.append(f"no open prices for {', '.join(miss)}: they trade at the next row's close")
        else:
            self.xp = prep.px
        self.bands = bands
        self.band_arrays = bands.arrays(prep.symbols) if bands is not None else no_bands(N)
        self.stop_on_breach = bool(stop_on_breach)
        self.keep_weights = keep_weights
        self.keep_trades = keep_trades
        self.shares = np.zeros(N)
        self.pending = np.full(N, np.nan)
        self.state = np.array([self.capital, 0.0, -1.0, -1.0, 0.0])
        self.equity = np.full(T, np.nan)
        self.cash = np.full(T, np.nan)
        self.cost = np.zeros(T)
        self.traded = np.zeros(T)
        self.weights = np.zeros((T, N)) if keep_weights else np.zeros((1, N))
        self.sig = np.full(T, -1, dtype=np.int64)
        self.stop = np.zeros(T, dtype=bool)
        self.targets = np.zeros((max_targets or 1, N))
        self.n_targets = 0
        cap = max(1024, 4 * N * (max_targets or 1) + 2 * N)
        self.tr_i = np.zeros((cap if keep_trades else 1, 3), dtype=np.int64)
        self.tr_f = np.zeros((cap if keep_trades else 1, 5))
        self.row = 0

    def set_targets(self, targets: np.ndarray, sig: np.ndarray) -> None:
        self.targets = np.ascontiguousarray(targets, dtype=float)
        self.n_targets = len(targets)
        self.sig = np.ascontiguousarray(sig, dtype=np.int64)
        if self.keep_trades:
            n_reb = int((sig >= 0).sum())
            cap = max(1024, (n_reb + 2) * self.prep.px.shape[1] * 2)
            self.tr_i = np.zeros((cap, 3), dtype=np.int64)
            self.tr_f = np.zeros((cap, 5))

    def add_target(self, i: int, w: np.ndarray) -> None:
        """Rebalance at row ``i`` to weights ``w`` (N,)."""
        if self.n_targets >= len(self.targets):
            grow = np.zeros((max(2 * len(self.targets), 8), self.targets.shape[1]))
            grow[: self.n_targets] = self.targets[: self.n_targets]
            self.targets = grow
        self.targets[self.n_targets] = w
        self.sig[i] = self.n_targets
        self.n_targets += 1

    def _position_values(self, i: int) -> tuple[np.ndarray, float]:
        p = self.prep.px[i]
        val = np.where(self.shares != 0.0, self.shares * np.nan_to_num(p), 0.0)
        return val, float(self.state[K.S_CASH] + val.sum())

    def current_weights(self, i: int) -> np.ndarray:
        """Weights at row ``i`` before trading (fractions of book value)."""
        val, V = self._position_values(i)
        return val / V if V != 0 else val

    def book_value(self, i: int) -> float:
        """Book value at row ``i`` before trading (currency): cash plus positions at that row's prices."""
        return self._position_values(i)[1]

    def run(self, until: int | None = None) -> int:
        """Advance until the end (or a stop row); return the row reached."""
        T = self.prep.px.shape[0]
        until = T if until is None else until
        ba, br, G, gba, gbr = self.band_arrays
        while True:
            stop_row = K.run_rows(
                self.row, until, self.prep.px, self.prep.pv, self.xp, self.trade_at == "next_open", self.prep.tradable, self.prep.last_row, self.prep.event, self.sig,
                self.stop,
                self.targets, ba, br, G, gba, gbr, self.stop_on_breach,
                self.fee, self.spread, self.impk, self.min_notional, self.lot, self.lots,
                self.prep.sigma, self.prep.adv, CONVENTIONS[self.fee_convention], self.prep.growth,
                self.shares, self.pending, self.state, self.equity, self.cash, self.cost, self.traded,
                self.weights, self.keep_weights, self.tr_i, self.tr_f, self.keep_trades)
            self.row = stop_row
            if stop_row < until and self.state[K.S_RESUME] != stop_row:
                # the kernel paused for room in the trade buffer
                grow = 2 * len(self.tr_i)
                ti = np.zeros((grow, 3), dtype=np.int64)
                tf = np.zeros((grow, 5))
                ti[: len(self.tr_i)] = self.tr_i
                tf[: len(self.tr_f)] = self.tr_f
                self.tr_i, self.tr_f = ti, tf
                continue
            return stop_row

    def result(self, config: dict | None = None, seed: int | None = None, inputs_hash: str | None = None) -> Result:
        prep = self.prep
        idx = prep.index
        T = len(idx)
        if self.row < T:
            raise RuntimeError("simulation has not reached the end")
        equity = pd.Series(self.equity, index=idx, name="equity")
        costs = pd.Series(self.cost, index=idx, name="costs")
        gross = (equity + costs.cumsum()).rename("gross_equity")
        pre = equity + costs
        turnover = pd.Series(np.where(pre > 0, self.traded / (2.0 * pre), 0.0), index=idx, name="turnover")
        rets = _returns(equity, self.capital, prep)
        grets = _returns(gross, self.capital, prep)
        weights = pd.DataFrame(self.weights, index=idx, columns=prep.symbols) if self.keep_weights else None
        trades, skipped = self._trade_frames()
        warns = list(self.warnings)
        if not skipped.empty:
            nl = skipped[skipped["kind"] == "not_listed"]
            if len(nl):
                warns.append(f"{len(nl)} target weight(s) on assets without a price moved to cash "
                             f"(first: {nl['symbol'].iloc[0]} on {nl['date'].iloc[0].date()})")
            mn = skipped[skipped["kind"] == "min_notional"]
            if len(mn):
                warns.append(f"{len(mn)} trade(s) below the venue's minimum notional skipped")
        cfg = {"capital": self.capital, "basis": prep.basis, "periods_per_year": prep.periods_per_year,
               "trade_at": self.trade_at,
               "currency": prep.currency, "fee_convention": self.fee_convention, "lots": self.lots,
               "costs": self.costs.model_dump(), "bands": None if self.bands is None else self.bands.to_dict(),
               "symbols": prep.symbols, "start": idx[0], "end": idx[-1]}
        cfg.update(config or {})
        manifest = make_manifest(prep.data_hash, cfg, seed=seed, inputs_hash=inputs_hash)
        stale = self._stale_positions()
        if len(stale):
            warns.append(f"{len(stale)} position(s) held at a stale price on {idx[-1].date()} (series ended, no "
                         "delisting date): " + ", ".join(f"{s} since {r.last_price_date.date()} ({r.age_days} days, "
                                                         f"{r.weight:.2%})" for s, r in stale.iterrows()))
        return Result(equity=equity, gross_equity=gross, returns=rets, gross_returns=grets, weights=weights,
                      trades=trades, skipped=skipped, costs=costs, turnover=turnover,
                      cash=pd.Series(self.cash, index=idx, name="cash"), capital=self.capital, basis=prep.basis,
                      periods_per_year=prep.periods_per_year, currency=prep.currency, manifest=manifest,
                      warnings=warns, stale=stale)

    def _stale_positions(self) -> pd.DataFrame:
        """Positions held on the last row whose price stopped before it (no delisting)."""
        prep = self.prep
        T = len(prep.index)
        cols = ["last_price_date", "age_days", "price", "value", "weight"]
        if prep.last_date is None or T == 0:
            return pd.DataFrame(columns=cols)
        end = prep.index[-1]
        equity = float(self.equity[-1])
        rows = {}
        for j, s in enumerate(prep.symbols):
            ld = pd.Timestamp(prep.last_date[j])
            if self.shares[j] == 0.0 or pd.isna(ld) or ld >= end or prep.last_row[j] < T:
                continue
            cal = (prep.calendars or {}).get(s)
            if cal is not None and cal != CRYPTO:
                # stale only if the asset missed a session of its own calendar (a weekend is not stale)
                days = pd.date_range(ld + pd.Timedelta(days=1), end, freq="D")
                if not is_session(cal, days).any():
                    continue
            price = float(prep.px[-1, j])
            value = float(self.shares[j] * price)
            rows[s] = {"last_price_date": ld, "age_days": int((end - ld).days), "price": price, "value": value,
                       "weight": value / equity if equity else np.nan}
        return pd.DataFrame.from_dict(rows, orient="index", columns=cols) if rows else pd.DataFrame(columns=cols)

    def _trade_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        n = min(int(self.state[K.S_NTR]), len(self.tr_i)) if self.keep_trades else 0
        ti, tf = self.tr_i[:n], self.tr_f[:n]
        idx, syms = self.prep.index, np.array(self.prep.symbols, dtype=object)
        venues = np.array(self.venue, dtype=object)
        kind = np.array([_KIND_NAMES[k] for k in ti[:, 2]], dtype=object) if n else np.array([], dtype=object)
        is_trade = np.isin(ti[:, 2], [K.KIND_REBALANCE, K.KIND_DEFERRED, K.KIND_DELIST])
        q, p = tf[:, 0], tf[:, 1]
        base = pd.DataFrame({
            "date": idx[ti[:, 0]], "symbol": syms[ti[:, 1]], "venue": venues[ti[:, 1]],
            "side": np.where(q > 0, "buy", np.where(q < 0, "sell", "")), "quantity": q, "price": p,
            "notional": np.abs(q) * p, "fee": tf[:, 2], "spread": tf[:, 3], "impact": tf[:, 4],
            "kind": kind})
        trades = base[is_trade].copy()
        trades["cost"] = trades["fee"] + trades["spread"] + trades["impact"]
        trades = trades[["date", "symbol", "venue", "side", "quantity", "price", "notional", "fee", "spread",
                         "impact", "cost", "kind"]].reset_index(drop=True)
        sk = base[~is_trade].copy()
        sk["weight"] = np.where(sk["kind"] == "not_listed", sk["fee"], np.nan)
        skipped = sk[["date", "symbol", "venue", "kind", "quantity", "price", "notional", "weight"]].reset_index(drop=True)
        return trades, skipped


def _returns(equity: pd.Series, capital: float, prep: Prepared) -> pd.Series:
    v = equity.to_numpy()
    r = np.empty_like(v)
    r[0] = v[0] / capital - 1.0
    r[1:] = v[1:] / v[:-1] - 1.0
    out = pd.Series(r, index=equity.index, name="returns")
    out.attrs.update(basis=prep.basis, periods_per_year=prep.periods_per_year, currency=prep.currency)
    return out


def simulate(prices, target_weights: pd.DataFrame, costs=None, capital: float = DEFAULT_CAPITAL, *,
             basis: str | None = None, calendars: Mapping[str, str] | None = None,
             venues: Mapping[str, str] | None = None, volumes: pd.DataFrame | None = None, cash_rate=0.0,
             fee_convention: str = "native", lots: bool = False, bands: DriftBands | None = None,
             keep_weights: bool = True, impact_window: int = 20, trade_at: str = "close",
             open_prices: pd.DataFrame | None = None, universe=None, seed: int | None = None,
             delisted: Mapping | None = None) -> Result:
    """Simulate a book that trades to given target weights on given dates.

    Parameters
    ----------
    prices : pandas.DataFrame or MarketData
        Dates x symbols, total-return prices in currency on one valuation basis (see
        :func:`prepare`); a MarketData is read on ``basis``.
    target_weights : pandas.DataFrame
        Index = rebalance dates (valuation dates), columns = symbols (a subset of the
        prices' symbols; others get 0), values = fractions of book value; the rest
        (1 - sum) is cash. Negative = short.
    costs : CostModel, path, number of bps, ``"default"`` or None
        None means no costs; a number is a flat fee in basis points.
    capital : float
        Starting cash, in currency (default 100,000,000).
    basis, calendars, volumes : see :func:`prepare`.
    venues : mapping symbol -> venue, optional
        Venue of each symbol for the cost model (usually from the universe).
    cash_rate : float or pandas.Series
        Annual rate (fraction), accrued act/360 (module docstring).
    fee_convention : {"native", "vectorbt", "bt"}
        How orders are sized around costs (module docstring).
    lots : bool
        Round target positions toward zero to each venue's ``lot_size``.
    bands : DriftBands, optional
        Also rebalance to the latest target whenever a band is breached.
    keep_weights : bool
        Keep daily weights (T x N floats).
    trade_at : {"close", "next_open"}
        Trade at the close of each rebalance date (default), or at the open of the next
        valuation date (the decision uses the close; an asset without an open price
        that day trades at that day's close). Not with drift bands.
    open_prices : DataFrame, optional
        Open prices for ``trade_at="next_open"`` when ``prices`` is a DataFrame.
    universe : Universe, optional
        Venues (``Asset.venue``), calendars and delisting dates of the symbols, unless
        given explicitly.
    delisted : mapping symbol -> date, optional
        Dated delistings (sold at the last price on or before the date); any other series
        that ends early is held at its last price as stale (module docstring).
    seed : int, optional
        Recorded in the manifest (the simulator itself draws no random numbers).

    Returns
    -------
    Result
    """
    cm = as_cost_model(costs)
    if universe is not None:
        venues = {**{a.symbol: a.venue for a in universe.assets}, **(venues or {})}
        calendars = calendars or universe.calendars
        delisted = {**{a.symbol: a.delisted for a in universe.assets if a.delisted is not None}, **(delisted or {})}
    prep = prepare(prices, basis=basis, calendars=calendars, volumes=volumes, cash_rate=cash_rate,
                   impact_window=impact_window, need_impact=cm.has_impact and fee_convention == "native",
                   open_prices=open_prices, delisted=delisted)
    targets, sig = align_targets(target_weights, prep)
    eng = Engine(prep, cm, capital=capital, venues=venues, fee_convention=fee_convention, lots=lots, bands=bands,
                 keep_weights=keep_weights, max_targets=len(targets), trade_at=trade_at)
    if trade_at == "next_open":
        if sig[-1] >= 0:
            eng.warnings.append(f"rebalance on {prep.index[-1].date()} has no next open: dropped")
        sig = np.concatenate([[-1], sig[:-1]]).astype(np.int64)
    eng.set_targets(targets, sig)
    eng.run()
    rate_cfg = "series" if isinstance(cash_rate, pd.Series) else float(cash_rate)
    return eng.result(config={"entry": "simulate", "cash_rate": rate_cfg, "impact_window": impact_window,
                              "trade_at": trade_at},
                      seed=seed, inputs_hash=frame_hash(target_weights.astype(float),
                                                        cash_rate if isinstance(cash_rate, pd.Series) else None))
