"""Is the best of many backtests luck? The deflated Sharpe ratio and the probability of backtest overfitting.

A sweep that tries N variants of a strategy and reports the best one reports, on
average, a Sharpe ratio that grows with N even when no variant has any edge. Two
statistics correct for that selection:

Deflated Sharpe ratio (DSR)
    Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio:
    Correcting for Selection Bias, Backtest Overfitting and Non-Normality",
    *Journal of Portfolio Management* 40(5), 94-107.

    The probabilistic Sharpe ratio (Bailey and López de Prado 2012) of an observed
    per-period Sharpe ratio ``SR`` against a threshold ``SR0`` is

    ``PSR(SR0) = Phi( (SR - SR0) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )``

    with ``T`` returns, ``g3`` their skewness and ``g4`` their kurtosis (3 for a
    normal distribution, *not* excess kurtosis). The DSR is the PSR against the
    Sharpe ratio that the best of ``N`` independent trials would show by luck alone,

    ``SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``,

    ``V`` the variance of the trials' Sharpe ratios and ``gamma`` the
    Euler-Mascheroni constant. DSR is a probability: above 0.95, the best variant's
    Sharpe ratio is unlikely to be the luck of the search.

Probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV)
    Bailey, D. H., Borwein, J. M., López de Prado, M. and Zhu, Q. J. (2017), "The
    Probability of Backtest Overfitting", *Journal of Computational Finance* 20(4), 39-69.

    The T x N matrix of the variants' returns is cut into ``S`` (even) blocks of
    consecutive periods. For each of the C(S, S/2) ways to pick half the blocks as
    the in-sample set (the rest, in the same time order, out of sample), the variant
    with the best in-sample Sharpe ratio is chosen and its out-of-sample relative rank
    ``w = rank / (N + 1)`` (rank 1 = worst, ties averaged) gives the logit
    ``lambda = ln(w / (1 - w))``. PBO is the share of splits with ``lambda <= 0``:
    the in-sample winner did no better than the median variant out of sample.

Conventions (stated because the papers leave them to the reader)
--------------------------------------------------------------
* Sharpe ratios here are **per period** (not annualized; multiply by sqrt(periods per
  year) to annualize), mean / standard deviation with ``ddof=1``, no risk-free rate
  unless the caller subtracts one from the returns.
* Skewness and kurtosis are the sample moments without bias correction
  (``scipy.stats.skew(bias=True)``, ``scipy.stats.kurtosis(fisher=False, bias=True)``),
  kurtosis 3 for a normal.
* ``V`` is the variance of the trials' per-period Sharpe ratios with ``ddof=1``;
  ``N`` defaults to the number of trials (variants). Variants of one strategy are
  correlated, so the effective number of independent trials is lower and the DSR
  computed with the raw count is conservative; pass ``n_trials`` to override.
* CSCV drops the oldest ``T mod S`` periods so that blocks have equal length; a
  variant with zero variance in a half has Sharpe ratio 0 there.
* Interpretation: PBO near 0 means the in-sample ranking carries over out of sample;
  near 0.5 the in-sample winner is a random pick (independent noise strategies give
  about 0.5); near 1 the selection is anti-informative (e.g. variants whose
  full-sample performance is identical, so a good first half means a bad second half).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy import stats as _st

__all__ = ["EULER_GAMMA", "DeflatedSharpe", "PBOResult", "sharpe_per_period", "probabilistic_sharpe_ratio",
           "expected_max_sharpe", "deflated_sharpe_ratio", "pbo_cscv"]

#: Euler-Mascheroni constant.
EULER_GAMMA = 0.5772156649015329


def sharpe_per_period(returns) -> np.ndarray | float:
    """Per-period Sharpe ratio, mean / std (ddof=1), of a 1-D series or of each column of a 2-D array.

    NaN returns are ignored; a column with zero variance has Sharpe ratio NaN.
    """
    a = np.asarray(returns, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.nanmean(a, axis=0)
        s = np.nanstd(a, axis=0, ddof=1)
        out = np.where(s > 0, m / np.where(s > 0, s, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, n: int, skew: float = 0.0,
                               kurtosis: float = 3.0) -> float:
    """Probability that the true per-period Sharpe ratio exceeds ``benchmark``.

    Parameters
    ----------
    sharpe : float
        Observed Sharpe ratio, per period.
    benchmark : float
        Threshold Sharpe ratio, per period (the DSR uses the expected maximum of the trials).
    n : int
        Number of returns the Sharpe ratio was estimated on.
    skew, kurtosis : float
        Skewness and kurtosis (normal: 0 and 3) of those returns.
    """
    if n < 2:
        raise ValueError(f"need at least 2 returns, got {n}")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if not var > 0:
        raise ValueError(f"the Sharpe ratio's variance term is not positive ({var:g}): check skew and kurtosis")
    z = (sharpe - benchmark) * math.sqrt(n - 1) / math.sqrt(var)
    return float(_st.norm.cdf(z))


def expected_max_sharpe(variance: float, n_trials: int) -> float:
    """Expected maximum of ``n_trials`` Sharpe ratios with true value 0 and variance ``variance``.

    ``sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))`` (Bailey and
    López de Prado 2014, after the false strategy theorem); 0 for one trial.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if variance < 0:
        raise ValueError(f"variance must be non-negative, got {variance}")
    if n_trials == 1:
        return 0.0
    q = (1.0 - EULER_GAMMA) * _st.norm.ppf(1.0 - 1.0 / n_trials) + \
        EULER_GAMMA * _st.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(variance) * q)


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best of several trials.

    Attributes
    ----------
    dsr : float
        Probability (0..1) that the best trial's true Sharpe ratio exceeds what the best
        of ``n_trials`` luck-only trials would show.
    best : int
        Index (column) of the best trial.
    sharpe : float
        Its Sharpe ratio, per period.
    sharpe_threshold : float
        Expected maximum Sharpe ratio of ``n_trials`` luck-only trials, per period.
    n_trials : int
    variance : float
        Variance of the trials' per-period Sharpe ratios (ddof=1).
    periods : int
        Returns of the best trial used.
    skew, kurtosis : float
        Of the best trial's returns (kurtosis 3 for a normal).
    psr_zero : float
        Its probabilistic Sharpe ratio against 0 (no deflation).
    """

    dsr: float
    best: int
    sharpe: float
    sharpe_threshold: float
    n_trials: int
    variance: float
    periods: int
    skew: float
    kurtosis: float
    psr_zero: float

    def to_dict(self) -> dict:
        return asdict(self)


def deflated_sharpe_ratio(returns, n_trials: int | None = None, *, best: int | None = None) -> DeflatedSharpe:
    """Deflated Sharpe ratio of the best column of a (periods x trials) matrix of returns.

    Parameters
    ----------
    returns : array-like or DataFrame (T, N)
        Per-period simple returns of every trial (rows aligned in time). NaN rows of a
        column are ignored for that column.
    n_trials : int, optional
        Number of independent trials (default: N, the number of columns).
    best : int, optional
        Column to test (default: the highest per-period Sharpe ratio).

    Returns
    -------
    DeflatedSharpe
    """
    a = np.asarray(returns, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError("returns must be a (periods x trials) matrix")
    sr = sharpe_per_period(a)
    sr = np.atleast_1d(sr)
    finite = np.isfinite(sr)
    if not finite.any():
        raise ValueError("no trial has a finite Sharpe ratio (constant returns?)")
    k = int(np.nanargmax(np.where(finite, sr, -np.inf))) if best is None else int(best)
    n = int(a.shape[1] if n_trials is None else n_trials)
    var = float(np.var(sr[finite], ddof=1)) if finite.sum() > 1 else 0.0
    x = a[:, k]
    x = x[np.isfinite(x)]
    g3 = float(_st.skew(x, bias=True))
    g4 = float(_st.kurtosis(x, fisher=False, bias=True))
    thr = expected_max_sharpe(var, n)
    return DeflatedSharpe(dsr=probabilistic_sharpe_ratio(sr[k], thr, len(x), g3, g4), best=k, sharpe=float(sr[k]),
                          sharpe_threshold=thr, n_trials=n, variance=var, periods=int(len(x)), skew=g3,
                          kurtosis=g4, psr_zero=probabilistic_sharpe_ratio(sr[k], 0.0, len(x), g3, g4))


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting by CSCV.

    Attributes
    ----------
    pbo : float
        Share of the splits whose in-sample winner ranked at or below the out-of-sample
        median (``lambda <= 0``).
    logits : numpy.ndarray
        ``lambda`` of every split.
    is_sharpe, oos_sharpe : numpy.ndarray
        In-sample and out-of-sample per-period Sharpe ratio of each split's winner.
    prob_oos_loss : float
        Share of splits whose winner lost money out of sample (OOS Sharpe < 0).
    degradation_slope, degradation_intercept : float
        Least-squares line ``oos = intercept + slope * is`` over the splits (a slope
        well below 1, or negative, is performance that does not carry over).
    blocks, splits, periods, trials : int
        ``S``, C(S, S/2), periods used (T minus the dropped oldest ``T mod S``), N.
    """

    pbo: float
    logits: np.ndarray
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray
    prob_oos_loss: float
    degradation_slope: float
    degradation_intercept: float
    blocks: int
    splits: int
    periods: int
    trials: int

    def to_dict(self) -> dict:
        """Scalars only (the per-split arrays summarized by quantiles of lambda)."""
        q = np.quantile(self.logits, [0.05, 0.25, 0.5, 0.75, 0.95]) if len(self.logits) else [np.nan] * 5
        return {"pbo": self.pbo, "prob_oos_loss": self.prob_oos_loss, "degradation_slope": self.degradation_slope,
                "degradation_intercept": self.degradation_intercept, "blocks": self.blocks, "splits": self.splits,
                "periods": self.periods, "trials": self.trials,
                "logit_quantiles": dict(zip(("p05", "p25", "p50", "p75", "p95"), map(float, q)))}


def pbo_cscv(returns, blocks: int = 16, *, max_splits: int | None = None, seed: int = 0) -> PBOResult:
    """Probability of backtest overfitting of the best-Sharpe selection rule, by CSCV.

    Parameters
    ----------
    returns : array-like or DataFrame (T, N)
        Per-period returns of N variants on the same T dates (no NaN: align first).
    blocks : int
        ``S``, an even number >= 2 of equal blocks of consecutive periods (default 16,
        C(16, 8) = 12,870 splits).
    max_splits : int, optional
        Evaluate a random subset of this many splits (seeded by ``seed``) when C(S, S/2)
        is larger; all splits by default.
    seed : int

    Returns
    -------
    PBOResult
    """
    a = np.asarray(returns, dtype=float)
    if a.ndim != 2:
        raise ValueError("returns must be a (periods x variants) matrix")
    T, N = a.shape
    if N < 2:
        raise ValueError(f"PBO needs at least 2 variants, got {N}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even number >= 2, got {blocks}")
    if np.isnan(a).any():
        raise ValueError("returns contain NaN: align the variants on common dates first")
    L = T // blocks
    if L < 2:
        raise ValueError(f"{T} periods are too few for {blocks} blocks (need at least 2 periods a block)")
    a = a[T - L * blocks:]  # drop the oldest T mod S periods
    B = a.reshape(blocks, L, N)
    s1 = B.sum(axis=1)  # S x N block sums
    s2 = (B * B).sum(axis=1)
    combos = list(combinations(range(blocks), blocks // 2))
    if max_splits is not None and len(combos) > max_splits:
        pick = np.random.default_rng(seed).choice(len(combos), size=max_splits, replace=False)
        combos = [combos[i] for i in np.sort(pick)]
    M = np.zeros((len(combos), blocks))
    for i, c in enumerate(combos):
        M[i, list(c)] = 1.0
    n_half = L * (blocks // 2)

    def sr(mask):
        m1 = mask @ s1 / n_half
        m2 = mask @ s2
        var = (m2 - n_half * m1 * m1) / (n_half - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(var > 0, m1 / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)

    r_is = sr(M)  # splits x N
    r_oos = sr(1.0 - M)
    win = np.argmax(r_is, axis=1)
    rows = np.arange(len(combos))
    ranks = _st.rankdata(r_oos, axis=1, method="average")[rows, win]
    w = ranks / (N + 1.0)
    lam = np.log(w / (1.0 - w))
    is_w, oos_w = r_is[rows, win], r_oos[rows, win]
    if np.ptp(is_w) > 0:
        slope, icpt = np.polyfit(is_w, oos_w, 1)
    else:
        slope, icpt = float("nan"), float(np.mean(oos_w))
    return PBOResult(pbo=float(np.mean(lam <= 0)), logits=lam, is_sharpe=is_w, oos_sharpe=oos_w,
                     prob_oos_loss=float(np.mean(oos_w < 0)), degradation_slope=float(slope),
                     degradation_intercept=float(icpt), blocks=blocks, splits=len(combos), periods=L * blocks,
                     trials=N)

