"""VaR/ES against closed forms and explicit quantiles; Euler contributions sum to totals.

Tolerances: 1e-10 for sums of contributions and closed forms; Monte Carlo against the
Gaussian closed form within 5% relative (50,000 draws, fixed seed) for Gaussian data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from computefolio.risk.portfolio import portfolio_returns, weights_from_holdings
from computefolio.risk.var import METHODS, value_at_risk, var_es_table
from conftest import make_returns

W = pd.Series({"A0": 0.3, "A1": 0.25, "A2": -0.1, "A3": 0.4, "A4": 0.15})


@pytest.fixture(scope="module")
def rets():
    r = make_returns(1003, 5, seed=11)
    r.iloc[:40, 4] = np.nan  # a young asset: its early periods are dropped
    return r


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("horizon", [1, 10])
def test_contributions_sum_to_total(rets, method, horizon):
    res = value_at_risk(W, rets, method=method, confidence=0.99, horizon=horizon, n_sims=20_000)
    assert abs(res.var_contributions.sum() - res.var_pct) < 1e-10
    assert abs(res.es_contributions.sum() - res.es_pct) < 1e-10
    assert res.es_pct >= res.var_pct - 1e-12 or method == "cornish_fisher"
    d = res.to_dict()
    assert d["basis"] == "session" and d["periods_per_year"] == 252 and d["currency"] == "USD"
    assert d["horizon_periods"] == horizon and d["method"] == method
    assert math.isclose(d["var"], res.var_pct * 100e6)


def test_historical_var_is_explicit_quantile(rets):
    res = value_at_risk(W, rets, method="historical", confidence=0.975)
    r = portfolio_returns(W, rets).to_numpy()
    assert res.n_observations == len(r) == 1003 - 40
    q = np.quantile(r, 1 - 0.975, method="inverted_cdf")
    assert abs(res.var_pct + q) < 1e-12
    # ES by the Acerbi-Tasche formula written out
    n, a = len(r), 1 - 0.975
    s = np.sort(r)
    k = math.floor(n * a)
    es = -(s[:k].sum() + (n * a - k) * s[k]) / (n * a)
    assert abs(res.es_pct - es) < 1e-12


def test_historical_horizon_uses_overlapping_sums(rets):
    res = value_at_risk(W, rets, method="historical", confidence=0.95, horizon=5)
    r = portfolio_returns(W, rets)
    r5 = r.rolling(5).sum().dropna().to_numpy()
    assert abs(res.var_pct + np.quantile(r5, 0.05, method="inverted_cdf")) < 1e-12


def test_gaussian_matches_closed_form(rets):
    res = value_at_risk(W, rets, method="gaussian", confidence=0.99, horizon=10)
    r = portfolio_returns(W, rets)
    mu, sd = r.mean(), r.std(ddof=1)
    z = stats.norm.ppf(0.99)
    assert abs(res.var_pct - (-10 * mu + math.sqrt(10) * sd * z)) < 1e-10
    assert abs(res.es_pct - (-10 * mu + math.sqrt(10) * sd * stats.norm.pdf(z) / 0.01)) < 1e-10


def test_cornish_fisher_reduces_to_formula(rets):
    res = value_at_risk(W, rets, method="cornish_fisher", confidence=0.99)
    r = portfolio_returns(W, rets).to_numpy()
    s, k = stats.skew(r), stats.kurtosis(r)  # biased (divisor n), excess
    z = stats.norm.ppf(0.01)
    q = z + (z * z - 1) * s / 6 + (z ** 3 - 3 * z) * k / 24 - (2 * z ** 3 - 5 * z) * s * s / 36
    assert abs(res.var_pct - (-(r.mean() + r.std() * q))) < 1e-10
    # ES: tail average of the CF quantile, by numerical integration
    u = np.linspace(0, 0.01, 200_001)[1:]
    zz = stats.norm.ppf(u)
    qq = zz + (zz * zz - 1) * s / 6 + (zz ** 3 - 3 * zz) * k / 24 - (2 * zz ** 3 - 5 * zz) * s * s / 36
    assert abs(res.es_pct - (-(r.mean() + r.std() * qq.mean()))) < 2e-4


def test_monte_carlo_seeded_and_close_to_gaussian():
    r = make_returns(3000, 3, seed=5)
    w = pd.Series({"A0": 0.5, "A1": 0.3, "A2": 0.2})
    a = value_at_risk(w, r, method="monte_carlo", confidence=0.95, n_sims=50_000, dof=200.0, seed=3)
    b = value_at_risk(w, r, method="monte_carlo", confidence=0.95, n_sims=50_000, dof=200.0, seed=3)
    g = value_at_risk(w, r, method="gaussian", confidence=0.95)
    assert a.var_pct == b.var_pct
    assert abs(a.var_pct / g.var_pct - 1) < 0.05


def test_holdings_and_table(rets):
    w = weights_from_holdings(pd.Series({"A0": 30e6, "A1": 20e6}), capital=100e6)
    assert w["A0"] == 0.3
    a = value_at_risk(None, rets, holdings=pd.Series({"A0": 30e6, "A1": 20e6}), capital=100e6)
    b = value_at_risk(w, rets)
    assert a.var_pct == b.var_pct and abs(a.var - b.var_pct * 100e6) < 1e-6
    t = var_es_table(w, rets, confidence=0.95, n_sims=5000)
    assert set(t) == set(METHODS)
