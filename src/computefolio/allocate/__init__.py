"""Portfolio construction: allocators with one contract, mandates, risk budgets, vol target.

Every allocator is configured in ``__init__``, fitted with
``fit(returns, *, universe=None, current_weights=None, adv=None, date=None)`` and
exposes ``weights_`` (Series over symbols, summing to the invested fraction),
``risk_contributions_`` (shares of variance), ``excluded_``, ``status_``,
``breaches_`` (see :mod:`computefolio.allocate.base`).

==========================================  =========================================================
``EqualWeight``, ``InverseVolatility``      naive (heuristic: projected onto a mandate)
``HierarchicalRiskParity``                  López de Prado (2016); PyPortfolioOpt / Riskfolio-Lib conventions;
                                            capped recursive bisection under bounds
``HierarchicalEqualRiskContribution``       Raffinot (2018); Riskfolio-Lib's HERC
``RiskParity``                              ERC or arbitrary budgets (Spinu 2013; CCD + Newton); under a
                                            mandate constrained risk budgeting (Richard & Roncalli 2019)
``MinimumVariance``                         active-set QP, or cvxpy/Clarabel with general rules
``MaximumDiversification``                  Choueifaty & Coignard (2008)
``MeanVariance``                            max Sharpe, target volatility, utility
``MeanCVaR``                                Rockafellar & Uryasev (2000) LP by HiGHS
``GroupRiskBudget``                         risk budgets per sleeve/layer with an inner allocator, the rules
                                            as constraints (``sleeves.StrategyAllocator``: the strategy's)
``VolatilityTarget``                        overlay: scale to a target annualized volatility within every rule
``SkfolioAllocator``                        any skfolio optimizer as an allocator (projected onto a mandate)
==========================================  =========================================================

Every allocator takes the mandate as constraints and says how in ``status_`` (solved exactly,
solved with binding rules, projected, fell back); ``docs/construction.md`` states each method's
rule under bounds and the stated problem when risk budgets cannot be met.

:func:`make_allocator` builds one from a short method name (the CLI's ``--method``).
"""

from __future__ import annotations

from .base import Allocator, risk_contributions
from .convex import MaximumDiversification, MeanCVaR, MeanVariance, MinimumVariance
from .groups import GroupRiskBudget
from .hierarchical import HierarchicalEqualRiskContribution, HierarchicalRiskParity
from .mandate import Constraints, Mandate, default_mandate_path, load_mandate, mandate_from_dict
from .naive import EqualWeight, InverseVolatility
from .projection import project
from .riskparity import RiskParity
from .skfolio_adapter import SkfolioAllocator
from .voltarget import VolatilityTarget

__all__ = [
    "Allocator", "EqualWeight", "InverseVolatility", "HierarchicalRiskParity",
    "HierarchicalEqualRiskContribution", "RiskParity", "MinimumVariance", "MaximumDiversification",
    "MeanVariance", "MeanCVaR", "GroupRiskBudget", "VolatilityTarget", "SkfolioAllocator",
    "Mandate", "Constraints", "load_mandate", "mandate_from_dict", "default_mandate_path", "project",
    "make_allocator", "METHODS", "risk_contributions",
]

#: Method names accepted by :func:`make_allocator` (and ``computefolio allocate --method``).
METHODS: dict[str, str] = {
    "ew": "equal weight",
    "ivol": "inverse volatility",
    "hrp": "hierarchical risk parity (single linkage)",
    "herc": "hierarchical equal risk contribution",
    "erc": "equal risk contribution",
    "minvar": "minimum variance",
    "maxdiv": "maximum diversification",
    "maxsharpe": "maximum Sharpe ratio (sample means)",
    "mincvar": "minimum CVaR at 95%",
    "budgets": "group risk budgets from the mandate's risk_budgets, inner allocator inside each group",
}

_ALIASES = {"equal_weight": "ew", "inverse_volatility": "ivol", "inverse_vol": "ivol", "risk_parity": "erc",
            "min_variance": "minvar", "minimum_variance": "minvar", "max_diversification": "maxdiv",
            "max_sharpe": "maxsharpe", "meancvar": "mincvar", "min_cvar": "mincvar", "group": "budgets",
            "risk_budgets": "budgets"}


#: Allocator class per method name that takes ``**params`` as they are.
_CLASSES = {"ivol": InverseVolatility, "hrp": HierarchicalRiskParity, "herc": HierarchicalEqualRiskContribution,
            "erc": RiskParity, "minvar": MinimumVariance, "maxdiv": MaximumDiversification, "mincvar": MeanCVaR}


def make_allocator(method: str, *, mandate=None, covariance=None, **params) -> Allocator:
    """An allocator from a method name (see :data:`METHODS`).

    Parameters
    ----------
    method : str
        One of :data:`METHODS` (or a long alias such as ``min_variance``).
    mandate : Mandate, optional
        Passed to the allocator; ``budgets`` needs ``mandate.risk_budgets``.
    covariance : estimator, optional
    **params
        Extra constructor arguments (e.g. ``linkage="average"`` for HRP).
    """
    m = _ALIASES.get(method.lower(), method.lower())
    kw = dict(covariance=covariance, mandate=mandate)
    if m == "ew":
        return EqualWeight(**params, **kw)  # takes none: a stray parameter is a TypeError, not ignored
    if m == "maxsharpe":
        return MeanVariance("max_sharpe", **params, **kw)
    if m in _CLASSES:
        return _CLASSES[m](**params, **kw)
    if m == "budgets":
        if mandate is None or mandate.risk_budgets is None:
            raise ValueError("method 'budgets' needs a mandate with risk_budgets")
        rb = mandate.risk_budgets
        inner = make_allocator(rb.inner, covariance=covariance)
        return GroupRiskBudget(by=rb.by, budgets=dict(rb.budgets), inner=inner, **kw)
    raise ValueError(f"unknown allocation method {method!r}; choose one of {', '.join(METHODS)}")
