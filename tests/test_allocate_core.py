"""The allocator contract, group risk budgets, the volatility target and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from computefolio.allocate import (METHODS, EqualWeight, GroupRiskBudget, HierarchicalRiskParity, InverseVolatility,
                                   MeanCVaR, MinimumVariance, RiskParity, VolatilityTarget,
                                   load_mandate, make_allocator, mandate_from_dict)
from computefolio.allocate.groups import group_risk_contributions
from computefolio.errors import InfeasibleError
from conftest import make_returns
from test_allocate_mandate import small_universe


# ----------------------------------------------------------------------------- contract
def test_nan_and_flat_assets_are_excluded_and_reported():
    r = make_returns(300, 6, seed=3)
    r.iloc[:40, 1] = np.nan  # listed late
    r.iloc[:, 4] = 0.0  # flat: zero variance
    a = HierarchicalRiskParity().fit(r)
    assert list(a.weights_.index) == list(r.columns)
    assert a.weights_["A1"] == 0.0 and a.weights_["A4"] == 0.0
    assert a.excluded_["A1"] == "insufficient history: 40 of 300 returns missing"
    assert a.excluded_["A4"] == "zero variance"
    assert a.weights_.sum() == pytest.approx(1.0, abs=1e-14)
    assert a.risk_contributions_.sum() == pytest.approx(1.0, abs=1e-12)
    assert a.risk_contributions_["A1"] == 0.0
    assert a.symbols_ == ["A0", "A2", "A3", "A5"]


def test_naive_closed_forms():
    r = make_returns(300, 5, seed=3)
    sd = r.std(ddof=1)
    iv = InverseVolatility().fit(r).weights_
    np.testing.assert_allclose(iv.to_numpy(), ((1 / sd) / (1 / sd).sum()).to_numpy(), atol=1e-14)
    np.testing.assert_allclose(EqualWeight().fit(r).weights_.to_numpy(), 0.2, atol=1e-15)


def test_default_covariance_equals_risk_modules_sample_covariance():
    cov_mod = pytest.importorskip("computefolio.risk.covariance")
    r = make_returns(400, 7, seed=5)
    ours = EqualWeight().fit(r).covariance_  # the default: no covariance estimator given
    theirs = cov_mod.SampleCovariance().fit(r).covariance_
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(ours.to_numpy(), np.cov(r.to_numpy(), rowvar=False), rtol=1e-12)
    a = RiskParity(covariance=cov_mod.LedoitWolfCovariance()).fit(r)
    assert np.ptp(a.risk_contributions_) < 1e-8


def test_single_asset_and_invested_fraction():
    r = make_returns(200, 1, seed=1)
    for cls in (EqualWeight, InverseVolatility, HierarchicalRiskParity, RiskParity, MinimumVariance):
        assert cls().fit(r).weights_.iloc[0] == pytest.approx(1.0)
    m = mandate_from_dict({"cash_min": 0.1, "assets": {"max": 0.5}})
    r = make_returns(200, 4, seed=1)
    assert RiskParity(mandate=m).fit(r).weights_.sum() == pytest.approx(0.9, abs=1e-9)


def test_make_allocator_knows_every_method():
    u = small_universe(8)
    r = make_returns(300, 8, seed=2) + 0.001  # positive means for max Sharpe
    m = mandate_from_dict({"assets": {"max": 0.5},
                           "risk_budgets": {"by": "sleeve", "budgets": {"S0": 0.4, "S1": 0.6}}})
    for meth in METHODS:
        a = make_allocator(meth, mandate=m).fit(r, universe=u)
        assert a.weights_.sum() == pytest.approx(1.0, abs=1e-7), meth
        assert a.breaches_ == [], meth
    with pytest.raises(ValueError, match="unknown allocation method"):
        make_allocator("magic")


def test_min_variance_active_set_equals_clarabel_under_box_rules():
    r = make_returns(500, 15, seed=9)
    m = mandate_from_dict({"assets": {"max": 0.12, "min": 0.01}, "cash_min": 0.03})
    a = MinimumVariance(mandate=m).fit(r)
    b = MinimumVariance(mandate=m, solver="cvxpy").fit(r)
    assert "active set" in a.status_ and "clarabel" in b.status_
    np.testing.assert_allclose(a.weights_.to_numpy(), b.weights_.to_numpy(), atol=1e-7)


def test_mean_cvar_dual_equals_primal_under_mandate():
    u = small_universe(8)
    r = make_returns(400, 8, seed=11)
    w0 = pd.Series(np.full(8, 1 / 8), index=r.columns)
    m = mandate_from_dict({"assets": {"max": 0.3}, "turnover_max": 0.15,
                           "groups": [{"by": "layer", "group": "L1", "min": 0.2}]})
    d = MeanCVaR(mandate=m).fit(r, universe=u, current_weights=w0)
    p = MeanCVaR(mandate=m, formulation="primal").fit(r, universe=u, current_weights=w0)
    assert d.diagnostics_["formulation"] == "dual"
    assert d.cvar_ == pytest.approx(p.cvar_, abs=1e-10)
    assert d.breaches_ == [] and p.breaches_ == []


# ----------------------------------------------------------------------------- group budgets
def test_group_budgets_by_sleeve_keep_inner_weights_and_meet_budgets():
    u = small_universe(10)
    r = make_returns(400, 10, seed=4)
    a = GroupRiskBudget("sleeve", {"S0": 0.3, "S1": 0.7}, inner=RiskParity()).fit(r, universe=u)
    assert a.diagnostics_["method"].startswith("inner allocators, group scales")
    np.testing.assert_allclose(a.group_risk_[["S0", "S1"]].to_numpy(), [0.3, 0.7], atol=1e-10)
    # inside each sleeve the weights are the inner ERC's, exactly
    for g, members in (("S0", ["A0", "A1", "A2", "A3", "A4"]), ("S1", ["A5", "A6", "A7", "A8", "A9"])):
        inner = RiskParity().fit(r[members]).weights_
        got = a.weights_[members] / a.weights_[members].sum()
        np.testing.assert_allclose(got.to_numpy(), inner.to_numpy(), atol=1e-12)
    # HRP inside
    b = GroupRiskBudget("sleeve", {"S0": 0.5, "S1": 0.5}, inner=HierarchicalRiskParity()).fit(r, universe=u)
    np.testing.assert_allclose(b.group_risk_[["S0", "S1"]].to_numpy(), [0.5, 0.5], atol=1e-10)


def test_group_budgets_with_weighted_layers_meet_budgets_by_membership():
    u = small_universe(12)
    r = make_returns(500, 12, seed=6)
    bud = {"L0": 0.5, "L1": 0.3, "L2": 0.2}
    a = GroupRiskBudget("layer", bud).fit(r, universe=u)
    assert "iterative scaling" in a.diagnostics_["method"]
    M = u.membership("layer", symbols=list(r.columns))
    agg = a.risk_contributions_.to_numpy() @ M.to_numpy()
    np.testing.assert_allclose(agg, [0.5, 0.3, 0.2], atol=1e-8)
    np.testing.assert_allclose(group_risk_contributions(a.weights_.to_numpy(), a.covariance_.to_numpy(),
                                                        M.to_numpy()), [0.5, 0.3, 0.2], atol=1e-8)
    with pytest.raises(ValueError, match="themes overlap"):
        GroupRiskBudget("theme", {"T0": 1.0}).fit(r, universe=u)


def test_nested_group_budgets_layers_inside_sleeves():
    """'ERC across layers inside each sleeve, 35% of risk to S0': sleeve budgets hold exactly and,
    inside each sleeve's sub-portfolio, every layer carries the same share of that sub-portfolio's risk."""
    u = small_universe(12)
    r = make_returns(500, 12, seed=7)
    inner = GroupRiskBudget("layer", "equal", inner=RiskParity())
    a = GroupRiskBudget("sleeve", {"S0": 0.35, "S1": 0.65}, inner=inner).fit(r, universe=u)
    np.testing.assert_allclose(a.group_risk_[["S0", "S1"]].to_numpy(), [0.35, 0.65], atol=1e-10)
    S0 = ["A0", "A1", "A2", "A3", "A4", "A5"]
    sub = inner.__class__("layer", "equal", inner=RiskParity()).fit(r[S0], universe=u)
    M = u.membership("layer", symbols=S0)
    present = M.columns[M.sum() > 0]
    shares = sub.risk_contributions_.to_numpy() @ M[present].to_numpy()
    np.testing.assert_allclose(shares, 1 / len(present), atol=1e-8)
    got = a.weights_[S0] / a.weights_[S0].sum()
    np.testing.assert_allclose(got.to_numpy(), sub.weights_[S0].to_numpy(), atol=1e-10)


def test_group_budgets_on_shipped_universe_exclude_benchmarks(universe):
    syms = ["BTC", "ETH", "RENDER", "NVDA", "MSFT", "RIOT", "SPY"]
    r = make_returns(400, len(syms), seed=8)
    r.columns = syms
    m = load_mandate()
    a = make_allocator("budgets", mandate=m.model_copy(update={"groups": [], "compute_exposure_min": None,
                                                                 "assets": m.assets.model_copy(update={"max": 0.5})}))
    a.fit(r, universe=universe)
    assert a.weights_["SPY"] == 0 and "benchmark" in a.excluded_["SPY"]
    np.testing.assert_allclose(a.group_risk_[["digital_assets", "ai_equities"]].to_numpy(), [0.35, 0.65], atol=1e-8)


# ----------------------------------------------------------------------------- vol target
@pytest.mark.parametrize("basis,ppy", [("session", 252), ("calendar", 365)])
def test_vol_target_scales_to_target_on_the_basis(basis, ppy):
    r = make_returns(400, 5, seed=2)
    r.attrs = {"basis": basis, "periods_per_year": ppy}
    vt = VolatilityTarget(0.05, RiskParity(), leverage_max=1.0).fit(r)
    w = vt.weights_.to_numpy()
    vol = np.sqrt(w @ np.cov(r.to_numpy(), rowvar=False) @ w * ppy)
    assert vol == pytest.approx(0.05, rel=1e-10) and vt.cap_ == "target"
    assert vt.cash_ == pytest.approx(1 - w.sum()) and vt.cash_ > 0
    # a high target is capped by leverage
    hi = VolatilityTarget(5.0, RiskParity(), leverage_max=1.0).fit(r)
    assert hi.cap_ == "leverage_max" and hi.weights_.sum() == pytest.approx(1.0)
    # apply() for the backtest's Policy: (weights, returns, periods_per_year)
    again = VolatilityTarget(0.05, basis=basis).apply(RiskParity().fit(r).weights_, r, ppy)
    np.testing.assert_allclose(again.to_numpy(), w, rtol=1e-10)


def test_vol_target_respects_mandate_caps_when_scaling_up():
    r = make_returns(400, 5, seed=2) * 0.1  # very calm assets: the target wants leverage
    m = mandate_from_dict({"assets": {"max": 0.3}, "cash_min": 0.05, "gross_leverage_max": 1.5})
    vt = VolatilityTarget(0.5, RiskParity(mandate=m), leverage_max=1.5, mandate=m, basis="session").fit(r)
    assert vt.cap_ in ("assets.max", "cash_min") and vt.breaches_ == []
    assert vt.weights_.max() <= 0.3 + 1e-12 and vt.weights_.sum() <= 0.95 + 1e-12


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def cli():
    from typer.testing import CliRunner

    from computefolio.cli import app

    return CliRunner(), app


def test_cli_allocate_writes_csv_and_json(cli, tmp_path):
    runner, app = cli
    res = runner.invoke(app, ["allocate", "--method", "hrp", "--mandate", "default", "--out", str(tmp_path),
                              "--start", "2023-01-01", "--end", "2024-12-31"])
    assert res.exit_code == 0, res.output
    assert "look-through" in res.output and "every mandate rule holds" in res.output
    df = pd.read_csv(tmp_path / "weights.csv")
    assert set(df.columns) == {"symbol", "weight", "risk_contribution", "layer", "sleeve"}
    assert df.weight.sum() == pytest.approx(0.98, abs=1e-7)
    js = json.loads((tmp_path / "allocation.json").read_text())
    assert js["basis"] == "session" and js["periods_per_year"] == 252 and js["breaches"] == []
    assert js["by_sleeve"]["benchmarks"]["exposure"] == 0.0


def test_cli_errors_are_one_line(cli, tmp_path):
    runner, app = cli
    bad = tmp_path / "m.yaml"
    bad.write_text("groups: [{by: sleeve, group: digital_assets, min: 0.6}, {by: sleeve, group: ai_equities, "
                   "min: 0.5}]\n")
    res = runner.invoke(app, ["allocate", "--method", "erc", "--mandate", str(bad), "--start", "2024-01-01",
                              "--end", "2024-12-31"])
    assert res.exit_code == 2
    assert "infeasible" in res.output and "digital_assets min" in res.output and "Traceback" not in res.output
    # caps that cannot reach full investment are not an error: the rest is cash, and the output says so
    caps = tmp_path / "caps.yaml"
    caps.write_text("assets: {max: 0.01}\n")
    res = runner.invoke(app, ["allocate", "--method", "erc", "--mandate", str(caps), "--start", "2024-01-01",
                              "--end", "2024-12-31"])
    assert res.exit_code == 0, res.output
    assert "left in cash" in " ".join(res.output.split())
    res = runner.invoke(app, ["allocate", "--method", "nope"])
    assert res.exit_code == 2


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_default_mandate_holds_on_real_data(real_market, universe):
    r = real_market.returns("session")
    last = r["BTC"].last_valid_index()  # the shared crypto files end before the equity ones
    r = r.loc[:last].iloc[-252:]
    adv = real_market.adv(20, "session", asof=last)
    m = load_mandate()
    for meth in ("hrp", "erc", "minvar", "budgets"):
        try:
            a = make_allocator(meth, mandate=m).fit(r, universe=universe, adv=adv)
        except InfeasibleError as exc:  # pragma: no cover - would be a data problem worth seeing
            pytest.fail(str(exc))
        assert a.breaches_ == [], (meth, a.breaches_)
        assert a.weights_.sum() == pytest.approx(0.98, abs=1e-7)
