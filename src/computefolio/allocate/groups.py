"""Group risk budgets: shares of portfolio risk per sleeve, layer or theme.

``GroupRiskBudget(by="sleeve", budgets={"digital_assets": 0.35, "ai_equities": 0.65},
inner=RiskParity())`` builds the book in two stages:

1. **Inside each group** ``g`` the inner allocator is fitted on the returns of
   the group's members (assets with membership ``M_ig > 0``), giving weights
   ``v_g`` summing to 1 over the members. The group's *sub-portfolio* holds each
   member in proportion to its membership: ``u_gi = M_ig v_gi / sum_j M_jg v_gj``.
   A miner that is 60% ``bitcoin_mining`` / 40% ``ai_hosting`` therefore enters
   both sub-portfolios, with 60% and 40% of its inner weight.
2. **Across groups** the book must meet the budgets in the *membership-weighted*
   risk attribution used everywhere in computefolio (the asset-level Euler
   contributions ``risk_contributions_`` aggregated by the membership matrix):

       RC_g(w) = sum_i M_ig w_i (Sigma w)_i / (w' Sigma w) = b_g   for every group g.

   *0/1 memberships* (sleeves, asset classes, layers where every asset is pure):
   the book is ``w = sum_g x_g u_g`` and ``RC_g = x_g (U'Sigma U x)_g / x'U'Sigma U x``,
   so the scales ``x`` are the risk-budgeting solution on the sub-portfolio
   covariance ``U' Sigma U`` (Spinu's convex problem, exact); each group keeps
   its inner allocator's weights exactly.

   *Weighted memberships* (a layer partition with split assets): scaling fixed
   sub-portfolios cannot in general meet the membership-weighted budgets (the
   split assets tie groups together). The inner allocators then fix how each
   group's budget is shared among its members: asset risk budgets start from
   ``beta0_i = sum_g b_g rho_gi`` (``rho_g`` = the risk shares inside
   sub-portfolio ``u_g``) and are rescaled by generalized iterative scaling
   (Darroch & Ratcliff, 1972), ``beta_i <- beta_i prod_g (b_g / (M'beta)_g)^M_ig``,
   until ``M' beta = b`` (to 1e-13); the book is the asset-level risk-budgeting
   portfolio for ``beta`` (:func:`~computefolio.allocate.riskparity.risk_budget_weights`),
   so ``RC_i = beta_i`` and ``RC @ M = b`` exactly. ``diagnostics_["method"]``
   says which construction ran.

   Either way the weights are finally scaled to the invested fraction, and the
   stated tolerance is ``max_g |RC_g - b_g| <= 1e-8`` (checked; typically 1e-14).
   Risk budgets need a partition: ``by="theme"`` (overlapping weights) is refused.

Groups with a zero budget are dropped (their pure members are excluded and
reported in ``excluded_``); an asset with membership in a group without a budget
(and also in a budgeted group) raises an error, since part of its risk would
have nowhere to go. Under a mandate the result is projected onto the rules
(rules are hard, budgets are targets): ``group_risk_`` then reports the
actual shares.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..errors import SolverError
from .base import Allocator, FitContext
from .riskparity import RiskParity, risk_budget_weights

__all__ = ["GroupRiskBudget", "group_risk_contributions"]


def group_risk_contributions(w: np.ndarray, cov: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Membership-weighted shares of portfolio variance per group: ``(w * Sigma w / w'Sigma w) @ M``."""
    sw = cov @ w
    return (w * sw / float(w @ sw)) @ M


class GroupRiskBudget(Allocator):
    """Risk budgets per group with an allocator inside each group (see module docstring).

    Parameters
    ----------
    by : str
        Taxonomy field (``sleeve``, ``layer``, ``theme``, ``asset_class``, ...).
    budgets : mapping of group -> float, or "equal"
        Shares of portfolio variance, summing to 1 (zero allowed: group dropped);
        ``"equal"``: the same share for every group with a kept member (useful
        nested: ``GroupRiskBudget("sleeve", {...}, inner=GroupRiskBudget("layer",
        "equal"))`` is "ERC across layers inside each sleeve, 35/65 across sleeves").
    inner : Allocator, optional
        Fitted on each group's members without a mandate (default: ERC,
        :class:`~computefolio.allocate.riskparity.RiskParity`).
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator`.

    Attributes
    ----------
    group_weights_ : pandas.Series
        Look-through exposure per group, ``weights_ @ M``.
    group_risk_ : pandas.Series
        Membership-weighted risk shares per group (``risk_contributions_ @ M``).
    inner_weights_ : dict[str, pandas.Series]
        Each group's sub-portfolio ``u_g`` (sums to 1).
    """

    def __init__(self, by: str = "sleeve", budgets=None, inner: Allocator | None = None, *,
                 covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.by = by
        self.budgets = budgets
        self.inner = inner

    def fit(self, returns, *, universe=None, current_weights=None, adv=None, date=None, capital=None):
        if universe is None:
            raise ValueError("GroupRiskBudget needs universe= (group membership)")
        if not self.budgets:
            raise ValueError("GroupRiskBudget needs budgets={group: share}")
        return super().fit(returns, universe=universe, current_weights=current_weights, adv=adv, date=date,
                           capital=capital)

    def _prepare(self, returns, **kw):
        ctx = super()._prepare(returns, **kw)
        # drop assets that belong only to zero-budget / unbudgeted groups
        if self.by == "theme":
            raise ValueError("risk budgets need a partition of risk; themes overlap (use layer, sleeve, ...)")
        b = self._budget_series(ctx)
        if abs(b.sum() - 1.0) > 1e-6 or (b < 0).any():
            raise ValueError(f"group risk budgets must be non-negative and sum to 1; they sum to {b.sum():g}")
        known = ctx.universe.groups(self.by)
        unknown = [g for g in b.index if g not in known]
        if unknown:
            raise ValueError(f"risk budgets name {self.by} group(s) not in the universe: {', '.join(unknown)}")
        if not ctx.symbols:
            return ctx
        M = ctx.universe.membership(self.by, date=ctx.date, symbols=ctx.symbols)
        pos = b[b > 0].index.tolist()
        inb = M[pos].sum(axis=1).to_numpy()
        tot = M.sum(axis=1).to_numpy()
        drop = [s for s, x in zip(ctx.symbols, inb) if x <= 0]
        partial = [s for s, x, t in zip(ctx.symbols, inb, tot) if 0 < x < t - 1e-12]
        if partial:
            raise ValueError(f"{', '.join(partial[:5])} belong partly to {self.by} groups without a risk budget; "
                             "give every group they belong to a budget")
        if drop:
            for s in drop:
                self.excluded_[s] = f"no risk budget for its {self.by}"
            keep = [s for s in ctx.symbols if s not in set(drop)]
            ix = [ctx.symbols.index(s) for s in keep]
            ctx.returns = ctx.returns[keep]
            ctx.cov = ctx.cov[np.ix_(ix, ix)]
            if ctx.current_weights is not None:
                ctx.current_weights = ctx.current_weights[ix]
            if ctx.adv is not None:
                ctx.adv = ctx.adv[ix]
            ctx.symbols = keep
            if ctx.constraints is not None:
                mandate = self._mandate()
                cw = kw.get("current_weights")
                held_out = None
                if cw is not None:
                    cws = pd.Series(cw, dtype=float)
                    held_out = {s: v for s, v in cws.items() if s not in set(keep)}
                ctx.constraints = mandate.constraints(keep, universe=ctx.universe, date=ctx.date,
                                                      current_weights=cw, adv=kw.get("adv"), held_out=held_out)
        return ctx

    def _budget_series(self, ctx) -> pd.Series:
        if isinstance(self.budgets, str):
            if self.budgets != "equal":
                raise ValueError(f"budgets must be a mapping group -> share or 'equal', got {self.budgets!r}")
            M = ctx.universe.membership(self.by, date=ctx.date, symbols=ctx.symbols)
            present = [g for g in M.columns if M[g].sum() > 0]
            return pd.Series(1.0 / max(len(present), 1), index=present)
        return pd.Series(self.budgets, dtype=float)

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        b = self._budget_series(ctx)
        groups = [g for g in b.index if b[g] > 0]
        M = ctx.universe.membership(self.by, date=ctx.date, symbols=ctx.symbols)[groups].to_numpy()
        present = M.sum(axis=0) > 0
        if not present.all():
            missing = [g for g, p in zip(groups, present) if not p]
            raise ValueError(f"no kept asset belongs to budgeted {self.by} group(s): {', '.join(missing)} "
                             f"(excluded: {', '.join(sorted(self.excluded_)) or 'none'})")
        n, G = M.shape
        bud = b[groups].to_numpy()
        bud = bud / bud.sum()
        inner = self.inner if self.inner is not None else RiskParity()
        U = np.zeros((n, G))
        self.inner_weights_ = {}
        for k, g in enumerate(groups):
            idx = np.flatnonzero(M[:, k] > 0)
            if len(idx) == 1:
                v = np.ones(1)
            else:
                est = copy.deepcopy(inner)
                if hasattr(est, "set_params"):
                    est.set_params(mandate=None)
                if getattr(est, "covariance", None) is None and hasattr(est, "covariance"):
                    est.covariance = pd.DataFrame(ctx.cov[np.ix_(idx, idx)],
                                                  index=[ctx.symbols[i] for i in idx],
                                                  columns=[ctx.symbols[i] for i in idx])
                sub = ctx.returns.iloc[:, idx]
                est.fit(sub, universe=ctx.universe, date=ctx.date)
                v = est.weights_.reindex([ctx.symbols[i] for i in idx]).to_numpy()
                if est.excluded_:
                    raise ValueError(f"inner allocator excluded {', '.join(est.excluded_)} in group {g}")
                v = v / v.sum()
            u = M[idx, k] * v
            U[idx, k] = u / u.sum()
            self.inner_weights_[g] = pd.Series(U[idx, k], index=[ctx.symbols[i] for i in idx])
        binary = bool(np.all((M == 0) | (M == 1)))
        if G == 1:
            w = U[:, 0].copy()
            method = "single group"
        elif binary:
            C = U.T @ ctx.cov @ U
            x, _ = risk_budget_weights(C, bud)
            w = U @ x
            method = "sub-portfolio scales (0/1 memberships)"
        else:
            beta = np.zeros(n)
            for k in range(G):
                u = U[:, k]
                su = ctx.cov @ u
                beta += bud[k] * u * su / float(u @ su)
            beta = np.maximum(beta, 1e-300)
            for it in range(10_000):
                got = M.T @ beta
                if np.max(np.abs(got - bud)) <= 1e-13:
                    break
                beta = beta * np.exp(np.log(bud / got) @ M.T)
            else:
                raise SolverError("group risk budgets: iterative scaling did not converge")
            if (beta <= 0).any():
                raise SolverError("group risk budgets: some asset would need a zero risk budget")
            w, _ = risk_budget_weights(ctx.cov, beta / beta.sum())
            method = "asset risk budgets by iterative scaling (weighted memberships)"
        w = ctx.budget * w / w.sum()
        err = float(np.max(np.abs(group_risk_contributions(w, ctx.cov, M) - bud)))
        if err > 1e-8:
            raise SolverError(f"group risk budgets not met: max error {err:.2e}")
        self.diagnostics_.update({"group_budget_error": err, "method": method})
        self._status = "optimal (group risk budgets)"
        return w

    def _finish(self, returns, ctx, w, status):
        super()._finish(returns, ctx, w, status)
        if ctx.symbols and ctx.universe is not None:
            Mfull = ctx.universe.membership(self.by, date=ctx.date, symbols=ctx.symbols)
            self.group_weights_ = (Mfull.T @ self.weights_.reindex(ctx.symbols).to_numpy()).rename("exposure")
            self.group_risk_ = (Mfull.T @ self.risk_contributions_.reindex(ctx.symbols).to_numpy()).rename(
                "risk_share")
