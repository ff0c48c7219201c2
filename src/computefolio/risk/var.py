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
* **Data**: only periods where every held asset has a return (stated in ``notes``):
  a period is kept iff the book's return ``x_t @ w`` over the held (non-zero weight)
  assets is finite, so a period before an asset's listing (NaN) is dropped, never
  filled. ``lookback`` then keeps the last complete periods.
* **Speed**: the historical method at horizon 1 works on NumPy arrays (no copy of the
  returns when the weights' symbols are the returns' columns in the same order; one
  BLAS matvec for the book's returns; ``np.partition`` for the order statistics) and
  computes the Euler contributions when first read; same numbers as the general path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import DataError
from .portfolio import DEFAULT_CAPITAL, Aligned, align, complete_periods_note, weights_from_holdings

METHODS = ("historical", "gaussian", "cornish_fisher", "filtered_historical", "monte_carlo")

__all__ = ["METHODS", "VaRResult", "value_at_risk", "var_es_table", "empirical_var_es", "tail_var_es",
           "gaussian_var_es", "overlapping_sums"]


@dataclass(init=False)
class VaRResult:
    """VaR and ES of a book by one method, with per-asset Euler contributions.

    ``var_pct``/``es_pct`` are fractions of capital (positive = loss);
    ``var``/``es`` the same in ``currency``; contributions are fractions of capital
    per asset and sum to ``var_pct``/``es_pct``.

    ``var_contributions`` and ``es_contributions`` may be computed lazily: the historical
    method at horizon 1 computes them on first access of either attribute (both at once,
    then cached) with exactly the arithmetic of the eager computation, so the numbers
    do not depend on when they are read. Until then the result holds a copy of the
    weights, the book's return per period and the returns of the held assets (a read-only
    view of the frame's data when the weights list its columns in order, else a copy of
    the held columns); reading them after that frame was changed in place raises
    :class:`~computefolio.errors.DataError` (checked by recomputing the book's returns, 1e-14)
    instead of giving contributions of other data. Pickling or deep-copying a result
    computes them first.
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

    def __init__(self, method: str, confidence: float, horizon: int, basis: str | None,
                 periods_per_year: int | None, currency: str, capital: float, var_pct: float, es_pct: float,
                 var_contributions: pd.Series | None = None, es_contributions: pd.Series | None = None,
                 n_observations: int = 0, horizon_rule: str = "", notes: str = "", params: dict | None = None,
                 *, contributions: Callable[[], tuple[pd.Series, pd.Series]] | None = None):
        if contributions is None and (var_contributions is None or es_contributions is None):
            raise TypeError("give var_contributions and es_contributions, or contributions= (a callable)")
        self.method, self.confidence, self.horizon, self.basis = method, confidence, horizon, basis
        self.periods_per_year, self.currency, self.capital = periods_per_year, currency, capital
        self.var_pct, self.es_pct = var_pct, es_pct
        self._var_c, self._es_c = var_contributions, es_contributions
        self._pending = contributions
        self.n_observations, self.horizon_rule, self.notes = n_observations, horizon_rule, notes
        self.params = {} if params is None else params

    def __getstate__(self) -> dict:
        """Pickle / deepcopy: the contributions are computed first (a pending one is a closure)."""
        if self._pending is not None:
            self._resolve()
        return self.__dict__.copy()

    def _resolve(self) -> None:
        var_c, es_c = self._pending()
        if self._var_c is None:
            self._var_c = var_c
        if self._es_c is None:
            self._es_c = es_c
        self._pending = None  # drop the scenario data

    @property
    def var_contributions(self) -> pd.Series:
        """Euler contributions to the VaR per held symbol, fractions of capital (sum = ``var_pct``)."""
        if self._var_c is None:
            self._resolve()
        return self._var_c

    @var_contributions.setter
    def var_contributions(self, value: pd.Series) -> None:
        self._var_c = value

    @property
    def es_contributions(self) -> pd.Series:
        """Euler contributions to the ES per held symbol, fractions of capital (sum = ``es_pct``)."""
        if self._es_c is None:
            self._resolve()
        return self._es_c

    @es_contributions.setter
    def es_contributions(self, value: pd.Series) -> None:
        self._es_c = value

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


@lru_cache(maxsize=256)
def _tail_spec(n: int, confidence: float):
    """Order statistics that define the empirical VaR and ES of ``n`` scenarios.

    Returns (k, m, wts): ``VaR = -r_(k)`` (1-based order statistic),
    ``ES = -(wts @ [r_(1), ..., r_(m)])`` (Acerbi and Tasche 2002); ``wts`` is read-only.
    """
    a = 1.0 - confidence
    na = round(n * a, 9)  # guard 1000 * 0.01 = 10.000000000000002
    k = min(max(int(math.ceil(na)), 1), n)
    kf = int(math.floor(na))
    m = min(kf + 1, n)
    if na <= 0:
        wts = np.zeros(m)
        wts[0] = 1.0
    else:
        wts = np.full(m, 1.0 / na)
        if kf + 1 <= n:
            wts[-1] = (na - kf) / na
    wts.flags.writeable = False
    return k, m, wts


def _tail_rows(r: np.ndarray, confidence: float):
    """Scenarios defining the empirical VaR and ES of scenario returns ``r``.

    Returns (i_var, tail, es_weights): ``VaR = -r[i_var]`` and ``ES = -(es_weights @ r[tail])``,
    ``tail`` the indices of the ``len(es_weights)`` smallest returns, ascending.
    """
    n = len(r)
    k, m, wts = _tail_spec(n, float(confidence))
    mm = max(m, k)
    part = np.argpartition(r, mm - 1)[:mm] if mm < n else np.arange(n)
    order = part[np.argsort(r[part], kind="stable")]
    return order[k - 1], order[:m], wts


def tail_var_es(r: np.ndarray, confidence: float) -> tuple[float, float]:
    """Empirical VaR and ES of scenario returns ``r`` (1-D), positive = loss.

    Same order statistics and the same arithmetic as :func:`empirical_var_es` (so the
    same numbers to the last bit) without the contributions: one ``np.partition`` (no
    full sort) isolates the ``m`` smallest returns, which are then sorted (``m`` is about
    ``n (1 - confidence)``) and weighted.
    """
    n = len(r)
    k, m, wts = _tail_spec(n, float(confidence))
    mm = max(m, k)
    # two kth values: numpy then uses introselect, ~4x faster on ~1,500 values than the
    # single-kth path (the selected values are the same: kth positions hold order statistics)
    low = np.sort(np.partition(r, (k - 1, mm - 1))[:mm]) if mm < n else np.sort(r)
    return float(-low[k - 1]), float(-(wts @ low[:m]))


def _scenario_contributions(scen: np.ndarray, w: np.ndarray, confidence: float, r: np.ndarray,
                            rows: np.ndarray | None = None):
    """Euler contributions to the empirical VaR and ES (Tasche 1999), positive = loss.

    ``r`` are the book's scenario returns; scenario ``j`` of ``r`` is row ``rows[j]`` of
    ``scen`` (row ``j`` when ``rows`` is None), so a caller that screened out rows need
    not copy the matrix. Only the tail rows are read.
    """
    iv, tail, wts = _tail_rows(r, confidence)
    if rows is not None:
        iv, tail = rows[iv], rows[tail]
    return -w * scen[iv], -w * (wts @ scen[tail])


def empirical_var_es(scen: np.ndarray, w: np.ndarray, confidence: float, r: np.ndarray | None = None):
    """VaR, ES and their contributions from asset scenario returns ``scen`` (S, N).

    ``r`` (``scen @ w``) may be passed when already known.
    Returns (var, es, var_contrib (N,), es_contrib (N,)), positive = loss.
    """
    if r is None:
        r = scen @ w
    iv, tail, wts = _tail_rows(r, confidence)
    return float(-r[iv]), float(-(wts @ r[tail])), -w * scen[iv], -w * (wts @ scen[tail])


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
_F8 = np.dtype(float)


def _historical_book(weights, returns, confidence: float, lookback: int | None, currency: str | None,
                     capital: float) -> VaRResult | None:
    """Historical VaR/ES at horizon 1 on NumPy arrays, contributions deferred.

    Same numbers as ``align`` + :func:`empirical_var_es` (same matvec, same order
    statistics, same sums), without pandas on the hot path: the weights' index is
    matched to the columns by identity or equality, else by one ``get_indexer`` (then
    the held columns are copied, as ``align`` does); one BLAS matvec gives the book's
    return per period, whose finiteness screens the periods (NaN propagates through the
    matvec because no held weight is 0: a period where a held asset is not yet listed
    drops out, and no return is filled); screened periods are addressed by row number,
    the matrix is not copied. Returns None, so that the caller takes the general path
    (with its errors or its eager route), for anything unusual: weights that are not a
    float64 Series with unique string symbols, a strided weights array (a sliced Series),
    NaN/inf or all-zero weights, symbols missing from the returns, fewer than 20 complete
    periods.
    """
    if not (isinstance(weights, pd.Series) and isinstance(returns, pd.DataFrame) and weights.dtype == _F8):
        return None
    sym = weights.index
    if not (sym.is_unique and (isinstance(sym.dtype, pd.StringDtype) or pd.api.types.is_string_dtype(sym))):
        return None
    # A NaN or infinite weight makes every book return non-finite, so it ends below with no
    # complete period (-> general path, its error)
    wv = weights.to_numpy()
    if not wv.all():
        nz = wv != 0.0
        if not nz.any():
            return None
        sym, wv = sym[nz], wv[nz]
    elif not wv.flags.c_contiguous:
        # a strided view (e.g. a sliced Series): BLAS takes another route for it, whose last
        # bit can differ from a contiguous copy's; the general path keeps its numbers
        return None
    else:
        wv = wv.copy()  # own copy (contiguous, the same BLAS route): contributions may be read later
    cols = returns.columns
    if sym is cols or (len(sym) == len(cols) and sym.equals(cols)):
        x = returns.to_numpy()  # no copy: a read-only view of the frame's data
        if x.dtype != _F8:
            x = returns.to_numpy(dtype=float)
        shared = True
    else:
        pos = cols.get_indexer(sym)
        if (pos < 0).any():
            return None
        x = returns.to_numpy(dtype=float)[:, pos]  # a private copy of the held columns, as in ``align``
        shared = False
    r = x @ wv
    if math.isfinite(r.sum()):  # every period complete (NaN and inf propagate to the sum)
        rows, rs, dropped = None, r, 0
    else:
        keep = np.isfinite(r)
        rows = np.flatnonzero(keep)
        rs, dropped = r[rows], len(r) - len(rows)
    if lookback is not None:
        lb = int(lookback)
        rows = (np.arange(len(r)) if rows is None else rows)[-lb:]
        rs = rs[-lb:]
    if len(rs) < 20:
        return None
    v, e = tail_var_es(rs, confidence)

    def contributions():
        # same matvec as above; the tolerance (far above rounding, far below any real edit of a
        # return) only guards against a BLAS that would not repeat its last bit
        if shared and not np.allclose(x @ wv, r, rtol=0.0, atol=1e-14, equal_nan=True):
            raise DataError("the returns frame was changed in place after value_at_risk(); the contributions "
                            "are read from it on first access: call value_at_risk again")
        vc, ec = _scenario_contributions(x, wv, confidence, rs, rows)
        return pd.Series(vc, index=sym, name="var"), pd.Series(ec, index=sym, name="es")

    attrs = returns.attrs or {}
    note = complete_periods_note(len(rs), dropped)
    return VaRResult(method="historical", confidence=float(confidence), horizon=1, basis=attrs.get("basis"),
                     periods_per_year=attrs.get("periods_per_year"),
                     currency=currency or attrs.get("currency") or "USD", capital=float(capital),
                     var_pct=v, es_pct=e, n_observations=len(rs),
                     horizon_rule="overlapping h-period sums of per-period returns", notes=note, params={},
                     contributions=contributions)


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

    Returns
    -------
    VaRResult
        Losses positive, fractions of capital and currency; ``n_observations`` periods used.

    Notes
    -----
    NaN screening: assets with weight 0 are not held and ignored; a period is used iff
    every held asset has a (finite) return in it, i.e. iff the book's return is finite
    (NaN propagates through ``x_t @ w``), so periods before the youngest held asset was
    listed are dropped, not filled; ``notes`` states how many. Fewer than 20 usable
    periods, a held symbol missing from ``returns`` or NaN weights raise
    :class:`~computefolio.errors.DataError`.

    Historical method, horizon 1: computed on NumPy arrays without copying the returns
    when ``weights.index`` lists the same symbols as ``returns.columns`` in the same
    order (otherwise the held columns are taken once); the Euler contributions are
    computed when first read (see :class:`VaRResult`). The numbers are those of the
    general path to the last bit.
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
    if method == "historical" and horizon == 1:
        fast = _historical_book(weights, returns, confidence, lookback, currency, capital)
        if fast is not None:
            return fast
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
    k, mm, wts = _tail_spec(n_sims, float(confidence))
    keep = min(k + 2, n_sims)
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
    # VaR/ES of all n_sims scenarios from the worst ``keep`` of them, in ascending order
    order = np.argsort(cand_r, kind="stable")
    cand_s, cand_r = cand_s[order], cand_r[order]
    var_c = -w * cand_s[k - 1]
    es_c = -w * (wts @ cand_s[:mm])
    return float(-cand_r[k - 1]), float(-(wts @ cand_r[:mm])), var_c, es_c


def var_es_table(weights: pd.Series, returns: pd.DataFrame, *, methods=METHODS, **kwargs) -> dict[str, VaRResult]:
    """:func:`value_at_risk` for each method, keyed by method name."""
    return {m: value_at_risk(weights, returns, method=m, **kwargs) for m in methods}
