"""Value at risk and expected shortfall of a book, with Euler contributions that add up.

Conventions (every result states them)
--------------------------------------
* **Sign**: VaR and ES are *losses*, positive numbers, as fractions of capital
  (``var_pct``) and in currency (``var``). ``confidence`` is the probability of not
  exceeding the VaR (0.99 -> the 1% left tail).
* **Horizon** ``h`` in periods of the returns' basis (sessions or calendar days):

  - parametric (Gaussian, Cornish-Fisher): mean x h, volatility x sqrt(h); for
    Cornish-Fisher skewness / sqrt(h) and excess kurtosis / h (i.i.d. aggregation);
  - historical and filtered historical: overlapping h-period sums of per-period
    returns (a book rebalanced every period);
  - Monte Carlo: sums of h independent simulated periods.

* **Empirical quantile**: ``VaR = -r_(k)``, the k-th smallest scenario return with
  ``k = ceil(n (1 - confidence))`` (the lower empirical quantile,
  ``numpy.quantile(..., method="inverted_cdf")``; same as skfolio and Riskfolio-Lib).
  **Empirical ES** (Acerbi and Tasche 2002): ``ES = -(1 / (n a)) [sum_{i <= floor(n a)} r_(i)
  + (n a - floor(n a)) r_(floor(n a) + 1)]`` with ``a = 1 - confidence``.
* **Euler contributions** (Tasche 1999): per asset, ``w_i dRisk/dw_i``, summing to the
  total (to rounding, tested at 1e-10). For scenario methods the contribution of asset
  i is ``-w_i`` times its return in the scenario(s) that define the quantile or the tail.
  Gaussian: ``-h w_i mu_i + z sqrt(h) w_i (S w)_i / sigma``. Cornish-Fisher: the analytic
  gradient of the modified VaR of Boudt, Peterson and Croux (2008) through the sample
  moments (degree-one homogeneous, so the sum is exact).
* **Data**: only periods where every held asset has a return (stated in ``notes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import DataError
from .portfolio import DEFAULT_CAPITAL, Aligned, align, weights_from_holdings

METHODS = ("historical", "gaussian", "cornish_fisher", "filtered_historical", "monte_carlo")

__all__ = ["METHODS", "VaRResult", "value_at_risk", "var_es_table", "empirical_var_es",
           "gaussian_var_es", "overlapping_sums"]


@dataclass
class VaRResult:
    """VaR and ES of a book by one method, with per-asset Euler contributions.

    ``var_pct``/``es_pct`` are fractions of capital (positive = loss);
    ``var``/``es`` the same in ``currency``; contributions are fractions of capital
    per asset and sum to ``var_pct``/``es_pct``.
    """

    method: str
    confidence: float
    horizon: int
    basis: str | None
    periods_per_year: int | None
    currency: str
    capital: float
    var_pct: float
    es_pct: float
    var_contributions: pd.Series
    es_contributions: pd.Series
    n_observations: int
    horizon_rule: str
    notes: str = ""
    params: dict = field(default_factory=dict)

    @property
    def var(self) -> float:
        """VaR in currency."""
        return self.var_pct * self.capital

    @property
    def es(self) -> float:
        """ES in currency."""
        return self.es_pct * self.capital

    def to_dict(self) -> dict:
        """JSON-safe: scalars plus contributions per asset (fractions and currency)."""
        return {
            "method": self.method, "confidence": self.confidence, "horizon_periods": self.horizon,
            "basis": self.basis, "periods_per_year": self.periods_per_year, "currency": self.currency,
            "capital": self.capital, "sign": "loss, positive",
            "var_pct": _f(self.var_pct), "es_pct": _f(self.es_pct), "var": _f(self.var), "es": _f(self.es),
            "n_observations": self.n_observations, "horizon_rule": self.horizon_rule, "notes": self.notes,
            "params": self.params,
            "contributions": {
                s: {"var_pct": _f(self.var_contributions[s]), "es_pct": _f(self.es_contributions[s]),
                    "var": _f(self.var_contributions[s] * self.capital),
                    "es": _f(self.es_contributions[s] * self.capital)}
                for s in self.var_contributions.index},
        }


def _f(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


# ----------------------------------------------------------------------------- scenario engine
def overlapping_sums(x: np.ndarray, h: int) -> np.ndarray:
    """Overlapping h-period sums along axis 0: (T, N) -> (T - h + 1, N)."""
    if h <= 1:
        return x
    if h > x.shape[0]:
        raise DataError(f"horizon {h} periods is longer than the {x.shape[0]} periods of data")
    c = np.cumsum(np.vstack([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    return c[h:] - c[:-h]


def _tail_weights(r: np.ndarray, confidence: float):
    """Order-statistic weights defining the empirical VaR and ES of scenario returns ``r``.

    Returns (order, k_var, es_weights): ``order`` lists the indices of the smallest
    returns, ascending; ``VaR = -r[order[k_var]]`` and
    ``ES = -(es_weights @ r[order[:len(es_weights)]])``.
    """
    n = len(r)
    a = 1.0 - confidence
    na = round(n * a, 9)  # guard 1000 * 0.01 = 10.000000000000002
    k = min(max(int(math.ceil(na)), 1), n)
    kf = int(math.floor(na))
    m = min(kf + 1, n)
    mm = max(m, k)
    part = np.argpartition(r, mm - 1)[:mm] if mm < n else np.arange(n)
    order = part[np.argsort(r[part], kind="stable")]
    if na <= 0:
        wts = np.zeros(m)
        wts[0] = 1.0
    else:
        wts = np.full(m, 1.0 / na)
        if kf + 1 <= n:
            wts[-1] = (na - kf) / na
    return order, k - 1, wts


def empirical_var_es(scen: np.ndarray, w: np.ndarray, confidence: float, r: np.ndarray | None = None):
    """VaR, ES and their contributions from asset scenario returns ``scen`` (S, N).

    ``r`` (``scen @ w``) may be passed when already known.
    Returns (var, es, var_contrib (N,), es_contrib (N,)), positive = loss.
    """
    if r is None:
        r = scen @ w
    order, kv, wts = _tail_weights(r, confidence)
    iv = order[kv]
    tail = order[: len(wts)]
    var_c = -w * scen[iv]
    es_c = -w * (wts @ scen[tail])
    return float(-r[iv]), float(-(wts @ r[tail])), var_c, es_c


def _ewma_vol(x: np.ndarray, lam: float, warmup: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Predictive EWMA volatility per period and the one-step-ahead forecast.

    ``s2[t] = lam s2[t-1] + (1 - lam) x[t-1]^2``, started at the mean square of the
    first ``warmup`` periods; returns (sigma_t for t = 0..T-1, sigma_{T})."""
    t, n = x.shape
    s2 = np.empty((t + 1, n))
    s2[0] = np.mean(x[: max(min(warmup, t), 1)] ** 2, axis=0)
    for i in range(t):
        s2[i + 1] = lam * s2[i] + (1.0 - lam) * x[i] ** 2
    s = np.sqrt(np.maximum(s2, 1e-300))
    return s[:-1], s[-1]


def _normal_scores_corr(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of normal scores (van der Waerden) of each column."""
    n = x.shape[0]
    ranks = np.argsort(np.argsort(x, axis=0, kind="stable"), axis=0) + 1.0
    z = stats.norm.ppf(ranks / (n + 1.0))
    z -= z.mean(axis=0)
    c = z.T @ z
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


# ----------------------------------------------------------------------------- parametric
def gaussian_var_es(mu: np.ndarray, cov: np.ndarray | None, w: np.ndarray, confidence: float, horizon: int = 1,
                    sw: np.ndarray | None = None):
    """Gaussian VaR/ES and Euler contributions (closed form).

    ``VaR = -h mu_p + z sqrt(h) sigma_p``, ``ES = -h mu_p + sqrt(h) sigma_p phi(z) / (1 - c)``,
    ``z = Phi^{-1}(c)``. ``sw`` (``cov @ w``) may be given instead of ``cov``.
    """
    if sw is None:
        sw = cov @ w
    sig = float(np.sqrt(w @ sw))
    z = stats.norm.ppf(confidence)
    k_es = stats.norm.pdf(z) / (1.0 - confidence)
    h = horizon
    mu_c = w * mu
    marg = w * sw / sig if sig > 0 else np.zeros_like(w)
    var_c = -h * mu_c + z * math.sqrt(h) * marg
    es_c = -h * mu_c + k_es * math.sqrt(h) * marg
    return float(var_c.sum()), float(es_c.sum()), var_c, es_c


def _tail_normal_moments(a: float):
    """E[Z^k | Z < q] for k = 1, 2, 3, q = Phi^{-1}(a), standard normal."""
    q = stats.norm.ppf(a)
    ph = stats.norm.pdf(q)
    return -ph / a, 1.0 - q * ph / a, -(q * q + 2.0) * ph / a


def _cornish_fisher(x: np.ndarray, w: np.ndarray, confidence: float, horizon: int):
    """Modified (Cornish-Fisher) VaR and ES with analytic Euler contributions.

    Zangari (1996); Boudt, Peterson and Croux (2008), "Estimation and decomposition of
    downside risk for portfolios with non-normal returns", J. of Risk 11(2).
    Quantile ``q(z) = z + (z^2-1) S/6 + (z^3-3z) K/24 - (2z^3-5z) S^2/36`` with sample
    (divisor n) skewness S and excess kurtosis K of the book's returns; the ES uses
    the tail average of q(Z) below ``z_a`` (closed form normal tail moments).
    """
    n = x.shape[0]
    h = horizon
    mu = x.mean(axis=0)
    xc = x - mu
    y = xc @ w
    m2, m3, m4 = (y ** 2).mean(), (y ** 3).mean(), (y ** 4).mean()
    d2 = 2.0 * xc.T @ y / n
    d3 = 3.0 * xc.T @ (y ** 2) / n
    d4 = 4.0 * xc.T @ (y ** 3) / n
    sig = math.sqrt(m2)
    s_ = m3 / m2 ** 1.5
    k_ = m4 / m2 ** 2 - 3.0
    ds = d3 / m2 ** 1.5 - 1.5 * m3 * d2 / m2 ** 2.5
    dk = d4 / m2 ** 2 - 2.0 * m4 * d2 / m2 ** 3
    dsig = d2 / (2.0 * sig)
    sh, kh = s_ / math.sqrt(h), k_ / h  # i.i.d. aggregation over h periods
    a = 1.0 - confidence
    z = stats.norm.ppf(a)
    e1, e2, e3 = _tail_normal_moments(a)
    coef = {
        "var": (z, (z * z - 1) / 6, (z ** 3 - 3 * z) / 24, -(2 * z ** 3 - 5 * z) / 36),
        "es": (e1, (e2 - 1) / 6, (e3 - 3 * e1) / 24, -(2 * e3 - 5 * e1) / 36),
    }
    out = {}
    for key, (c0, c1, c2, c3) in coef.items():
        q = c0 + c1 * sh + c2 * kh + c3 * sh * sh
        dq = (c1 + 2 * c3 * sh) * ds / math.sqrt(h) + c2 * dk / h
        risk = -(h * (w @ mu) + math.sqrt(h) * sig * q)
        grad = -(h * mu + math.sqrt(h) * (dsig * q + sig * dq))
        out[key] = (float(risk), w * grad)
    return out["var"][0], out["es"][0], out["var"][1], out["es"][1], {"skewness": s_, "excess_kurtosis": k_}


# ----------------------------------------------------------------------------- public
def value_at_risk(weights: pd.Series | None, returns: pd.DataFrame, *, method: str = "historical",
                  confidence: float = 0.99, horizon: int = 1, capital: float = DEFAULT_CAPITAL,
                  currency: str | None = None, lookback: int | None = None, halflife: float = 11.2,
                  n_sims: int = 50_000, dof: float = 5.0, seed: int = 7,
                  covariance: pd.DataFrame | None = None, holdings: pd.Series | None = None) -> VaRResult:
    """VaR and ES of a book by ``method``, with Euler contributions per asset.

    Parameters
    ----------
    weights : pandas.Series
        Fractions of capital per symbol (use :func:`~computefolio.risk.portfolio.weights_from_holdings`
        for currency amounts).
    returns : pandas.DataFrame
        Per-period simple returns (periods x symbols) with ``attrs`` basis,
        periods_per_year, currency (as from ``MarketData.returns``).
    method : {"historical", "gaussian", "cornish_fisher", "filtered_historical", "monte_carlo"}
    confidence : float in (0.5, 1)
    horizon : int
        Periods of the returns' basis (see the module docstring for scaling).
    capital : float
        Book value in currency (default 100,000,000).
    lookback : int, optional
        Use only the last ``lookback`` complete periods.
    halflife : float
        Filtered historical: EWMA half-life in periods (11.2 ~ RiskMetrics lambda 0.94).
    n_sims, dof, seed : Monte Carlo with a Student-t copula (``dof`` degrees of freedom,
        correlation of normal scores) and each asset's empirical marginal; ``seed`` fixes it.
    covariance : pandas.DataFrame, optional
        Gaussian only: a per-period covariance to use instead of the sample one.
    holdings : pandas.Series, optional
        Currency amounts per symbol instead of ``weights`` (then ``weights = holdings / capital``).
    """
    if holdings is not None:
        if weights is not None:
            raise ValueError("give weights or holdings, not both")
        weights = weights_from_holdings(holdings, capital)
    elif weights is None:
        raise ValueError("give weights (fractions of capital) or holdings (currency amounts)")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    horizon = int(horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 period, got {horizon}")
    al: Aligned = align(weights, returns, lookback=lookback, currency=currency)
    x, w = al.x, al.w
    params: dict = {}
    if method == "historical":
        scen = overlapping_sums(x, horizon)
        v, e, vc, ec = empirical_var_es(scen, w, confidence, al.r if horizon == 1 else None)
        rule = "overlapping h-period sums of per-period returns"
    elif method == "gaussian":
        mu = (np.ones(x.shape[0]) @ x) / x.shape[0]
        if covariance is not None:
            cov = covariance.loc[al.weights.index, al.weights.index].to_numpy(dtype=float)
            params["covariance"] = "given"
            v, e, vc, ec = gaussian_var_es(mu, cov, w, confidence, horizon)
        else:
            # sample covariance (ddof=1) times w without forming it: S w = Xc'(Xc w) / (n - 1)
            y = al.r
            sw = x.T @ (y - y.mean()) / (x.shape[0] - 1)  # = Xc'(Xc w)/(n-1), no centred copy
            params["covariance"] = "sample (ddof=1)"
            v, e, vc, ec = gaussian_var_es(mu, None, w, confidence, horizon, sw=sw)
        rule = "mean x h, volatility x sqrt(h)"
    elif method == "cornish_fisher":
        v, e, vc, ec, mom = _cornish_fisher(x, w, confidence, horizon)
        params.update({k: float(val) for k, val in mom.items()})
        rule = "mean x h, volatility x sqrt(h), skewness / sqrt(h), excess kurtosis / h"
    elif method == "filtered_historical":
        lam = 0.5 ** (1.0 / halflife)
        sig_t, sig_now = _ewma_vol(x, lam)
        filt = x * (sig_now / sig_t)
        scen = overlapping_sums(filt, horizon)
        v, e, vc, ec = empirical_var_es(scen, w, confidence)
        params.update({"halflife": halflife, "lambda": lam})
        rule = "returns rescaled to today's EWMA volatility (Hull and White 1998), overlapping h-period sums"
    else:  # monte_carlo
        v, e, vc, ec = _t_copula_var_es(x, w, confidence, horizon, n_sims, dof, seed)
        params.update({"n_sims": n_sims, "dof": dof, "seed": seed,
                       "copula": "Student-t, correlation of normal scores", "marginals": "empirical"})
        rule = "sum of h independent simulated periods"
    return VaRResult(method=method, confidence=float(confidence), horizon=horizon, basis=al.basis,
                     periods_per_year=al.periods_per_year, currency=al.currency, capital=float(capital),
                     var_pct=v, es_pct=e, var_contributions=pd.Series(vc, index=al.weights.index, name="var"),
                     es_contributions=pd.Series(ec, index=al.weights.index, name="es"),
                     n_observations=len(al.index), horizon_rule=rule, notes=al.note(), params=params)


def _t_copula_var_es(x: np.ndarray, w: np.ndarray, confidence: float, horizon: int, n_sims: int, dof: float,
                     seed: int, chunk: int = 10_000):
    """Monte Carlo VaR/ES from a Student-t copula with empirical marginals.

    Dependence: t copula with ``dof`` degrees of freedom and the correlation of the
    normal scores of ``x`` (Demarta and McNeil 2005 use the same copula; normal scores
    are a rank-based, outlier-robust estimate of its correlation). Marginals: each asset's
    empirical quantile function (linear between order statistics at ``(k - 0.5)/n``).
    ``horizon`` periods are simulated independently and summed. Scenarios are generated in
    chunks of ``chunk`` draws so memory stays ``chunk x assets``; only the worst scenarios
    are kept for the tail. Same ``seed`` -> same numbers.
    """
    n, p = x.shape
    rng = np.random.default_rng(seed)
    corr = _normal_scores_corr(x)
    vals, vecs = np.linalg.eigh(corr)
    chol = vecs * np.sqrt(np.clip(vals, 0.0, None))
    srt = np.sort(x, axis=0)
    cols = np.arange(p)
    # Student-t cdf tabulated on a sinh-spaced grid over [-1e4, 1e4] (interpolation error < 1e-7)
    grid = np.sinh(np.linspace(-np.arcsinh(1e4), np.arcsinh(1e4), 200_001))
    tcdf = special.stdtr(dof, grid)
    a = 1.0 - confidence
    keep = min(int(math.ceil(round(n_sims * a, 9))) + 2, n_sims)
    cand_s = np.empty((0, p))
    cand_r = np.empty(0)
    done = 0
    while done < n_sims:
        m = min(chunk, n_sims - done)
        scen = np.zeros((m, p))
        for _ in range(horizon):
            g = rng.standard_normal((m, p)) @ chol.T
            chi = rng.chisquare(dof, size=(m, 1))
            u = np.interp(g / np.sqrt(chi / dof), grid, tcdf)
            pos = u * n - 0.5
            i0 = np.clip(np.floor(pos).astype(np.int64), 0, n - 1)
            i1 = np.minimum(i0 + 1, n - 1)
            frac = np.clip(pos - i0, 0.0, 1.0)
            lo = srt[i0, cols]
            scen += lo + frac * (srt[i1, cols] - lo)
        r = scen @ w
        cand_s = np.vstack([cand_s, scen])
        cand_r = np.concatenate([cand_r, r])
        if len(cand_r) > keep:
            sel = np.argpartition(cand_r, keep - 1)[:keep]
            cand_s, cand_r = cand_s[sel], cand_r[sel]
        done += m
    # VaR/ES of the full sample from its worst scenarios: pad with +inf placeholders
    order = np.argsort(cand_r, kind="stable")
    cand_s, cand_r = cand_s[order], cand_r[order]
    k_na = round(n_sims * a, 9)
    k = max(int(math.ceil(k_na)), 1)
    kf = int(math.floor(k_na))
    iv = k - 1
    mm = min(kf + 1, n_sims)
    wts = np.full(mm, 1.0 / k_na)
    if kf + 1 <= n_sims:
        wts[-1] = (k_na - kf) / k_na
    var_c = -w * cand_s[iv]
    es_c = -w * (wts @ cand_s[:mm])
    return float(-cand_r[iv]), float(-(wts @ cand_r[:mm])), var_c, es_c


def var_es_table(weights: pd.Series, returns: pd.DataFrame, *, methods=METHODS, **kwargs) -> dict[str, VaRResult]:
    """:func:`value_at_risk` for each method, keyed by method name."""
    return {m: value_at_risk(weights, returns, method=m, **kwargs) for m in methods}
