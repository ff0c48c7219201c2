"""Agreement of computefolio.allocate with the peers, same inputs and settings.

Tolerances (stated in the issue): HRP weights equal to PyPortfolioOpt's and
Riskfolio-Lib's to 1e-10; ERC risk contributions equal to 1e-8 and weights equal
to skfolio's RiskBudgeting to 1e-6; minimum variance equal to skfolio's MeanRisk
to 1e-6; minimum CVaR equal to PyPortfolioOpt's EfficientCVaR.min_cvar (CVaR to
1e-9, weights to 1e-6).

Conventions matched
-------------------
* PyPortfolioOpt ``HRPOpt(returns).optimize(linkage)``: correlation from pandas
  ``corr``, distance ``sqrt(clip((1 - rho) / 2, 0, 1))``, ``to_tree(Z).pre_order()``
  (= ``leaves_list(Z)``, no optimal leaf ordering), bisection of the ordered list.
  Ours: ``HierarchicalRiskParity(linkage, leaf_order=False)`` (the default).
* Riskfolio-Lib ``HCPortfolio.optimization(model="HRP", codependence="pearson",
  rm="MV", linkage=..., leaf_order=...)``: same distance, ``leaves_list`` of
  ``linkage(..., optimal_ordering=leaf_order)``; its default ``leaf_order=True``
  is ours with ``leaf_order=True``. HERC: ``model="HERC"``, ``k`` given or chosen by
  its two-difference gap statistic (``max_k=10``).
* skfolio solves with Clarabel; its default tolerances (1e-8) leave weights off
  by up to 1e-5 on flat minimum-variance problems, so it runs with tolerances
  1e-14 ("same settings": both exact). Ours are exact to rounding (checked by KKT).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from computefolio.allocate import (HierarchicalEqualRiskContribution, HierarchicalRiskParity, MaximumDiversification,
                                   MeanCVaR, MeanVariance, MinimumVariance, RiskParity, SkfolioAllocator)
from conftest import make_returns

pytestmark = [pytest.mark.peer, pytest.mark.filterwarnings("ignore:Solution may be inaccurate")]

SK_TIGHT = {"tol_gap_abs": 1e-14, "tol_gap_rel": 1e-14, "tol_feas": 1e-14, "tol_ktratio": 1e-12, "max_iter": 500}


@pytest.fixture(scope="module")
def rets():
    return make_returns(750, 24, seed=4)


@pytest.mark.parametrize("linkage", ["single", "average", "complete", "ward"])
def test_hrp_matches_pyportfolioopt(rets, linkage):
    from pypfopt import HRPOpt

    peer = pd.Series(HRPOpt(rets).optimize(linkage_method=linkage))
    ours = HierarchicalRiskParity(linkage=linkage).fit(rets)
    assert abs(ours.weights_.sum() - 1) < 1e-14
    np.testing.assert_allclose(ours.weights_[peer.index].to_numpy(), peer.to_numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("leaf_order", [False, True])
@pytest.mark.parametrize("linkage", ["single", "average"])
def test_hrp_matches_riskfolio(rets, linkage, leaf_order):
    import riskfolio as rp

    port = rp.HCPortfolio(returns=rets)
    peer = port.optimization(model="HRP", codependence="pearson", rm="MV", linkage=linkage,
                             leaf_order=leaf_order)["weights"]
    ours = HierarchicalRiskParity(linkage=linkage, leaf_order=leaf_order).fit(rets)
    np.testing.assert_allclose(ours.weights_[peer.index].to_numpy(), peer.to_numpy(), rtol=0, atol=1e-10)
    assert ours.order_ == list(port.asset_order)


def test_hrp_is_reproducible(rets):
    a = HierarchicalRiskParity().fit(rets).weights_
    b = HierarchicalRiskParity().fit(rets.copy()).weights_
    assert (a == b).all()


@pytest.mark.parametrize("k", [None, 3, 5])
def test_herc_matches_riskfolio(rets, k):
    import riskfolio as rp

    port = rp.HCPortfolio(returns=rets)
    peer = port.optimization(model="HERC", codependence="pearson", rm="MV", linkage="single", k=k)["weights"]
    ours = HierarchicalEqualRiskContribution(n_clusters=k).fit(rets)
    assert ours.n_clusters_ == port.k
    np.testing.assert_allclose(ours.weights_[peer.index].to_numpy(), peer.to_numpy(), rtol=0, atol=1e-10)


def test_erc_equal_contributions_and_skfolio(rets):
    from skfolio.optimization import RiskBudgeting

    ours = RiskParity().fit(rets)
    rc = ours.risk_contributions_.to_numpy()
    assert np.max(np.abs(rc - 1 / len(rc))) < 1e-8
    peer = RiskBudgeting(solver="CLARABEL", solver_params=SK_TIGHT).fit(rets)
    np.testing.assert_allclose(ours.weights_.to_numpy(), peer.weights_, rtol=0, atol=1e-6)


def test_risk_budgets_arbitrary_and_skfolio(rets):
    from skfolio.optimization import RiskBudgeting

    b = np.linspace(1, 3, rets.shape[1])
    b = b / b.sum()
    ours = RiskParity(budgets=dict(zip(rets.columns, b))).fit(rets)
    assert np.max(np.abs(ours.risk_contributions_.to_numpy() - b)) < 1e-8
    peer = RiskBudgeting(risk_budget=b, solver="CLARABEL", solver_params=SK_TIGHT).fit(rets)
    np.testing.assert_allclose(ours.weights_.to_numpy(), peer.weights_, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed,shape", [(4, (750, 24)), (5, (1500, 12)), (8, (500, 40))])
def test_min_variance_matches_skfolio(seed, shape):
    from skfolio.optimization import MeanRisk

    r = make_returns(shape[0], shape[1], seed=seed)
    ours = MinimumVariance().fit(r)
    peer = MeanRisk(solver="CLARABEL", solver_params=SK_TIGHT).fit(r)
    w = ours.weights_.to_numpy()
    np.testing.assert_allclose(w, peer.weights_, rtol=0, atol=1e-6)
    # KKT of min w'Sw, sum w = 1, w >= 0: gradient equal on the support, not lower off it
    g = ours.covariance_.to_numpy() @ w
    on = w > 1e-12
    lam = g[on].mean()
    assert np.max(np.abs(g[on] - lam)) < 1e-12 * max(1.0, abs(lam)) + 1e-15
    assert (g[~on] >= lam - 1e-14).all()
    # and the cvxpy/Clarabel route lands on the same point
    cv = MinimumVariance(solver="cvxpy").fit(r).weights_.to_numpy()
    np.testing.assert_allclose(cv, w, rtol=0, atol=1e-6)


def test_min_cvar_matches_pyportfolioopt(rets):
    from pypfopt import EfficientCVaR

    r = rets.iloc[:, :12]
    ec = EfficientCVaR(r.mean(), r, beta=0.95)
    peer = pd.Series(ec.min_cvar())
    _, peer_cvar = ec.portfolio_performance()
    for form in ("dual", "primal"):
        ours = MeanCVaR(beta=0.95, formulation=form).fit(r)
        assert abs(ours.cvar_ - peer_cvar) < 1e-9
        np.testing.assert_allclose(ours.weights_[peer.index].to_numpy(), peer.to_numpy(), rtol=0, atol=1e-6)
    assert ours.diagnostics_["formulation"] == "primal"


def test_max_sharpe_matches_pyportfolioopt(rets):
    from pypfopt import EfficientFrontier

    r = rets.iloc[:, :12]
    ef = EfficientFrontier(r.mean(), r.cov())
    peer = pd.Series(ef.max_sharpe(risk_free_rate=0.0))
    ours = MeanVariance("max_sharpe").fit(r)
    np.testing.assert_allclose(ours.weights_[peer.index].to_numpy(), peer.to_numpy(), rtol=0, atol=1e-5)


def test_max_diversification_matches_skfolio(rets):
    from skfolio.optimization import MaximumDiversification as SkMD

    peer = SkMD(solver="CLARABEL", solver_params=SK_TIGHT).fit(rets)
    ours = MaximumDiversification().fit(rets)
    np.testing.assert_allclose(ours.weights_.to_numpy(), peer.weights_, rtol=0, atol=1e-5)


def test_skfolio_adapter(rets):
    from skfolio.optimization import HierarchicalRiskParity as SkHRP, MeanRisk

    r = rets.copy()
    r.iloc[:100, 3] = np.nan  # a late listing: excluded, reported
    a = SkfolioAllocator(MeanRisk(solver="CLARABEL", solver_params=SK_TIGHT)).fit(r)
    assert a.weights_[r.columns[3]] == 0.0 and r.columns[3] in a.excluded_
    assert abs(a.weights_.sum() - 1) < 1e-9
    ours = MinimumVariance().fit(r)
    np.testing.assert_allclose(a.weights_.to_numpy(), ours.weights_.to_numpy(), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = SkfolioAllocator(SkHRP()).fit(rets)
    assert abs(h.weights_.sum() - 1) < 1e-12 and (h.weights_ > 0).all()


def test_target_volatility_matches_pyportfolioopt(rets):
    from pypfopt import EfficientFrontier

    r = rets.iloc[:, :12] + 0.0005
    ef = EfficientFrontier(r.mean() * 252, r.cov() * 252)
    peer = pd.Series(ef.efficient_risk(0.25))
    ours = MeanVariance("target_volatility", target_volatility=0.25).fit(r)  # 252/yr from the returns' attrs
    w = ours.weights_.to_numpy()
    assert np.sqrt(w @ r.cov().to_numpy() @ w * 252) <= 0.25 + 1e-9
    np.testing.assert_allclose(ours.weights_[peer.index].to_numpy(), peer.to_numpy(), rtol=0, atol=1e-5)
