"""Cross-clock correlation and correlation regimes.

The simulation has a known continuous-time correlation (0.5); its two legs are sampled
4 hours apart (an equity at 16:00 New York, crypto at 00:00 UTC). Over 12 seeded
replications of 2,500 days the raw daily estimate is biased towards 0.5 x 20/24 ~ 0.417,
while lead-lag and weekly estimates recover 0.5 within 3 standard errors of the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.risk.crosscorr import (correlation_comparison, cross_correlation, lead_lag_correlation,
                                         simulate_async_closes)
from computefolio.risk.regimes import (RegimeThresholds, correlation_regimes, dcc_garch, ewm_correlation,
                                       leg_returns, regime_labels, rolling_correlation)
from conftest import make_returns


@pytest.fixture(scope="module")
def sims():
    out = []
    for seed in range(12):
        d = simulate_async_closes(2500, rho=0.5, offset_hours=4.0, seed=seed)
        out.append([cross_correlation(d["late"], d["early"], m, horizon=7).value
                    for m in ("raw", "lead_lag", "horizon")])
    return np.array(out)


def test_raw_daily_is_biased(sims):
    raw = sims[:, 0]
    se = raw.std(ddof=1) / np.sqrt(len(raw))
    assert abs(raw.mean() - 0.5 * 20 / 24) < 3 * se + 0.005
    assert raw.mean() < 0.5 - 10 * se  # the bias is far outside sampling error


@pytest.mark.parametrize("col", [1, 2], ids=["lead_lag", "weekly"])
def test_corrected_recover_truth(sims, col):
    v = sims[:, col]
    se = v.std(ddof=1) / np.sqrt(len(v))
    # weekly keeps a residual bias of 0.5 x 4 / (7 x 24) = 0.012, inside the bound
    assert abs(v.mean() - 0.5) < 3 * se + 0.015


def test_lead_lag_equals_explicit_sum():
    d = simulate_async_closes(800, rho=0.3, seed=1)
    x, y = d["late"].to_numpy(), d["early"].to_numpy()
    c = lambda a, b: np.cov(a, b)[0, 1]
    ref = (c(x, y) + c(x[:-1], y[1:]) + c(x[1:], y[:-1])) / (x.std(ddof=1) * y.std(ddof=1))
    v, n = lead_lag_correlation(x, y, 1)
    assert abs(v - ref) < 1e-12 and n == 800


def test_comparison_reports_methods():
    r = make_returns(600, 2, seed=3)
    c = correlation_comparison(r, "A0", "A1")
    assert set(c) == {"raw", "lead_lag", "horizon"}
    assert c["horizon"].horizon == 5 and c["horizon"].basis == "session"
    assert "Dimson" in c["lead_lag"].to_dict()["description"]


def test_rolling_and_ewm_against_pandas():
    r = make_returns(400, 2, seed=4)
    r.iloc[100:105, 0] = np.nan
    roll = rolling_correlation(r.A0, r.A1, window=60, min_periods=10)
    ref = r.A0.rolling(60, min_periods=10).corr(r.A1)
    ok = ref.notna() & roll.notna()
    np.testing.assert_allclose(roll[ok], ref[ok], atol=1e-10)
    full = r.dropna()
    ew = ewm_correlation(full.A0, full.A1, halflife=20, min_periods=1)
    # pandas' ewm corr applies a bias correction that cancels in the ratio
    ref2 = full.A0.ewm(halflife=20, adjust=True).corr(full.A1)
    np.testing.assert_allclose(ew.iloc[30:], ref2.iloc[30:], atol=1e-10)


def test_dcc_recovers_constant_correlation():
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=2000) * 0.01
    idx = pd.bdate_range("2015-01-01", periods=2000)
    d = dcc_garch(pd.Series(z[:, 0], idx), pd.Series(z[:, 1], idx))
    assert abs(d.correlation.mean() - 0.6) < 0.05
    assert 0 <= d.a and 0 <= d.b and d.a + d.b < 1


def test_regime_labels_thresholds():
    c = pd.Series([0.1, 0.3, 0.6, 0.6, np.nan])
    v = pd.Series([1.0, 1.0, 1.0, 9.0, 1.0])
    lab = regime_labels(c, v, RegimeThresholds(0.2, 0.5, 0.7))
    assert list(lab) == ["decoupled", "coupled", "coupled", "crisis", "unknown"]


def test_group_legs_and_regimes():
    r = make_returns(500, 6, seed=8)
    r.iloc[:200, 2] = np.nan
    g = leg_returns(r, ["A0", "A1", "A2"])
    assert abs(g.iloc[50] - r.iloc[50, :2].mean()) < 1e-15
    out = correlation_regimes(r, ["A0", "A1", "A2"], ["A3", "A4", "A5"], window=63)
    assert out["current"]["regime"] in {"decoupled", "coupled", "crisis"}
    assert "crisis" in out["thresholds"]["rule"]


def test_real_btc_qqq_three_ways(real_market):
    """Raw, lead-lag and weekly BTC-QQQ correlation on real 2019-2025 data, side by side."""
    r = real_market.returns("session", kind="log").loc["2019":"2025"]
    c = correlation_comparison(r, "BTC", "QQQ")
    vals = {k: v.value for k, v in c.items()}
    print("BTC-QQQ session basis 2019-2025:", {k: round(v, 3) for k, v in vals.items()})
    assert all(0.0 < v < 0.8 for v in vals.values())
    # they differ materially (direction not assumed)
    assert max(vals.values()) - min(vals.values()) > 0.03


def test_lead_lag_covariance_matches_pairwise_estimator():
    from computefolio.risk import LeadLagCovariance

    d = simulate_async_closes(1500, rho=0.5, seed=2)
    est = LeadLagCovariance(lags=1).fit(d)
    v, _ = lead_lag_correlation(d["late"], d["early"], 1)
    assert abs(est.correlation_.iloc[0, 1] - v) < 1e-12
    assert np.allclose(np.diag(est.covariance_), d.var(ddof=1))
    assert abs(est.correlation_.iloc[0, 1] - 0.5) < 0.06


def test_dimson_beta_recovers_true_beta():
    from computefolio.risk import cross_beta

    d = simulate_async_closes(3000, rho=0.5, vol=(0.03, 0.015), seed=3)
    true = 0.5 * 0.03 / 0.015
    raw = cross_beta(d["late"], d["early"], "raw")["value"]
    ll = cross_beta(d["late"], d["early"], "lead_lag")["value"]
    assert abs(ll - true) < 0.1 and raw < true - 0.1
