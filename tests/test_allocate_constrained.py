"""Construction under the mandate (issue 10): constrained risk budgeting, inner allocators under
caps, group budgets with the rules as constraints, the overlay within the rules, honest status.

Conventions and tolerances
--------------------------
* Risk shares are shares of variance, ``w_i (Sigma w)_i / w' Sigma w``; group shares aggregate
  them by membership. Covariance: the sample covariance (ddof=1) of the window, as skfolio's
  ``EmpiricalPrior`` (the same numbers; checked by the existing ERC agreement test).
* skfolio's ``RiskBudgeting`` (variance) minimizes ``w' Sigma w`` subject to ``b' log w >= 0`` and
  the weight constraints homogenized by a factor ``k`` (``min_weights k <= w <= max_weights k``,
  ``A w <= c k``, ``sum w = k``); the answer is ``w / k``. Eliminating ``k`` this is
  ``min log sigma(x) - b' log x`` over the same feasible set -- the problem our
  :func:`~computefolio.allocate.riskparity.constrained_risk_budget` solves (Richard & Roncalli
  2019). Same formulation: weights agree to 1e-5, risk contributions to 1e-6.
* When budgets cannot be met, the stated problem's KKT conditions are checked from the weights
  alone: with ``y = v / sigma`` (``v`` the problem's variables: asset weights, or group scales
  for the group-level problem) and ``F`` its homogeneous rows, there are multipliers
  ``mu >= 0`` on the rows at their limit with ``shares - budgets + y * (F_A' mu) = 0`` (found
  by non-negative least squares; residual below 1e-7), and every binding rule the allocator
  names has a row at its limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from computefolio.allocate import (EqualWeight, GroupRiskBudget, HierarchicalEqualRiskContribution,
                                   HierarchicalRiskParity, InverseVolatility, MinimumVariance, RiskParity,
                                   VolatilityTarget, mandate_from_dict)
from computefolio.allocate.groups import group_risk_contributions
from computefolio.allocate.hierarchical import _linkage, hrp_weights, hrp_weights_capped
from computefolio.allocate.riskparity import constrained_risk_budget
from computefolio.allocate.voltarget import _turnover_interval
from conftest import make_returns
from test_allocate_mandate import feasible_case, small_universe

# skfolio at tight tolerances on an objective scaled by 1000 (its ``scale_objective``): daily
# variances are ~1e-4, and Clarabel's gap tolerances are absolute
SK_TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 500}


def shares(w, cov):
    sw = cov @ w
    return w * sw / float(w @ sw)


# ----------------------------------------------------------------------------- skfolio agreement
@pytest.mark.peer
@pytest.mark.parametrize("seed", [0, 1, 2, 4, 5])  # seed 3: skfolio's Clarabel stops without a solution
def test_constrained_risk_budgeting_matches_skfolio(seed):
    """Budgets, per-asset bounds and a group limit that bind: the same portfolio as skfolio."""
    from skfolio import RiskMeasure
    from skfolio.optimization import RiskBudgeting

    n = 10
    r = make_returns(600, n, seed=seed)
    u = small_universe(n, seed)
    cols = list(r.columns)
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.5, 2.0, n)
    b /= b.sum()
    free = RiskParity(budgets=dict(zip(cols, b))).fit(r).weights_.to_numpy()
    cap = float(np.quantile(free, 0.7))  # the three largest are capped
    floor = float(free.min() * 1.2)      # the smallest is lifted
    s0 = u.membership("sleeve", symbols=cols)["S0"].to_numpy()
    gmax = float(s0 @ free) * 0.9 if s0 @ free > 0.3 else 0.3
    m = mandate_from_dict({"assets": {"max": cap, "min": floor},
                           "groups": [{"by": "sleeve", "group": "S0", "max": gmax}]})
    ours = RiskParity(budgets=dict(zip(cols, b)), mandate=m).fit(r, universe=u)
    assert ours.status_kind_ == "binding" and ours.breaches_ == []
    peer = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE, risk_budget=b, min_weights=floor, max_weights=cap,
                         left_inequality=s0[None, :], right_inequality=np.array([gmax]), scale_objective=1000,
                         solver_params=SK_TIGHT)
    peer.fit(r)
    w, wp = ours.weights_.to_numpy(), np.asarray(peer.weights_)
    np.testing.assert_allclose(w, wp, rtol=0, atol=1e-5)
    cov = np.cov(r.to_numpy(), rowvar=False)
    np.testing.assert_allclose(shares(w, cov), shares(wp, cov), rtol=0, atol=1e-6)
    # ours is exact: the KKT residual of the stated problem
    assert ours.diagnostics_["kkt_residual"] < 1e-12


@pytest.mark.peer
def test_group_minimum_on_weighted_layers_matches_skfolio():
    """A minimum on a layer with split memberships (60/40 assets count 0.6): the same row for both."""
    from skfolio import RiskMeasure
    from skfolio.optimization import RiskBudgeting

    n = 12
    r = make_returns(500, n, seed=21)
    u = small_universe(n, 21)
    cols = list(r.columns)
    lay = u.membership("layer", symbols=cols)["L1"].to_numpy()
    free = RiskParity().fit(r).weights_.to_numpy()
    gmin = float(lay @ free) + 0.08
    m = mandate_from_dict({"groups": [{"by": "layer", "group": "L1", "min": gmin}]})
    ours = RiskParity(mandate=m).fit(r, universe=u)
    assert "group layer:L1 min" in ours.status_
    peer = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE, left_inequality=-lay[None, :],
                         right_inequality=np.array([-gmin]), scale_objective=1000,
                         solver_params=SK_TIGHT).fit(r)
    np.testing.assert_allclose(ours.weights_.to_numpy(), peer.weights_, rtol=0, atol=1e-5)
    assert lay @ ours.weights_.to_numpy() == pytest.approx(gmin, abs=1e-9)


def test_constrained_risk_budgeting_kkt_and_effects():
    """The KKT identity ``RC - b = sum of each binding rule's effect`` holds exactly."""
    r = make_returns(400, 8, seed=3)
    S = np.cov(r.to_numpy(), rowvar=False)
    b = np.full(8, 1 / 8)
    F = np.array([np.eye(8)[i] - 0.14 for i in range(8)])  # every weight <= 14%
    w, info = constrained_risk_budget(S, b, F, budget=1.0)
    assert w.max() <= 0.14 + 1e-12 and abs(w.sum() - 1) < 1e-12
    assert info["kkt"] < 1e-13 and (info["mu"] > 0).all()
    np.testing.assert_allclose(info["shares"] - b, info["effects"].sum(axis=0), atol=1e-13)
    np.testing.assert_allclose(info["effects"].sum(axis=1), 0.0, atol=1e-13)  # each rule moves shares, sum 0


# ----------------------------------------------------------------------------- inner allocators under caps
def test_min_variance_under_caps_equals_clarabel():
    """The issue's case: a minimum-variance sleeve under 8% caps, volatile miners included. The
    answer is the constrained minimum-variance portfolio (cvxpy/Clarabel to 1e-9), never leftover
    weight spread evenly."""
    import cvxpy as cp

    n = 30
    r = make_returns(500, n, seed=5)
    r.iloc[:, -6:] *= 4.0  # six volatile "miners"
    m = mandate_from_dict({"assets": {"max": 0.08}})
    a = MinimumVariance(mandate=m).fit(r)
    S = np.cov(r.to_numpy(), rowvar=False)
    s = float(np.mean(np.diag(S)))
    v = cp.Variable(n)
    cp.Problem(cp.Minimize(cp.quad_form(v, cp.psd_wrap(S / s))), [v >= 0, v <= 0.08, cp.sum(v) == 1]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14, tol_ktratio=1e-12, max_iter=500)
    np.testing.assert_allclose(a.weights_.to_numpy(), v.value, rtol=0, atol=1e-9)
    w = a.weights_.to_numpy()
    assert w[-6:].max() < 0.01 and len(np.unique(np.round(w[w > 1e-9], 8))) > 5
    assert "assets.max" in a.status_


def test_min_variance_sleeve_inside_group_budgets_is_the_constrained_solution():
    """Inside group budgets the inner minimum variance runs under the bounds at its group's scale
    (cap / x_g): its sub-portfolio equals that constrained problem's solution (Clarabel, 1e-9)."""
    import cvxpy as cp

    n = 24
    u = small_universe(n, 4)
    r = make_returns(500, n, seed=4)
    r.iloc[:, 8:12] *= 3.0
    m = mandate_from_dict({"assets": {"max": 0.06}})
    a = GroupRiskBudget("sleeve", {"S0": 0.4, "S1": 0.6}, inner=MinimumVariance(), mandate=m).fit(r, universe=u)
    assert a.budget_report_["met"] and a.breaches_ == []
    S0 = [f"A{i}" for i in range(n // 2)]
    xg = float(a.weights_[S0].sum())
    sub = a.inner_weights_["S0"].reindex(S0).to_numpy()
    C = np.cov(r[S0].to_numpy(), rowvar=False)
    v = cp.Variable(len(S0))
    cp.Problem(cp.Minimize(cp.quad_form(v, cp.psd_wrap(C / np.mean(np.diag(C))))),
               [v >= 0, v <= 0.06 / xg, cp.sum(v) == 1]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14, max_iter=500)
    np.testing.assert_allclose(sub, v.value, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.group_risk_[["S0", "S1"]].to_numpy(), [0.4, 0.6], atol=1e-9)


def test_capped_hrp_follows_the_tree():
    """Capped recursive bisection: uncapped it is HRP; capped, an asset's excess goes to its sibling
    cluster at the split where the cap binds, and splits above keep HRP's ratio."""
    r = make_returns(500, 16, seed=8)
    S = np.cov(r.to_numpy(), rowvar=False)
    order = __import__("scipy.cluster.hierarchy", fromlist=["leaves_list"]).leaves_list(_linkage(S, "single", False))
    w0 = hrp_weights(S, order)
    np.testing.assert_allclose(hrp_weights_capped(S, order, np.zeros(16), np.ones(16)), w0, atol=1e-15)
    k = int(np.argmax(w0))
    hi = np.ones(16)
    hi[k] = 0.5 * w0[k]
    w = hrp_weights_capped(S, order, np.zeros(16), hi)
    assert w[k] == pytest.approx(hi[k], abs=1e-15) and w.sum() == pytest.approx(1.0, abs=1e-14)
    pos = int(np.flatnonzero(order == k)[0])
    sib = order[pos ^ 1] if (pos ^ 1) < 16 else None  # the leaf it was split from, when a pair
    changed = np.flatnonzero(np.abs(w - w0) > 1e-12)
    assert set(changed) != set(range(16)), "the excess must not be spread over every asset"
    half = order[:8] if pos < 8 else order[8:]
    other = np.setdiff1d(np.arange(16), half)
    np.testing.assert_allclose(w[other], w0[other], atol=1e-15)  # the top split kept HRP's ratio
    if sib is not None:
        assert w[sib] > w0[sib]


@pytest.mark.parametrize("cls", [HierarchicalRiskParity, HierarchicalEqualRiskContribution, InverseVolatility,
                                 EqualWeight])
def test_heuristics_under_caps_keep_their_logic(cls):
    """Caps met exactly; equal weight and inverse volatility keep their proportions among the
    uncapped assets (proportional water-filling); HRP and HERC move the excess along the tree."""
    r = make_returns(500, 12, seed=9)
    r.iloc[:, :3] *= 0.3  # three calm assets that want more than the cap
    free = cls().fit(r).weights_
    top = free.sort_values().index[-3:]  # the three largest are capped at 70% of their weight
    caps = {s: float(free[s]) * 0.7 for s in top}
    m = mandate_from_dict({"assets": {"overrides": {s: {"max": c} for s, c in caps.items()}}})
    a = cls(mandate=m).fit(r)
    w = a.weights_
    assert a.breaches_ == [] and w.sum() == pytest.approx(1.0, abs=1e-12)
    for s_, c in caps.items():
        assert w[s_] <= c + 1e-15
    assert a.status_kind_ == "binding" and "assets.overrides." in a.status_
    free_set = [x for x in w.index if x not in caps or w[x] < caps[x] - 1e-12]
    ratio = (w[free_set] / free[free_set]).to_numpy()
    if cls in (InverseVolatility, EqualWeight):
        assert np.ptp(ratio) < 1e-12  # the allocator's own proportions among the uncapped
    else:
        # HRP/HERC: the excess stays in the tree, not spread in proportion over everyone
        assert np.ptp(ratio) > 1e-6


def test_caps_leave_cash_and_a_rule_inside_a_group_tilts_within_groups():
    u = small_universe(10, 2)
    r = make_returns(500, 10, seed=2)
    m = mandate_from_dict({"assets": {"max": 0.15}, "compute_exposure_min": 0.55})
    a = GroupRiskBudget("sleeve", {"S0": 0.3, "S1": 0.7}, inner=HierarchicalRiskParity(), mandate=m).fit(
        r, universe=u)
    c = u.compute_exposure(symbols=list(r.columns)).to_numpy()
    w = a.weights_.to_numpy()
    assert a.breaches_ == [] and c @ w / w.sum() >= 0.55 - 1e-9
    rep = a.budget_report_
    if rep["met"]:
        np.testing.assert_allclose(group_risk_contributions(w, a.covariance_.to_numpy(),
                                                            u.membership("sleeve", symbols=list(r.columns))[
                                                                ["S0", "S1"]].to_numpy()), [0.3, 0.7], atol=1e-6)
        assert "compute_exposure_min" in a.status_


# ----------------------------------------------------------------------------- group budgets: properties
def _kkt_ok(a, cov, M, problem, binding_lines):
    """The stated problem's KKT conditions from the weights (see the module docstring)."""
    w = a.weights_.reindex(a.symbols_).to_numpy()
    var = float(w @ cov @ w)
    if problem["level"] == "group":
        v = problem["variables"]
        sh = group_risk_contributions(w, cov, M)
    else:
        v = w
        sh = shares(w, cov)
    F = np.asarray(problem["rows"], float).reshape(-1, len(v))
    beta = np.asarray(problem["budgets"], float)
    y = v / np.sqrt(var)
    slack = F @ v
    scale = np.abs(F).sum(axis=1) * np.abs(v).sum() + 1e-300
    assert (slack <= 1e-9 * scale).all(), "infeasible for its own rows"
    act = np.flatnonzero(slack >= -1e-9 * scale)
    target = beta - sh
    if not len(act):
        return float(np.abs(target).max()) < 1e-7
    D = (y[:, None] * F[act].T)
    E = problem.get("eq_rows")
    if E is not None and len(E):
        D = np.hstack([D, y[:, None] * E.T, -(y[:, None] * E.T)])
    mu, res = nnls(D, target, maxiter=5000)
    return res < 1e-7


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feasible_case(), st.floats(0.15, 0.85), st.sampled_from(["erc", "hrp", "minvar", "ivol"]),
       st.floats(0.05, 0.6))
def test_group_budgets_under_random_mandates(case, b0, inner, target):
    """Every rule holds after the allocator and after the overlay; budgets met to 1e-6, or the
    KKT conditions of the stated problem hold and the named binding rules are at their limits."""
    u, m, current, adv, seed = case
    n = len(u)
    r = make_returns(300, n, seed=seed % 89)
    est = {"erc": RiskParity(), "hrp": HierarchicalRiskParity(), "minvar": MinimumVariance(),
           "ivol": InverseVolatility()}[inner]
    a = GroupRiskBudget("sleeve", {"S0": b0, "S1": 1 - b0}, inner=est, mandate=m)
    a.fit(r, universe=u, current_weights=current, adv=adv)
    assert a.breaches_ == [], a.breaches_
    assert m.check(a.weights_, universe=u, current_weights=current, adv=adv) == []
    # the overlay at a random target keeps every rule (the budget rule is the allocator's: cash may grow)
    vt = VolatilityTarget(target, mandate=m)
    wv = vt.apply(a.weights_, r, 252, universe=u, current_weights=current, adv=adv, capital=m.capital)
    assert vt.breaches_ == [], vt.breaches_
    left = [x for x in m.check(wv, universe=u, current_weights=current, adv=adv) if not x.startswith("budget ")]
    assert left == [] and wv.sum() <= m.invested_fraction() + 1e-9
    rep = a.budget_report_
    syms = a.symbols_
    M = u.membership("sleeve", symbols=syms)[["S0", "S1"]].to_numpy()
    cov = a.covariance_.to_numpy()
    got = group_risk_contributions(a.weights_.reindex(syms).to_numpy(), cov, M)
    if rep["met"]:
        np.testing.assert_allclose(got, [b0, 1 - b0], atol=1e-6)
    elif a.status_kind_ == "projected":
        assert "turnover_max" in a.status_  # only turnover ends in a projection
    else:
        assert _kkt_ok(a, cov, M, rep["problem"], rep["binding"]), rep["summary"]
        assert rep["binding"], "budgets missed without a binding rule named"


def test_budgets_met_exactly_when_feasible():
    u = small_universe(12, 7)
    r = make_returns(500, 12, seed=7)
    m = mandate_from_dict({"assets": {"max": 0.5}, "cash_min": 0.03,
                           "groups": [{"by": "sleeve", "group": "S0", "min": 0.05}]})
    for inner in (RiskParity(), HierarchicalRiskParity(), MinimumVariance()):
        a = GroupRiskBudget("sleeve", {"S0": 0.35, "S1": 0.65}, inner=inner, mandate=m).fit(r, universe=u)
        assert a.status_.startswith("solved exactly") and a.budget_report_["met"]
        np.testing.assert_allclose(a.group_risk_[["S0", "S1"]].to_numpy(), [0.35, 0.65], atol=1e-10)
        assert a.weights_.sum() == pytest.approx(0.97, abs=1e-12)


def test_group_maximum_binds_and_is_named_with_its_effect():
    u = small_universe(10, 11)
    r = make_returns(500, 10, seed=11)
    r.iloc[:, :5] *= 0.4  # S0 is calm: 60% of risk would need most of the capital
    m = mandate_from_dict({"groups": [{"by": "sleeve", "group": "S0", "max": 0.5}]})
    a = GroupRiskBudget("sleeve", {"S0": 0.6, "S1": 0.4}, mandate=m).fit(r, universe=u)
    rep = a.budget_report_
    assert not rep["met"] and a.weights_.iloc[:5].sum() == pytest.approx(0.5, abs=1e-12)
    assert "group sleeve:S0 max" in a.status_ and "S0" in rep["summary"] and "vs 60.00%" in rep["summary"]
    cov = a.covariance_.to_numpy()
    M = u.membership("sleeve", symbols=a.symbols_)[["S0", "S1"]].to_numpy()
    assert _kkt_ok(a, cov, M, rep["problem"], rep["binding"])


# ----------------------------------------------------------------------------- the overlay
def test_overlay_scales_within_group_minimum_and_reports_achieved_volatility():
    u = small_universe(8, 1)
    r = make_returns(400, 8, seed=1) * 3  # a volatile book: the target wants to scale far down
    m = mandate_from_dict({"groups": [{"by": "sleeve", "group": "S1", "min": 0.4}]})
    a = GroupRiskBudget("sleeve", {"S0": 0.5, "S1": 0.5}, mandate=m).fit(r, universe=u)
    vt = VolatilityTarget(0.05, mandate=m)
    w = vt.apply(a.weights_, r, 252, universe=u)
    assert vt.cap_ == "group sleeve:S1 min" and w[[f"A{i}" for i in range(4, 8)]].sum() == pytest.approx(0.4, abs=1e-9)
    assert vt.volatility_after_ > 0.05 and "not met" in vt.describe() and vt.breaches_ == []
    assert vt.log_[-1]["bound_by"] == "group sleeve:S1 min" and not vt.log_[-1]["met"]


def test_overlay_turnover_interval_is_exact():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.dirichlet(np.ones(6))
        w0 = rng.dirichlet(np.ones(6)) * rng.uniform(0.3, 1.0)
        lim = rng.uniform(0.05, 1.0)
        lo, hi = _turnover_interval(w, w0, lim)
        grid = np.linspace(0, 3, 30001)
        ok = np.abs(grid[:, None] * w - w0).sum(axis=1) <= lim
        if not ok.any():
            assert lo > hi
            continue
        assert grid[ok].min() >= lo - 1e-4 and grid[ok].max() <= hi + 1e-4
        for s in (lo, min(hi, 3.0)):
            assert np.abs(s * w - w0).sum() <= lim + 1e-9


def test_overlay_cash_floor_and_turnover_on_the_actual_book():
    r = make_returns(400, 6, seed=2) * 0.2  # calm: the target wants leverage
    m = mandate_from_dict({"cash_min": 0.05, "turnover_max": 0.05})
    w = RiskParity(mandate=m).fit(r).weights_
    vt = VolatilityTarget(0.6, mandate=m)
    assert vt.apply(w, r, 252).sum() == pytest.approx(0.95) and vt.cap_ == "cash_min"
    cur = w * 0.6  # the book is 57% invested: re-investing to 95% is 19% of turnover
    out = vt.apply(w, r, 252, current_weights=cur)
    assert vt.cap_ == "turnover_max" and 0.5 * np.abs(out - cur).sum() == pytest.approx(0.05, abs=1e-9)


# ----------------------------------------------------------------------------- status
def test_status_says_how_the_weights_were_obtained():
    u = small_universe(8, 3)
    r = make_returns(400, 8, seed=3)
    assert RiskParity().fit(r).status_.startswith("solved exactly")
    m = mandate_from_dict({"assets": {"max": 0.13}})
    a = RiskParity(mandate=m).fit(r)
    assert a.status_.startswith("solved with binding rules: assets.max: ") and a.status_kind_ == "binding"
    # turnover: the book moves toward the target as far as allowed (Euclidean projection)
    w0 = pd.Series(np.r_[0.5, 0.5, np.zeros(6)], index=r.columns)
    m2 = mandate_from_dict({"turnover_max": 0.1})
    b = RiskParity(mandate=m2).fit(r, current_weights=w0)
    assert b.status_.startswith("projected onto the mandate: turnover_max") and b.breaches_ == []
    assert 0.5 * np.abs(b.weights_ - w0).sum() == pytest.approx(0.1, abs=1e-9)
    # fell back: the strategy allocator drops turnover when a group minimum needs more
    from computefolio.allocate.sleeves import StrategyAllocator

    m3 = mandate_from_dict({"turnover_max": 0.05, "groups": [{"by": "sleeve", "group": "S1", "min": 0.6}]})
    s = StrategyAllocator("sleeve", {"S0": 0.5, "S1": 0.5}, allocators={"S0": RiskParity(), "S1": RiskParity()},
                          mandate=m3)
    with pytest.warns(UserWarning, match="without the turnover rule"):
        s.fit(r, universe=u, current_weights=pd.Series(np.full(8, 0.125), index=r.columns))
    assert s.status_.startswith("fell back: ") and s.rebalances_[-1]["status"] == "fallback"
