"""Performance metrics of a return series, each annualized on the series' own basis.

Every function takes simple per-period returns (fractions, ``pandas.Series`` or 1-D
array) and, where it annualizes, ``periods_per_year``; when that is None it is read
from ``returns.attrs["periods_per_year"]`` (set by ``MarketData.returns`` and by the
backtest), and a series without it raises ``ValueError`` -- annualizing a mixed book
with a guessed 252 is the bug this module exists to avoid. :func:`summary` reports the
periods per year it used next to every number.

Conventions (identical to empyrical-reloaded under the same periods per year, tested
to 1e-10):

* ``annual_return``: geometric, ``prod(1 + r) ** (ppy / n) - 1`` (years = periods / ppy).
* ``cagr``: geometric over *elapsed calendar time*, ``(prod(1 + r)) ** (365.25 / days) - 1``
  with ``days`` from the day before the first return (one period earlier) to the last
  date. It does not depend on the basis, so a book valued on sessions and on calendar
  days has (almost) the same CAGR. (empyrical's ``cagr`` is an alias of ``annual_return``.)
* ``volatility``: sample standard deviation (ddof=1) x sqrt(ppy).
* ``sharpe``: mean(r - rf) / std(r - rf, ddof=1) x sqrt(ppy); ``risk_free`` is a
  *per-period* return (a float or a Series aligned with ``returns``), as in empyrical.
  :func:`rf_per_period` turns an annual rate into one.
* ``sortino``: mean(r - req) x ppy / (sqrt(mean(min(r - req, 0)^2)) x sqrt(ppy)).
* ``max_drawdown``: worst peak-to-trough of the wealth curve starting at 1 before the
  first return (a first-period loss counts). ``drawdown_duration``: longest run of
  periods (and calendar days) spent below a previous peak.
* ``calmar``: annual_return / |max_drawdown|.
* ``skew``, ``kurtosis``: sample skewness and *excess* kurtosis, bias-corrected
  (``scipy.stats.skew(bias=False)``, ``kurtosis(fisher=True, bias=False)``).
* ``hit_rate``: share of periods with a positive return (NaN excluded).
* ``value_at_risk`` / ``expected_shortfall``: historical, returned as returns (negative
  = loss): the ``cutoff`` percentile (numpy linear interpolation) and the mean of the
  lowest ``int((n - 1) * cutoff) + 1`` returns (empyrical's CVaR).
* ``beta`` = cov(r, b) / var(b) (population moments, as empyrical); ``correlation``
  Pearson; ``tracking_error`` = std(r - b, ddof=1) x sqrt(ppy); ``information_ratio``
  = mean(r - b) x ppy / tracking_error (= empyrical ``excess_sharpe`` x sqrt(ppy));
  ``alpha`` = (1 + mean((r - rf) - beta (b - rf))) ** ppy - 1 (empyrical).
  Benchmark returns must be on the same dates (same basis); rows where either is NaN
  are dropped.
* ``annual_turnover``: mean per-period one-sided turnover x ppy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from .risk.drawdown import longest_underwater, wealth_drawdown


def _ppy(returns, periods_per_year) -> float:
    if periods_per_year is not None:
        return float(periods_per_year)
    ppy = getattr(returns, "attrs", {}).get("periods_per_year")
    if ppy:
        return float(ppy)
    raise ValueError("returns carry no periods_per_year: pass periods_per_year= (252 session, 365 calendar)")


def _arr(returns) -> np.ndarray:
    a = np.asarray(returns, dtype=float)
    if a.ndim != 1:
        raise ValueError("returns must be one-dimensional")
    return a


def rf_per_period(annual_rate, periods_per_year: float):
    """Per-period risk-free return from an annual rate, compounded: (1 + r)^(1/ppy) - 1."""
    return (1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0


def total_return(returns) -> float:
    """Compounded return over the whole series (NaN treated as 0)."""
    r = np.nan_to_num(_arr(returns))
    return float(np.prod(1.0 + r) - 1.0)


def annual_return(returns, periods_per_year=None) -> float:
    """Geometric annual return with years = periods / periods_per_year."""
    r = _arr(returns)
    if len(r) < 1:
        return np.nan
    ppy = _ppy(returns, periods_per_year)
    return float((np.nanprod(1.0 + r)) ** (ppy / len(r)) - 1.0)


def cagr(returns, periods_per_year=None) -> float:
    """Geometric annual return over elapsed calendar time (365.25-day years).

    Needs a DatetimeIndex; the first return covers one period before the first date,
    taken as 365.25 / periods_per_year days.
    """
    if not isinstance(returns, pd.Series) or not isinstance(returns.index, pd.DatetimeIndex):
        raise ValueError("cagr needs a Series with a DatetimeIndex")
    if len(returns) < 1:
        return np.nan
    ppy = _ppy(returns, periods_per_year)
    days = (returns.index[-1] - returns.index[0]).days + 365.25 / ppy
    return float((1.0 + total_return(returns)) ** (365.25 / days) - 1.0)


def volatility(returns, periods_per_year=None) -> float:
    """Annualized sample standard deviation (ddof=1)."""
    r = _arr(returns)
    if np.sum(~np.isnan(r)) < 2:
        return np.nan
    return float(np.nanstd(r, ddof=1) * np.sqrt(_ppy(returns, periods_per_year)))


def _excess(returns, other) -> np.ndarray:
    r = _arr(returns)
    if isinstance(other, pd.Series) and isinstance(returns, pd.Series):
        other = other.reindex(returns.index)
    o = np.asarray(other, dtype=float)
    return r - o


def sharpe(returns, risk_free=0.0, periods_per_year=None) -> float:
    """Annualized Sharpe ratio; ``risk_free`` per period (float or aligned Series)."""
    x = _excess(returns, risk_free)
    if np.sum(~np.isnan(x)) < 2:
        return np.nan
    sd = np.nanstd(x, ddof=1)
    if np.nanmax(x) == np.nanmin(x):
        sd = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(x) / sd * np.sqrt(_ppy(returns, periods_per_year)))


def downside_risk(returns, required_return=0.0, periods_per_year=None) -> float:
    """Annualized downside deviation below ``required_return`` (per period)."""
    x = np.clip(_excess(returns, required_return), -np.inf, 0.0)
    return float(np.sqrt(np.nanmean(x ** 2)) * np.sqrt(_ppy(returns, periods_per_year)))


def sortino(returns, required_return=0.0, periods_per_year=None) -> float:
    """Annualized Sortino ratio (empyrical's definition)."""
    x = _excess(returns, required_return)
    if len(x) < 2:
        return np.nan
    ppy = _ppy(returns, periods_per_year)
    dr = downside_risk(returns, required_return, ppy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(x) * ppy / dr)


def drawdown(returns) -> pd.Series | np.ndarray:
    """Drawdown per period (<= 0) of the wealth curve that starts at 1."""
    dd = wealth_drawdown(np.nan_to_num(_arr(returns)))[1][1:]
    return pd.Series(dd, index=returns.index, name="drawdown") if isinstance(returns, pd.Series) else dd


def max_drawdown(returns) -> float:
    """Worst drawdown (a negative fraction; 0 when never below a peak)."""
    r = _arr(returns)
    if len(r) < 1:
        return np.nan
    return float(np.min(np.asarray(drawdown(returns))))


def drawdown_duration(returns) -> dict:
    """Longest time below a previous peak: ``{"periods": int, "days": int or None, "start", "end"}``.

    ``end`` is the last period still under water (None dates without a DatetimeIndex).
    """
    best, best_s = longest_underwater(np.asarray(drawdown(returns)))
    out = {"periods": int(best), "days": None, "start": None, "end": None}
    if best and isinstance(returns, pd.Series) and isinstance(returns.index, pd.DatetimeIndex):
        s, e = returns.index[best_s], returns.index[best_s + best - 1]
        out.update(start=s, end=e, days=int((e - s).days) + 1)
    return out


def calmar(returns, periods_per_year=None) -> float:
    """annual_return / |max_drawdown| (NaN without a drawdown)."""
    mdd = max_drawdown(returns)
    if not mdd < 0:
        return np.nan
    v = annual_return(returns, periods_per_year) / abs(mdd)
    return float(v) if np.isfinite(v) else np.nan


def skew(returns) -> float:
    """Bias-corrected sample skewness."""
    r = _arr(returns)
    return float(_st.skew(r[~np.isnan(r)], bias=False))


def kurtosis(returns) -> float:
    """Bias-corrected sample excess kurtosis (0 for a normal)."""
    r = _arr(returns)
    return float(_st.kurtosis(r[~np.isnan(r)], fisher=True, bias=False))


def hit_rate(returns) -> float:
    """Share of periods with a positive return (NaN excluded)."""
    r = _arr(returns)
    r = r[~np.isnan(r)]
    return float(np.mean(r > 0)) if len(r) else np.nan


def value_at_risk(returns, cutoff: float = 0.05) -> float:
    """Historical VaR as a return: the ``cutoff`` percentile (negative = loss)."""
    r = _arr(returns)
    r = r[~np.isnan(r)]
    return float(np.percentile(r, 100 * cutoff)) if len(r) else np.nan


def expected_shortfall(returns, cutoff: float = 0.05) -> float:
    """Historical expected shortfall (CVaR) as a return: mean of the worst tail."""
    r = _arr(returns)
    r = r[~np.isnan(r)]
    if not len(r):
        return np.nan
    k = int((len(r) - 1) * cutoff)
    return float(np.mean(np.partition(r, k)[: k + 1]))


def _pair(returns, benchmark):
    if isinstance(returns, pd.Series) and isinstance(benchmark, pd.Series):
        b = benchmark.reindex(returns.index)
        r = returns.to_numpy(dtype=float)
        b = b.to_numpy(dtype=float)
    else:
        r, b = _arr(returns), _arr(benchmark)
        if len(r) != len(b):
            raise ValueError("returns and benchmark differ in length")
    ok = ~(np.isnan(r) | np.isnan(b))
    return r[ok], b[ok]


def beta(returns, benchmark) -> float:
    """cov(r, b) / var(b), population moments on common non-NaN periods."""
    r, b = _pair(returns, benchmark)
    if len(r) < 2:
        return np.nan
    br = b - b.mean()
    var = np.mean(br ** 2)
    return float(np.mean(br * r) / var) if var >= 1e-30 else np.nan


def alpha(returns, benchmark, risk_free=0.0, periods_per_year=None) -> float:
    """Annualized Jensen alpha, empyrical's convention: (1 + mean daily alpha)^ppy - 1."""
    ppy = _ppy(returns, periods_per_year)
    r, b = _pair(returns, benchmark)
    if len(r) < 2:
        return np.nan
    bt = beta(r, b)
    a = (r - risk_free) - bt * (b - risk_free)
    return float((1.0 + np.mean(a)) ** ppy - 1.0)


def correlation(returns, benchmark) -> float:
    """Pearson correlation on common non-NaN periods."""
    r, b = _pair(returns, benchmark)
    return float(np.corrcoef(r, b)[0, 1]) if len(r) > 1 else np.nan


def tracking_error(returns, benchmark, periods_per_year=None) -> float:
    """Annualized standard deviation (ddof=1) of active returns."""
    ppy = _ppy(returns, periods_per_year)
    r, b = _pair(returns, benchmark)
    return float(np.std(r - b, ddof=1) * np.sqrt(ppy)) if len(r) > 1 else np.nan


def information_ratio(returns, benchmark, periods_per_year=None) -> float:
    """Annualized mean active return / tracking error."""
    ppy = _ppy(returns, periods_per_year)
    r, b = _pair(returns, benchmark)
    if len(r) < 2:
        return np.nan
    a = r - b
    sd = np.std(a, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(a) / sd * np.sqrt(ppy))


def annual_turnover(turnover, periods_per_year=None) -> float:
    """Mean per-period (one-sided) turnover x periods per year."""
    t = _arr(turnover)
    return float(np.nanmean(t) * _ppy(turnover, periods_per_year)) if len(t) else np.nan


def summary(returns: pd.Series, benchmark: pd.Series | None = None, risk_free=0.0, *,
            periods_per_year=None, turnover: pd.Series | None = None, cutoff: float = 0.05) -> dict:
    """Every metric of this module in one dict, with the basis and periods per year used.

    ``risk_free`` is per period (see module docstring). Keys: ``basis``,
    ``periods_per_year``, ``start``, ``end``, ``periods``, ``total_return``,
    ``annual_return``, ``cagr``, ``volatility``, ``sharpe``, ``sortino``, ``calmar``,
    ``max_drawdown``, ``max_drawdown_periods``, ``max_drawdown_days``, ``skew``,
    ``kurtosis``, ``hit_rate``, ``var``, ``es`` (at ``cutoff``), and with a benchmark
    ``beta``, ``alpha``, ``correlation``, ``tracking_error``, ``information_ratio``;
    with turnover ``annual_turnover``.
    """
    ppy = _ppy(returns, periods_per_year)
    dd = drawdown_duration(returns)
    out = {
        "basis": getattr(returns, "attrs", {}).get("basis"),
        "periods_per_year": ppy,
        "start": returns.index[0] if len(returns) else None,
        "end": returns.index[-1] if len(returns) else None,
        "periods": int(len(returns)),
        "total_return": total_return(returns),
        "annual_return": annual_return(returns, ppy),
        "cagr": cagr(returns, ppy) if isinstance(returns.index, pd.DatetimeIndex) else np.nan,
        "volatility": volatility(returns, ppy),
        "sharpe": sharpe(returns, risk_free, ppy),
        "sortino": sortino(returns, risk_free, ppy),
        "calmar": calmar(returns, ppy),
        "max_drawdown": max_drawdown(returns),
        "max_drawdown_periods": dd["periods"],
        "max_drawdown_days": dd["days"],
        "skew": skew(returns),
        "kurtosis": kurtosis(returns),
        "hit_rate": hit_rate(returns),
        "var": value_at_risk(returns, cutoff),
        "es": expected_shortfall(returns, cutoff),
        "cutoff": cutoff,
    }
    if benchmark is not None:
        out.update(beta=beta(returns, benchmark), alpha=alpha(returns, benchmark, risk_free, ppy),
                   correlation=correlation(returns, benchmark),
                   tracking_error=tracking_error(returns, benchmark, ppy),
                   information_ratio=information_ratio(returns, benchmark, ppy))
    if turnover is not None:
        out["annual_turnover"] = annual_turnover(turnover, ppy)
    return out


# ----------------------------------------------------------------------------- tear-sheet tables
#: Trailing windows of :func:`trailing_returns`, in display order.
TRAILING = ("mtd", "qtd", "ytd", "1y", "3y", "inception", "inception_ann")
TRAILING_LABELS = {"mtd": "Month to date", "qtd": "Quarter to date", "ytd": "Year to date", "1y": "1 year",
                   "3y": "3 years, annualized", "inception": "Since inception",
                   "inception_ann": "Since inception, annualized"}


def _dated(returns, name: str) -> pd.Series:
    if not isinstance(returns, pd.Series) or not isinstance(returns.index, pd.DatetimeIndex):
        raise ValueError(f"{name} needs a Series of returns with a DatetimeIndex")
    return returns


def trailing_returns(returns: pd.Series, asof=None, periods_per_year=None) -> dict:
    """Returns over trailing windows ending on ``asof`` (default: the last date).

    Conventions: a return dated d covers the period ending at d's close, so a window
    "since X" compounds the returns dated *after* X's close:

    * ``mtd``, ``qtd``, ``ytd``: returns dated on or after the first calendar day of the
      month, quarter or year of ``asof`` (i.e. from the previous period-end close);
    * ``1y``: returns dated after ``asof`` minus one calendar year (total, not annualized);
    * ``3y``: returns dated after ``asof`` minus three calendar years, annualized over
      the elapsed calendar time with :func:`cagr`'s convention; None (not NaN-filled)
      when the series starts less than three years before ``asof``;
    * ``inception``: the whole series compounded; ``inception_ann``: :func:`cagr`.

    A window with no return, or that reaches before the first return (``1y``, ``3y``),
    is None. Values are fractions; returns are compounded (NaN counts as 0).
    """
    r = _dated(returns, "trailing_returns")
    ppy = _ppy(returns, periods_per_year)
    if len(r) == 0:
        return {k: None for k in TRAILING}
    asof = r.index[-1] if asof is None else pd.Timestamp(asof)
    r = r.loc[:asof]
    first_cover = r.index[0] - pd.Timedelta(days=365.25 / ppy)  # the first return covers one period before it

    def since(start, strict: bool):
        s = r[r.index > start] if strict else r[r.index >= start]
        return s

    out: dict = {}
    month0 = pd.Timestamp(asof.year, asof.month, 1)
    quarter0 = pd.Timestamp(asof.year, 3 * ((asof.month - 1) // 3) + 1, 1)
    year0 = pd.Timestamp(asof.year, 1, 1)
    for k, start in (("mtd", month0), ("qtd", quarter0), ("ytd", year0)):
        s = since(start, strict=False)
        out[k] = total_return(s) if len(s) else None
    one = asof - pd.DateOffset(years=1)
    s = since(one, strict=True)
    out["1y"] = total_return(s) if len(s) and first_cover <= one + pd.Timedelta(days=4) else None
    three = asof - pd.DateOffset(years=3)
    s = since(three, strict=True)
    if len(s) and first_cover <= three + pd.Timedelta(days=4):
        days = (asof - three).days
        out["3y"] = float((1.0 + total_return(s)) ** (365.25 / days) - 1.0)
    else:
        out["3y"] = None
    out["inception"] = total_return(r)
    out["inception_ann"] = cagr(r, ppy)
    return out


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month, years x months, with the year's total.

    Returns a DataFrame indexed by year (int) with columns ``Jan`` .. ``Dec`` and
    ``Year`` (the compounded return of the year's periods). A month without any return
    (before the start, after the end) is NaN, not 0. Fractions.
    """
    r = _dated(returns, "monthly_returns").fillna(0.0)
    if len(r) == 0:
        return pd.DataFrame(columns=[*MONTHS, "Year"], dtype=float)
    g = np.log1p(r.to_numpy(dtype=float))
    key = pd.DataFrame({"y": r.index.year, "m": r.index.month, "g": g})
    by_m = key.groupby(["y", "m"])["g"].sum()
    tab = np.expm1(by_m).unstack("m").reindex(columns=range(1, 13))
    tab.columns = list(MONTHS)
    tab["Year"] = np.expm1(key.groupby("y")["g"].sum())
    tab.index = tab.index.astype(int)
    tab.index.name = "year"
    return tab


def worst_drawdowns(returns: pd.Series, n: int = 5) -> pd.DataFrame:
    """The ``n`` deepest drawdown episodes of the wealth curve that starts at 1.

    An episode runs from a peak (the last high before the book fell below it) to the
    recovery (the first period back at or above that peak), or to the last date when
    not recovered. Columns:

    ``start`` (date of the peak; the day before the first return when the very first
    period loses), ``trough`` (date of the lowest value), ``recovery`` (date back at the
    peak, NaT if not yet), ``depth`` (fraction, negative: trough / peak - 1),
    ``length_days`` (calendar days from start to recovery, or to the last date),
    ``periods`` (periods under water, i.e. periods from the first loss to the one
    before the recovery), ``to_trough_periods``, ``recovered`` (bool).
    Sorted by depth, worst first.
    """
    r = _dated(returns, "worst_drawdowns").fillna(0.0)
    cols = ["start", "trough", "recovery", "depth", "length_days", "periods", "to_trough_periods", "recovered"]
    if len(r) == 0:
        return pd.DataFrame(columns=cols)
    wealth, dd = wealth_drawdown(r.to_numpy(dtype=float))
    ppy = getattr(returns, "attrs", {}).get("periods_per_year") or 252
    dates = pd.DatetimeIndex([r.index[0] - pd.Timedelta(days=round(365.25 / ppy)), *r.index])
    under = dd < 0
    rows = []
    i, T = 1, len(dd)
    while i < T:
        if not under[i]:
            i += 1
            continue
        s = i
        while i < T and under[i]:
            i += 1
        e = i  # first position back at the peak (T: not recovered)
        seg = dd[s:e]
        k = s + int(np.argmin(seg))
        rec = dates[e] if e < T else pd.NaT
        end = dates[e] if e < T else dates[-1]
        rows.append({"start": dates[s - 1], "trough": dates[k], "recovery": rec, "depth": float(dd[k]),
                     "length_days": int((end - dates[s - 1]).days), "periods": int(e - s),
                     "to_trough_periods": int(k - s + 1), "recovered": bool(e < T)})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("depth", kind="stable").head(n).reset_index(drop=True)


def rolling_sharpe(returns: pd.Series, window: int, risk_free=0.0, periods_per_year=None) -> pd.Series:
    """Sharpe ratio over a rolling window of ``window`` periods, annualized.

    ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(ppy)`` on each window (the convention
    of :func:`sharpe`); ``risk_free`` per period, a float or a Series aligned with
    ``returns``. NaN until the window is full.
    """
    r = _dated(returns, "rolling_sharpe")
    ppy = _ppy(returns, periods_per_year)
    x = r - (risk_free.reindex(r.index) if isinstance(risk_free, pd.Series) else risk_free)
    roll = x.rolling(window, min_periods=window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (roll.mean() / roll.std(ddof=1) * np.sqrt(ppy)).rename("rolling_sharpe")


def rolling_beta(returns: pd.Series, benchmark: pd.Series, window: int, lags: int = 0) -> pd.Series:
    """Beta to ``benchmark`` over a rolling window of ``window`` periods.

    ``lags = 0``: ``cov(r_t, b_t) / var(b_t)`` on each window (sample moments; the
    ddof cancels). ``lags = L > 0``: the Dimson (1979) sum
    ``sum_{k=-L..L} cov(r_t, b_{t-k}) / var(b_t)``, which corrects the bias of
    non-synchronous closes (crypto at 00:00 UTC, US equities at 16:00 New York); the
    lag-k covariance pairs ``r_t`` with ``b_{t-k}`` for every t of the window where both
    are present (means over those pairs, ddof 1), like
    :func:`computefolio.risk.crosscorr.cross_beta` on a whole sample. NaN until the
    window is full.
    """
    r = _dated(returns, "rolling_beta").astype(float)
    b = benchmark.reindex(r.index).astype(float)
    var_b = b.rolling(window, min_periods=window).var(ddof=1)
    num = pd.Series(0.0, index=r.index)
    for k in range(-lags, lags + 1):
        bk = b.shift(k)
        ok = r.notna() & bk.notna()
        x, y = r.where(ok), bk.where(ok)
        n = ok.astype(float).rolling(window, min_periods=1).sum()
        sx = x.fillna(0.0).rolling(window, min_periods=1).sum()
        sy = y.fillna(0.0).rolling(window, min_periods=1).sum()
        sxy = (x * y).fillna(0.0).rolling(window, min_periods=1).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            num = num + (sxy - sx * sy / n) / (n - 1)
    out = num / var_b
    full = r.notna().astype(float).rolling(window, min_periods=window).sum() == window
    return out.where(full & var_b.gt(1e-30)).rename("rolling_beta")
