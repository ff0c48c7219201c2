"""Historical VaR/ES fast path (NumPy arrays, lazy Euler contributions): same numbers as the
general path, contributions computed on first read, NaN screening and errors unchanged.

Tolerances: VaR/ES equal to the general path exactly (same matvec, order statistics and
sums); lazy contributions equal the eager ones (``empirical_var_es`` on the screened
arrays) within 1e-12 and sum to the totals within 1e-10; peers (skfolio, Riskfolio-Lib)
within 1e-12 at ``n (1 - confidence)`` not an integer (their VaR conventions agree there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.errors import DataError
from computefolio.risk.portfolio import align, portfolio_returns
from computefolio.risk.var import VaRResult, empirical_var_es, tail_var_es, value_at_risk
from conftest import make_returns

N_ASSETS = 40


@pytest.fixture(scope="module")
def frame():
    r = make_returns(1203, N_ASSETS, seed=21)
    r.iloc[:150, 7] = np.nan   # listed late: its first 150 periods drop out
    r.iloc[600, 3] = np.nan    # one missing print
    r.attrs["currency"] = "USD"
    return r


@pytest.fixture(scope="module")
def book(frame):
    rng = np.random.default_rng(4)
    return pd.Series(rng.normal(size=N_ASSETS) / N_ASSETS + 1.0 / N_ASSETS, index=frame.columns)


def _cases(book, frame):
    zero = book.copy()
    zero.iloc[[2, 11]] = 0.0    # not held: their NaN would not matter, they get no contribution
    return {
        "aligned": (book, frame, {}),
        "aligned+lookback": (book, frame, {"lookback": 800}),
        "permuted": (book.sample(frac=1.0, random_state=3), frame, {}),
        "subset": (book.iloc[::3].copy(), frame, {"lookback": 500}),
        "zero weights": (zero, frame, {}),
        "complete, C order": (book, pd.DataFrame(np.ascontiguousarray(frame.fillna(0.0).to_numpy()),
                                                 index=frame.index, columns=frame.columns), {}),
    }


@pytest.mark.parametrize("case", ["aligned", "aligned+lookback", "permuted", "subset", "zero weights",
                                  "complete, C order"])
@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.975])
def test_lazy_contributions_equal_eager(book, frame, case, confidence):
    w, r, kw = _cases(book, frame)[case]
    res = value_at_risk(w, r, method="historical", confidence=confidence, **kw)
    assert res._pending is not None          # nothing computed yet
    al = align(w, r, lookback=kw.get("lookback"))
    v, e, vc, ec = empirical_var_es(al.x, al.w, confidence, al.r)
    assert res.var_pct == v and res.es_pct == e
    lazy_v, lazy_e = res.var_contributions, res.es_contributions
    assert res._pending is None              # computed once, scenario data released
    assert res.var_contributions is lazy_v and res.es_contributions is lazy_e
    assert list(lazy_v.index) == list(al.weights.index) and lazy_v.name == "var" and lazy_e.name == "es"
    assert np.abs(lazy_v.to_numpy() - vc).max() <= 1e-12
    assert np.abs(lazy_e.to_numpy() - ec).max() <= 1e-12
    assert abs(lazy_v.sum() - res.var_pct) < 1e-10
    assert abs(lazy_e.sum() - res.es_pct) < 1e-10
    assert res.n_observations == len(al.index) and res.notes == al.note()


@pytest.mark.parametrize("case", ["aligned", "permuted", "zero weights", "aligned+lookback"])
def test_fast_path_same_result_as_general_path(book, frame, case):
    w, r, kw = _cases(book, frame)[case]
    fast = value_at_risk(w, r, method="historical", confidence=0.99, **kw)
    general = value_at_risk(w.to_dict(), r, method="historical", confidence=0.99, **kw)  # dict: general path
    assert general._pending is None                                                     # eager there
    assert fast.to_dict() == general.to_dict()
    assert (fast.basis, fast.periods_per_year, fast.currency) == ("session", 252, "USD")


def test_strided_weights_take_the_general_path(book, frame):
    w = book.iloc[::3]                                    # a strided view: BLAS's other route
    res = value_at_risk(w, frame, method="historical", confidence=0.95, lookback=500)
    assert res._pending is None                           # computed eagerly, as before
    al = align(w, frame, lookback=500)
    v, e, vc, ec = empirical_var_es(al.x, al.w, 0.95, al.r)
    assert (res.var_pct, res.es_pct) == (v, e)
    assert np.array_equal(res.es_contributions.to_numpy(), ec)


def test_screening_drops_incomplete_periods(book, frame):
    res = value_at_risk(book, frame, method="historical", confidence=0.95)
    assert res.n_observations == 1203 - 150 - 1
    assert "151 incomplete periods dropped" in res.notes
    r = portfolio_returns(book, frame).to_numpy()        # complete periods only
    assert abs(res.var_pct + np.quantile(r, 0.05, method="inverted_cdf")) < 1e-12


def test_errors_unchanged(book, frame):
    bad = book.copy()
    bad.iloc[0] = np.nan
    with pytest.raises(DataError, match="weights have NaN for: A0"):
        value_at_risk(bad, frame)
    with pytest.raises(DataError, match="no returns for held symbols: ZZZ"):
        value_at_risk(pd.concat([book, pd.Series({"ZZZ": 0.1})]), frame)
    with pytest.raises(DataError, match="only 10 periods"):
        value_at_risk(book, frame.iloc[140:160])
    with pytest.raises(DataError, match="holds nothing"):
        value_at_risk(book * 0.0, frame)


def test_in_place_change_of_returns_is_caught(book, frame):
    r = frame.copy()
    res = value_at_risk(book, r, method="historical", confidence=0.95)
    r.iloc[:, 0] = 0.0                                    # the caller edits its frame in place
    with pytest.raises(DataError, match="changed in place"):
        _ = res.es_contributions
    r2 = frame.copy()
    res2 = value_at_risk(book, r2, method="historical", confidence=0.95)
    before = res2.es_contributions.copy()                 # read first: cached, then edits do not matter
    r2.iloc[:, 0] = 0.0
    pd.testing.assert_series_equal(res2.es_contributions, before)
    assert abs(res2.var_contributions.sum() - res2.var_pct) < 1e-10


def test_pickle_and_deepcopy_compute_pending_contributions(book, frame):
    import copy
    import pickle

    res = value_at_risk(book, frame, method="historical", confidence=0.95)
    back = pickle.loads(pickle.dumps(res))
    twin = copy.deepcopy(value_at_risk(book, frame, method="historical", confidence=0.95))
    for other in (back, twin):
        assert other.var_pct == res.var_pct and other._pending is None
        pd.testing.assert_series_equal(other.es_contributions, res.es_contributions)


def test_result_constructor_backward_compatible():
    c = pd.Series({"A": 0.01, "B": 0.02})
    res = VaRResult("historical", 0.99, 1, "session", 252, "USD", 1e6, 0.03, 0.04, c, c * 2, 500, "rule")
    assert res.var_contributions is c and res.es_contributions.sum() == pytest.approx(0.06)
    assert "var_contributions" in repr(res)
    with pytest.raises(TypeError):
        VaRResult("historical", 0.99, 1, "session", 252, "USD", 1e6, 0.03, 0.04)


def test_tail_kernel_matches_explicit_order_statistics():
    r = np.random.default_rng(8).standard_t(3, 1503) * 0.01
    for c in (0.95, 0.99, 0.975, 0.9):
        n, a = len(r), 1 - c
        s = np.sort(r)
        k = int(np.ceil(round(n * a, 9)))
        kf = int(np.floor(round(n * a, 9)))
        v, e = tail_var_es(r, c)
        assert v == -s[k - 1]
        assert abs(e + (s[:kf].sum() + (n * a - kf) * s[kf]) / (n * a)) < 1e-12


def test_against_skfolio_and_riskfolio(book, frame):
    skm = pytest.importorskip("skfolio.measures")
    rp = pytest.importorskip("riskfolio")
    res = value_at_risk(book, frame, method="historical", confidence=0.95)
    r = portfolio_returns(book, frame).to_numpy()
    assert (len(r) * 0.05) % 1 != 0                      # n a not an integer: VaR conventions agree
    assert abs(res.var_pct - skm.value_at_risk(r, beta=0.95)) < 1e-12
    assert abs(res.es_pct - skm.cvar(r, beta=0.95)) < 1e-12
    assert abs(res.var_pct - rp.VaR_Hist(r, alpha=0.05)) < 1e-12
    assert abs(res.es_pct - rp.CVaR_Hist(r, alpha=0.05)) < 1e-12
