"""Correlation between assets whose daily closes are not synchronous.

Crypto daily bars close at 00:00 UTC (20:00 or 19:00 New York); US equities close at
16:00 New York. On a shared date label the crypto return therefore covers a window
that ends four or five hours *after* the equity's, so part of today's crypto move
shows up in tomorrow's equity return. The plain same-day ("raw") correlation of
daily returns is biased towards zero by the non-overlapping share of the windows
(Epps 1979).

Two corrections, each reported by name:

``"lead_lag"``
    Dimson (1979) / Scholes and Williams (1977): sum the cross-covariances at lags
    ``-L..L`` (default L = 1) and divide by the product of the lag-0 standard
    deviations, ``rho = sum_k cov(x_t, y_{t+k}) / (sd_x sd_y)``.
``"horizon"``
    Correlation of non-overlapping ``h``-period sums of returns (``h = 5`` sessions is
    a week on the session basis, ``h = 7`` on the calendar basis). Longer windows
    shrink the non-overlapping share to ``offset / h`` of a period.

``"raw"`` is the uncorrected same-label daily correlation, reported for comparison.
Use log returns when aggregating over a horizon (they add exactly); simple returns
add approximately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

CORRELATION_METHODS = ("raw", "lead_lag", "horizon")

__all__ = ["CORRELATION_METHODS", "CorrelationEstimate", "cross_correlation", "correlation_comparison", "cross_beta",
           "lead_lag_correlation", "horizon_correlation", "simulate_async_closes"]


@dataclass(frozen=True)
class CorrelationEstimate:
    """One correlation number and how it was made."""

    value: float
    method: str
    n: int
    lags: int | None
    horizon: int | None
    basis: str | None
    start: str | None = None
    end: str | None = None
    clipped: bool = False

    @property
    def standard_error(self) -> float:
        """Approximate sampling error ``(1 - rho^2) / sqrt(n)`` (Fisher)."""
        return (1.0 - min(self.value ** 2, 1.0)) / math.sqrt(max(self.n - 3, 1))

    def describe(self) -> str:
        if self.method == "lead_lag":
            return f"lead-lag sum of cross-covariances at lags -{self.lags}..+{self.lags} (Dimson)"
        if self.method == "horizon":
            return f"non-overlapping {self.horizon}-period sums"
        return "same-label daily returns, uncorrected"

    def to_dict(self) -> dict:
        return {"value": self.value, "method": self.method, "description": self.describe(), "n": self.n,
                "lags": self.lags, "horizon_periods": self.horizon, "basis": self.basis,
                "start": self.start, "end": self.end, "clipped": self.clipped,
                "standard_error": self.standard_error}


def _pair(x, y) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
    if isinstance(x, pd.Series) and isinstance(y, pd.Series):
        df = pd.concat([x.rename("x"), y.rename("y")], axis=1)
        return df["x"].to_numpy(float), df["y"].to_numpy(float), df.index
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape:
        raise DataError(f"x and y must have the same length, got {x.shape} and {y.shape}")
    return x, y, None


def _cov_lag(x: np.ndarray, y: np.ndarray, k: int) -> tuple[float, int]:
    """cov(x_t, y_{t+k}) over the periods where both are observed (means over the same pairs)."""
    if k > 0:
        a, b = x[:-k], y[k:]
    elif k < 0:
        a, b = x[-k:], y[:k]
    else:
        a, b = x, y
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3:
        return float("nan"), n
    a, b = a[ok], b[ok]
    return float(((a - a.mean()) * (b - b.mean())).sum() / (n - 1)), n


def lead_lag_correlation(x, y, lags: int = 1) -> tuple[float, int]:
    """Dimson / Scholes-Williams correlation: ``sum_{k=-L..L} cov(x_t, y_{t+k}) / (sd_x sd_y)``.

    Standard deviations over the periods where both are observed at lag 0.
    Returns (value, n common periods at lag 0).
    """
    x, y, _ = _pair(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 10:
        raise DataError(f"only {n} common periods: too few for a correlation")
    sx, sy = x[ok].std(ddof=1), y[ok].std(ddof=1)
    num = sum(_cov_lag(x, y, k)[0] for k in range(-lags, lags + 1))
    return float(num / (sx * sy)), n


def _complete_blocks(x: np.ndarray, y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping ``horizon``-period sums of ``x`` and ``y``, keeping blocks where both are complete.

    Blocks are aligned to the end of the sample (the latest block is complete); a block
    with a NaN in either series is dropped from both. Raises DataError below 10 blocks.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = np.where(ok, x, np.nan), np.where(ok, y, np.nan)
    nb = len(x) // horizon
    off = len(x) - nb * horizon
    bx = x[off:].reshape(nb, horizon).sum(axis=1)
    by = y[off:].reshape(nb, horizon).sum(axis=1)
    good = np.isfinite(bx) & np.isfinite(by)
    if good.sum() < 10:
        raise DataError(f"only {int(good.sum())} complete blocks of {horizon} periods")
    return bx[good], by[good]


def _common_span(ok: np.ndarray) -> slice:
    """From the first to the last ``True`` of ``ok`` (everything when none is)."""
    return slice(int(np.argmax(ok)), len(ok) - int(np.argmax(ok[::-1])))


def horizon_correlation(x, y, horizon: int = 5) -> tuple[float, int]:
    """Correlation of non-overlapping ``horizon``-period sums (blocks with a NaN are dropped).

    Blocks are aligned to the end of the sample (the latest block is complete).
    Returns (value, number of blocks).
    """
    x, y, _ = _pair(x, y)
    nb = len(x) // horizon
    if nb < 10:
        raise DataError(f"only {nb} blocks of {horizon} periods: too few for a correlation")
    bx, by = _complete_blocks(x, y, horizon)
    return float(np.corrcoef(bx, by)[0, 1]), len(bx)


def cross_correlation(x: pd.Series, y: pd.Series, method: str = "lead_lag", *, lags: int = 1,
                      horizon: int = 5, basis: str | None = None) -> CorrelationEstimate:
    """Correlation of two return series by ``method`` ("raw", "lead_lag", "horizon").

    ``x`` and ``y`` are per-period returns on one basis (aligned by index when Series);
    ``basis`` defaults to ``x.attrs["basis"]``.
    """
    if method not in CORRELATION_METHODS:
        raise ValueError(f"method must be one of {CORRELATION_METHODS}, got {method!r}")
    xa, ya, idx = _pair(x, y)
    basis = basis or (getattr(x, "attrs", {}) or {}).get("basis")
    ok = np.isfinite(xa) & np.isfinite(ya)
    start = end = None
    if idx is not None and ok.any():
        start, end = str(idx[ok][0].date()), str(idx[ok][-1].date())
    if method == "raw":
        n = int(ok.sum())
        if n < 10:
            raise DataError(f"only {n} common periods: too few for a correlation")
        v = float(np.corrcoef(xa[ok], ya[ok])[0, 1])
        return CorrelationEstimate(v, "raw", n, 0, 1, basis, start, end)
    if method == "lead_lag":
        v, n = lead_lag_correlation(xa, ya, lags)
        clipped = abs(v) > 1
        return CorrelationEstimate(float(np.clip(v, -1, 1)), "lead_lag", n, lags, 1, basis, start, end, clipped)
    # horizon: restrict to the common span so blocks are not mostly empty
    if ok.any():
        span = _common_span(ok)
        xa, ya = xa[span], ya[span]
    v, n = horizon_correlation(xa, ya, horizon)
    return CorrelationEstimate(v, "horizon", n, None, horizon, basis, start, end)


def cross_beta(x: pd.Series, market: pd.Series, method: str = "lead_lag", *, lags: int = 1,
               horizon: int = 5) -> dict:
    """Beta of ``x`` on ``market`` with a correction for non-synchronous closes.

    ``"raw"``: ``cov(x_t, m_t) / var(m_t)``; ``"lead_lag"``: Dimson (1979) beta,
    ``sum_{k=-L..L} cov(x_t, m_{t+k}) / var(m_t)``; ``"horizon"``: OLS beta of
    non-overlapping ``horizon``-period sums. Returns ``{"value", "method", "n", "lags", "horizon"}``.
    """
    if method not in CORRELATION_METHODS:
        raise ValueError(f"method must be one of {CORRELATION_METHODS}, got {method!r}")
    xa, ma, _ = _pair(x, market)
    ok = np.isfinite(xa) & np.isfinite(ma)
    if method == "horizon":
        span = _common_span(ok)
        bx, bm = _complete_blocks(xa[span], ma[span], horizon)
        c = np.cov(bx, bm)
        return {"value": float(c[0, 1] / c[1, 1]), "method": "horizon", "n": len(bx), "lags": None,
                "horizon": horizon}
    n = int(ok.sum())
    if n < 10:
        raise DataError(f"only {n} common periods: too few for a beta")
    var_m = ma[ok].var(ddof=1)
    lag_range = range(-lags, lags + 1) if method == "lead_lag" else range(0, 1)
    num = sum(_cov_lag(xa, ma, k)[0] for k in lag_range)
    return {"value": float(num / var_m), "method": method, "n": n, "lags": lags if method == "lead_lag" else 0,
            "horizon": 1}


def correlation_comparison(returns: pd.DataFrame, a: str, b: str, *, lags: int = 1,
                           horizon: int | None = None) -> dict[str, CorrelationEstimate]:
    """Raw, lead-lag and horizon correlations of ``a`` and ``b`` side by side.

    ``horizon`` defaults to a week: 5 periods on the session basis, 7 on the calendar basis.
    """
    basis = (returns.attrs or {}).get("basis")
    if horizon is None:
        horizon = 7 if basis == "calendar" else 5
    for s in (a, b):
        if s not in returns.columns:
            raise DataError(f"no returns for {s}")
    x, y = returns[a], returns[b]
    return {
        "raw": cross_correlation(x, y, "raw", basis=basis),
        "lead_lag": cross_correlation(x, y, "lead_lag", lags=lags, basis=basis),
        "horizon": cross_correlation(x, y, "horizon", horizon=horizon, basis=basis),
    }


def simulate_async_closes(n_days: int = 2500, rho: float = 0.5, offset_hours: float = 4.0,
                          steps_per_day: int = 24, vol=(0.03, 0.015), seed: int = 0) -> pd.DataFrame:
    """Two correlated Brownian log-prices sampled at two different daily close times.

    A two-dimensional Brownian motion with instantaneous correlation ``rho`` (the *true*
    correlation of returns over any common interval) is simulated on ``steps_per_day``
    steps a day. ``"early"`` is sampled at the end of each day (an equity at 16:00 New
    York), ``"late"`` ``offset_hours`` later (crypto at 00:00 UTC). Returns a DataFrame of
    daily log returns, columns ``late`` and ``early``, on a daily index; ``attrs`` hold
    ``rho`` and the overlap share of the raw estimate ``1 - offset/24``.
    """
    rng = np.random.default_rng(seed)
    n = (n_days + 2) * steps_per_day
    z1 = rng.standard_normal(n)
    z2 = rho * z1 + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
    dt = 1.0 / steps_per_day
    p1 = np.concatenate([[0.0], np.cumsum(z1 * vol[0] * math.sqrt(dt))])
    p2 = np.concatenate([[0.0], np.cumsum(z2 * vol[1] * math.sqrt(dt))])
    shift = int(round(offset_hours / 24 * steps_per_day))
    ends = np.arange(1, n_days + 2) * steps_per_day
    early = np.diff(p2[ends])
    late = np.diff(p1[ends + shift])
    idx = pd.date_range("2000-01-01", periods=len(early), freq="D")
    out = pd.DataFrame({"late": late, "early": early}, index=idx)
    out.attrs.update({"rho": rho, "raw_overlap": 1 - shift / steps_per_day, "basis": "calendar",
                      "periods_per_year": 365})
    return out
