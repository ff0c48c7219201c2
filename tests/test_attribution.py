"""Return attribution: contributions by weighted membership, Carino and Menchero linking,
Brinson–Fachler.

Checks (tolerance 1e-10 unless stated, fractions of the book's value):

* a two-asset, two-period case computed by hand (closed forms of Carino 1999 and
  Menchero 2000, Brinson & Fachler 1985);
* for random books (hypothesis) the parts add up to the book's return per period and,
  once linked by either method, to the compounded return; Brinson–Fachler effects add up
  to the active return per period and after linking;
* weighted, point-in-time membership: a 60/40 asset contributes 60/40, and a
  reclassification applies from its date;
* the shipped strategy's run (sample market): the per-period residual of the book's
  return against the parts, as the job records it, is below 1e-10, and so is the linked one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from computefolio import attribution as A

TOL = 1e-10


def _two_by_two():
    d = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"])
    # post-trade weights on each date; the weight at the start of a period is the previous row
    W = pd.DataFrame({"X": [0.6, 0.5, 0.5], "Y": [0.4, 0.5, 0.5]}, index=d)
    R = pd.DataFrame({"X": [np.nan, 0.10, -0.02], "Y": [np.nan, -0.05, 0.04]}, index=d)
    return W, R


def test_two_assets_two_periods_by_hand():
    W, R = _two_by_two()
    c = A.contributions(W, R)
    assert c.loc["2024-01-03", "X"] == pytest.approx(0.06, abs=1e-15)
    assert c.loc["2024-01-03", "Y"] == pytest.approx(-0.02, abs=1e-15)
    assert c.loc["2024-01-04", "X"] == pytest.approx(-0.01, abs=1e-15)
    assert c.loc["2024-01-04", "Y"] == pytest.approx(0.02, abs=1e-15)
    book = c.sum(axis=1)  # 0 (in cash), 0.04, 0.01
    assert list(book.round(15)) == [0.0, 0.04, 0.01]
    total = 1.04 * 1.01 - 1  # 0.0504
    # Carino: k_t = ln(1+R_t)/R_t, k = ln(1+R)/R
    k1, k2, k = math.log(1.04) / 0.04, math.log(1.01) / 0.01, math.log(1 + total) / total
    cx = (k1 * 0.06 + k2 * -0.01) / k
    cy = (k1 * -0.02 + k2 * 0.02) / k
    lk = A.link(c[["X", "Y"]].iloc[1:], book.iloc[1:], method="carino")
    assert lk["X"] == pytest.approx(cx, abs=1e-14) and lk["Y"] == pytest.approx(cy, abs=1e-14)
    assert lk.sum() == pytest.approx(total, abs=1e-14)
    # Menchero: A = (R/T) / ((1+R)^(1/T) - 1), alpha_t = (R - A sum R_t) R_t / sum R_t^2
    Am = (total / 2) / ((1 + total) ** 0.5 - 1)
    al = [(total - Am * 0.05) * x / (0.04 ** 2 + 0.01 ** 2) for x in (0.04, 0.01)]
    mx = (Am + al[0]) * 0.06 + (Am + al[1]) * -0.01
    my = (Am + al[0]) * -0.02 + (Am + al[1]) * 0.02
    lm = A.link(c[["X", "Y"]].iloc[1:], book.iloc[1:], method="menchero")
    assert lm["X"] == pytest.approx(mx, abs=1e-14) and lm["Y"] == pytest.approx(my, abs=1e-14)
    assert lm.sum() == pytest.approx(total, abs=1e-14)


def test_brinson_fachler_by_hand():
    d = pd.DatetimeIndex(["2024-01-31", "2024-02-29"])
    wp = pd.DataFrame({"g1": [0.7, 0.4], "g2": [0.3, 0.6]}, index=d)
    rp = pd.DataFrame({"g1": [0.05, -0.03], "g2": [0.02, 0.01]}, index=d)
    wb = pd.DataFrame({"g1": [0.5, 0.5], "g2": [0.5, 0.5]}, index=d)
    rb = pd.DataFrame({"g1": [0.04, -0.02], "g2": [0.01, 0.02]}, index=d)
    bf = A.brinson_fachler(wp, rp, wb, rb)
    # period 1: B = 0.025, R = 0.041
    assert bf.benchmark.iloc[0] == pytest.approx(0.025) and bf.portfolio.iloc[0] == pytest.approx(0.041)
    assert bf.allocation.iloc[0].tolist() == pytest.approx([0.2 * 0.015, -0.2 * -0.015], abs=1e-15)
    assert bf.selection.iloc[0].tolist() == pytest.approx([0.5 * 0.01, 0.5 * 0.01], abs=1e-15)
    assert bf.interaction.iloc[0].tolist() == pytest.approx([0.2 * 0.01, -0.2 * 0.01], abs=1e-15)
    # per period the effects add up to R - B; linked, to the compounded difference
    assert np.allclose(bf.per_period_total(), bf.portfolio - bf.benchmark, atol=1e-16, rtol=0)
    R = np.prod(1 + bf.portfolio) - 1
    B = np.prod(1 + bf.benchmark) - 1
    assert bf.linked["total"].sum() == pytest.approx(R - B, abs=1e-15)
    assert bf.active == pytest.approx(R - B, abs=1e-15)
    # Carino with a benchmark: k_t = (ln(1+R_t) - ln(1+B_t)) / (R_t - B_t)
    kt = [(math.log1p(r) - math.log1p(b)) / (r - b) for r, b in zip(bf.portfolio, bf.benchmark)]
    k = (math.log1p(R) - math.log1p(B)) / (R - B)
    a1 = sum(kt[t] / k * bf.allocation["g1"].iloc[t] for t in range(2))
    assert bf.linked.loc["g1", "allocation"] == pytest.approx(a1, abs=1e-15)


def test_a_group_the_book_does_not_hold_has_no_selection():
    d = pd.DatetimeIndex(["2024-01-31"])
    bf = A.brinson_fachler(pd.DataFrame({"g1": [1.0], "g2": [0.0]}, index=d),
                           pd.DataFrame({"g1": [0.03], "g2": [np.nan]}, index=d),
                           pd.DataFrame({"g1": [0.5], "g2": [0.5]}, index=d),
                           pd.DataFrame({"g1": [0.01], "g2": [0.05]}, index=d))
    assert bf.selection.loc[d[0], "g2"] == 0.0 and bf.interaction.loc[d[0], "g2"] == 0.0
    assert bf.per_period_total().iloc[0] == pytest.approx(0.03 - 0.03, abs=1e-16)


def test_group_weights_must_add_up_to_one():
    d = pd.DatetimeIndex(["2024-01-31"])
    with pytest.raises(ValueError, match="add up to .*include cash"):
        A.brinson_fachler(pd.DataFrame({"g1": [0.8]}, index=d), pd.DataFrame({"g1": [0.01]}, index=d),
                          pd.DataFrame({"g1": [1.0]}, index=d), pd.DataFrame({"g1": [0.01]}, index=d))


def test_held_asset_without_a_return_is_an_error():
    W, R = _two_by_two()
    R.iloc[2, 0] = np.nan
    with pytest.raises(ValueError, match="X is held .* no return"):
        A.contributions(W, R)


def test_weighted_point_in_time_membership():
    W, R = _two_by_two()
    c = A.contributions(W, R)
    old = pd.DataFrame({"miners": [0.6, 0.0], "hosting": [0.4, 0.0], "chips": [0.0, 1.0]}, index=["X", "Y"])
    new = pd.DataFrame({"miners": [0.0, 0.0], "hosting": [1.0, 0.0], "chips": [0.0, 1.0]}, index=["X", "Y"])
    # reclassified on 2024-01-03: the period starting that day uses the new membership
    g = A.group_contributions(c, [(pd.Timestamp("2024-01-01"), old), (pd.Timestamp("2024-01-03"), new)])
    assert g.loc["2024-01-03", "miners"] == pytest.approx(0.6 * 0.06)
    assert g.loc["2024-01-03", "hosting"] == pytest.approx(0.4 * 0.06)
    assert g.loc["2024-01-04", "miners"] == 0.0
    assert g.loc["2024-01-04", "hosting"] == pytest.approx(-0.01)
    assert np.allclose(g.sum(axis=1), c.sum(axis=1), atol=1e-16)  # layers partition the book


def test_cash_and_costs_are_parts_of_the_return():
    W, R = _two_by_two()
    W = W * 0.8  # 20% cash
    cash = pd.Series([0.0, 0.001, 0.001], index=W.index)
    value = pd.Series([100.0, 103.0, 104.0], index=W.index)
    costs = pd.Series([0.5, 0.0, 0.2], index=W.index)
    c = A.contributions(W, R, cash_return=cash, costs=costs, value=value, initial_value=100.0)
    assert c.loc["2024-01-03", "cash"] == pytest.approx(0.2 * 0.001)
    assert c.loc["2024-01-02", "costs"] == pytest.approx(-0.5 / 100.0)
    assert c.loc["2024-01-04", "costs"] == pytest.approx(-0.2 / 103.0)


@st.composite
def _books(draw):
    T = draw(st.integers(2, 40))
    N = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2023-01-02", periods=T)
    W = pd.DataFrame(rng.dirichlet(np.ones(N + 1), T)[:, :N], index=idx, columns=[f"s{i}" for i in range(N)])
    R = pd.DataFrame(rng.normal(0.0, draw(st.sampled_from([0.001, 0.02, 0.1])), (T, N)), index=idx, columns=W.columns)
    cash = pd.Series(rng.uniform(0, 2e-4, T), index=idx)
    return W, R, cash, rng


@settings(max_examples=60, deadline=None)
@given(_books(), st.sampled_from(A.LINKING_METHODS))
def test_parts_add_up_per_period_and_after_linking(book, method):
    W, R, cash, rng = book
    c = A.contributions(W, R, cash_return=cash)
    Rt = c.sum(axis=1)
    # the book's return computed independently of the function under test
    W0 = np.vstack([np.zeros(W.shape[1]), W.to_numpy()[:-1]])
    book_r = (W0 * R.to_numpy()).sum(axis=1) + (1 - W0.sum(axis=1)) * cash.to_numpy()
    assert np.max(np.abs(Rt.to_numpy() - book_r)) <= TOL
    m = pd.DataFrame(rng.dirichlet(np.ones(3), W.shape[1]), index=W.columns, columns=["a", "b", "c"])
    g = A.group_contributions(c, m)
    assert np.max(np.abs(g.sum(axis=1) - Rt)) <= TOL
    lk = A.linked_parts(g, Rt, method=method)
    total = float(np.prod(1 + Rt) - 1)
    assert abs(lk.linked.sum() - total) <= TOL
    if method == "carino":  # every date's cumulative row adds up to the compounded return to that date
        assert np.max(np.abs(lk.cumulative.sum(axis=1) - (np.cumprod(1 + Rt) - 1))) <= TOL
    # Brinson-Fachler against a random benchmark of the same groups
    gw = A.group_weights(W, m)
    rp = A.segment_returns(g[["a", "b", "c", "cash"]], gw)
    wb = pd.DataFrame(rng.dirichlet(np.ones(3), len(W)), index=W.index, columns=["a", "b", "c"]).assign(cash=0.0)
    rb = pd.DataFrame(rng.normal(0, 0.01, (len(W), 3)), index=W.index, columns=["a", "b", "c"]).assign(cash=cash)
    bf = A.brinson_fachler(gw, rp, wb, rb, method=method)
    assert np.max(np.abs(bf.portfolio - Rt)) <= TOL
    assert np.max(np.abs(bf.per_period_total() - (bf.portfolio - bf.benchmark))) <= TOL
    assert abs(bf.linked["total"].sum() - bf.active) <= TOL


def test_linking_rejects_a_total_loss():
    with pytest.raises(ValueError, match="-100%"):
        A.linking_coefficients(np.array([0.1, -1.0]))


# ----------------------------------------------------------------------------- the job's attribution
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from _report_data import demo_run

    return demo_run(str(tmp_path_factory.getbasetemp() / "demo_out"))


def test_demo_attribution_adds_up_to_the_book(demo):
    att = demo.results["attribution"]
    ch = att["checks"]
    assert ch["max_period_residual"] <= TOL and ch["linked_residual"] <= TOL
    assert ch["bf_period_residual"] <= TOL and ch["bf_linked_residual"] <= TOL and ch["bf_book_vs_backtest"] <= TOL
    total = float(np.prod(1 + demo.backtest.returns.to_numpy()) - 1)
    for by in ("sleeve", "layer"):
        rows = att[by]["rows"]
        parts = [r["contribution"] for r in rows if r["name"] != "Book (total return)"]
        assert abs(sum(parts) - total) <= TOL, by
        book = next(r for r in rows if r["name"] == "Book (total return)")
        assert book["contribution"] == pytest.approx(total, abs=1e-12)
        # each calendar year's column adds up to that year's return
        for y in {d.year for d in demo.backtest.returns.index}:
            ry = demo.backtest.returns[demo.backtest.returns.index.year == y]
            assert abs(sum(r[str(y)] for r in rows if r["name"] != "Book (total return)")
                       - (np.prod(1 + ry.to_numpy()) - 1)) <= TOL
    bf = {r["name"]: r for r in att["brinson"]["rows"]}
    tot = bf.pop("Total (active return)")
    assert abs(sum(r["total"] for r in bf.values()) - tot["total"]) <= TOL
    assert tot["total"] == pytest.approx(tot["rp"] - tot["rb"], abs=TOL)
