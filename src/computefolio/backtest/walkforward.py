"""Walk-forward backtests: fit on a training window, trade the next test window, roll on.

``walk_forward(policy, market, train=504, test=63, mode="expanding")`` splits the
valuation dates into consecutive test windows of ``test`` periods, the first starting
after ``train`` periods. At the first date of each test window the policy's allocator
is fitted on the training window that ends on that date (``"rolling"``: the last
``train`` periods; ``"expanding"``: every period since the start of the data), and
those weights are the book's targets for the whole test window (rebalanced back to
them on the policy's calendar, or when its drift bands are breached). The stitched
out-of-sample equity curve is one continuous book (positions and costs carry over
from window to window), so no training data is ever used to trade in-sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..data.market import MarketData
from .policy import Policy, backtest
from .result import Result
from .schedule import Calendar, DriftBands


class _RefitAt:
    """Allocator wrapper: refit the inner allocator only on fold starts; else keep its weights."""

    def __init__(self, inner, refit_dates: pd.DatetimeIndex, train: int, mode: str):
        self.inner = inner
        self.refit_dates = pd.DatetimeIndex(refit_dates)
        self.train = train
        self.mode = mode
        self.weights_ = None
        self.fits_: list = []

    def fit(self, returns, *, universe=None, current_weights=None, adv=None, date=None):
        d = pd.Timestamp(date) if date is not None else returns.index[-1]
        if self.weights_ is None or d in self.refit_dates:
            window = returns if self.mode == "expanding" else returns.iloc[-self.train:]
            self.inner.fit(window, universe=universe, current_weights=current_weights, adv=adv, date=date)
            self.weights_ = pd.Series(self.inner.weights_, dtype=float)
            self.fits_.append((window.index[0], window.index[-1], d))
        return self

    def __repr__(self):
        return f"WalkForward({self.inner!r}, {self.mode}, train={self.train})"


@dataclass(frozen=True)
class _Union:
    """Schedule = the policy's calendar dates plus the fold starts."""

    base: Calendar | None
    extra: pd.DatetimeIndex

    def dates(self, index):
        d = self.extra if self.base is None else self.base.dates(index).union(self.extra)
        d = d[d >= self.extra[0]]
        return d[d.isin(index)]

    def to_dict(self):
        return {"type": "walk_forward", "base": None if self.base is None else self.base.to_dict(),
                "folds": len(self.extra)}


def walk_forward(policy: Policy, market, train: int = 504, test: int = 63, mode: str = "expanding",
                 **kwargs) -> Result:
    """Walk-forward backtest of ``policy`` (see the module docstring).

    Parameters
    ----------
    policy : Policy
    market : MarketData or pandas.DataFrame
    train, test : int
        Periods of the policy's basis in each training and test window.
    mode : {"expanding", "rolling"}
    **kwargs
        Passed to :func:`~computefolio.backtest.policy.backtest` (costs, capital, ...).

    Returns
    -------
    Result
        Out-of-sample book from the first test date; ``manifest["folds"]`` lists
        ``(train_start, train_end, test_start, test_end)`` per fold.
    """
    if mode not in ("expanding", "rolling"):
        raise ValueError(f"mode must be 'expanding' or 'rolling', got {mode!r}")
    if train < 2 or test < 1:
        raise ValueError("train must be >= 2 and test >= 1 periods")
    index = market.index(policy.basis) if isinstance(market, MarketData) else pd.DatetimeIndex(market.index)
    if len(index) <= train:
        raise ValueError(f"{len(index)} periods: not enough for a training window of {train}")
    starts = index[train::test]
    folds = []
    for k, s in enumerate(starts):
        i = index.get_loc(s)
        tr0 = index[0] if mode == "expanding" else index[max(0, i - train + 1)]
        end = index[min(i + test - 1, len(index) - 1)]
        folds.append((tr0, s, s, end))
    wrapped = _RefitAt(policy.allocator, starts, train, mode)
    sched = policy.schedule
    if isinstance(sched, DriftBands):
        sched = replace(sched, review=_Union(sched.review, starts))
    else:
        sched = _Union(sched, starts)
    lookback = len(index) if mode == "expanding" else train
    wf = Policy(wrapped, sched, vol_target=policy.vol_target, lookback=lookback, basis=policy.basis,
                min_history=train, name=f"walk_forward({policy.label}, {mode}, {train}/{test})")
    res = backtest(wf, market, start=starts[0], **kwargs)
    res.manifest["folds"] = [tuple(d.strftime("%Y-%m-%d") for d in f) for f in folds]
    res.manifest["walk_forward"] = {"train": train, "test": test, "mode": mode}
    return res
