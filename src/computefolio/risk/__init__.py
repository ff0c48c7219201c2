"""Risk engine: how much can this book lose, and where does the risk come from?

Modules, one concept each:

* :mod:`.covariance` - estimators with one contract (``fit`` / ``covariance_`` / ``correlation_``).
* :mod:`.crosscorr` - correlation across non-synchronous closes (raw, lead-lag, horizon).
* :mod:`.regimes` - rolling / EW / DCC-GARCH correlation and regime labels.
* :mod:`.var` - VaR and ES by five methods with Euler contributions.
* :mod:`.decompose` - volatility and ES contributions by asset, layer, theme, sleeve.
* :mod:`.stress` - historical windows and hypothetical shocks (``resources/scenarios.yaml``).
* :mod:`.drawdown`, :mod:`.liquidity` - drawdown statistics; days to liquidate.
* :mod:`.proxies` - filling young assets' history with stated proxies.
* :mod:`.report` - :func:`risk_report`, everything at once, JSON-safe.

``risk`` never imports ``backtest``, ``allocate`` or ``report``.
"""

from __future__ import annotations

from .covariance import (
    CovarianceEstimator,
    EWMACovariance,
    LeadLagCovariance,
    LedoitWolfCovariance,
    PairwiseShrunkCovariance,
    SampleCovariance,
    cov_to_corr,
    make_covariance,
    nearest_psd,
)
from .crosscorr import CorrelationEstimate, correlation_comparison, cross_beta, cross_correlation
from .decompose import Decomposition, aggregate, risk_decomposition, volatility_contributions
from .drawdown import DrawdownStats, drawdown_series, drawdown_stats
from .liquidity import LiquidityReport, liquidity
from .portfolio import portfolio_returns, weights_from_holdings
from .proxies import proxy_fill
from .regimes import RegimeThresholds, correlation_regimes, dcc_garch, ewm_correlation, rolling_correlation
from .report import RiskReport, risk_report
from .stress import StressResult, load_scenarios, run_stress, stress_test
from .var import METHODS, VaRResult, value_at_risk, var_es_table

__all__ = [
    "CovarianceEstimator", "EWMACovariance", "LeadLagCovariance", "LedoitWolfCovariance", "PairwiseShrunkCovariance",
    "SampleCovariance", "cov_to_corr", "make_covariance", "nearest_psd",
    "CorrelationEstimate", "correlation_comparison", "cross_beta", "cross_correlation",
    "Decomposition", "aggregate", "risk_decomposition", "volatility_contributions",
    "DrawdownStats", "drawdown_series", "drawdown_stats",
    "LiquidityReport", "liquidity",
    "portfolio_returns", "weights_from_holdings", "proxy_fill",
    "RegimeThresholds", "correlation_regimes", "dcc_garch", "ewm_correlation", "rolling_correlation",
    "RiskReport", "risk_report",
    "StressResult", "load_scenarios", "run_stress", "stress_test",
    "METHODS", "VaRResult", "value_at_risk", "var_es_table",
]
