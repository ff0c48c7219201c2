"""Covariance estimators with one contract, for returns that may hold NaN.

Every estimator is configured in ``__init__`` and learns in ``fit(returns)``:

>>> est = LedoitWolfCovariance().fit(returns)          # doctest: +SKIP
>>> est.covariance_, est.correlation_, est.annualized()  # doctest: +SKIP

Attributes after ``fit``
------------------------
covariance_ : pandas.DataFrame
    Assets x assets, in *per-period* units of the input's basis (squared returns per
    session or per calendar day; multiply by ``periods_per_year_`` to annualize).
correlation_ : pandas.DataFrame
    Assets x assets, unit diagonal.
location_ : pandas.Series
    Mean return per period used for centring (zero when ``assume_centered``).
periods_per_year_ : int or None
    From ``returns.attrs["periods_per_year"]`` (or the ``periods_per_year`` argument);
    None when neither is known, and then :meth:`annualized` raises.
basis_ : str or None
    ``returns.attrs["basis"]`` ("session" or "calendar") when present.
n_observations_ : pandas.DataFrame
    Assets x assets, the number of periods each pair had in common.
nan_policy_ : str
    One sentence saying how NaN (an asset not listed yet, delisted, or a missing bar)
    was treated, e.g. "pairwise: each pair uses the 812 periods both assets have".

NaN policies
------------
``"pairwise"``
    Each entry uses the periods where both assets have a return (pairwise-complete
    moments; means over the same overlap). The matrix may then be indefinite; use
    :class:`PairwiseShrunkCovariance` when it must be positive semi-definite.
``"complete"``
    Drop every period where any asset is NaN (the skfolio / PyPortfolioOpt default,
    which cuts all history to the youngest asset's listing); the number dropped is
    stated.
``"raise"``
    Any NaN raises :class:`~computefolio.errors.DataError`.

Everything inside is NumPy (three matrix products for pairwise moments, one when
there is no NaN); no ``DataFrame.corr`` in the hot path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._params import ParamsMixin
from ..errors import DataError

__all__ = [
    "CovarianceEstimator",
    "SampleCovariance",
    "EWMACovariance",
    "LedoitWolfCovariance",
    "PairwiseShrunkCovariance",
    "LeadLagCovariance",
    "cov_to_corr",
    "nearest_psd",
    "ledoit_wolf_shrinkage",
    "make_covariance",
]

_NAN_POLICIES = ("pairwise", "complete", "raise")


# ---------------------------------------------------------------------------- helpers
def cov_to_corr(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance matrix (zero-variance rows give NaN off-diagonal)."""
    cov = np.asarray(cov, dtype=float)
    d = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(d, d)
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def nearest_psd(cov: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Clip the eigenvalues of a symmetric matrix at ``floor`` (keeps the diagonal).

    Eigenvalue clipping followed by a diagonal rescale, so variances are unchanged
    (Higham 2002 gives the exact nearest correlation matrix; one clip-and-rescale step
    is the common approximation and is PSD by construction).
    """
    a = 0.5 * (cov + cov.T)
    vals, vecs = np.linalg.eigh(a)
    if vals.min() >= floor:
        return a
    b = (vecs * np.clip(vals, floor, None)) @ vecs.T
    d_old = np.sqrt(np.clip(np.diag(a), 0.0, None))
    d_new = np.sqrt(np.clip(np.diag(b), 1e-300, None))
    s = d_old / d_new
    b = b * np.outer(s, s)
    return 0.5 * (b + b.T)


def _as_frame(returns) -> pd.DataFrame:
    if isinstance(returns, pd.DataFrame):
        return returns
    arr = np.asarray(returns, dtype=float)
    if arr.ndim != 2:
        raise DataError(f"returns must be 2-D (periods x assets), got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _pairwise_moments(x: np.ndarray, mask: np.ndarray, w: np.ndarray | None, assume_centered: bool):
    """Pairwise-complete weighted first and second moments.

    Parameters
    ----------
    x : (T, N) array with NaN replaced by 0
    mask : (T, N) bool, True where observed
    w : (T,) weights or None for equal weights

    Returns
    -------
    cov : (N, N) weighted (biased) covariance over each pair's overlap
    wsum : (N, N) sum of weights over each pair's overlap
    n : (N, N) count of common observations
    wsq : (N, N) sum of squared weights over the overlap (for the unbiased correction)
    """
    m = mask.astype(float)
    if w is None:
        xw, mw = x, m
    else:
        xw, mw = x * w[:, None], m * w[:, None]
    sxx = x.T @ xw
    wsum = m.T @ mw
    n = m.T @ m if w is not None else wsum
    with np.errstate(divide="ignore", invalid="ignore"):
        if assume_centered:
            cov = sxx / wsum
        else:
            sx = xw.T @ m  # sx[i, j] = sum_t w_t x_ti m_tj
            cov = sxx / wsum - (sx / wsum) * (sx.T / wsum)
    wsq = (m * (w[:, None] ** 2)).T @ m if w is not None else n
    return cov, wsum, n, wsq


class CovarianceEstimator(ParamsMixin):
    """Base class: the shared ``fit`` contract (see the module docstring).

    Parameters
    ----------
    nan_policy : {"pairwise", "complete", "raise"}
    assume_centered : bool
        True: moments about zero (RiskMetrics convention); False: about the mean.
    periods_per_year : int, optional
        Overrides ``returns.attrs["periods_per_year"]``.
    """

    _default_nan_policy = "pairwise"

    def __init__(self, *, nan_policy: str | None = None, assume_centered: bool = False,
                 periods_per_year: int | None = None):
        self.nan_policy = nan_policy or self._default_nan_policy
        if self.nan_policy not in _NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {self.nan_policy!r}")
        self.assume_centered = assume_centered
        self.periods_per_year = periods_per_year

    # -------------------------------------------------------------- public
    def fit(self, returns: pd.DataFrame, y=None) -> "CovarianceEstimator":
        """Estimate from ``returns`` (periods x assets, fractions; NaN allowed).

        Returns
        -------
        self
        """
        frame = _as_frame(returns)
        cols = frame.columns
        x = frame.to_numpy(dtype=float)
        if x.shape[0] < 2:
            raise DataError(f"need at least 2 periods of returns to estimate a covariance, got {x.shape[0]}")
        mask = np.isfinite(x)
        all_obs = bool(mask.all())
        if not all_obs:
            empty = [str(c) for c, k in zip(cols, mask.sum(axis=0)) if k < 2]
            if empty:
                raise DataError(f"fewer than 2 returns for: {', '.join(empty[:10])}"
                                f"{' ...' if len(empty) > 10 else ''}: drop them before fitting")
        if self.nan_policy == "raise" and not all_obs:
            bad = [str(c) for c, k in zip(cols, (~mask).any(axis=0)) if k]
            raise DataError(f"returns contain NaN for {', '.join(bad[:10])} (nan_policy='raise')")
        if self.nan_policy == "complete" and not all_obs:
            keep = mask.all(axis=1)
            if keep.sum() < 2:
                raise DataError("no two periods where every asset has a return (nan_policy='complete'); "
                                "use nan_policy='pairwise' or PairwiseShrunkCovariance")
            self.nan_policy_ = (f"complete: dropped {int((~keep).sum())} of {len(keep)} periods where any "
                                f"asset had no return; {int(keep.sum())} periods used")
            x, mask = x[keep], mask[keep]
            all_obs = True
        elif all_obs:
            self.nan_policy_ = f"none needed: all {x.shape[0]} periods complete"
        else:
            per = mask.sum(axis=0)
            self.nan_policy_ = (f"pairwise: each pair uses the periods both assets have "
                                f"({int(per.min())} to {int(per.max())} per asset of {x.shape[0]})")
        if not all_obs:
            x = np.where(mask, x, 0.0)
        cov, n = self._estimate(x, mask, all_obs)
        self._set(cov, n, cols, frame, x, None if all_obs else mask)
        return self

    def annualized(self) -> pd.DataFrame:
        """``covariance_ * periods_per_year_`` (per-year units of the input's basis)."""
        self._check_fitted()
        if not self.periods_per_year_:
            raise ValueError("returns carried no periods_per_year: pass periods_per_year= to the estimator")
        return self.covariance_ * self.periods_per_year_

    def volatility(self, annualize: bool = True) -> pd.Series:
        """Standard deviation per asset (annualized by sqrt(periods_per_year_) unless told not to)."""
        v = pd.Series(np.sqrt(np.diag(self.covariance_.to_numpy())), index=self.covariance_.index)
        if annualize:
            self.annualized()  # raises if unknown
            v = v * np.sqrt(self.periods_per_year_)
        return v.rename("volatility")

    def describe(self) -> dict:
        """Name, parameters and NaN treatment, JSON-safe (for reports)."""
        self._check_fitted()
        return {"estimator": type(self).__name__, "params": self._params(), "nan_policy": self.nan_policy_,
                "basis": self.basis_, "periods_per_year": self.periods_per_year_,
                "n_periods": int(self.n_periods_)}

    # -------------------------------------------------------------- internals
    def _params(self) -> dict:
        return {"nan_policy": self.nan_policy, "assume_centered": self.assume_centered}

    def _estimate(self, x: np.ndarray, mask: np.ndarray, all_obs: bool):
        raise NotImplementedError

    def _check_fitted(self):
        if not hasattr(self, "covariance_"):
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(returns) first")

    def _set(self, cov, n, cols, frame, x, mask):
        if np.ndim(n) != 0:  # pairwise moments: symmetrize rounding
            cov = 0.5 * (cov + cov.T)
        self.covariance_ = pd.DataFrame(cov, index=cols, columns=cols, copy=False)
        self._corr = None
        self._n = n
        self._cols = cols
        self.n_periods_ = x.shape[0]
        if self.assume_centered:
            loc = np.zeros(x.shape[1])
        else:
            cnt = mask.sum(axis=0) if mask is not None else x.shape[0]
            with np.errstate(invalid="ignore", divide="ignore"):
                loc = x.sum(axis=0) / cnt
        self.location_ = pd.Series(loc, index=cols, name="mean")
        attrs = getattr(frame, "attrs", {}) or {}
        self.basis_ = attrs.get("basis")
        self.periods_per_year_ = self.periods_per_year or attrs.get("periods_per_year")
        self.n_features_in_ = x.shape[1]
        self.feature_names_in_ = np.asarray(cols.astype(str), dtype=object)

    @property
    def correlation_(self) -> pd.DataFrame:
        """Correlation matrix (assets x assets, unit diagonal), computed on first access."""
        self._check_fitted()
        if self._corr is None:
            self._corr = pd.DataFrame(cov_to_corr(self.covariance_.to_numpy()), index=self._cols,
                                      columns=self._cols, copy=False)
        return self._corr

    @property
    def n_observations_(self) -> pd.DataFrame:
        """Number of periods each pair had in common (assets x assets)."""
        self._check_fitted()
        p = len(self._cols)
        n = np.broadcast_to(np.asarray(self._n, dtype=float), (p, p))
        return pd.DataFrame(n.astype(int), index=self._cols, columns=self._cols)


class SampleCovariance(CovarianceEstimator):
    """Unbiased sample covariance (divides by n - 1 over each pair's common periods).

    Matches ``numpy.cov(x, rowvar=False)`` (and ``DataFrame.cov``) when there is no NaN.
    """

    def _estimate(self, x, mask, all_obs):
        n_t = x.shape[0]
        if all_obs:
            xc = x if self.assume_centered else x - x.mean(axis=0)
            denom = n_t if self.assume_centered else n_t - 1
            return (xc.T @ xc) / denom, n_t
        cov, _, n, _ = _pairwise_moments(x, mask, None, self.assume_centered)
        if not self.assume_centered:
            with np.errstate(divide="ignore", invalid="ignore"):
                cov = cov * n / (n - 1)
        return cov, n


def _ew_weights(halflife: float, n_t: int) -> np.ndarray:
    """Weight ``lam ** (n_t - 1 - t)`` of period t (0 = oldest), ``lam = 0.5 ** (1 / halflife)``; shape (n_t,)."""
    lam = 0.5 ** (1.0 / halflife)
    return lam ** np.arange(n_t - 1, -1, -1, dtype=float)


class EWMACovariance(CovarianceEstimator):
    """Exponentially weighted covariance (RiskMetrics 1996) with a half-life.

    Period t (0 = oldest, T-1 = latest) has weight ``lam ** (T-1-t)`` with
    ``lam = 0.5 ** (1 / halflife)``, normalised to sum to one over the periods
    used (over each pair's overlap when NaN are present). The estimate is the
    weighted second moment about the weighted mean (about zero when
    ``assume_centered``), without a small-sample correction; equivalently the
    recursion ``S_t = lam S_{t-1} + (1 - lam) r_t r_t'`` started at zero and divided
    by ``1 - lam ** T``.

    Parameters
    ----------
    halflife : float
        In periods of the input's basis (sessions or days). Default 63.
    min_periods : int
        Fewer common periods than this gives NaN for the pair.
    """

    def __init__(self, halflife: float = 63.0, *, min_periods: int = 2, nan_policy: str | None = None,
                 assume_centered: bool = False, periods_per_year: int | None = None):
        super().__init__(nan_policy=nan_policy, assume_centered=assume_centered, periods_per_year=periods_per_year)
        if not halflife > 0:
            raise ValueError(f"halflife must be > 0 periods, got {halflife}")
        self.halflife = float(halflife)
        self.min_periods = int(min_periods)

    def _params(self):
        return {**super()._params(), "halflife": self.halflife, "min_periods": self.min_periods}

    def _weights(self, n_t: int) -> np.ndarray:
        return _ew_weights(self.halflife, n_t)

    def _estimate(self, x, mask, all_obs):
        n_t = x.shape[0]
        w = self._weights(n_t)
        if all_obs:
            wn = w / w.sum()
            mu = np.zeros(x.shape[1]) if self.assume_centered else wn @ x
            xs = (x - mu) * np.sqrt(wn)[:, None]
            return xs.T @ xs, n_t
        cov, _, n, _ = _pairwise_moments(x, mask, w, self.assume_centered)
        cov = np.where(n >= self.min_periods, cov, np.nan)
        return cov, n

    def _set(self, cov, n, cols, frame, x, mask):
        super()._set(cov, n, cols, frame, x, mask)
        if not self.assume_centered:
            w = self._weights(x.shape[0])[:, None] * (mask if mask is not None else 1.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.location_ = pd.Series((x * w).sum(axis=0) / w.sum(axis=0), index=cols, name="mean")


def ledoit_wolf_shrinkage(xc: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Ledoit-Wolf (2004) optimal shrinkage of the sample covariance towards ``mu * I``.

    Ledoit, O. and Wolf, M. (2004), "A well-conditioned estimator for
    large-dimensional covariance matrices", J. Multivariate Analysis 88, 365-411,
    Lemma 3.2-3.4 with the norm ``||A||^2 = tr(A A') / p``:

    * ``S = X'X / n`` (centred data, divisor n), ``mu = tr(S) / p``
    * ``d2 = ||S - mu I||^2``
    * ``b2_bar = (1/n^2) sum_k ||x_k x_k' - S||^2 = (sum_k ||x_k||^4 - n ||S||_F^2) / (p n^2)``
    * ``b2 = min(b2_bar, d2)``, shrinkage ``= b2 / d2``.

    Parameters
    ----------
    xc : (n, p) array of centred observations

    Returns
    -------
    shrinkage : float in [0, 1]
    mu : float
    s : (p, p) the biased sample covariance ``X'X / n``
    """
    n, p = xc.shape
    s = (xc.T @ xc) / n
    mu = np.trace(s) / p
    fro2 = float(np.einsum("ij,ij->", s, s))
    row_sq = np.einsum("ij,ij->i", xc, xc)
    d2 = (fro2 - 2.0 * mu * np.trace(s) + p * mu * mu) / p
    b2_bar = (float(row_sq @ row_sq) - n * fro2) / (p * n * n)
    b2 = min(b2_bar, d2)
    shrink = 0.0 if d2 <= 0 else b2 / d2
    return float(min(max(shrink, 0.0), 1.0)), float(mu), s


class LedoitWolfCovariance(CovarianceEstimator):
    """Ledoit-Wolf (2004) shrinkage towards a scaled identity, with the optimal intensity.

    Same conventions as :class:`sklearn.covariance.LedoitWolf` (divisor n, target
    ``mu I`` with ``mu = tr(S)/p``), so the two agree to rounding. NaN: default
    ``nan_policy="complete"`` (rows with any NaN dropped, said in ``nan_policy_``);
    for young assets use :class:`PairwiseShrunkCovariance`.

    Attributes
    ----------
    shrinkage_ : float
        The intensity in [0, 1].
    """

    _default_nan_policy = "complete"

    def __init__(self, *, nan_policy: str | None = None, assume_centered: bool = False,
                 periods_per_year: int | None = None):
        super().__init__(nan_policy=nan_policy, assume_centered=assume_centered, periods_per_year=periods_per_year)
        if self.nan_policy == "pairwise":
            raise ValueError("LedoitWolfCovariance needs complete rows: nan_policy 'complete' or 'raise' "
                             "(use PairwiseShrunkCovariance for pairwise histories)")

    def _estimate(self, x, mask, all_obs):
        xc = x if self.assume_centered else x - x.mean(axis=0)
        shrink, mu, s = ledoit_wolf_shrinkage(xc)
        cov = (1.0 - shrink) * s
        cov[np.diag_indices_from(cov)] += shrink * mu
        self.shrinkage_ = shrink
        return cov, x.shape[0]

    def describe(self) -> dict:
        d = super().describe()
        d["shrinkage"] = self.shrinkage_
        return d


class PairwiseShrunkCovariance(CovarianceEstimator):
    """For short and young histories: pairwise-complete moments, shrunk, made PSD.

    1. Variances from each asset's own full history; correlations from each
       pair's common periods (pairwise-complete, so a token listed in 2023 does not
       cut everyone's history to 2023).
    2. Each correlation is shrunk towards the average off-diagonal correlation
       ``rbar`` (the constant-correlation target of Ledoit and Wolf 2003) with a
       per-pair intensity ``k / (k + n_ij)``: pairs with few common periods are
       shrunk more. ``k = prior_periods``.
    3. The correlation matrix is made positive semi-definite by eigenvalue clipping
       at ``eig_floor`` and rescaling to a unit diagonal.

    Parameters
    ----------
    prior_periods : float
        Weight of the target in periods (default 60).
    halflife : float, optional
        If given, moments are exponentially weighted as in :class:`EWMACovariance`.
    eig_floor : float
        Smallest eigenvalue of the correlation matrix after repair (default 1e-6).

    Attributes
    ----------
    shrinkage_ : pandas.DataFrame
        Per-pair intensity ``k / (k + n_ij)`` (0 on the diagonal).
    target_correlation_ : float
        ``rbar``.
    """

    def __init__(self, prior_periods: float = 60.0, *, halflife: float | None = None, eig_floor: float = 1e-6,
                 assume_centered: bool = False, periods_per_year: int | None = None):
        super().__init__(nan_policy="pairwise", assume_centered=assume_centered, periods_per_year=periods_per_year)
        self.prior_periods = float(prior_periods)
        self.halflife = halflife
        self.eig_floor = float(eig_floor)

    def _params(self):
        return {**super()._params(), "prior_periods": self.prior_periods, "halflife": self.halflife,
                "eig_floor": self.eig_floor}

    def _estimate(self, x, mask, all_obs):
        n_t, p = x.shape
        w = _ew_weights(self.halflife, n_t) if self.halflife else None
        cov, _, n, _ = _pairwise_moments(x, mask, w, self.assume_centered)
        if w is None and not self.assume_centered:
            with np.errstate(divide="ignore", invalid="ignore"):
                cov = cov * n / (n - 1)
        var = np.diag(cov).copy()
        corr = cov_to_corr(cov)
        corr = np.where(np.isfinite(corr), corr, 0.0)
        off = ~np.eye(p, dtype=bool)
        rbar = float(corr[off].mean()) if p > 1 else 0.0
        k = self.prior_periods
        lam = k / (k + n)
        lam[~off] = 0.0
        shrunk = (1.0 - lam) * corr + lam * rbar
        np.fill_diagonal(shrunk, 1.0)
        shrunk = nearest_psd(shrunk, self.eig_floor)
        d = np.sqrt(var)
        self.shrinkage_ = lam
        self.target_correlation_ = rbar
        self.nan_policy_ = self.nan_policy_.replace(
            "pairwise:", f"pairwise, shrunk towards rbar={rbar:.3f} with intensity {k:g}/({k:g}+n_ij), "
                         "eigenvalues clipped:") if "pairwise" in self.nan_policy_ else \
            self.nan_policy_ + f"; correlations shrunk towards rbar={rbar:.3f} with intensity {k:g}/({k:g}+n)"
        return shrunk * np.outer(d, d), n

    def _set(self, cov, n, cols, frame, x, mask):
        super()._set(cov, n, cols, frame, x, mask)
        self.shrinkage_ = pd.DataFrame(self.shrinkage_, index=cols, columns=cols)


class LeadLagCovariance(CovarianceEstimator):
    """Covariance corrected for non-synchronous closes (Dimson 1979 / Scholes-Williams 1977).

    Off-diagonal entries are the sums of cross-covariances at lags ``-L..L``,
    ``S_ij = sum_{k=-L..L} cov(r_i,t, r_j,t+k)``; the diagonal keeps the lag-0 variances,
    so each implied correlation equals :func:`computefolio.risk.crosscorr.lead_lag_correlation`
    of the pair. The matrix is then made positive semi-definite by eigenvalue clipping of
    the correlation matrix (diagonal kept). Use it for books that mix crypto (00:00 UTC
    closes) and equities (16:00 New York closes). Complete periods only (``nan_policy``
    ``"complete"`` or ``"raise"``).

    Parameters
    ----------
    lags : int
        L, default 1.
    """

    _default_nan_policy = "complete"

    def __init__(self, lags: int = 1, *, nan_policy: str | None = None, periods_per_year: int | None = None):
        super().__init__(nan_policy=nan_policy, assume_centered=False, periods_per_year=periods_per_year)
        if self.nan_policy == "pairwise":
            raise ValueError("LeadLagCovariance needs complete rows: nan_policy 'complete' or 'raise'")
        self.lags = int(lags)

    def _params(self):
        return {**super()._params(), "lags": self.lags}

    def _estimate(self, x, mask, all_obs):
        t = x.shape[0]
        if t <= 2 * self.lags + 2:
            raise DataError(f"need more than {2 * self.lags + 2} periods for lead-lag covariance, got {t}")
        s0 = np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
        tot = s0.copy()
        for k in range(1, self.lags + 1):
            a, b = x[:-k], x[k:]
            ac, bc = a - a.mean(axis=0), b - b.mean(axis=0)
            g = ac.T @ bc / (t - k - 1)  # g[i, j] = cov(r_i,t, r_j,t+k)
            tot += g + g.T
        var = np.diag(s0).copy()
        d = np.sqrt(var)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = tot / np.outer(d, d)
        np.fill_diagonal(corr, 1.0)
        corr = nearest_psd(np.clip(corr, -1.0, 1.0), 0.0)
        return corr * np.outer(d, d), t


_ESTIMATORS = {
    "sample": SampleCovariance,
    "ewma": EWMACovariance,
    "ledoit_wolf": LedoitWolfCovariance,
    "lw": LedoitWolfCovariance,
    "pairwise_shrunk": PairwiseShrunkCovariance,
    "lead_lag": LeadLagCovariance,
}


def make_covariance(name: str = "ledoit_wolf", **params) -> CovarianceEstimator:
    """Estimator by name: ``sample``, ``ewma``, ``ledoit_wolf`` (``lw``), ``pairwise_shrunk``, ``lead_lag``."""
    try:
        cls = _ESTIMATORS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown covariance estimator {name!r}; choose from {sorted(_ESTIMATORS)}") from None
    return cls(**params)
