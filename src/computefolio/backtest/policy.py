"""A policy: allocator + rebalance schedule (+ mandate, volatility target), and its backtest.

At each rebalance date ``t`` the allocator is fitted on returns of the book's basis
*up to and including t* (the close of ``t`` is known when trading at that close) over
the last ``lookback`` periods, with the book's drifted weights as ``current_weights``
and ADV as of ``t``; nothing after ``t`` is visible (a test perturbs every later price
and checks that weights and trades up to ``t`` do not change).

Allocator contract (duck-typed, :mod:`computefolio.allocate`):
``allocator.fit(returns, *, universe=None, current_weights=None, adv=None, date=None)``
sets ``allocator.weights_`` (a Series over symbols, fractions of book value; missing
symbols are 0).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..allocate.voltarget import VolatilityTarget
from ..clock import CRYPTO, SESSION_CALENDAR, is_session
from ..data.market import MarketData
from ..errors import ComputefolioError
from .costs import as_cost_model
from .result import Result
from .schedule import Calendar, DriftBands
from .simulator import DEFAULT_CAPITAL, Engine, prepare


class FixedWeights:
    """The simplest allocator: always the same weights (a Series or dict symbol -> weight)."""

    def __init__(self, weights):
        self.weights = pd.Series(weights, dtype=float)

    def fit(self, returns, *, universe=None, current_weights=None, adv=None, date=None):
        self.weights_ = self.weights.copy()
        return self

    def __repr__(self):
        return f"FixedWeights({dict(self.weights.round(6))})"


#: The volatility-target overlay is :class:`computefolio.allocate.VolatilityTarget`
#: (Moreira and Muir, "Volatility-Managed Portfolios", J. Finance 2017); the scale uses
#: only returns up to the rebalance date. ``VolTarget`` is kept as a short alias.
VolTarget = VolatilityTarget


@dataclass
class Policy:
    """How the book is run.

    Parameters
    ----------
    allocator : object
        Fitted at each rebalance (see the module docstring).
    schedule : Calendar or DriftBands
        When to rebalance. Drift bands start with an initial investment on the first
        date and re-fit the allocator whenever a band is breached (and on
        ``bands.review`` dates).
    mandate : Mandate or path, optional
        Given to the allocator (``set_params(mandate=...)``) when it has none.
    vol_target : float, VolTarget or callable, optional
        Annual volatility target (float -> :class:`VolTarget`), or any callable
        ``(weights, returns_window, periods_per_year) -> weights``.
    lookback : int
        Periods of returns the allocator sees.
    basis : {"session", "calendar"}
        Valuation basis of the book (and of the allocator's returns).
    min_history : int
        Skip scheduled rebalances with fewer periods of history than this.
    name : str, optional
    invest_at_start : bool
        The first valuation date is a rebalance date whatever the schedule (default), so
        a quarterly book is not in cash for its first quarter while its benchmarks are
        invested. False: wait for the first scheduled date.

    Stale holdings
    --------------
    At a rebalance, a held asset whose price series has stopped (no bar today although
    its calendar trades today; the universe gives no delisting) cannot trade: it is held
    at its current weight (valued at its last price), the allocator sees only the other
    assets, and the mandate it fits under is shifted by the held block (cash floor,
    leverage and group bounds; see :func:`mandate_with_fixed`). Each such event is
    recorded in ``Result.rebalances`` (column ``stale``).
    """

    allocator: object
    schedule: Calendar | DriftBands = field(default_factory=Calendar)
    mandate: object = None
    vol_target: object = None
    lookback: int = 252
    basis: str = "session"
    min_history: int = 2
    name: str | None = None
    invest_at_start: bool = True

    def __post_init__(self):
        if self.mandate is not None and getattr(self.allocator, "mandate", "absent") is None \
                and hasattr(self.allocator, "set_params"):
            self.allocator = copy.deepcopy(self.allocator)
            self.allocator.set_params(mandate=self.mandate)
        if isinstance(self.vol_target, (int, float)) and not isinstance(self.vol_target, bool):
            self.vol_target = VolatilityTarget(float(self.vol_target), basis=self.basis)
        if self.lookback < 2:
            raise ValueError("lookback must be at least 2 periods")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{type(self.allocator).__name__}/{_schedule_label(self.schedule)}" + \
            (f"/vol{getattr(self.vol_target, 'target', '')}" if self.vol_target is not None else "")

    def to_dict(self) -> dict:
        return {"allocator": repr(self.allocator), "schedule": self.schedule.to_dict(), "lookback": self.lookback,
                "basis": self.basis, "min_history": self.min_history, "invest_at_start": self.invest_at_start,
                "vol_target": None if self.vol_target is None else repr(self.vol_target),
                "mandate": None if self.mandate is None else repr(self.mandate)}

    def target(self, returns_window: pd.DataFrame, *, universe=None, current_weights=None, adv=None,
               date=None, periods_per_year: float = 252, capital: float | None = None,
               fixed: pd.Series | None = None) -> pd.Series:
        """Target weights from the allocator (+ volatility target) for one date.

        ``capital`` is the book value (currency) on that date; it is passed to allocators
        whose ``fit`` accepts it, so that currency rules (liquidity caps against ADV) are
        sized on today's book rather than on the starting capital.

        ``fixed``: weights of holdings that cannot trade today (stale prices). They are
        kept as they are; the allocator allocates the rest of the book among the columns
        of ``returns_window`` (which must not contain them) under the mandate shifted by
        the fixed block (:func:`mandate_with_fixed`).
        """
        fixed = None if fixed is None or not len(fixed) else pd.Series(fixed, dtype=float)
        kw = {"capital": capital} if capital is not None and _accepts_capital(self.allocator) else {}
        alloc = self.allocator
        saved = getattr(alloc, "mandate", None)
        shifted = fixed is not None and saved is not None
        if shifted:
            from ..allocate.mandate import Mandate, load_mandate

            m = saved if isinstance(saved, Mandate) else load_mandate(saved)
            alloc.mandate = mandate_with_fixed(m, fixed, universe=universe, date=date)
        try:
            cw = current_weights
            if fixed is not None and cw is not None:
                cw = cw.drop([s for s in fixed.index if s in cw.index])
            if fixed is not None and float(fixed.sum()) >= _invested(alloc) - 1e-12:
                w = pd.Series(0.0, index=[str(c) for c in returns_window.columns])  # nothing left to allocate
            else:
                alloc.fit(returns_window, universe=universe, current_weights=cw, adv=adv, date=date, **kw)
                w = pd.Series(alloc.weights_, dtype=float)
            w.index = w.index.map(str)
            if self.vol_target is not None:
                fn: Callable = self.vol_target.apply if hasattr(self.vol_target, "apply") else self.vol_target
                w = fn(w, returns_window, periods_per_year,
                       **_overlay_context(fn, mandate=getattr(alloc, "mandate", None) or self.mandate,
                                          universe=universe, date=date, current_weights=cw, adv=adv,
                                          capital=capital))
        finally:
            if shifted:
                alloc.mandate = saved
        if fixed is not None:
            w = pd.concat([w.drop([s for s in fixed.index if s in w.index]), fixed])
        return w

    def backtest(self, market, **kwargs) -> Result:
        """Shorthand for :func:`backtest` ``(self, market, **kwargs)``."""
        return backtest(self, market, **kwargs)


def _invested(allocator) -> float:
    """The invested fraction of an allocator's mandate (1 without one)."""
    m = getattr(allocator, "mandate", None)
    if m is None:
        return 1.0
    if hasattr(m, "invested_fraction"):
        return float(m.invested_fraction())
    from ..allocate.mandate import load_mandate

    return float(load_mandate(m).invested_fraction())


#: Share of a held (stale) block's weight kept aside for the day's costs (costs up to 0.2% of the
#: book make the block weigh that much more after the trades).
FIXED_COST_MARGIN = 0.002


def mandate_with_fixed(mandate, fixed: pd.Series, *, universe=None, date=None):
    """The mandate left for the rest of the book when ``fixed`` weights cannot move.

    With a block of held weights ``f`` (fractions of the book) that cannot trade today:

    * the cash floor rises by ``sum f`` (the rest invests ``1 - cash_min - sum f``), plus
      :data:`FIXED_COST_MARGIN` of it for the day's costs, and a long-only gross leverage cap
      falls by ``sum f``;
    * each group bound moves by the block's look-through exposure ``e_g`` (weighted
      membership as of ``date``): ``min - e_g`` (at least 0) and ``max - e_g`` (at least
      0; a block already above a group maximum is a passive breach, reported by the
      mandate check, and the rest of the book then holds none of that group);
    * per-asset, turnover and liquidity rules concern the assets that trade and are kept;
    * the compute-exposure minimum ``m`` (on the whole invested book: ``sum_i w_i (c_i - m) >= 0``)
      becomes ``m - F / (inv - sum f)`` for the rest, with ``F = sum_f f (c_f - m)`` the block's own
      surplus (its deficit raises the floor), clipped to [0, 1]: exact when the rest invests its
      budget ``inv - sum f``.

    Returns a copy of ``mandate``; ``mandate`` is unchanged.
    """
    f = pd.Series(fixed, dtype=float)
    tot = float(f.sum())
    # the block keeps its value while the day's costs leave the book: after the trades it weighs
    # sum f x V / (V - C); a margin of FIXED_COST_MARGIN of its weight keeps the cash floor
    upd: dict = {"cash_min": float(mandate.cash_min) + tot * (1.0 + FIXED_COST_MARGIN)}
    if mandate.long_only and mandate.gross_leverage_max is not None:
        upd["gross_leverage_max"] = max(float(mandate.gross_leverage_max) - tot, 1e-12)
    if mandate.groups and universe is not None:
        groups = []
        cache: dict = {}
        for g in mandate.groups:
            if g.by not in cache:
                cache[g.by] = universe.exposure(f, g.by, date=date)
            e = float(cache[g.by].get(g.group, 0.0))
            groups.append(g.model_copy(update={
                "min": None if g.min is None else max(float(g.min) - e, 0.0),
                "max": None if g.max is None else max(float(g.max) - e, 0.0)}))
        upd["groups"] = groups
    if mandate.compute_exposure_min is not None and universe is not None and tot > 0:
        m = float(mandate.compute_exposure_min)
        c = universe.compute_exposure(date, list(f.index)).reindex(f.index).to_numpy(dtype=float)
        surplus = float(f.to_numpy() @ (c - m))
        if surplus < 0:  # a deficit weighs more after the day's costs, as the block does
            surplus *= 1.0 + FIXED_COST_MARGIN
        rest = float(mandate.invested_fraction()) - tot
        if rest > 1e-12:
            upd["compute_exposure_min"] = float(min(max(m - surplus / rest, 0.0), 1.0))
    return mandate.model_copy(update=upd)


def _overlay_context(fn, **context) -> dict:
    """What an overlay needs to obey the mandate (mandate in force, universe, date, current book,
    ADV, capital), for overlays whose call accepts it (:meth:`VolatilityTarget.apply`); {} otherwise."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return {}
    if "current_weights" not in params:
        return {}
    if context.get("mandate") is not None and not hasattr(context["mandate"], "constraints"):
        from ..allocate.mandate import load_mandate

        context["mandate"] = load_mandate(context["mandate"])
    return context


def _accepts_capital(allocator) -> bool:
    """Does ``allocator.fit`` take ``capital=`` (or ``**kwargs``)? Older allocators need not."""
    try:
        params = inspect.signature(allocator.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    return "capital" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _schedule_label(s) -> str:
    if isinstance(s, Calendar):
        return f"{s.freq}" + (f"@{s.clock}" if s.clock else "")
    if isinstance(s, DriftBands):
        parts = [f"{k}{v:g}" for k, v in (("abs", s.abs), ("rel", s.rel), ("gabs", s.group_abs),
                                          ("grel", s.group_rel)) if v is not None]
        return "bands(" + ",".join(parts) + ")"
    return type(s).__name__


def _market_returns(market, basis: str) -> pd.DataFrame:
    if isinstance(market, MarketData):
        return market.returns(basis)
    p = market.astype(float)
    r = p / p.shift(1) - 1.0
    return r


def backtest(policy: Policy, market, *, costs=None, capital: float = DEFAULT_CAPITAL, start=None, end=None,
             universe=None, venues=None, cash_rate=0.0, fee_convention: str = "native", lots: bool = False,
             keep_weights: bool = True, volumes=None, calendars=None, impact_window: int = 20,
             trade_at: str = "close", open_prices=None, seed: int | None = None) -> Result:
    """Backtest a policy on market data.

    Parameters
    ----------
    policy : Policy
    market : MarketData or pandas.DataFrame
        Prices (a DataFrame is dates x symbols on ``policy.basis``).
    costs : CostModel, path, bps, ``"default"`` or None
    capital : float
        Starting cash in currency (default 100,000,000).
    start, end : date-like, optional
        The book is valued from ``start`` to ``end``; the allocator may see returns
        before ``start`` (history), never after the rebalance date.
    universe : Universe, optional
        Given to the allocator; also the venue of each symbol (``Asset.venue``) and,
        for a DataFrame market, the calendars.
    venues : mapping, optional
        Symbol -> venue (overrides the universe).
    cash_rate, fee_convention, lots, keep_weights, volumes, impact_window, trade_at, open_prices, seed :
        As in :func:`~computefolio.backtest.simulate` (with ``trade_at="next_open"`` the
        allocator decides at the close of the schedule date and the book trades at the
        next valuation date's open).

    Returns
    -------
    Result
    """
    basis = policy.basis
    delisted = None
    if universe is not None:
        uv = {a.symbol: a.venue for a in universe.assets}
        venues = {**uv, **(venues or {})}
        if calendars is None:
            calendars = universe.calendars
        delisted = {a.symbol: a.delisted for a in universe.assets if a.delisted is not None}
    if isinstance(market, MarketData) and end is not None:
        market = market.between(None, end)
    elif isinstance(market, pd.DataFrame) and end is not None:
        market = market.loc[: pd.Timestamp(end)]
    cm = as_cost_model(costs)
    prep = prepare(market, basis=basis, calendars=calendars, volumes=volumes, cash_rate=cash_rate,
                   impact_window=impact_window, need_impact=cm.has_impact and fee_convention == "native",
                   open_prices=open_prices, delisted=delisted)
    rets_full = _market_returns(market, basis).reindex(index=prep.index, columns=prep.symbols)
    i0 = 0
    if start is not None:
        i0 = int(prep.index.searchsorted(pd.Timestamp(start)))
        prep = _slice_prep(prep, i0)
    bands = policy.schedule if isinstance(policy.schedule, DriftBands) else None
    eng = Engine(prep, cm, capital=capital, venues=venues, fee_convention=fee_convention, lots=lots, bands=bands,
                 keep_weights=keep_weights, max_targets=16, stop_on_breach=bands is not None, trade_at=trade_at)
    T = len(prep.index)
    eng.set_targets(np.zeros((0, len(prep.symbols))), np.full(T, -1, dtype=np.int64))
    if bands is not None:
        sched = set(prep.index.get_indexer(bands.dates(prep.index)).tolist())
        eng.stop[:] = False
        eng.stop[0] = True
        for k in sched:
            if k >= 0:
                eng.stop[k] = True
        eng.targets = np.zeros((16, len(prep.symbols)))
    else:
        rows = prep.index.get_indexer(policy.schedule.dates(prep.index))
        if policy.invest_at_start and T:
            # the first date of the schedule's own clock (a session for clock="session")
            clock = getattr(policy.schedule, "clock", None)
            cand = np.flatnonzero(is_session(SESSION_CALENDAR, prep.index)) if clock == "session" else np.arange(T)
            if len(cand):
                rows = np.union1d(rows[rows >= 0], [int(cand[0])])
        eng.targets = np.zeros((max(16, len(rows)), len(prep.symbols)))
        eng.stop[rows[rows >= 0]] = True
    stale_now = _stale_mask(prep, calendars)
    log: list[dict] = []
    # ADV (currency per period, trailing impact_window) for liquidity rules; NaN = unknown
    adv_frame = np.where(prep.adv > 0, prep.adv, np.nan) if (prep.adv > 0).any() else None
    ppy = prep.periods_per_year
    rets = rets_full.to_numpy()
    n_fit = 0
    while True:
        row = eng.run()
        if row >= T:
            break
        g = row + i0  # row in the full returns frame
        lo = max(0, g - policy.lookback + 1)
        if g < policy.min_history:
            eng.stop[row] = False  # resume at this row without a rebalance
            if (bands is not None or policy.invest_at_start) and eng.n_targets == 0 and row + 1 < T:
                eng.stop[row + 1] = True  # invest on the first date with enough history
            continue
        window = rets_full.iloc[lo: g + 1]
        cwv = eng.current_weights(row)
        held_stale = stale_now[row] & (cwv != 0)
        priced = ~np.isnan(prep.px[row]) & ~held_stale
        window = window.loc[:, priced]
        window = window[window.notna().any(axis=1)]  # e.g. the first date, which has no return
        cw = pd.Series(cwv, index=prep.symbols)
        if not (cw != 0).any():
            cw = None  # an all-cash book has no current weights (turnover rules start after investing)
        fixed = pd.Series(cwv[held_stale], index=[prep.symbols[j] for j in np.flatnonzero(held_stale)])
        adv = pd.Series(adv_frame[row], index=prep.symbols) if adv_frame is not None else None
        day = prep.index[row]
        try:
            w = policy.target(window, universe=universe, current_weights=cw, adv=adv, date=day,
                              periods_per_year=ppy, capital=eng.book_value(row), fixed=fixed)
        except ComputefolioError as exc:
            exc.date = day  # the job names the groups without data on this date
            raise
        alloc = policy.allocator
        log.append({"date": day, "status": getattr(alloc, "status_", None),
                    "stale": {s: float(v) for s, v in fixed.items()},
                    "excluded": dict(getattr(alloc, "excluded_", {}) or {}),
                    "skipped_rules": list((getattr(alloc, "diagnostics_", {}) or {}).get("skipped_rules", [])),
                    "book_value": eng.book_value(row)})
        unknown = [s for s in w.index if s not in prep.symbols]
        if unknown and (w[unknown] != 0).any():
            raise ValueError(f"allocator returned weights for symbols without prices: {', '.join(unknown)}")
        wv = w.reindex(prep.symbols).fillna(0.0).to_numpy(dtype=float)
        if trade_at == "next_open":
            if row + 1 < T:
                eng.add_target(row + 1, wv)
        else:
            eng.add_target(row, wv)
        n_fit += 1
    cfg = {"entry": "backtest", "policy": policy.to_dict(), "start": prep.index[0], "end": prep.index[-1],
           "cash_rate": "series" if isinstance(cash_rate, pd.Series) else float(cash_rate),
           "fits": n_fit, "impact_window": impact_window, "trade_at": trade_at}
    res = eng.result(config=cfg, seed=seed)
    res.manifest["policy"] = policy.label
    res.rebalances = log
    stale_events = [(e["date"], sorted(e["stale"])) for e in log if e["stale"]]
    if stale_events:
        syms = sorted({s for _, ss in stale_events for s in ss})
        res.warnings.append(f"{len(stale_events)} rebalance(s) held stale positions at their last price instead of "
                            f"trading them (first {stale_events[0][0].date()}): {', '.join(syms)}")
    return res


def _stale_mask(prep, calendars) -> np.ndarray:
    """(T, N) bool: the asset has a (carried) price but no bar on a day its own calendar trades."""
    T, N = prep.px.shape
    expected = np.ones((T, N), dtype=bool)
    cals = dict(prep.calendars or {})
    cals.update(calendars or {})
    if prep.basis == "calendar":
        for j, s in enumerate(prep.symbols):
            cal = cals.get(s)
            if cal is not None and cal != CRYPTO:
                expected[:, j] = is_session(cal, prep.index)
    return ~prep.tradable & expected & np.isfinite(prep.px)


def _slice_prep(prep, i0: int):
    """The prepared arrays from row ``i0`` on (an asset delisted before ``i0`` is gone)."""
    from dataclasses import replace

    T = len(prep.index)
    last = np.where(prep.last_row < T, prep.last_row - i0, T - i0).astype(np.int64)
    gone = last < 0
    px = prep.px[i0:].copy()
    px[:, gone] = np.nan
    pv = np.nan_to_num(px, nan=0.0)
    last[gone] = T - i0
    g = prep.growth[i0:].copy()
    g[0] = 1.0
    event = np.zeros(T - i0, dtype=bool)
    event[last[last < T - i0]] = True
    opn = None if prep.open is None else np.ascontiguousarray(prep.open[i0:])
    return replace(prep, index=prep.index[i0:], event=event, open=opn, px=np.ascontiguousarray(px), pv=pv,
                   tradable=np.ascontiguousarray(prep.tradable[i0:]), last_row=last,
                   sigma=np.ascontiguousarray(prep.sigma[i0:]), adv=np.ascontiguousarray(prep.adv[i0:]), growth=g)
