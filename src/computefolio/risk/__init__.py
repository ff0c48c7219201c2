"""Risk engine: covariance, cross-clock correlation, regimes, VaR/ES, decomposition,
stress, drawdown, liquidity and the risk report.

``risk`` never imports ``backtest``, ``allocate`` or ``report``.
"""

from __future__ import annotations

from .covariance import (
    CovarianceEstimator,
    EWMACovariance,
    LedoitWolfCovariance,
    PairwiseShrunkCovariance,
    SampleCovariance,
    cov_to_corr,
    make_covariance,
    nearest_psd,
)

__all__ = [
    "CovarianceEstimator",
    "EWMACovariance",
    "LedoitWolfCovariance",
    "PairwiseShrunkCovariance",
    "SampleCovariance",
    "cov_to_corr",
    "make_covariance",
    "nearest_psd",
]
