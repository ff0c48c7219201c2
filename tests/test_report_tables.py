"""The tear-sheet tables of the report against QuantStats, empyrical and closed forms.

Conventions compared (tolerance 1e-10 unless stated):

* ``metrics.monthly_returns``: compounded per calendar month and year, as QuantStats'
  ``stats.monthly_returns(compounded=True)`` (which writes 0 for a month without data;
  ours is NaN there, so only months with returns are compared).
* ``metrics.trailing_returns``: MTD/QTD/YTD compound the returns dated on or after the
  first day of the period (= from the previous period-end close), 1 year those dated
  after ``asof`` minus one calendar year, as wealth ratios; 3 years annualized over
  calendar days (365.25-day years). Closed forms from the wealth curve.
* ``metrics.worst_drawdowns``: the same episodes as QuantStats' ``drawdown_details``
  (its ``start`` is the first period under water, ours the peak before it; its ``end`` the
  last period under water, ours the recovery after it; depth equal).
* ``metrics.rolling_sharpe``: empyrical's ``roll_sharpe_ratio``; ``rolling_beta`` with
  ``lags=0``: empyrical's ``roll_beta``; with ``lags=1``: the Dimson sum written out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from computefolio import metrics as M

TOL = 1e-10


@pytest.fixture(params=[252, 365])
def series(request):
    ppy = request.param
    rng = np.random.default_rng(11 + ppy)
    n = 1300 if ppy == 252 else 1900
    idx = pd.bdate_range("2020-03-02", periods=n) if ppy == 252 else pd.date_range("2020-03-02", periods=n)
    b = pd.Series(rng.standard_t(4, n) * 0.012, index=idx)
    r = pd.Series(0.0004 + 0.7 * b.to_numpy() + rng.normal(0, 0.008, n), index=idx)
    r.attrs.update(periods_per_year=ppy)
    return r, b, ppy


def _wealth_at(r: pd.Series, when) -> float:
    """Wealth (start = 1) at the close of ``when`` (1 before the first return)."""
    return float(np.prod(1 + r[r.index <= when].to_numpy()))


def test_monthly_returns_match_quantstats(series):
    qs = pytest.importorskip("quantstats")
    r, _, _ = series
    ours = M.monthly_returns(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = qs.stats.monthly_returns(r, compounded=True)
    for y, row in ours.iterrows():
        for k, m in enumerate(M.MONTHS):
            if not np.isnan(row[m]):
                assert abs(row[m] - theirs.loc[str(y), m.upper()]) <= TOL
        assert abs(row["Year"] - theirs.loc[str(y), "EOY"]) <= TOL
    # months outside the series are blank, not 0
    assert np.isnan(ours.loc[2020, "Jan"])


def test_trailing_returns_closed_forms(series):
    r, _, ppy = series
    asof = r.index[-1]
    t = M.trailing_returns(r)
    month0 = pd.Timestamp(asof.year, asof.month, 1)
    q0 = pd.Timestamp(asof.year, 3 * ((asof.month - 1) // 3) + 1, 1)
    y0 = pd.Timestamp(asof.year, 1, 1)
    end = _wealth_at(r, asof)
    for k, start in (("mtd", month0), ("qtd", q0), ("ytd", y0)):
        assert abs(t[k] - (end / _wealth_at(r, start - pd.Timedelta(days=1)) - 1)) <= TOL, k
    one = asof - pd.DateOffset(years=1)
    assert abs(t["1y"] - (end / _wealth_at(r, one) - 1)) <= TOL
    three = asof - pd.DateOffset(years=3)
    days = (asof - three).days
    assert abs(t["3y"] - ((end / _wealth_at(r, three)) ** (365.25 / days) - 1)) <= TOL
    assert abs(t["inception"] - (end - 1)) <= TOL
    assert t["inception_ann"] == M.cagr(r)
    # a window longer than the history is n/a
    short = r.iloc[-400:]
    short.attrs.update(periods_per_year=ppy)
    assert M.trailing_returns(short)["3y"] is None


def test_worst_drawdowns_match_quantstats(series):
    qs = pytest.importorskip("quantstats")
    r, _, _ = series
    ours = M.worst_drawdowns(r, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dd = qs.stats.to_drawdown_series(r)
        theirs = qs.stats.drawdown_details(dd).sort_values("max drawdown").head(5).reset_index(drop=True)
    assert len(ours) == len(theirs) == 5
    idx = r.index
    for o, t in zip(ours.itertuples(), theirs.itertuples()):
        assert abs(o.depth * 100 - t._5) <= 1e-8
        assert str(o.trough.date()) == t.valley
        first_under = idx[idx > o.start][0]
        assert str(first_under.date()) == t.start
        if o.recovered:
            last_under = idx[idx < o.recovery][-1]
            assert str(last_under.date()) == t.end
        # length: calendar days from the peak to the recovery (or the last date)
        assert o.length_days == ((o.recovery if o.recovered else idx[-1]) - o.start).days
    # the deepest is the max drawdown
    assert abs(ours["depth"].iloc[0] - M.max_drawdown(r)) <= TOL


def test_rolling_sharpe_and_beta_match_empyrical(series):
    emp = pytest.importorskip("empyrical")
    r, b, ppy = series
    w = 126
    rs = M.rolling_sharpe(r, w, 0.0, ppy)
    ref = emp.roll_sharpe_ratio(r, window=w, annualization=ppy)
    both = pd.concat([rs, pd.Series(np.asarray(ref), index=r.index[w - 1:] if len(ref) == len(r) - w + 1 else r.index)],
                     axis=1).dropna()
    assert len(both) > 100 and np.max(np.abs(both.iloc[:, 0] - both.iloc[:, 1])) <= 1e-9
    rb = M.rolling_beta(r, b, w, lags=0)
    refb = emp.roll_beta(r, b, window=w)
    refb = pd.Series(np.asarray(refb), index=r.index[w - 1:] if len(refb) == len(r) - w + 1 else r.index)
    both = pd.concat([rb, refb], axis=1).dropna()
    assert len(both) > 100 and np.max(np.abs(both.iloc[:, 0] - both.iloc[:, 1])) <= 1e-9
    # Dimson: sum over lags -1, 0, +1 of cov(r_t, b_{t-k}) over the window's t, / var(b)
    d = M.rolling_beta(r, b, w, lags=1)
    t = len(r) - 1
    win = range(t - w + 1, t + 1)
    num = 0.0
    for k in (-1, 0, 1):
        pairs = [(r.iloc[i], b.iloc[i - k]) for i in win if 0 <= i - k < len(b)]
        x, y = np.array(pairs).T
        num += np.sum((x - x.mean()) * (y - y.mean())) / (len(x) - 1)
    assert abs(d.iloc[-1] - num / b.iloc[t - w + 1: t + 1].var(ddof=1)) <= 1e-9


def test_heat_colours_and_words():
    from computefolio.report.tables import heat_color, heat_ink

    assert heat_color(None, 1.0) == "" and heat_color(0.0, 1.0) == "rgb(255,255,255)"
    assert heat_color(-1.0, 1.0) == "rgb(193,18,31)" and heat_color(1.0, 1.0) == "rgb(31,91,170)"
    assert heat_ink(-1.0, 1.0) == "#fff" and heat_ink(0.01, 1.0) == ""
