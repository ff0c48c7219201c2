"""Currency rules follow the book: the backtest passes today's book value to the allocator,
and the mandate's liquidity caps (days of ADV) are sized on it, not on the starting capital."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.allocate import EqualWeight, mandate_from_dict
from computefolio.backtest import Calendar, FixedWeights, Policy, backtest
from computefolio.clock import XNYS, sessions
from computefolio.data.market import MarketData


class RecordingAllocator:
    """Equal weights; records the ``capital`` each fit was given."""

    def __init__(self):
        self.capitals = []

    def fit(self, returns, *, universe=None, current_weights=None, adv=None, date=None, capital=None):
        self.capitals.append((pd.Timestamp(date), capital))
        cols = list(returns.columns)
        self.weights_ = pd.Series(1.0 / len(cols), index=cols)
        return self


@pytest.fixture
def growing_market():
    idx = sessions(XNYS, "2023-01-03", "2023-12-29")
    growth = np.exp(np.linspace(0, np.log(3.0), len(idx)))  # prices triple over the year
    close = pd.DataFrame({"A": 10 * growth, "B": 20 * growth}, index=idx)
    return MarketData(close, {"A": XNYS, "B": XNYS})


def test_backtest_passes_pre_trade_book_value(growing_market):
    alloc = RecordingAllocator()
    res = backtest(Policy(alloc, Calendar("monthly"), lookback=20), growing_market, costs=None, capital=1e8)
    assert len(alloc.capitals) >= 10
    eq = res.equity
    for date, cap in alloc.capitals:
        prev = eq.index[eq.index.get_loc(date)]  # valuation at that row, before trading (no costs)
        assert cap == pytest.approx(eq[prev], rel=1e-9)
    assert alloc.capitals[-1][1] > 2.5e8  # the book has grown with prices


def test_allocators_without_capital_still_work(growing_market):
    w = pd.Series({"A": 0.5, "B": 0.5})
    res = backtest(Policy(FixedWeights(w), Calendar("monthly"), lookback=20), growing_market, capital=1e8)
    assert res.equity.iloc[-1] > 2.5e8


def test_liquidity_cap_scales_with_book_value():
    rng = np.random.default_rng(0)
    rets = pd.DataFrame(rng.normal(0, 0.01, (120, 3)), columns=["X", "Y", "Z"],
                        index=pd.bdate_range("2024-01-01", periods=120))
    # 5 days x 20% of ADV 10m = 10m may be held: 10% of a 100m book, 1% of a 1bn book
    m = mandate_from_dict({"name": "liq", "long_only": True, "cash_min": 0.0,
                           "liquidity": {"max_days_to_liquidate": 5, "participation": 0.2}})
    adv = pd.Series({"X": 10e6, "Y": 1e12, "Z": 1e12})
    small = EqualWeight(mandate=m).fit(rets, adv=adv, capital=1e8).weights_
    large = EqualWeight(mandate=m).fit(rets, adv=adv, capital=1e9).weights_
    assert small["X"] == pytest.approx(0.1, abs=1e-8)
    assert large["X"] == pytest.approx(0.01, abs=1e-8)
    default = EqualWeight(mandate=m).fit(rets, adv=adv).weights_  # mandate's own capital (100m)
    assert default["X"] == pytest.approx(0.1, abs=1e-8)


def test_passive_liquidity_breach_is_cut_as_far_as_the_trade_cap_allows():
    rng = np.random.default_rng(1)
    rets = pd.DataFrame(rng.normal(0, 0.01, (120, 3)), columns=["X", "Y", "Z"],
                        index=pd.bdate_range("2024-01-01", periods=120))
    m = mandate_from_dict({"name": "liq", "long_only": True, "cash_min": 0.0,
                           "liquidity": {"max_adv_fraction": 0.1, "max_days_to_liquidate": 5, "participation": 0.2}})
    adv = pd.Series({"X": 10e6, "Y": 1e12, "Z": 1e12})
    # on a 1bn book X may hold 1% (5 x 0.2 x 10m) and trade 0.1% a day; it holds 30%
    cw = pd.Series({"X": 0.30, "Y": 0.35, "Z": 0.35})
    a = EqualWeight(mandate=m).fit(rets, adv=adv, current_weights=cw, capital=1e9)
    assert a.weights_["X"] == pytest.approx(0.30 - 0.001, abs=1e-9)  # cut by exactly one day's trade cap
    assert any("passive" in r or "cut as far" in r for r in a.diagnostics_["skipped_rules"])
    assert any("max_days_to_liquidate" in b for b in m.model_copy(update={"capital": 1e9}).check(
        a.weights_, adv=adv, current_weights=cw))
