"""Correlation regimes: rolling, exponentially weighted and DCC-GARCH correlation, and labels.

Two *legs* are compared: single assets (``"BTC"``) or groups (a list of symbols, or a
sleeve resolved by the caller), a group's return being the equally weighted mean of
its members that have a return that period (or weighted by ``weights``).

Regime labels (thresholds stated in :class:`RegimeThresholds`, defaults):

* ``decoupled``: correlation < 0.2
* ``coupled``: 0.2 <= correlation, and not crisis
* ``crisis``: correlation >= 0.5 *and* the realised volatility of the two legs
  (average of their EWMA volatilities) above its own 80th percentile over the sample,
  i.e. both high correlation and a stressed market.

DCC-GARCH(1,1): Engle (2002), "Dynamic conditional correlation", JBES 20(3). Each leg
gets a constant-mean GARCH(1,1) with normal innovations (the ``arch`` package); the
standardized residuals ``e_t`` drive ``Q_t = (1 - a - b) Qbar + a e_{t-1} e_{t-1}' + b Q_{t-1}``,
``R_t = diag(Q_t)^{-1/2} Q_t diag(Q_t)^{-1/2}``, with ``(a, b)`` by quasi-maximum
likelihood of the correlation part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, signal

from ..errors import DataError

__all__ = ["RegimeThresholds", "leg_returns", "rolling_correlation", "ewm_correlation", "dcc_garch",
           "DCCResult", "regime_labels", "correlation_regimes"]


def leg_returns(returns: pd.DataFrame, leg, weights: pd.Series | None = None) -> pd.Series:
    """Returns of a leg: one symbol, or the (weighted) mean of a list of symbols per period.

    A period where no member has a return is NaN; members without a return that period are
    left out and the others re-weighted (stated; young assets do not cut history short).
    """
    if isinstance(leg, str):
        if leg not in returns.columns:
            raise DataError(f"no returns for {leg}")
        out = returns[leg].copy()
        out.name = leg
        return out
    syms = list(leg)
    missing = [s for s in syms if s not in returns.columns]
    if missing:
        raise DataError(f"no returns for {', '.join(missing)}")
    x = returns.loc[:, syms].to_numpy(float)
    w = np.ones(len(syms)) if weights is None else weights.reindex(syms).fillna(0.0).to_numpy(float)
    ok = np.isfinite(x)
    den = (ok * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (np.where(ok, x, 0.0) * w).sum(axis=1) / den
    r[den == 0] = np.nan
    out = pd.Series(r, index=returns.index, name="+".join(syms) if len(syms) <= 3 else f"{len(syms)} assets")
    out.attrs = dict(returns.attrs or {})
    return out


def rolling_correlation(x: pd.Series, y: pd.Series, window: int = 63, min_periods: int | None = None) -> pd.Series:
    """Correlation over a trailing window of ``window`` periods (NumPy, cumulative sums)."""
    df = pd.concat([x, y], axis=1)
    a, b = df.iloc[:, 0].to_numpy(float), df.iloc[:, 1].to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    mp = max(3, int(0.8 * window)) if min_periods is None else min_periods

    def roll(v):
        c = np.concatenate([[0.0], np.cumsum(v)])
        return np.concatenate([c[1:window], c[window:] - c[:-window]])

    n, sa, sb = roll(ok.astype(float)), roll(a), roll(b)
    saa, sbb, sab = roll(a * a), roll(b * b), roll(a * b)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab - sa * sb / n
        va, vb = saa - sa * sa / n, sbb - sb * sb / n
        r = cov / np.sqrt(va * vb)
    r[n < max(mp, 3)] = np.nan
    return pd.Series(np.clip(r, -1, 1), index=df.index, name=f"rolling_corr_{window}")


def ewm_correlation(x: pd.Series, y: pd.Series, halflife: float = 21.0, min_periods: int = 20) -> pd.Series:
    """Exponentially weighted correlation (moments about the EW means), half-life in periods.

    Periods where either leg is NaN are skipped (they carry no weight). Uses a linear
    filter for the EW sums (``scipy.signal.lfilter``).
    """
    df = pd.concat([x, y], axis=1)
    a, b = df.iloc[:, 0].to_numpy(float), df.iloc[:, 1].to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(b)
    a0, b0, m = np.where(ok, a, 0.0), np.where(ok, b, 0.0), ok.astype(float)

    def ew(v):
        return _ew_sums(v, halflife)

    wsum = ew(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = ew(a0) / wsum, ew(b0) / wsum
        cab = ew(a0 * b0) / wsum - ma * mb
        caa = ew(a0 * a0) / wsum - ma * ma
        cbb = ew(b0 * b0) / wsum - mb * mb
        r = cab / np.sqrt(caa * cbb)
    r[np.cumsum(m) < min_periods] = np.nan
    return pd.Series(np.clip(r, -1, 1), index=df.index, name=f"ewm_corr_hl{halflife:g}")


# ----------------------------------------------------------------------------- DCC
def _dcc_recursion(e: np.ndarray, a: float, b: float, qbar: np.ndarray):
    t, n = e.shape
    q = qbar.copy()
    rs = np.empty((t, n, n))
    nll = 0.0
    for i in range(t):
        if i > 0:
            q = (1 - a - b) * qbar + a * np.outer(e[i - 1], e[i - 1]) + b * q
        d = 1.0 / np.sqrt(np.diag(q))
        r = q * np.outer(d, d)
        rs[i] = r
        sign, logdet = np.linalg.slogdet(r)
        if sign <= 0:
            return np.inf, rs
        nll += logdet + e[i] @ np.linalg.solve(r, e[i]) - e[i] @ e[i]
    return 0.5 * nll, rs


def _dcc_nll_2(params, e, qbar):
    """Bivariate DCC negative log-likelihood (correlation part), closed-form 2x2 algebra."""
    a, b = params
    if a < 0 or b < 0 or a + b >= 0.999:
        return 1e12
    q11, q22, q12 = qbar[0, 0], qbar[1, 1], qbar[0, 1]
    nll = 0.0
    c = 1 - a - b
    x, y = e[:, 0], e[:, 1]
    rho = np.empty(len(x))
    for i in range(len(x)):
        if i > 0:
            q11 = c * qbar[0, 0] + a * x[i - 1] ** 2 + b * q11
            q22 = c * qbar[1, 1] + a * y[i - 1] ** 2 + b * q22
            q12 = c * qbar[0, 1] + a * x[i - 1] * y[i - 1] + b * q12
        rho[i] = q12 / math.sqrt(q11 * q22)
    one = 1 - rho * rho
    if np.any(one <= 0):
        return 1e12
    nll = 0.5 * np.sum(np.log(one) + (x * x + y * y - 2 * rho * x * y) / one - (x * x + y * y))
    return float(nll)


try:  # numba makes the bivariate likelihood ~100x faster; optional
    import numba

    _dcc_nll_2 = numba.njit(cache=True)(_dcc_nll_2)  # type: ignore[assignment]
except Exception:  # pragma: no cover
    pass


@dataclass
class DCCResult:
    """DCC-GARCH(1,1) fit of two legs."""

    correlation: pd.Series      # conditional correlation R_t[0, 1] per period
    a: float
    b: float
    unconditional: float        # correlation of the standardized residuals (Qbar)
    garch: dict                 # per leg: omega, alpha, beta (returns in percent)
    nll: float

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "persistence": self.a + self.b, "unconditional": self.unconditional,
                "garch": self.garch, "last": float(self.correlation.iloc[-1]),
                "model": "DCC(1,1) on constant-mean GARCH(1,1) legs (Engle 2002)"}


def dcc_garch(x: pd.Series, y: pd.Series) -> DCCResult:
    """Fit a bivariate DCC-GARCH(1,1) to two return series (periods where both are observed).

    Returns in fractions; internally scaled to percent for ``arch``.
    """
    from arch import arch_model

    df = pd.concat([x, y], axis=1).dropna()
    if len(df) < 100:
        raise DataError(f"DCC-GARCH needs at least 100 common periods, got {len(df)}")
    e = np.empty((len(df), 2))
    garch = {}
    for j, col in enumerate(df.columns):
        am = arch_model(df.iloc[:, j].to_numpy() * 100.0, mean="Constant", vol="GARCH", p=1, q=1, dist="normal")
        fit = am.fit(disp="off")
        e[:, j] = fit.std_resid
        garch[str(col)] = {k: float(v) for k, v in fit.params.items()}
    qbar = np.cov(e, rowvar=False, ddof=0)
    best = None
    for a0, b0 in ((0.02, 0.95), (0.05, 0.90), (0.01, 0.98)):
        res = optimize.minimize(_dcc_nll_2, np.array([a0, b0]), args=(e, qbar), method="Nelder-Mead",
                                options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    a, b = (float(v) for v in best.x)
    _, rs = _dcc_recursion(e, a, b, qbar)
    corr = pd.Series(rs[:, 0, 1], index=df.index, name="dcc_corr")
    qd = np.sqrt(np.diag(qbar))
    return DCCResult(corr, a, b, float(qbar[0, 1] / (qd[0] * qd[1])), garch, float(best.fun))


# ----------------------------------------------------------------------------- regimes
@dataclass(frozen=True)
class RegimeThresholds:
    """Regime rule: correlation cut-offs and the volatility percentile for a crisis."""

    coupled: float = 0.2
    crisis: float = 0.5
    vol_quantile: float = 0.8
    vol_halflife: float = 21.0

    def describe(self) -> str:
        return (f"decoupled: corr < {self.coupled}; coupled: corr >= {self.coupled}; crisis: corr >= "
                f"{self.crisis} and mean EWMA volatility of the legs (half-life {self.vol_halflife:g}) "
                f"above its {self.vol_quantile:.0%} quantile over the sample")


def regime_labels(corr: pd.Series, vol: pd.Series | None = None,
                  thresholds: RegimeThresholds = RegimeThresholds()) -> pd.Series:
    """Label each period ``decoupled`` / ``coupled`` / ``crisis`` (NaN correlation -> ``unknown``)."""
    c = corr.to_numpy(float)
    lab = np.where(c >= thresholds.coupled, "coupled", "decoupled").astype(object)
    if vol is not None:
        v = vol.reindex(corr.index).to_numpy(float)
        cut = np.nanquantile(v, thresholds.vol_quantile)
        lab[(c >= thresholds.crisis) & (v > cut)] = "crisis"
    lab[~np.isfinite(c)] = "unknown"
    return pd.Series(lab, index=corr.index, name="regime", dtype=object)


def _ew_sums(v: np.ndarray, halflife: float) -> np.ndarray:
    """Exponentially weighted running sums ``s_t = v_t + lam s_{t-1}``, ``lam = 0.5 ** (1 / halflife)``."""
    return signal.lfilter([1.0], [1.0, -0.5 ** (1.0 / halflife)], v)


def _ewm_vol(r: pd.Series, halflife: float) -> pd.Series:
    v = r.to_numpy(float)
    ok = np.isfinite(v)
    num = _ew_sums(np.where(ok, v * v, 0.0), halflife)
    den = _ew_sums(ok.astype(float), halflife)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.sqrt(num / den), index=r.index)


def correlation_regimes(returns: pd.DataFrame, a, b, *, window: int = 63, halflife: float = 21.0,
                        dcc: bool = True, thresholds: RegimeThresholds = RegimeThresholds(),
                        a_weights: pd.Series | None = None, b_weights: pd.Series | None = None) -> dict:
    """Rolling, EW and DCC correlation of two legs, and regime labels on the EW correlation.

    Returns a dict (JSON-safe except the ``series`` DataFrame) with keys ``series``
    (DataFrame of rolling / ewm / dcc correlation and regime per period), ``current``
    (last values), ``regime_share`` (share of periods per regime), ``thresholds``, ``dcc``,
    ``window``, ``halflife``, ``basis``.
    """
    x = leg_returns(returns, a, a_weights)
    y = leg_returns(returns, b, b_weights)
    roll = rolling_correlation(x, y, window)
    ewm = ewm_correlation(x, y, halflife)
    vol = 0.5 * (_ewm_vol(x, thresholds.vol_halflife) + _ewm_vol(y, thresholds.vol_halflife))
    series = pd.DataFrame({"rolling": roll, "ewm": ewm})
    dcc_info = None
    if dcc:
        try:
            d = dcc_garch(x, y)
            series["dcc"] = d.correlation.reindex(series.index)
            dcc_info = d.to_dict()
        except DataError as exc:
            dcc_info = {"error": str(exc)}
    both = x.notna() & y.notna()
    series = series[both.reindex(series.index).fillna(False).to_numpy()]
    series["regime"] = regime_labels(series["ewm"], vol, thresholds)
    known = series["regime"][series["regime"] != "unknown"]
    last = series.iloc[-1]
    return {
        "a": x.name, "b": y.name, "series": series, "window": window, "halflife": halflife,
        "basis": (returns.attrs or {}).get("basis"), "thresholds": {**asdict(thresholds),
                                                                     "rule": thresholds.describe()},
        "current": {"date": str(series.index[-1].date()),
                    **{k: (None if pd.isna(last[k]) else float(last[k])) for k in series.columns if k != "regime"},
                    "regime": str(last["regime"])},
        "regime_share": {str(k): float(v) for k, v in known.value_counts(normalize=True).items()},
        "dcc": dcc_info,
    }


def _as_leg(universe, spec) -> str | list[str]:
    """A symbol, a list, or ``"sleeve:NAME"`` / ``"layer:NAME"`` resolved with the universe."""
    if isinstance(spec, str) and ":" in spec and universe is not None:
        by, name = spec.split(":", 1)
        m = universe.membership(by)
        if name not in m.columns:
            raise DataError(f"no {by} named {name!r}")
        return [s for s in m.index if m.at[s, name] > 0]
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return list(spec)
    return spec
