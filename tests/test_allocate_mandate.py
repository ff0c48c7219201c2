"""Mandate rules: YAML validation, infeasibility naming the rules, exact projection,
and every rule holding on every solution (hypothesis over random mandates that are
feasible by construction). Tolerance for a rule to hold: 1e-7 (fraction of capital)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from computefolio.allocate import (EqualWeight, HierarchicalRiskParity, InverseVolatility, MaximumDiversification,
                                   MeanCVaR, MinimumVariance, RiskParity, load_mandate, mandate_from_dict, project)
from computefolio.allocate.mandate import TOL
from computefolio.allocate.projection import project_box_budget
from computefolio.errors import ConfigError, InfeasibleError
from computefolio.universe import universe_from_dict
from conftest import make_returns


def small_universe(n: int, seed: int = 0):
    """n assets A0.. in two sleeves, three layers (some assets split 60/40), random compute scores."""
    r = np.random.default_rng(seed)
    assets = []
    for i in range(n):
        lay = {f"L{i % 3}": 1.0} if i % 4 else {f"L{i % 3}": 0.6, f"L{(i + 1) % 3}": 0.4}
        assets.append({"symbol": f"A{i}", "name": f"asset {i}", "asset_class": "equity",
                       "sleeve": "S0" if i < n // 2 else "S1", "calendar": "XNYS", "venue": "nasdaq",
                       "layers": lay, "themes": {"T0": 1.0} if i % 2 else {},
                       "compute_exposure": float(np.round(r.uniform(0, 1), 2)), "rationale": "test asset"})
    g = {"name": "g", "description": "d"}
    return universe_from_dict({"name": "test", "sleeves": {"S0": g, "S1": g}, "layers": {"L0": g, "L1": g, "L2": g},
                               "themes": {"T0": g}, "assets": assets})


# ----------------------------------------------------------------------------- YAML
def test_shipped_default_mandate_loads_and_fits_shipped_universe(universe):
    m = load_mandate()
    assert m.name == "default" and m.cash_min == 0.02 and m.invested_fraction() == pytest.approx(0.98)
    assert m.risk_budgets.budgets == {"digital_assets": 0.35, "ai_equities": 0.65}
    for g in m.groups:
        assert g.group in universe.groups(g.by)
    for s in [*m.restricted, *m.assets.overrides]:
        assert s in universe


@pytest.mark.parametrize("raw,field", [
    ({"assets": {"max": "lots"}}, "assets.max"),
    ({"cash_min": 1.5}, "cash_min"),
    ({"groups": [{"by": "sector", "group": "x", "max": 0.1}]}, "by"),
    ({"groups": [{"by": "layer", "group": "x"}]}, "min/max"),
    ({"turnvoer_max": 0.2}, "turnvoer_max"),
    ({"risk_budgets": {"by": "sleeve", "budgets": {"a": 0.5, "b": 0.3}}}, "budgets"),
    ({"long_only": True, "assets": {"min": -0.1}}, "min"),
])
def test_bad_mandate_is_one_line_naming_file_and_field(tmp_path, raw, field):
    import yaml

    p = tmp_path / "m.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as exc:
        load_mandate(p)
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg and field in msg


# ----------------------------------------------------------------------------- infeasible
def test_caps_that_forbid_full_investment_leave_the_rest_in_cash_and_say_so():
    """Six assets capped at 10%: 60% invested, 40% in cash (the cash rule is a floor), in the status."""
    u = small_universe(6)
    r = make_returns(300, 6, seed=1)
    m = mandate_from_dict({"name": "tight", "assets": {"max": 0.1}})
    for cls in (HierarchicalRiskParity, RiskParity, MinimumVariance, EqualWeight, InverseVolatility):
        a = cls(mandate=m).fit(r, universe=u)
        assert a.weights_.sum() == pytest.approx(0.6, abs=1e-9), cls.__name__
        assert a.breaches_ == [] and "40.00% of capital left in cash" in a.status_, (cls.__name__, a.status_)
        assert a.diagnostics_["remainder_to_cash"] == pytest.approx(0.4)


def test_infeasible_group_minimums_name_the_rules():
    u = small_universe(8)
    r = make_returns(300, 8, seed=1)
    m = mandate_from_dict({"groups": [{"by": "sleeve", "group": "S0", "min": 0.7},
                                      {"by": "sleeve", "group": "S1", "min": 0.5},
                                      {"by": "layer", "group": "L0", "max": 0.9}],
                           "assets": {"max": 0.5}})
    with pytest.raises(InfeasibleError) as exc:
        MinimumVariance(mandate=m).fit(r, universe=u)
    assert set(exc.value.rules) == {"group sleeve:S0 min", "group sleeve:S1 min", "budget"}


def test_infeasible_compute_floor_and_turnover():
    u = small_universe(6)
    r = make_returns(300, 6, seed=1)
    best = u.compute_exposure().max()
    m = mandate_from_dict({"compute_exposure_min": min(1.0, best + 0.01)})
    with pytest.raises(InfeasibleError) as exc:
        EqualWeight(mandate=m).fit(r, universe=u)
    assert "compute_exposure_min" in exc.value.rules
    w0 = pd.Series({"A0": 1.0})
    m = mandate_from_dict({"turnover_max": 0.1, "assets": {"max": 0.5}})
    with pytest.raises(InfeasibleError) as exc:
        EqualWeight(mandate=m).fit(r, universe=u, current_weights=w0)
    assert set(exc.value.rules) == {"turnover_max", "assets.max"}


def test_restricted_and_benchmarks_excluded_and_reported(universe):
    syms = ["BTC", "ETH", "NVDA", "GBTC", "SPY", "MSFT"]
    r = make_returns(300, len(syms), seed=2)
    r.columns = syms
    m = mandate_from_dict({"restricted": ["MSFT"]})
    a = InverseVolatility(mandate=m).fit(r, universe=universe)
    assert a.weights_[["MSFT", "GBTC", "SPY"]].abs().sum() == 0
    assert a.excluded_["MSFT"] == "restricted list" and "benchmark" in a.excluded_["SPY"]
    assert a.weights_.sum() == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- projection
def test_box_budget_projection_is_exact_and_matches_qp():
    import cvxpy as cp

    rng = np.random.default_rng(3)
    for _ in range(20):
        n = 12
        w = rng.normal(0.1, 0.2, n)
        lo = rng.uniform(0, 0.03, n)
        hi = lo + rng.uniform(0.05, 0.3, n)
        b = float(rng.uniform(lo.sum(), hi.sum()))
        x = project_box_budget(w, lo, hi, b)
        assert abs(x.sum() - b) < 1e-12 and (x >= lo - 1e-15).all() and (x <= hi + 1e-15).all()
        v = cp.Variable(n)
        cp.Problem(cp.Minimize(cp.sum_squares(v - w)), [v >= lo, v <= hi, cp.sum(v) == b]).solve(
            solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        np.testing.assert_allclose(x, v.value, atol=1e-8)


def test_projection_leaves_compliant_weights_alone():
    u = small_universe(6)
    m = mandate_from_dict({"assets": {"max": 0.5}})
    cons = m.constraints([f"A{i}" for i in range(6)], universe=u)
    w = np.full(6, 1 / 6)
    assert (project(w, cons) == w).all()


def test_projection_with_groups_is_the_closest_point():
    """KKT check of the QP projection: no feasible direction reduces the distance."""
    import cvxpy as cp

    u = small_universe(8)
    m = mandate_from_dict({"assets": {"max": 0.3}, "groups": [{"by": "layer", "group": "L0", "max": 0.2},
                                                              {"by": "sleeve", "group": "S1", "min": 0.6}]})
    syms = [f"A{i}" for i in range(8)]
    cons = m.constraints(syms, universe=u)
    w = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0])
    x = project(w, cons)
    assert not cons.breaches(x)
    # compare with a direct QP solve
    v = cp.Variable(8)
    cp.Problem(cp.Minimize(cp.sum_squares(v - w)), cons.cvxpy(v)).solve(solver=cp.CLARABEL)
    assert np.sum((x - w) ** 2) <= np.sum((v.value - w) ** 2) + 1e-9


# ----------------------------------------------------------------------------- property test
@st.composite
def feasible_case(draw):
    """A random mandate with a known feasible book ``w_star`` (feasible by construction)."""
    n = draw(st.integers(6, 10))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    u = small_universe(n, seed)
    syms = [f"A{i}" for i in range(n)]
    cash = float(draw(st.sampled_from([0.0, 0.02, 0.05])))
    inv = 1.0 - cash
    restricted = [syms[-1]] if draw(st.booleans()) else []
    live = n - len(restricted)
    w_star = np.zeros(n)
    w_star[:live] = rng.dirichlet(np.full(live, 2.0)) * inv
    slack = draw(st.floats(0.0, 0.05))
    amax = float(w_star.max() + slack + 1e-6)
    raw = {"name": f"random-{seed}", "cash_min": cash, "assets": {"max": amax, "min": 0.0},
           "restricted": restricted, "groups": []}
    if draw(st.booleans()):
        k = int(rng.integers(0, live))
        raw["assets"]["overrides"] = {syms[k]: {"min": float(max(0.0, w_star[k] - slack)), "max": float(w_star[k] + slack)}}
    ws = pd.Series(w_star, index=syms)
    for by in ("layer", "sleeve", "theme"):
        if draw(st.booleans()):
            ex = u.exposure(ws, by)
            g = draw(st.sampled_from(list(ex.index)))
            lo_s, hi_s = draw(st.floats(0.0, 0.1)), draw(st.floats(0.0, 0.1))
            rule = {"by": by, "group": g}
            if draw(st.booleans()):
                rule["max"] = float(ex[g] + hi_s)
            if draw(st.booleans()) or "max" not in rule:
                rule["min"] = float(max(0.0, ex[g] - lo_s))
            raw["groups"].append(rule)
    if draw(st.booleans()):
        ce = float(u.compute_exposure(symbols=syms) @ w_star / w_star.sum())
        raw["compute_exposure_min"] = float(max(0.0, ce - draw(st.floats(0.0, 0.1))))
    current = None
    adv = None
    if draw(st.booleans()):
        w0 = rng.dirichlet(np.ones(n)) * inv
        current = pd.Series(w0, index=syms)
        raw["turnover_max"] = float(0.5 * np.abs(w_star - w0).sum() + draw(st.floats(0.0, 0.2)))
        if draw(st.booleans()):
            f, days, part, cap = 0.1, 5.0, 0.2, 1e8
            need = np.maximum(np.abs(w_star - w0) * cap / f, np.maximum(w_star, w0) * cap / (days * part))
            adv = pd.Series(need * (1 + rng.uniform(0.0, 0.5, n)) + 1.0, index=syms)
            raw["liquidity"] = {"max_adv_fraction": f, "max_days_to_liquidate": days, "participation": part}
            raw["capital"] = cap
    return u, mandate_from_dict(raw), current, adv, seed


ALLOCATORS = [EqualWeight, InverseVolatility, HierarchicalRiskParity, RiskParity, MinimumVariance,
              MaximumDiversification, MeanCVaR]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feasible_case())
def test_every_rule_holds_on_every_solution(case):
    u, m, current, adv, seed = case
    n = len(u)
    r = make_returns(260, n, seed=seed % 97)
    for cls in ALLOCATORS:
        a = cls(mandate=m).fit(r, universe=u, current_weights=current, adv=adv)
        assert a.breaches_ == [], (cls.__name__, a.breaches_)
        assert m.check(a.weights_, universe=u, current_weights=current, adv=adv) == [], cls.__name__
        assert a.weights_.sum() == pytest.approx(m.invested_fraction(), abs=TOL)
        assert (a.weights_ >= -TOL).all()
