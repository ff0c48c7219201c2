"""computefolio.metrics against empyrical-reloaded (1e-10) under the same periods per year.

Conventions matched: simple per-period returns; risk-free and required return *per
period*; sample std (ddof=1); empyrical's annual_return (years = periods / ppy),
drawdown from a wealth curve starting before the first return, population-moment beta,
percentile VaR and its CVaR tail size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio import metrics as M

empyrical = pytest.importorskip("empyrical")
pytestmark = pytest.mark.peer

TOL = 1e-10


@pytest.fixture(params=[252, 365])
def series(request):
    ppy = request.param
    rng = np.random.default_rng(7 + ppy)
    n = 800
    freq = "B" if ppy == 252 else "D"
    idx = pd.date_range("2021-01-01", periods=n, freq=freq)
    b = rng.standard_t(4, n) * 0.01
    r = 0.0003 + 0.8 * b + rng.standard_normal(n) * 0.006
    rs = pd.Series(r, index=idx)
    rs.attrs.update(basis="session" if ppy == 252 else "calendar", periods_per_year=ppy)
    return rs, pd.Series(b, index=idx), ppy


def close(a, b, tol=TOL):
    assert np.isfinite(a) and np.isfinite(b)
    assert abs(a - b) <= tol * max(1.0, abs(b)), (a, b)


def test_scalar_metrics_match_empyrical(series):
    r, b, ppy = series
    e = empyrical
    close(M.total_return(r), e.cum_returns_final(r))
    close(M.annual_return(r), e.annual_return(r, annualization=ppy))
    close(M.volatility(r), e.annual_volatility(r, annualization=ppy))
    close(M.sharpe(r), e.sharpe_ratio(r, annualization=ppy))
    rf = 0.04 / ppy
    close(M.sharpe(r, risk_free=rf), e.sharpe_ratio(r, risk_free=rf, annualization=ppy))
    close(M.sortino(r), e.sortino_ratio(r, annualization=ppy))
    close(M.sortino(r, required_return=rf), e.sortino_ratio(r, required_return=rf, annualization=ppy))
    close(M.downside_risk(r), e.downside_risk(r, annualization=ppy))
    close(M.max_drawdown(r), e.max_drawdown(r))
    close(M.calmar(r), e.calmar_ratio(r, annualization=ppy))
    close(M.value_at_risk(r), e.value_at_risk(r))
    close(M.expected_shortfall(r), e.conditional_value_at_risk(r))
    close(M.value_at_risk(r, 0.01), e.value_at_risk(r, 0.01))
    close(M.beta(r, b), e.beta(r, b))
    close(M.alpha(r, b), e.alpha(r, b, annualization=ppy))
    close(M.alpha(r, b, risk_free=rf), e.alpha(r, b, risk_free=rf, annualization=ppy))
    close(M.information_ratio(r, b), e.excess_sharpe(r, b) * np.sqrt(ppy))


def test_drawdown_series_and_skew_kurtosis(series):
    r, b, ppy = series
    dd = M.drawdown(r)
    ref = empyrical.stats.drawdown_series(r) if hasattr(empyrical.stats, "drawdown_series") else None
    if ref is not None:
        assert np.allclose(dd.to_numpy(), np.asarray(ref), rtol=0, atol=1e-12)
    from scipy import stats

    close(M.skew(r), stats.skew(r, bias=False))
    close(M.kurtosis(r), stats.kurtosis(r, bias=False))
    close(M.correlation(r, b), np.corrcoef(r, b)[0, 1])
    close(M.tracking_error(r, b), np.std(r - b, ddof=1) * np.sqrt(ppy))
    close(M.hit_rate(r), float((r > 0).mean()))


def test_periods_per_year_come_from_the_basis_and_are_reported(series):
    r, b, ppy = series
    s = M.summary(r, benchmark=b)
    assert s["periods_per_year"] == ppy
    assert s["basis"] == ("session" if ppy == 252 else "calendar")
    close(s["volatility"], np.std(r, ddof=1) * np.sqrt(ppy))
    bare = pd.Series(r.to_numpy(), index=r.index)
    with pytest.raises(ValueError, match="periods_per_year"):
        M.volatility(bare)
    close(M.volatility(bare, periods_per_year=ppy), s["volatility"])


def test_cagr_uses_calendar_time_not_the_basis():
    # the same wealth path seen daily and on weekdays only has the same CAGR
    idx = pd.date_range("2022-01-01", "2023-12-31", freq="D")
    wealth = pd.Series(np.exp(np.linspace(0, np.log(1.21), len(idx))), index=idx)
    daily = wealth.pct_change().fillna(wealth.iloc[0] - 1.0)
    daily.attrs["periods_per_year"] = 365
    assert abs(M.cagr(daily) - 0.1) < 2e-3
    wk = wealth[wealth.index.day_of_week < 5]
    r = wk.pct_change().dropna()
    r.attrs["periods_per_year"] = 252
    assert abs(M.cagr(r) - 0.1) < 3e-3


def test_drawdown_duration_closed_form():
    idx = pd.date_range("2024-01-01", periods=7, freq="D")
    r = pd.Series([0.1, -0.1, 0.05, 0.02, 0.2, -0.01, 0.0], index=idx)
    d = M.drawdown_duration(r)
    # under water from day 2 through day 4, recovers on day 5 (1.1*0.9*1.05*1.02 < 1.1 < ... *1.2)
    assert d["periods"] == 3 and d["start"] == idx[1] and d["end"] == idx[3] and d["days"] == 3
