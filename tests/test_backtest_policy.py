"""Policies: no look-ahead, schedules on both clocks, drift bands, vol target, sweeps, walk-forward."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.backtest import (Calendar, DriftBands, FixedWeights, Policy, VolTarget, backtest, backtest_many,
                                   simulate, walk_forward)
from computefolio.clock import CRYPTO, XNYS
from computefolio.data.market import MarketData


class InvVol:
    """Tiny allocator: weights proportional to 1 / std over the window; records what it saw."""

    def __init__(self):
        self.seen = []

    def fit(self, returns, *, universe=None, current_weights=None, adv=None, date=None):
        x = returns.dropna(axis=0, how="all").dropna(axis=1, how="any")
        sd = x.std(ddof=1)
        w = (1 / sd) / (1 / sd).sum()
        self.weights_ = w
        self.seen.append((pd.Timestamp(date), returns.index[-1], None if current_weights is None
                          else current_weights.copy()))
        return self


def _market(T=500, N=5, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2020-01-01", periods=T)
    p = pd.DataFrame(30 * np.exp(np.cumsum(rng.normal(0.0002, 0.02, (T, N)), 0)), index=idx,
                     columns=[f"X{i}" for i in range(N)])
    p.iloc[:120, 4] = np.nan  # a late listing
    return p


@pytest.mark.parametrize("schedule", [Calendar("monthly"), DriftBands(abs=0.02)])
def test_no_look_ahead(schedule):
    p = _market()
    pol = Policy(InvVol(), schedule, lookback=60, min_history=20)
    base = backtest(pol, p, costs=10)
    t = p.index[300]
    rng = np.random.default_rng(99)
    q = p.copy()
    q.loc[q.index > t] *= np.exp(rng.normal(0, 0.05, q.loc[q.index > t].shape))
    pol2 = Policy(InvVol(), schedule, lookback=60, min_history=20)
    pert = backtest(pol2, q, costs=10)
    a, b = base.weights.loc[:t], pert.weights.loc[:t]
    assert np.array_equal(a.to_numpy(), b.to_numpy())
    ta, tb = base.trades[base.trades["date"] <= t], pert.trades[pert.trades["date"] <= t]
    assert ta.reset_index(drop=True).equals(tb.reset_index(drop=True))
    assert np.array_equal(base.equity.loc[:t].to_numpy(), pert.equity.loc[:t].to_numpy())
    assert not np.array_equal(base.equity.to_numpy(), pert.equity.to_numpy())
    # the allocator never saw a return after its rebalance date
    assert all(last <= d for d, last, _ in pol.allocator.seen)
    assert len(pol.allocator.seen) > 3


def test_current_weights_are_the_drifted_book():
    p = _market()
    pol = Policy(InvVol(), Calendar("monthly"), lookback=60, min_history=20)
    res = backtest(pol, p)
    d, _, cw = pol.allocator.seen[3]
    i = p.index.get_loc(d)
    prev = res.weights.iloc[i - 1]
    growth = (p.iloc[i] / p.iloc[i - 1]).fillna(1.0)
    drifted = prev * growth
    drifted = drifted / (drifted.sum() + (1 - prev.sum()))
    assert np.allclose(cw.reindex(drifted.index).to_numpy(), drifted.to_numpy(), atol=1e-12)


def test_calendar_schedule_on_both_clocks():
    idx = pd.date_range("2024-01-01", "2024-06-30", freq="D")
    s = Calendar("monthly", clock="session").dates(idx)
    assert list(s[:3]) == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29"), pd.Timestamp("2024-03-28")]
    c = Calendar("monthly", clock="calendar").dates(idx)
    assert pd.Timestamp("2024-03-31") in c  # a Sunday
    w = Calendar("weekly", clock="calendar").dates(idx)
    assert (w.day_of_week == 6).all()
    f = Calendar("quarterly", clock="session", anchor="first").dates(idx)
    assert list(f) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-04-01")]


def test_drift_bands_keep_every_weight_inside_the_band():
    p = _market().iloc[:, :4]
    band = 0.03
    target = pd.Series({"X0": 0.4, "X1": 0.3, "X2": 0.2, "X3": 0.1})
    res = backtest(Policy(FixedWeights(target), DriftBands(abs=band), min_history=0), p)
    traded = set(res.trades["date"])
    quiet = res.weights[~res.weights.index.isin(traded)]
    assert (quiet.sub(target, axis=1).abs().max(axis=1) <= band + 1e-12).all()
    assert 2 < len(traded) < len(p) / 5
    # the same with simulate(bands=...) and one initial target
    w0 = pd.DataFrame([target], index=p.index[:1])
    res2 = simulate(p, w0, bands=DriftBands(abs=band))
    assert np.array_equal(res.equity.to_numpy(), res2.equity.to_numpy())


def test_group_bands():
    p = _market().iloc[:, :4]
    groups = pd.DataFrame({"g1": [1.0, 1.0, 0, 0], "g2": [0, 0, 1.0, 1.0]}, index=p.columns)
    target = pd.Series({"X0": 0.25, "X1": 0.25, "X2": 0.25, "X3": 0.25})
    res = backtest(Policy(FixedWeights(target), DriftBands(group_abs=0.02, groups=groups), min_history=0), p)
    traded = set(res.trades["date"])
    quiet = res.weights[~res.weights.index.isin(traded)]
    g = quiet.to_numpy() @ groups.to_numpy()
    assert (np.abs(g - 0.5) <= 0.02 + 1e-12).all()
    assert len(traded) > 2


def test_vol_target_scales_down():
    p = _market().iloc[:, :4]
    target = pd.Series(0.25, index=p.columns)
    pol = Policy(FixedWeights(target), Calendar("monthly"), vol_target=0.05, lookback=60, min_history=20)
    assert isinstance(pol.vol_target, VolTarget)
    res = backtest(pol, p)
    first = res.trades["date"].iloc[0]
    i = p.index.get_loc(first)
    r = (p / p.shift(1) - 1).iloc[max(0, i - 59): i + 1].dropna()
    vol = np.sqrt(target.to_numpy() @ np.cov(r.to_numpy(), rowvar=False) @ target.to_numpy() * 252)
    assert res.weights.loc[first].sum() == pytest.approx(0.05 / vol, rel=1e-10)
    assert res.weights.loc[first].sum() < 1


def test_backtest_many_tensor_matches_simulate():
    p = _market(T=300).iloc[:, :4]
    dates = Calendar("monthly").dates(p.index)
    rng = np.random.default_rng(5)
    W = rng.dirichlet(np.ones(4), (4, len(dates)))
    m = backtest_many(W, p, rebalance_dates=dates, costs=8, bands=[None, DriftBands(abs=0.05), None, None])
    for s in range(4):
        b = DriftBands(abs=0.05) if s == 1 else None
        r = simulate(p, pd.DataFrame(W[s], index=dates, columns=p.columns), costs=8, bands=b)
        # same kernel; the parallel loop is compiled in another context (LLVM may round a
        # multiply-add differently), so agreement is to ~1e-14, not bit for bit
        assert np.max(np.abs(r.equity.to_numpy() / m.equity.iloc[:, s].to_numpy() - 1)) < 1e-12
        assert np.allclose(r.turnover.to_numpy(), m.turnover.iloc[:, s].to_numpy(), rtol=1e-12, atol=0)
    tab = m.metrics()
    assert list(tab.index) == ["set0", "set1", "set2", "set3"] and (tab["periods_per_year"] == 252).all()


def test_backtest_many_policies_grid():
    p = _market(T=300).iloc[:, :4]
    grid = [Policy(FixedWeights(pd.Series(0.25, index=p.columns)), s, min_history=0)
            for s in (Calendar("monthly"), Calendar("quarterly"), DriftBands(abs=0.05))]
    m = backtest_many(grid, p, costs=5)
    assert m.equity.shape == (300, 3) and len(set(m.labels)) == 3
    assert m.results[2].manifest["policy"] == grid[2].label


def test_walk_forward_rolling_and_expanding():
    p = _market(T=400).iloc[:, :4]
    for mode in ("rolling", "expanding"):
        inner = InvVol()
        res = walk_forward(Policy(inner, Calendar("monthly")), p, train=100, test=60, mode=mode, costs=5)
        folds = res.manifest["folds"]
        assert res.equity.index[0] == p.index[100]
        assert len(folds) == len(p.index[100::60])
        # the inner allocator was fitted once per fold, on data ending at the fold start
        ends = [last for _, last, _ in inner.seen]
        assert [e.strftime("%Y-%m-%d") for e in ends] == [f[2] for f in folds]
        sizes = [len(p.loc[:e]) for e in ends]
        if mode == "rolling":
            assert all(s >= 100 for s in sizes)
        assert res.manifest["walk_forward"]["mode"] == mode


def test_policy_with_real_allocator_and_two_clock_market():
    allocate = pytest.importorskip("computefolio.allocate")
    idx = pd.date_range("2023-01-01", periods=400, freq="D")
    rng = np.random.default_rng(2)
    btc = pd.Series(20000 * np.exp(np.cumsum(rng.normal(0, 0.03, len(idx)))), index=idx)
    sess = idx[idx.day_of_week < 5]
    eq = pd.Series(300 * np.exp(np.cumsum(rng.normal(0, 0.012, len(sess)))), index=sess)
    close = pd.DataFrame({"BTC": btc, "QQQ": eq})
    md = MarketData(close=close, calendars={"BTC": CRYPTO, "QQQ": XNYS})
    for basis in ("session", "calendar"):
        pol = Policy(allocate.InverseVolatility(), Calendar("monthly", clock="session"), lookback=60,
                     basis=basis, min_history=30)
        res = backtest(pol, md, costs="default", venues={"BTC": "binance", "QQQ": "NASDAQ"})
        assert res.periods_per_year == (252 if basis == "session" else 365)
        assert set(res.costs_by_venue.index) == {"binance", "NASDAQ"}
        assert np.isfinite(res.equity).all()
    if hasattr(allocate, "VolatilityTarget"):  # the allocate package's overlay, duck-typed apply()
        pol = Policy(allocate.InverseVolatility(), Calendar("monthly", clock="session"), lookback=60,
                     vol_target=allocate.VolatilityTarget(0.05), min_history=30)
        res = backtest(pol, md)
        invested = res.weights.loc[res.trades["date"].iloc[0]].sum()
        assert 0 < invested < 1


def test_walk_forward_with_drift_bands():
    p = _market(T=400).iloc[:, :4]
    inner = InvVol()
    res = walk_forward(Policy(inner, DriftBands(abs=0.05)), p, train=120, test=80, mode="rolling", costs=5)
    starts = [f[2] for f in res.manifest["folds"]]
    assert [d.strftime("%Y-%m-%d") for d, _, _ in inner.seen] == starts
    assert set(pd.Timestamp(s) for s in starts) <= set(res.trades["date"])


hyp = pytest.importorskip("hypothesis")


@hyp.settings(max_examples=25, deadline=None)
@hyp.given(seed=hyp.strategies.integers(0, 10_000), bps=hyp.strategies.floats(0.0, 100.0),
           conv=hyp.strategies.sampled_from(["native", "vectorbt", "bt"]),
           invest=hyp.strategies.floats(0.1, 1.0))
def test_accounting_identities_hold_for_any_book(seed, bps, conv, invest):
    rng = np.random.default_rng(seed)
    T, N = 80, 3
    idx = pd.bdate_range("2022-01-03", periods=T)
    p = pd.DataFrame(20 * np.exp(np.cumsum(rng.normal(0, 0.03, (T, N)), 0)), index=idx, columns=list("abc"))
    dates = idx[rng.choice(T, 4, replace=False)].sort_values()
    w = pd.DataFrame(rng.dirichlet(np.ones(N), 4) * invest, index=dates, columns=p.columns)
    res = simulate(p, w, costs=bps, fee_convention=conv, capital=1e6)
    # net = gross - cumulative costs; value = cash + holdings; costs never negative
    assert np.allclose((res.gross_equity - res.equity).to_numpy(), res.costs.cumsum().to_numpy(), atol=1e-8)
    held = (res.weights * res.equity.to_numpy()[:, None]).sum(axis=1)
    assert np.allclose((held + res.cash).to_numpy(), res.equity.to_numpy(), rtol=1e-12)
    assert (res.costs >= 0).all() and (res.trades["cost"] >= 0).all()
    if conv == "native":
        assert np.allclose(res.weights.loc[dates].to_numpy(), w.to_numpy(), atol=1e-12)
