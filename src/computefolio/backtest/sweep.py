"""Many backtests at once: a weight tensor in one numba call, or a list of policies.

``backtest_many(weights, market, rebalance_dates=...)`` runs a (sets x rebalance dates x
assets) tensor of target weights through the same kernel as :func:`simulate`, in one
``numba.prange`` loop over sets, keeping each set's daily equity curve but not its
daily weights or trade list (memory: sets x dates floats for the curves plus one
sets x dates x assets copy of nothing -- the tensor itself is the largest input).
Each curve equals ``simulate(prices, weights[s], ...)`` for that set to ~1e-14 relative
(same kernel; compiled inside the parallel loop, LLVM may round a multiply-add
differently), and is bit-identical from run to run.

``backtest_many(policies, market)`` runs each :class:`Policy` (allocators are Python
objects, so one by one) and stacks the results the same way.
"""

from __future__ import annotations

import hashlib

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import numba

from . import _kernel as K
from .costs import as_cost_model
from .manifest import make_manifest
from .policy import Policy, backtest
from .schedule import DriftBands, no_bands
from .simulator import CONVENTIONS, DEFAULT_CAPITAL, Engine, prepare


@dataclass(init=False)
class ManyResult:
    """Equity curves of many backtests side by side.

    Attributes
    ----------
    equity : pandas.DataFrame
        Dates x runs, net book value in currency.
    costs : pandas.DataFrame or None
        Dates x runs, costs paid (currency).
    turnover : pandas.DataFrame or None
        Dates x runs, one-sided turnover.
    labels : list of str
    basis : str
    periods_per_year : int
    results : list of Result or None
        Full results (policy runs only).
    manifest : dict
        Data hash, configuration, hash of the weight tensor and package version; built on
        first access (the version lookup costs about a millisecond, a large share of a
        small call), from values fixed when the backtest ran.
    """

    equity: pd.DataFrame
    costs: pd.DataFrame | None
    turnover: pd.DataFrame | None
    labels: list
    basis: str
    periods_per_year: int
    capital: float
    results: list | None = None

    def __init__(self, equity, costs, turnover, labels, basis, periods_per_year, capital, results=None,
                 manifest: dict | Callable[[], dict] | None = None):
        self.equity, self.costs, self.labels = equity, costs, labels
        self.basis, self.periods_per_year, self.capital, self.results = basis, periods_per_year, capital, results
        self._turnover = turnover
        self._manifest = {} if manifest is None else manifest

    @property
    def turnover(self) -> pd.DataFrame | None:
        """Dates x runs, one-sided turnover (computed on first access)."""
        if callable(self._turnover):
            self._turnover = self._turnover()
        return self._turnover

    @property
    def manifest(self) -> dict:
        if callable(self._manifest):
            self._manifest = self._manifest()
        return self._manifest

    @property
    def returns(self) -> pd.DataFrame:
        v = self.equity.to_numpy()
        r = np.empty_like(v)
        r[0] = v[0] / self.capital - 1.0
        r[1:] = v[1:] / v[:-1] - 1.0
        out = pd.DataFrame(r, index=self.equity.index, columns=self.equity.columns)
        out.attrs.update(basis=self.basis, periods_per_year=self.periods_per_year)
        return out

    def metrics(self, benchmark: pd.Series | None = None) -> pd.DataFrame:
        """One row of :func:`computefolio.metrics.summary` per run."""
        from ..metrics import summary

        rets = self.returns
        rows = {}
        for c in rets.columns:
            r = rets[c]
            r.attrs.update(rets.attrs)
            t = self.turnover[c] if self.turnover is not None else None
            rows[c] = summary(r, benchmark=benchmark, periods_per_year=self.periods_per_year, turnover=t)
        return pd.DataFrame(rows).T


def backtest_many(runs, market, *, rebalance_dates=None, costs=None, capital: float = DEFAULT_CAPITAL,
                  basis: str | None = None, calendars: Mapping[str, str] | None = None,
                  venues: Mapping[str, str] | None = None, volumes=None, cash_rate=0.0,
                  fee_convention: str = "native", lots: bool = False, bands=None, symbols: Sequence[str] | None = None,
                  labels: Sequence[str] | None = None, impact_window: int = 20, **policy_kwargs) -> ManyResult:
    """Run many weight sets (one numba call) or many policies.

    Parameters
    ----------
    runs : numpy.ndarray (S, K, N), list of DataFrames, or list of Policy
        A tensor of target weights (S sets, K rebalance dates, N assets in the
        column order of ``market`` or ``symbols``), or a list of target-weight
        DataFrames on the same dates, or policies.
    market : pandas.DataFrame or MarketData
    rebalance_dates : sequence of dates, optional
        The K dates of the tensor (required with an ndarray).
    bands : DriftBands or list of DriftBands, optional
        One for all sets or one per set (their groups must be equal).
    Other parameters as in :func:`~computefolio.backtest.simulate`.

    Returns
    -------
    ManyResult
    """
    if isinstance(runs, Sequence) and runs and all(isinstance(p, Policy) for p in runs):
        results = [backtest(p, market, costs=costs, capital=capital, cash_rate=cash_rate, venues=venues,
                            fee_convention=fee_convention, lots=lots, calendars=calendars, volumes=volumes,
                            impact_window=impact_window, **policy_kwargs) for p in runs]
        labs = list(labels) if labels is not None else _unique([p.label for p in runs])
        eq = pd.concat([r.equity for r in results], axis=1, keys=labs)
        cs = pd.concat([r.costs for r in results], axis=1, keys=labs)
        to = pd.concat([r.turnover for r in results], axis=1, keys=labs)
        return ManyResult(eq, cs, to, labs, results[0].basis, results[0].periods_per_year, float(capital),
                          results=results, manifest={"runs": [r.manifest for r in results]})

    cm = as_cost_model(costs)
    prep = _prepared(market, basis=basis, calendars=calendars, volumes=volumes, cash_rate=cash_rate,
                     impact_window=impact_window, need_impact=cm.has_impact and fee_convention == "native")
    syms = list(symbols) if symbols is not None else prep.symbols
    if isinstance(runs, np.ndarray):
        W = np.asarray(runs, dtype=float)
        if W.ndim != 3:
            raise ValueError(f"weights tensor must be (sets, dates, assets), got shape {W.shape}")
        if rebalance_dates is None:
            raise ValueError("rebalance_dates are required with a weight tensor")
        dates = rebalance_dates if isinstance(rebalance_dates, pd.DatetimeIndex) else \
            pd.DatetimeIndex(pd.to_datetime(rebalance_dates))
        if not dates.is_normalized:
            dates = dates.normalize()
        if len(dates) != W.shape[1]:
            raise ValueError(f"{len(dates)} rebalance dates for a tensor with {W.shape[1]} dates")
        if W.shape[2] != len(syms):
            raise ValueError(f"tensor has {W.shape[2]} assets, prices have {len(syms)}")
    else:
        frames = list(runs)
        dates = frames[0].index
        W = np.stack([f.reindex(index=dates, columns=syms).fillna(0.0).to_numpy(dtype=float) for f in frames])
        if labels is None and all(isinstance(getattr(f, "name", None), str) for f in frames):
            labels = [f.name for f in frames]
    if syms != prep.symbols:
        order = [syms.index(s) if s in syms else -1 for s in prep.symbols]
        Wn = np.zeros((W.shape[0], W.shape[1], len(prep.symbols)))
        for j, o in enumerate(order):
            if o >= 0:
                Wn[:, :, j] = W[:, :, o]
        W = Wn
    if np.isnan(W).any():
        raise ValueError("weights tensor has NaN (use 0 for no position)")
    pos = prep.index.get_indexer(dates)
    if (pos < 0).any():
        raise ValueError(f"rebalance date {dates[pos < 0][0].date()} is not a valuation date")
    S, T, N = W.shape[0], len(prep.index), len(prep.symbols)
    sig1 = np.full(T, -1, dtype=np.int64)
    sig1[pos] = np.arange(len(dates))
    sig = sig1[None, :]  # one schedule shared by every set
    bl = bands if isinstance(bands, (list, tuple)) else [bands] * S
    if len(bl) != S:
        raise ValueError(f"{len(bl)} bands for {S} weight sets")
    ba, br, gba, gbr = (np.full(S, np.nan) for _ in range(4))
    G = np.zeros((N, 0))
    for s, b in enumerate(bl):
        arr = b.arrays(prep.symbols) if isinstance(b, DriftBands) else no_bands(N)
        ba[s], br[s], G_s, gba[s], gbr[s] = arr
        if G_s.shape[1]:
            G = G_s
    # cost arrays through the Engine (venue mapping, warnings, convention checks)
    eng = Engine(prep, cm, capital=capital, venues=venues, fee_convention=fee_convention, lots=lots,
                 keep_weights=False, keep_trades=False)
    equity = np.full((S, T), np.nan)
    cst = np.zeros((S, T))
    trd = np.zeros((S, T))
    K.run_many(prep.px, prep.pv, prep.tradable, prep.last_row, prep.event, sig, np.ascontiguousarray(W), ba, br,
               np.ascontiguousarray(G), gba, gbr, eng.fee, eng.spread, eng.impk, eng.min_notional, eng.lot, eng.lots,
               prep.sigma, prep.adv, CONVENTIONS[fee_convention], prep.growth, float(capital), equity, cst, trd,
               max(1, min(S, 4 * numba.get_num_threads())))
    labs = list(labels) if labels is not None else [f"set{s}" for s in range(S)]
    eq = pd.DataFrame(equity.T, index=prep.index, columns=labs, copy=False)
    cs = pd.DataFrame(cst.T, index=prep.index, columns=labs, copy=False)

    def to():  # traded notional / (2 x pre-trade book value); 0 where the book has no value
        pre = equity + cst
        bad = ~(pre > 0)
        pre *= 2.0
        pre[bad] = 1.0
        np.divide(trd, pre, out=trd)
        trd[bad] = 0.0
        return pd.DataFrame(trd.T, index=prep.index, columns=labs, copy=False)
    # the inputs are hashed now (the caller may change its arrays later); the manifest is assembled on first use
    cfg = {"entry": "backtest_many", "sets": S, "capital": capital, "basis": prep.basis,
           "fee_convention": fee_convention, "costs": cm.model_dump()}
    w_hash = hashlib.sha256(memoryview(np.ascontiguousarray(W)).cast("B")).hexdigest()
    return ManyResult(eq, cs, to, labs, prep.basis, prep.periods_per_year, float(capital),
                      manifest=lambda: make_manifest(prep.data_hash, cfg, inputs_hash=w_hash))


#: Prepared markets of the last few calls: (description, arrays, Prepared) entries, newest last
#: (see :func:`_prepared`).
_PREP_CACHE: list = []
_PREP_CACHE_SIZE = 4


def _prepared(market, **kw):
    """:func:`prepare`, reusing the result of an earlier call on identical inputs.

    Callers that run several weight tensors on one market (batches of a large sweep) pay
    the preparation once. A cached market is reused only when every input is equal: the
    prices' values, index, columns and attributes and the other arguments (volumes and a
    cash-rate series compared value by value, NaN equal to NaN), against copies taken when
    it was prepared -- a market changed in place is prepared again. Comparing arrays is a
    memory scan, cheaper than hashing them. The prepared arrays are only read by the simulator.
    """
    desc = _prep_description(market, kw)
    if desc is None:
        return prepare(market, **kw)
    meta, arrays = desc
    for i, (m, a, prep) in enumerate(_PREP_CACHE):
        if m == meta and len(a) == len(arrays) and all(
                x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f") for x, y in zip(a, arrays)):
            _PREP_CACHE.append(_PREP_CACHE.pop(i))
            return prep
    prep = prepare(market, **kw)
    _PREP_CACHE.append((meta, tuple(np.array(x, copy=True) for x in arrays), prep))
    del _PREP_CACHE[:-_PREP_CACHE_SIZE]
    return prep


def _prep_description(market, kw: dict):
    """``(hashable description, arrays to compare)`` of a :func:`prepare` call, or None when
    its inputs cannot be compared (then it is not cached)."""
    try:
        return _describe(market, kw)
    except (TypeError, ValueError, AttributeError):
        return None


def _frame_parts(f) -> tuple[tuple, list]:
    if isinstance(f, pd.Series):
        f = f.to_frame()
    idx = pd.DatetimeIndex(f.index)
    return ((tuple(map(str, f.columns)), str(idx.dtype), repr(sorted(f.attrs.items()))),
            [idx.asi8, f.to_numpy(dtype=float)])


def _describe(market, kw: dict):
    from ..data.market import MarketData

    if isinstance(market, MarketData):
        meta = [("md", market.data_hash(), market.currency, bool(market.simulated))]
        arrays: list = []
    elif isinstance(market, pd.DataFrame):
        m, arrays = _frame_parts(market)
        meta = [("df", m)]
    else:
        return None
    for k in sorted(kw):
        v = kw[k]
        if isinstance(v, (pd.DataFrame, pd.Series)):
            m, a = _frame_parts(v)
            meta.append((k, "frame", m))
            arrays.extend(a)
        elif isinstance(v, Mapping):
            meta.append((k, tuple(sorted((str(a), str(b)) for a, b in v.items()))))
        elif v is None or isinstance(v, (str, int, float, bool)):
            meta.append((k, v))
        else:
            return None
    return tuple(meta), arrays


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for s in labels:
        if s in seen:
            seen[s] += 1
            out.append(f"{s}#{seen[s]}")
        else:
            seen[s] = 0
            out.append(s)
    return out
