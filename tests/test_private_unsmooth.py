"""Unsmoothing recovers a known truth: Geltner (AR(1)) and Getmansky-Lo-Makarov (MA(k) by MLE).

Conventions: simple returns per period; volatilities annualized with the stated periods per
year (4, quarterly); s.d. with ddof=1; the lag-1 autocorrelation as R's ``acf`` (full-sample
mean, variance-sum denominator). Peers: statsmodels' ``acf`` for the autocorrelation; R's
PerformanceAnalytics (``Return.Geltner``, ``SmoothingIndex``) when R and the package are
installed (Debian has no ``r-cran-performanceanalytics`` candidate, so that test usually skips);
the R routines those two functions call (``stats::acf``, ``stats::arima(method = "ML")``) when R
itself is installed (Debian ``r-base-core``).
"""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from computefolio.errors import DataError
from computefolio.private.unsmooth import (
    GeltnerUnsmoother,
    GLMUnsmoother,
    geltner,
    lag1_autocorrelation,
    mark_returns,
    smooth_ar1,
    smooth_ma,
    smoothing_index,
    unsmooth_marks,
)

THETA = np.array([0.5, 0.3, 0.2])


def test_geltner_inverts_ar1_smoothing_exactly():
    rng = np.random.default_rng(11)
    r = rng.normal(0.02, 0.10, 200)
    for rho in (0.2, 0.5, 0.8):
        s = smooth_ar1(r, rho)
        u = geltner(s, rho)
        assert np.isnan(u[0])
        np.testing.assert_allclose(u[1:], r[1:], rtol=0, atol=1e-12)
    # a Series keeps its index
    idx = pd.period_range("2000Q1", periods=len(r), freq="Q")
    us = geltner(pd.Series(smooth_ar1(r, 0.5), index=idx), 0.5)
    assert isinstance(us, pd.Series) and (us.index == idx).all()


def test_lag1_autocorrelation_matches_statsmodels_acf():
    from statsmodels.tsa.stattools import acf

    rng = np.random.default_rng(3)
    x = smooth_ar1(rng.normal(0.01, 0.05, 120), 0.6)
    assert lag1_autocorrelation(x) == pytest.approx(float(acf(x, nlags=1, fft=False)[1]), abs=1e-12)


def test_geltner_with_estimated_rho_recovers_volatility():
    """Long AR(1)-smoothed series, rho estimated: the unsmoothed volatility is within 5% of the
    truth, the observed one far below it, and the closed form agrees with the series."""
    rng = np.random.default_rng(5)
    r = rng.normal(0.015, 0.08, 4000)
    s = smooth_ar1(r, 0.55)
    g = GeltnerUnsmoother(periods_per_year=4).fit(s)
    true_vol = np.std(r, ddof=1) * 2.0
    assert g.rho_ == pytest.approx(0.55, abs=0.03)
    assert g.volatility_ == pytest.approx(true_vol, rel=0.05)
    assert g.volatility_observed_ < 0.65 * true_vol
    assert g.volatility_closed_form_ == pytest.approx(g.volatility_, rel=0.05)


def test_glm_recovers_theta_within_its_standard_error_and_the_volatility():
    """One long series smoothed with known theta = (0.5, 0.3, 0.2) (seed fixed, not chosen):
    each theta_j lies within 3 of its standard errors of the truth, the smoothing index within 3
    of its, and the true volatility is recovered within 5%. (That one standard error covers the
    truth about 68% of the time is checked across many series in the next test.)"""
    rng = np.random.default_rng(2024)
    r = rng.normal(0.01, 0.06, 2002)
    obs = smooth_ma(r, THETA)
    m = GLMUnsmoother(k=2, periods_per_year=4).fit(obs)
    assert m.theta_.sum() == pytest.approx(1.0, abs=1e-12)
    assert (np.abs(m.theta_ - THETA) <= 3 * m.theta_se_).all(), (m.theta_, m.theta_se_)
    assert abs(m.xi_ - smoothing_index(THETA)) <= 3 * m.xi_se_
    assert m.volatility_ == pytest.approx(np.std(r, ddof=1) * 2, rel=0.05)
    assert m.volatility_observed_ == pytest.approx(m.volatility_ * np.sqrt(m.xi_), rel=0.05)
    # the unsmoothed series tracks the true returns
    assert np.corrcoef(np.asarray(m.returns_)[10:], r[2:][10:])[0, 1] > 0.95
    assert not m.notes_


def test_glm_standard_errors_are_calibrated():
    """Across 40 independent series of 300 periods, each theta_j lies within one standard error
    of the truth in 55-81% of the 120 estimates (68.3% expected; binomial s.d. 4.2 points) and
    within 1.96 standard errors in at least 88% (95% expected); the estimated volatility is
    unbiased within 3% on average."""
    est, se, rel = [], [], []
    for seed in range(40):
        rng = np.random.default_rng(1000 + seed)
        r = rng.normal(0.02, 0.10, 302)
        m = GLMUnsmoother(k=2).fit(smooth_ma(r, THETA))
        est.append(m.theta_)
        se.append(m.theta_se_)
        rel.append(m.sigma_ / np.std(r, ddof=1) - 1)
    err, se = np.abs(np.array(est) - THETA), np.array(se)
    assert 0.55 <= (err <= se).mean() <= 0.81
    assert (err <= 1.96 * se).mean() >= 0.88
    assert abs(np.mean(rel)) < 0.03


def test_smoothing_index_bounds():
    assert smoothing_index([1.0]) == 1.0
    assert smoothing_index([1 / 3] * 3) == pytest.approx(1 / 3)
    assert smoothing_index(THETA) == pytest.approx(0.38)


def test_too_short_or_gapped_series_are_refused():
    with pytest.raises(DataError, match="at least 12 returns"):
        GLMUnsmoother().fit(np.zeros(8) + 0.01)
    with pytest.raises(DataError, match="NaN"):
        geltner([0.01, np.nan, 0.02, 0.0])
    with pytest.raises(DataError, match=r"rho must be in \(-1, 1\)"):
        geltner([0.01, 0.02, 0.0], rho=1.0)


def test_unsmooth_marks_takes_quarter_end_marks_and_says_which_method():
    rng = np.random.default_rng(7)
    r = rng.normal(0.03, 0.12, 26)
    nav = 100 * np.cumprod(1 + smooth_ma(r, THETA))
    q = pd.date_range("2019-03-31", periods=len(nav), freq="QE")
    # an extra mid-quarter mark is superseded by the quarter's last
    marks = pd.concat([pd.Series(nav, index=q), pd.Series([nav[3] * 1.5], index=[q[4] - pd.Timedelta(days=30)])])
    rets = mark_returns(marks)
    assert len(rets) == len(nav) - 1
    res = unsmooth_marks("FUND", marks)
    assert res.method_used == "glm" and res.volatility_used == res.volatility_glm
    assert res.volatility_glm > res.volatility_observed
    assert res.volatility_geltner > res.volatility_observed
    few = unsmooth_marks("STAKE", pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(["2023-01-01", "2024-01-01",
                                                                                    "2025-01-01"])))
    assert few.method_used == "proxy" and "too few" in few.notes[0]


# ---------------------------------------------------------------- the R reference, when installed
def _r_has(pkg: str) -> bool:
    r = shutil.which("Rscript")
    if r is None:
        return False
    res = subprocess.run([r, "-e", f"suppressMessages(library({pkg}))"], capture_output=True, timeout=120,
                         check=False)
    return res.returncode == 0


@pytest.mark.skipif(not _r_has("PerformanceAnalytics"),
                    reason="R's PerformanceAnalytics is not installed (Debian bookworm has no r-cran-performanceanalytics "
                           "candidate and CRAN is not reachable offline)")
def test_against_performanceanalytics(tmp_path):
    rng = np.random.default_rng(42)
    x = smooth_ma(rng.normal(0.01, 0.05, 102), THETA)
    f = tmp_path / "x.csv"
    np.savetxt(f, x, fmt="%.17g")
    code = (f"suppressMessages(library(PerformanceAnalytics)); x <- scan('{f}', quiet=TRUE); "
            "d <- as.Date('2000-01-01') + 0:(length(x)-1); z <- xts::xts(x, order.by=d); "
            "g <- as.numeric(Return.Geltner(z)); si <- as.numeric(SmoothingIndex(z)); "
            "cat(sprintf('%.17g', c(si, g[-1])), sep='\\n')")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=300, check=True).stdout
    vals = np.array([float(v) for v in out.split()])
    np.testing.assert_allclose(geltner(x)[1:], vals[1:], rtol=1e-10)
    assert GLMUnsmoother(k=2).fit(x).xi_ == pytest.approx(vals[0], abs=5e-3)  # two ML optimizers


@pytest.mark.skipif(shutil.which("Rscript") is None,
                    reason="R is not installed (Debian: apt-get install r-base-core); the comparison with R's own "
                           "acf and arima(method='ML') needs it")
def test_against_the_r_routines_performanceanalytics_calls(tmp_path):
    """What PerformanceAnalytics computes, written out in base R (stats::acf and stats::arima):
    Return.Geltner is (x - rho x_{t-1}) / (1 - rho) with rho from acf; SmoothingIndex fits
    arima(order = c(0, 0, 2), method = "ML", include.mean = TRUE) and normalises the MA
    coefficients. Tolerances: rho and Geltner 1e-12 (same formula); theta and xi 1e-4 and sigma
    1e-4 relative (two exact-likelihood optimizers: R's Kalman filter, statsmodels' innovations)."""
    rng = np.random.default_rng(42)
    x = smooth_ma(rng.normal(0.01, 0.05, 102), THETA)
    f = tmp_path / "x.csv"
    np.savetxt(f, x, fmt="%.17g")
    code = (f"x <- scan('{f}', quiet=TRUE); rho <- acf(x, plot=FALSE)$acf[2]; "
            "g <- (x[-1] - rho * x[-length(x)]) / (1 - rho); "
            "m <- arima(x, order=c(0,0,2), method='ML', include.mean=TRUE); "
            "b <- c(1, m$coef[1:2]); th <- b / sum(b); "
            "cat(sprintf('%.17g', c(rho, sum(th^2), th, sqrt(m$sigma2) * sum(b), g)), sep='\\n')")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=300, check=True).stdout
    v = np.array([float(t) for t in out.split()])
    assert lag1_autocorrelation(x) == pytest.approx(v[0], abs=1e-12)
    np.testing.assert_allclose(geltner(x)[1:], v[6:], rtol=0, atol=1e-12)
    m = GLMUnsmoother(k=2).fit(x)
    assert m.xi_ == pytest.approx(v[1], abs=1e-4)
    np.testing.assert_allclose(m.theta_, v[2:5], atol=1e-4)
    assert m.sigma_ == pytest.approx(v[5], rel=1e-4)
