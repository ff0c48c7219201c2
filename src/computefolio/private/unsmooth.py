"""Unsmoothing the returns of marked (appraised) positions: Geltner AR(1) and Getmansky-Lo-Makarov.

Reported returns of private positions are smoothed: an appraiser or a fund administrator
blends today's value with earlier ones, so observed returns are autocorrelated and their
volatility understates the true one. The risk model never puts such returns in a covariance
(:mod:`computefolio.private.sleeve` uses the unsmoothed volatility or the proxy exposure and
says which); this module estimates how smooth they are and what lies beneath.

**Geltner (1993)**, AR(1) smoothing ``r*_t = (1 - rho) r_t + rho r*_{t-1}``, inverted::

    r_t = (r*_t - rho r*_{t-1}) / (1 - rho)

with ``rho`` the lag-1 autocorrelation of the observed returns, estimated as R's ``acf``
does (and PerformanceAnalytics' ``Return.Geltner`` after it): deviations from the full-sample
mean, ``rho = sum_{t>=2} (x_t - m)(x_{t-1} - m) / sum_t (x_t - m)^2``. The first unsmoothed
return is undefined (NaN). For an AR(1)-smoothed series and the true ``rho`` the inversion
is exact; the volatility of the unsmoothed series is close to ``observed x sqrt((1 + rho) /
(1 - rho))``.

**Getmansky, Lo & Makarov (2004)**: observed ``R0_t = theta_0 R_t + ... + theta_k R_{t-k}``,
``theta_j >= 0``, ``sum theta_j = 1``, with ``R_t`` i.i.d. (mean ``mu``, s.d. ``sigma``). Then
``R0_t - mu`` is an MA(k) process ``eta_t + b_1 eta_{t-1} + ... + b_k eta_{t-k}`` with
``b_j = theta_j / theta_0`` and ``eta_t = theta_0 (R_t - mu)``. The MA(k) is fitted by exact
Gaussian maximum likelihood (statsmodels ``ARIMA(0, 0, k)`` with a constant,
``innovations_mle``; PerformanceAnalytics' ``SmoothingIndex`` calls R's ``arima(method="ML")``
the same way) and normalised::

    theta = (1, b_1, ..., b_k) / (1 + sum b),   sigma = sigma_eta (1 + sum b),
    smoothing index xi = sum theta_j^2   (1 = no smoothing; observed vol = sigma sqrt(xi))

Standard errors of ``theta`` and ``xi`` come from the MLE covariance of ``b`` by the delta
method. The unsmoothed series is ``mu + e_t / theta_0``, ``e_t`` the model's one-step
innovations. Volatilities are annualized with the marks' periods per year (4 for quarterly
statements) and say so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

#: Fewest returns for a Geltner estimate, and for a GLM MA(k) fit.
MIN_GELTNER = 8
MIN_GLM = 12


def _values(returns) -> np.ndarray:
    x = np.asarray(returns, dtype=float)
    if x.ndim != 1:
        raise DataError(f"returns must be one series, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError("returns hold NaN or infinite values: drop the gaps first (unsmoothing needs a regular "
                        "series of periods)")
    return x


def lag1_autocorrelation(returns) -> float:
    """Lag-1 autocorrelation as R's ``acf`` computes it (full-sample mean, divided by the variance sum)."""
    x = _values(returns)
    if len(x) < 3:
        raise DataError(f"a lag-1 autocorrelation needs at least 3 returns, got {len(x)}")
    d = x - x.mean()
    den = float(d @ d)
    if den == 0:
        return 0.0
    return float(d[1:] @ d[:-1] / den)


def geltner(returns, rho: float | None = None):
    """Geltner's unsmoothed returns ``(r*_t - rho r*_{t-1}) / (1 - rho)``.

    Parameters
    ----------
    returns : array-like or pandas.Series
        Observed (smoothed) simple returns of one position, one per period.
    rho : float, optional
        Smoothing parameter in (-1, 1); default: :func:`lag1_autocorrelation` of ``returns``.

    Returns
    -------
    Same type as ``returns`` (a Series keeps its index); the first value is NaN.
    """
    x = _values(returns)
    r = lag1_autocorrelation(x) if rho is None else float(rho)
    if not -1.0 < r < 1.0:
        raise DataError(f"Geltner's rho must be in (-1, 1), got {r}")
    out = np.full_like(x, np.nan)
    out[1:] = (x[1:] - r * x[:-1]) / (1.0 - r)
    if isinstance(returns, pd.Series):
        return pd.Series(out, index=returns.index, name=returns.name)
    return out


def smooth_ar1(returns, rho: float, start: float | None = None) -> np.ndarray:
    """The AR(1) appraisal smoothing Geltner inverts: ``r*_t = (1 - rho) r_t + rho r*_{t-1}``
    (``r*_0 = start``, default ``r_0``). For tests and examples."""
    x = _values(returns)
    out = np.empty_like(x)
    out[0] = x[0] if start is None else start
    for t in range(1, len(x)):
        out[t] = (1.0 - rho) * x[t] + rho * out[t - 1]
    return out


def smooth_ma(returns, theta) -> np.ndarray:
    """GLM smoothing ``R0_t = sum_j theta_j R_{t-j}`` (the first ``k`` values dropped). For tests."""
    x = _values(returns)
    th = np.asarray(theta, dtype=float)
    return np.convolve(x, th, mode="valid")


def smoothing_index(theta) -> float:
    """``xi = sum theta_j^2`` (1 = no smoothing, 1/(k+1) = the most an MA(k) can smooth)."""
    return float(np.sum(np.asarray(theta, dtype=float) ** 2))


class GeltnerUnsmoother:
    """Geltner AR(1) unsmoothing as an estimator.

    Parameters
    ----------
    rho : float, optional
        Fixed smoothing parameter; default: estimated as the lag-1 autocorrelation.
    periods_per_year : float
        Periods per year of the returns (4 for quarterly marks), for annualized volatility.

    Attributes
    ----------
    rho_ : float
    returns_ : Series or ndarray
        Unsmoothed returns (first NaN).
    volatility_observed_, volatility_ : float
        Annualized s.d. of the observed and of the unsmoothed returns (``ddof=1``).
    volatility_closed_form_ : float
        ``volatility_observed_ * sqrt((1 + rho) / (1 - rho))``.
    n_ : int
    """

    def __init__(self, rho: float | None = None, periods_per_year: float = 4.0):
        self.rho = rho
        self.periods_per_year = periods_per_year

    def fit(self, returns) -> GeltnerUnsmoother:
        x = _values(returns)
        if len(x) < 3:
            raise DataError(f"Geltner unsmoothing needs at least 3 returns, got {len(x)}")
        self.rho_ = lag1_autocorrelation(x) if self.rho is None else float(self.rho)
        self.returns_ = geltner(returns, self.rho_)
        a = math.sqrt(self.periods_per_year)
        u = np.asarray(self.returns_, dtype=float)[1:]
        self.volatility_observed_ = float(np.std(x, ddof=1) * a)
        self.volatility_ = float(np.std(u, ddof=1) * a) if len(u) > 1 else float("nan")
        self.volatility_closed_form_ = float(self.volatility_observed_ * math.sqrt((1 + self.rho_) / (1 - self.rho_)))
        self.n_ = len(x)
        return self


class GLMUnsmoother:
    """Getmansky-Lo-Makarov MA(k) smoothing profile by maximum likelihood (module docstring).

    Parameters
    ----------
    k : int
        Smoothing lags (2 as in the paper and in PerformanceAnalytics' ``SmoothingIndex``).
    periods_per_year : float
        Periods per year of the returns, for annualized volatility.

    Attributes
    ----------
    theta_ : ndarray, shape (k + 1,)
        Normalised smoothing weights (sum to 1).
    theta_se_ : ndarray
        Their standard errors (delta method on the MLE covariance of the MA coefficients).
    ma_ : ndarray, shape (k,)
        The fitted MA coefficients ``b``.
    xi_, xi_se_ : float
        Smoothing index and its standard error.
    mu_ : float
        Mean return per period.
    sigma_ : float
        Per-period s.d. of the true (unsmoothed) returns.
    volatility_, volatility_observed_ : float
        Annualized: ``sigma_`` and the s.d. of the observed returns (``ddof=1``).
    returns_ : Series or ndarray
        Unsmoothed returns ``mu + e_t / theta_0``.
    loglik_ : float
    n_ : int
    notes_ : list of str
        What to know (negative weights, a fit that did not converge).
    """

    def __init__(self, k: int = 2, periods_per_year: float = 4.0):
        self.k = k
        self.periods_per_year = periods_per_year

    def fit(self, returns) -> GLMUnsmoother:
        from statsmodels.tsa.arima.model import ARIMA

        x = _values(returns)
        k = int(self.k)
        if k < 1:
            raise DataError(f"GLM smoothing needs k >= 1 lags, got {k}")
        if len(x) < max(MIN_GLM, 3 * (k + 2)):
            raise DataError(f"a GLM MA({k}) fit needs at least {max(MIN_GLM, 3 * (k + 2))} returns, got {len(x)}")
        notes: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = ARIMA(x, order=(0, 0, k), trend="c").fit(method="innovations_mle")
        conv = [str(w.message) for w in caught if "converge" in str(w.message).lower()]
        if conv:
            notes.append("the MA likelihood optimizer reported: " + conv[0])
        p = np.asarray(res.params, dtype=float)
        mu, b, s2 = float(p[0]), p[1:1 + k], float(p[-1])
        S = 1.0 + float(b.sum())
        if S <= 0:
            raise DataError(f"GLM fit: 1 + sum of MA coefficients is {S:.3g} <= 0; the series is not smoothed "
                            "returns (use Geltner or the proxy exposure)")
        theta = np.r_[1.0, b] / S
        # delta method: d theta_j / d b_m = (delta_jm S - c_j) / S^2 with c = (1, b)
        c = np.r_[1.0, b]
        J = np.zeros((k + 1, k))
        for m in range(k):
            J[:, m] = -c / S ** 2
            J[m + 1, m] += 1.0 / S
        cov_b = np.asarray(res.cov_params(), dtype=float)[1:1 + k, 1:1 + k]
        cov_t = J @ cov_b @ J.T
        self.theta_ = theta
        self.theta_se_ = np.sqrt(np.clip(np.diag(cov_t), 0.0, None))
        g = 2.0 * theta
        self.xi_ = smoothing_index(theta)
        self.xi_se_ = float(math.sqrt(max(float(g @ cov_t @ g), 0.0)))
        self.ma_ = b
        self.mu_ = mu
        self.sigma_ = float(math.sqrt(s2) * S)
        a = math.sqrt(self.periods_per_year)
        self.volatility_ = self.sigma_ * a
        self.volatility_observed_ = float(np.std(x, ddof=1) * a)
        e = np.asarray(res.resid, dtype=float)
        u = mu + e / theta[0]
        self.returns_ = pd.Series(u, index=returns.index, name=returns.name) if isinstance(returns, pd.Series) else u
        self.loglik_ = float(res.llf)
        self.n_ = len(x)
        if (theta < 0).any():
            notes.append(f"negative smoothing weight(s) {', '.join(f'theta_{j}={t:.3f}' for j, t in enumerate(theta) if t < 0)}: "
                         "the returns are not smoothed the way GLM assumes")
        self.notes_ = notes
        return self


@dataclass
class UnsmoothingResult:
    """Observed vs unsmoothed risk of one position's mark returns (what the report shows).

    ``method_used`` is the estimate the risk model takes the volatility from: ``"glm"``,
    ``"geltner"``, or ``"proxy"`` when the marks are too few or too irregular.
    """

    symbol: str
    n: int
    periods_per_year: float
    frequency: str
    volatility_observed: float | None
    rho: float | None
    volatility_geltner: float | None
    theta: list | None
    theta_se: list | None
    xi: float | None
    xi_se: float | None
    volatility_glm: float | None
    method_used: str
    volatility_used: float | None
    notes: list

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def mark_returns(prices: pd.Series, period: str = "Q") -> pd.Series:
    """Returns between period-end marks: the last mark of each period (``"Q"`` quarters, ``"M"``
    months), simple returns indexed by period; periods without a new mark are dropped (they
    would be zero returns that no appraiser reported)."""
    p = prices.dropna().sort_index()
    if p.empty:
        return pd.Series(dtype=float)
    last = p.groupby(pd.DatetimeIndex(p.index).to_period(period)).last()
    return last.pct_change().dropna()


def unsmooth_marks(symbol: str, mark_prices: pd.Series, *, frequency: str = "quarterly", k: int = 2,
                   prefer: str = "glm") -> UnsmoothingResult:
    """Observed and unsmoothed volatility of one position's marks (Geltner and GLM).

    Parameters
    ----------
    symbol : str
    mark_prices : pandas.Series
        Mark prices (currency per unit) indexed by valuation date.
    frequency : {"quarterly", "monthly"}
        The marks' reporting period (returns are taken between period-end marks).
    k : int
        GLM lags.
    prefer : {"glm", "geltner"}
        Which estimate the risk model uses when both are available.

    Returns
    -------
    UnsmoothingResult
        ``method_used = "proxy"`` (with the reason in ``notes``) when there are fewer than
        :data:`MIN_GELTNER` period returns.
    """
    ppy = {"quarterly": 4.0, "monthly": 12.0}[frequency]
    rets = mark_returns(mark_prices, "Q" if frequency == "quarterly" else "M")
    n = len(rets)
    notes: list[str] = []
    vol_obs = float(rets.std(ddof=1) * math.sqrt(ppy)) if n >= MIN_GELTNER else None
    out = {"symbol": symbol, "n": n, "periods_per_year": ppy, "frequency": frequency, "volatility_observed": vol_obs,
           "rho": None, "volatility_geltner": None, "theta": None, "theta_se": None, "xi": None, "xi_se": None,
           "volatility_glm": None, "method_used": "proxy", "volatility_used": None, "notes": notes}
    if n < MIN_GELTNER:
        notes.append(f"{n} {frequency} mark return(s): fewer than {MIN_GELTNER}, too few to unsmooth; risk from the "
                     "proxy exposure")
        return UnsmoothingResult(**out)
    g = GeltnerUnsmoother(periods_per_year=ppy).fit(rets)
    out.update(rho=g.rho_, volatility_geltner=g.volatility_)
    if not -0.95 < g.rho_ < 0.95:
        notes.append(f"lag-1 autocorrelation {g.rho_:.2f} near +-1: Geltner unstable")
    glm = None
    if n >= MIN_GLM:
        try:
            glm = GLMUnsmoother(k=k, periods_per_year=ppy).fit(rets)
            out.update(theta=[float(t) for t in glm.theta_], theta_se=[float(s) for s in glm.theta_se_],
                       xi=glm.xi_, xi_se=glm.xi_se_, volatility_glm=glm.volatility_)
            notes.extend(glm.notes_)
        except DataError as exc:
            notes.append(f"GLM: {exc}")
    else:
        notes.append(f"{n} returns: fewer than {MIN_GLM} for a GLM MA({k}) fit; Geltner only")
    use_glm = glm is not None and prefer == "glm" and not (glm.theta_ < 0).any()
    if use_glm:
        out.update(method_used="glm", volatility_used=glm.volatility_)
    else:
        out.update(method_used="geltner", volatility_used=g.volatility_)
    return UnsmoothingResult(**out)
