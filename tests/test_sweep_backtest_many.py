"""backtest_many's per-call shortcuts keep results true: a prepared market is reused only for
identical inputs (a market changed in place is prepared again), and the manifest hashes the
weight tensor as it was when the backtest ran."""

from __future__ import annotations

import numpy as np
import pandas as pd

from computefolio.backtest import backtest_many, simulate
from computefolio.backtest import sweep as SW


def _inputs(seed=3, T=300, N=6, S=5):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2022-01-03", periods=T)
    p = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (T, N)), axis=0)), index=idx,
                     columns=[f"A{i}" for i in range(N)])
    reb = idx[::21]
    W = rng.dirichlet(np.ones(N), (S, len(reb)))
    return p, reb, W


def test_repeated_calls_reuse_the_prepared_market_and_agree():
    p, reb, W = _inputs()
    SW._PREP_CACHE.clear()
    a = backtest_many(W, p, rebalance_dates=reb, costs=10)
    assert len(SW._PREP_CACHE) == 1
    prep = SW._PREP_CACHE[-1][2]
    b = backtest_many(W, p, rebalance_dates=reb, costs=10)
    assert SW._PREP_CACHE[-1][2] is prep and len(SW._PREP_CACHE) == 1
    pd.testing.assert_frame_equal(a.equity, b.equity, check_exact=True)
    pd.testing.assert_frame_equal(a.turnover, b.turnover, check_exact=True)
    # another cash rate is another preparation
    backtest_many(W, p, rebalance_dates=reb, costs=10, cash_rate=0.03)
    assert len(SW._PREP_CACHE) == 2


def test_a_market_changed_in_place_is_prepared_again():
    p, reb, W = _inputs()
    backtest_many(W, p, rebalance_dates=reb, costs=10)
    p.iloc[100:, 2] *= 1.5  # the same object, new prices
    got = backtest_many(W, p, rebalance_dates=reb, costs=10)
    for s in range(W.shape[0]):
        ref = simulate(p, pd.DataFrame(W[s], index=reb, columns=p.columns), costs=10, keep_weights=False)
        np.testing.assert_allclose(got.equity.iloc[:, s].to_numpy(), ref.equity.to_numpy(), rtol=1e-12)


def test_manifest_hashes_the_tensor_as_it_ran():
    p, reb, W = _inputs()
    m1 = backtest_many(W, p, rebalance_dates=reb, costs=10)
    W2 = W.copy()
    m2 = backtest_many(W2, p, rebalance_dates=reb, costs=10)
    W2[0, 0, :] = 1.0 / W.shape[2]  # changed after the run, before the manifest is read
    assert m1.manifest["inputs_hash"] == m2.manifest["inputs_hash"]
    assert m2.manifest["data_hash"] and m2.manifest["config"]["sets"] == W.shape[0]
