"""Covariance estimators against independent references.

Tolerances: 1e-12 relative for exact algebraic identities (numpy.cov, direct loop),
1e-10 absolute against scikit-learn's LedoitWolf (same formula, different summation order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import LedoitWolf

from computefolio.errors import DataError
from computefolio.risk import (EWMACovariance, LedoitWolfCovariance, PairwiseShrunkCovariance,
                               SampleCovariance, make_covariance)
from conftest import make_returns


def test_sample_matches_numpy_cov():
    r = make_returns(300, 6, seed=1)
    est = SampleCovariance().fit(r)
    np.testing.assert_allclose(est.covariance_.to_numpy(), np.cov(r.to_numpy(), rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(est.correlation_.to_numpy(), np.corrcoef(r.to_numpy(), rowvar=False), atol=1e-12)
    assert est.periods_per_year_ == 252 and est.basis_ == "session"
    np.testing.assert_allclose(est.annualized().to_numpy(), est.covariance_.to_numpy() * 252)
    assert "complete" in est.nan_policy_


def test_sample_pairwise_matches_pandas_cov_with_nan():
    r = make_returns(300, 5, seed=2)
    r.iloc[:120, 0] = np.nan  # young asset
    r.iloc[250:, 3] = np.nan  # delisted
    est = SampleCovariance().fit(r)
    ref = r.cov()  # pandas: pairwise-complete, ddof=1
    np.testing.assert_allclose(est.covariance_.to_numpy(), ref.to_numpy(), rtol=1e-10)
    assert est.n_observations_.iloc[0, 3] == 130
    assert "pairwise" in est.nan_policy_


def test_complete_policy_drops_rows_and_says_so():
    r = make_returns(200, 4, seed=3)
    r.iloc[:50, 1] = np.nan
    est = SampleCovariance(nan_policy="complete").fit(r)
    np.testing.assert_allclose(est.covariance_.to_numpy(), np.cov(r.iloc[50:].to_numpy(), rowvar=False), rtol=1e-12)
    assert "dropped 50 of 200" in est.nan_policy_
    with pytest.raises(DataError, match="NaN"):
        SampleCovariance(nan_policy="raise").fit(r)


@pytest.mark.parametrize("n,p", [(250, 10), (60, 40), (500, 3)])
def test_ledoit_wolf_matches_sklearn(n, p):
    r = make_returns(n, p, seed=n + p)
    est = LedoitWolfCovariance().fit(r)
    ref = LedoitWolf().fit(r.to_numpy())
    assert abs(est.shrinkage_ - ref.shrinkage_) < 1e-10
    np.testing.assert_allclose(est.covariance_.to_numpy(), ref.covariance_, atol=1e-12, rtol=1e-10)


def test_ledoit_wolf_assume_centered_matches_sklearn():
    r = make_returns(120, 8, seed=9)
    est = LedoitWolfCovariance(assume_centered=True).fit(r)
    ref = LedoitWolf(assume_centered=True).fit(r.to_numpy())
    np.testing.assert_allclose(est.covariance_.to_numpy(), ref.covariance_, atol=1e-12, rtol=1e-10)


def _ewma_loop(x, halflife, centered):
    """Direct recursion S_t = lam S_{t-1} + (1 - lam) r r', normalised by 1 - lam^T."""
    lam = 0.5 ** (1 / halflife)
    t, p = x.shape
    if not centered:
        w = lam ** np.arange(t - 1, -1, -1)
        x = x - (w / w.sum()) @ x
    s = np.zeros((p, p))
    for i in range(t):
        s = lam * s + (1 - lam) * np.outer(x[i], x[i])
    return s / (1 - lam ** t)


@pytest.mark.parametrize("centered", [True, False])
def test_ewma_matches_direct_loop(centered):
    r = make_returns(400, 5, seed=4)
    est = EWMACovariance(halflife=30, assume_centered=centered).fit(r)
    np.testing.assert_allclose(est.covariance_.to_numpy(), _ewma_loop(r.to_numpy(), 30, centered), rtol=1e-10)


def test_ewma_pairwise_equals_per_pair_fit():
    r = make_returns(300, 3, seed=5)
    r.iloc[:100, 0] = np.nan
    est = EWMACovariance(halflife=20, assume_centered=True).fit(r)
    sub = r.iloc[100:, [0, 1]]
    ref = _ewma_loop(sub.to_numpy(), 20, True)
    np.testing.assert_allclose(est.covariance_.iloc[0, 1], ref[0, 1], rtol=1e-10)


def test_pairwise_shrunk_is_psd_and_keeps_variances():
    r = make_returns(150, 30, seed=6)
    rng = np.random.default_rng(0)
    for j in range(30):  # staggered listings
        r.iloc[: rng.integers(0, 120), j] = np.nan
    est = PairwiseShrunkCovariance(prior_periods=60).fit(r)
    cov = est.covariance_.to_numpy()
    assert np.linalg.eigvalsh(cov).min() > -1e-12
    np.testing.assert_allclose(np.diag(cov), r.var().to_numpy(), rtol=1e-10)
    assert "shrunk" in est.nan_policy_
    assert np.all(est.shrinkage_.to_numpy() >= 0) and np.all(est.shrinkage_.to_numpy() < 1)


def test_make_covariance_and_errors():
    assert isinstance(make_covariance("ewma", halflife=10), EWMACovariance)
    with pytest.raises(ValueError, match="unknown covariance"):
        make_covariance("nope")
    r = make_returns(50, 2)
    r.iloc[:, 0] = np.nan
    with pytest.raises(DataError, match="fewer than 2"):
        SampleCovariance().fit(r)
    plain = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(ValueError, match="periods_per_year"):
        SampleCovariance().fit(plain).annualized()


def test_risk_imports_no_downstream_module():
    """risk never imports backtest, allocate or report (DESIGN.md: data flows one way)."""
    import subprocess
    import sys

    code = ("import sys, computefolio.risk, computefolio.risk.report; "
            "bad = [m for m in sys.modules if m.split('.')[:2] in (['computefolio', 'backtest'], "
            "['computefolio', 'allocate'], ['computefolio', 'report'])]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
