"""Group risk budgets: shares of portfolio risk per sleeve, layer or theme, under the mandate.

``GroupRiskBudget(by="sleeve", budgets={"digital_assets": 0.35, "ai_equities": 0.65},
inner=RiskParity())`` builds the book in two stages, and under a mandate solves the
budgets *with the rules as constraints* (never a projection of an unconstrained answer).

Risk shares are the membership-weighted Euler attribution used everywhere in computefolio:
``RC_g(w) = sum_i M_ig w_i (Sigma w)_i / (w' Sigma w)`` (shares of variance).

Stage 1: inner allocators, group scales (0/1 memberships: sleeves, pure layers)
-------------------------------------------------------------------------------
Inside each group ``g`` the inner allocator runs on the group's members alone and gives a
sub-portfolio ``u_g`` (summing to 1); the book is ``w = sum_g x_g u_g``. The group scales
``x`` solve risk budgeting on the sub-portfolios' covariance ``C = U' Sigma U``:
``x_g (C x)_g / x'Cx = b_g``, so each group keeps its inner allocator's weights exactly.

Under a mandate:

* the inner allocator of group ``g`` runs under the per-asset bounds seen at the group's
  scale, ``lo_i / x_g <= u_gi <= hi_i / x_g`` (caps, floors, liquidity), with its own
  logic (capped recursive bisection for HRP, constrained minimum variance, constrained risk
  budgeting for ERC, proportional water-filling for inverse volatility);
* the group scales solve *constrained* risk budgeting (Richard & Roncalli 2019, see
  :func:`~computefolio.allocate.riskparity.constrained_risk_budget`) over the rules that
  act on whole groups (group limits whose coefficient is the same for every member of a
  group, the budget and cash floor, and each group's capacity ``sum_i lo_i <= x_g <=
  sum_i hi_i``);
* the two are iterated to a fixed point (the inner bounds depend on ``x``).

When nothing binds at the group level the risk shares equal the budgets (to 1e-10); a
cap reached inside a group only reshapes that group.

Stage 2: rules no group scaling can meet (asset level)
------------------------------------------------------
A rule whose coefficients differ inside a group (a layer limit inside a sleeve, the
compute-exposure floor) and weighted memberships (an asset 60/40 in two layers) are met at
the asset level: the book is the constrained risk-budgeting portfolio whose asset budgets
``beta`` keep stage 1's risk distribution inside each group, with the group totals of
``beta`` rescaled until the group shares equal their targets (stage 1's shares: the
budgets when stage 1 met them). It tilts *within* groups so that the budgets still hold.
When no rescaling reaches the targets, the answer is the constrained risk-budgeting
portfolio for stage 1's own risk contributions (the stated criterion) and each binding
rule's effect on each group's share is reported, from the KKT conditions
``RC_i - beta_i = -y_i sum_j mu_j F_ji``.

Turnover (an l1 rule) is met last: a target it forbids is projected (Euclidean) onto every
rule, which skips the smallest trades first; the status says so.

Results: ``group_risk_`` (shares), ``budget_report_`` (targets, shares, gaps, binding rules
and their effects per group in points), ``status_`` (see :mod:`computefolio.allocate.base`).
Risk budgets need a partition: ``by="theme"`` (overlapping weights) is refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import SolverError
from .base import Allocator, FitContext
from .mandate import Constraints, Rule
from .riskparity import RiskParity, constrained_risk_budget, risk_budget_under, risk_budget_weights

__all__ = ["GroupRiskBudget", "group_risk_contributions"]

_PARAMS: dict = {}  # allocator class -> its constructor parameters' names (inspect is slow)

#: Risk-share tolerance stage 2 matches the budgets to (the report's "met" is 1e-6; stage 1 reaches
#: ~1e-14).
BUDGET_TOL = 1e-7


def _members(universe, by: str, date, symbols) -> tuple[list[str], np.ndarray]:
    """``(group ids, membership matrix symbols x groups)`` as of ``date`` (cached, see
    :func:`computefolio.allocate.mandate._membership`)."""
    from .mandate import _CACHE, _in_force, _membership

    key = (id(universe), "members", by, tuple(symbols),
           _in_force(universe, date, symbols) if by in ("layer", "theme") else None)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is universe:
        return hit[1]
    df = _membership(universe, by, date, list(symbols))
    out = ([str(c) for c in df.columns], df.to_numpy())
    _CACHE[key] = (universe, out)
    return out


def group_risk_contributions(w: np.ndarray, cov: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Membership-weighted shares of portfolio variance per group: ``(w * Sigma w / w'Sigma w) @ M``."""
    sw = cov @ w
    return (w * sw / float(w @ sw)) @ M


@dataclass
class _Group:
    """One budget group's inner allocation."""

    name: str
    idx: np.ndarray          # rows of the group's members in ctx.symbols
    symbols: list
    est: Allocator | None    # fitted inner allocator (None: a single member)
    cov: np.ndarray          # the inner allocator's covariance over the members
    returns: pd.DataFrame
    free: np.ndarray         # inner weights without bounds (sum 1)
    shaper: object = None    # (lo, hi) -> inner weights within bounds (the allocator's own logic)


def _two_group_scales(C: np.ndarray, b: np.ndarray, F: np.ndarray, B: float):
    """Constrained risk budgeting for two groups in closed form.

    The unconstrained ratio ``r = x_0 / x_1`` solves ``t^2 + rho (1 - q) t - q = 0`` on the
    correlation scale (``q = b_0 / b_1``); each homogeneous row ``f_0 x_0 + f_1 x_1 <= 0`` bounds
    ``r`` from one side, and the constrained optimum is ``r`` clipped to the interval (the
    objective is quasi-convex along the rays of the cone). Returns ``(x, binding rows)``.
    """
    s = np.sqrt(np.diag(C))
    rho = C[0, 1] / (s[0] * s[1])
    q = b[0] / b[1]
    t = 0.5 * (-rho * (1 - q) + np.sqrt(rho * rho * (1 - q) ** 2 + 4 * q))
    r = t * s[1] / s[0]
    lo, hi, jlo, jhi = 0.0, np.inf, None, None
    for j, (f0, f1) in enumerate(F):
        if f0 > 0:
            if -f1 / f0 < hi:
                hi, jhi = -f1 / f0, j
        elif f0 < 0:
            if f1 / -f0 > lo:
                lo, jlo = f1 / -f0, j
        elif f1 > 1e-15:
            raise SolverError("group scales: a rule leaves no room for the second group")
    if lo > hi * (1 + 1e-12) + 1e-300:
        raise SolverError("group scales: the group-level rules conflict")
    binding = []
    if r > hi:
        r, binding = hi, [jhi]
    elif r < lo:
        r, binding = lo, [jlo]
    if not np.isfinite(r) or r <= 0:
        raise SolverError("group scales: a rule leaves no room for the first group")
    return B * np.array([r, 1.0]) / (1.0 + r), binding


class GroupRiskBudget(Allocator):
    """Risk budgets per group with an allocator inside each group (see module docstring).

    Parameters
    ----------
    by : str
        Taxonomy field (``sleeve``, ``layer``, ``asset_class``, ...).
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
        Each group's sub-portfolio ``u_g`` (sums to 1) as used in the book.
    budget_report_ : dict
        ``targets``, ``shares``, ``gap_points`` (share minus target, percentage points),
        ``met`` (every gap within 1e-6), ``binding`` (lines), ``effects`` (rule -> group ->
        points), ``stage`` (how the answer was reached), ``iterations``.
    """

    handles_constraints = True

    def __init__(self, by: str = "sleeve", budgets=None, inner: Allocator | None = None, *,
                 covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.by = by
        self.budgets = budgets
        self.inner = inner

    def fit(self, returns, *, universe=None, current_weights=None, adv=None, date=None, capital=None):
        if universe is None:
            raise ValueError(f"{type(self).__name__} needs universe= (group membership)")
        if not self.budgets:
            raise ValueError(f"{type(self).__name__} needs budgets={{group: share}}")
        return super().fit(returns, universe=universe, current_weights=current_weights, adv=adv, date=date,
                           capital=capital)

    # ------------------------------------------------------------ preparation
    def _prepare(self, returns, **kw):
        ctx = super()._prepare(returns, **kw)
        # drop assets that belong only to zero-budget / unbudgeted groups
        if self.by == "theme":
            raise ValueError("risk budgets need a partition of risk; themes overlap (use layer, sleeve, ...)")
        b = self._budgets_dict(ctx)
        tot_b = sum(b.values())
        if abs(tot_b - 1.0) > 1e-6 or any(v < 0 for v in b.values()):
            raise ValueError(f"group risk budgets must be non-negative and sum to 1; they sum to {tot_b:g}")
        known = ctx.universe.groups(self.by)
        unknown = [g for g in b if g not in known]
        if unknown:
            raise ValueError(f"risk budgets name {self.by} group(s) not in the universe: {', '.join(unknown)}")
        if not ctx.symbols:
            return ctx
        gids, Mv = _members(ctx.universe, self.by, ctx.date, ctx.symbols)
        col = {g: j for j, g in enumerate(gids)}
        pos = [col[g] for g, v in b.items() if v > 0]
        inb = Mv[:, pos].sum(axis=1)
        tot = Mv.sum(axis=1)
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
                    cws.index = cws.index.map(str)
                    held_out = {s: v for s, v in cws.items() if s not in set(keep)}
                adv = kw.get("adv")
                if adv is not None:
                    adv = pd.Series(adv, dtype=float)
                    adv.index = adv.index.map(str)
                ctx.constraints = mandate.constraints(keep, universe=ctx.universe, date=ctx.date,
                                                      current_weights=cw, adv=adv, held_out=held_out, check=False,
                                                      sale_margin=float(getattr(self, "sale_margin", 0.0) or 0.0))
                ctx.budget = mandate.invested_fraction()
                self.cash_note_ = ""
                self.diagnostics_.pop("remainder_to_cash", None)
                self._fit_budget(ctx)
        return ctx

    def _budgets_dict(self, ctx) -> dict:
        """Group -> budget (``"equal"``: the same share for every group with a kept member)."""
        if isinstance(self.budgets, str):
            if self.budgets != "equal":
                raise ValueError(f"budgets must be a mapping group -> share or 'equal', got {self.budgets!r}")
            gids, Mv = _members(ctx.universe, self.by, ctx.date, ctx.symbols)
            present = [g for g, t in zip(gids, Mv.sum(axis=0)) if t > 0]
            return {g: 1.0 / max(len(present), 1) for g in present}
        return {str(k): float(v) for k, v in dict(self.budgets).items()}

    # ------------------------------------------------------------ inner allocators
    def _inner_for(self, g: str) -> Allocator:
        return self.inner if self.inner is not None else RiskParity()

    def _fit_inner(self, ctx: FitContext, g: str, idx: np.ndarray) -> _Group:
        syms = [ctx.symbols[i] for i in idx]
        x = ctx.extra.get("x")
        if len(idx) == 1:
            return _Group(g, idx, syms, None, ctx.cov[np.ix_(idx, idx)], None, np.ones(1))
        proto = self._inner_for(g)
        try:  # a fresh estimator from its parameters (a fitted one carries its last fit along)
            names = _PARAMS.get(type(proto))
            if names is None:
                names = _PARAMS[type(proto)] = list(proto.get_params())
            est = type(proto)(**{k: getattr(proto, k) for k in names})
        except Exception:
            est = copy.deepcopy(proto)
        if hasattr(est, "set_params") and getattr(est, "mandate", None) is not None:
            est.set_params(mandate=None)
        full = isinstance(est, GroupRiskBudget) or type(est)._allocate is Allocator._allocate
        plain_cov = getattr(est, "covariance", None) is None or hasattr(est.covariance, "_estimate")
        sub = ctx.returns.iloc[:, idx] if (full or est.uses_returns or x is None or not plain_cov) else None
        if full:
            # nested budgets and foreign allocators: the full fit (exclusions, their own preparation)
            if getattr(est, "covariance", None) is None and hasattr(est, "covariance"):
                est.covariance = pd.DataFrame(ctx.cov[np.ix_(idx, idx)], index=syms, columns=syms)
            est.fit(sub, universe=ctx.universe, date=ctx.date)
            if est.excluded_:
                raise ValueError(f"inner allocator excluded {', '.join(est.excluded_)} in group {g}")
            v = est.weights_.reindex(syms).to_numpy()
            cov = np.asarray(est.covariance_.reindex(index=syms, columns=syms), dtype=float)
        else:
            # the members are already checked (no NaN, no zero variance): allocate directly on
            # the inner allocator's covariance (its own estimator, else the book's sub-matrix)
            est.diagnostics_, est.excluded_, est._capital = {}, {}, None
            est.status_kind_, est.binding_, est._solver, est._reason, est.cash_note_ = "exact", [], "", "", ""
            cov = ctx.cov[np.ix_(idx, idx)] if getattr(est, "covariance", None) is None else \
                est._covariance(sub, None if x is None else x[:, idx])
            v = np.asarray(est._allocate(FitContext(symbols=syms, returns=sub, cov=cov, budget=1.0,
                                                    universe=ctx.universe, date=ctx.date,
                                                    extra={"columns": syms})), dtype=float)
            if not np.isfinite(v).all() or v.sum() <= 0:
                raise SolverError(f"inner allocator {type(est).__name__} returned no weight in group {g}")
        shaper = est._box_shaper(FitContext(symbols=syms, returns=sub, cov=cov, budget=1.0,
                                            universe=ctx.universe, date=ctx.date))
        return _Group(g, idx, syms, est, cov, sub, v / v.sum(), shaper)

    def _shape(self, ctx: FitContext, grp: _Group, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The inner allocator's weights over the group's members under ``lo <= u <= hi``, ``sum(u) = 1``."""
        v = grp.free
        if (v >= lo - 1e-15).all() and (v <= hi + 1e-15).all():
            return v
        if grp.est is None:
            return np.ones(1)
        w = np.clip(np.asarray(grp.shaper(lo, hi), float), lo, hi)
        return w / w.sum()

    # ------------------------------------------------------------ the allocation
    def _allocate(self, ctx: FitContext) -> np.ndarray:
        b = self._budgets_dict(ctx)
        groups = [g for g, v in b.items() if v > 0]
        gids, Mv = _members(ctx.universe, self.by, ctx.date, ctx.symbols)
        col = {g: j for j, g in enumerate(gids)}
        M = Mv[:, [col[g] for g in groups]]
        present = M.sum(axis=0) > 0
        if not present.all():
            missing = [g for g, p in zip(groups, present) if not p]
            raise ValueError(f"no kept asset belongs to budgeted {self.by} group(s): {', '.join(missing)} "
                             f"(excluded: {', '.join(sorted(self.excluded_)) or 'none'})")
        bud = np.array([b[g] for g in groups], dtype=float)
        bud = bud / bud.sum()
        grps = [self._fit_inner(ctx, g, np.flatnonzero(M[:, k] > 0)) for k, g in enumerate(groups)]
        return self._solve(ctx, groups, M, bud, grps, kind="risk")

    def _solve(self, ctx: FitContext, groups: list, M: np.ndarray, bud: np.ndarray, grps: list, kind: str):
        n, G = M.shape
        B = ctx.budget
        cons = ctx.constraints
        binary = bool(np.all((M == 0) | (M == 1)))
        report = {"targets": dict(zip(groups, bud.tolist())), "kind": kind, "iterations": 0, "effects": {},
                  "binding": []}
        self._report = report
        U = np.zeros((n, G))
        for k, grp in enumerate(grps):
            u = M[grp.idx, k] * grp.free
            U[grp.idx, k] = u / u.sum()
        if binary or G == 1:
            w, x, U = self._stage_one(ctx, groups, M, bud, grps, U, kind)
            report["stage"] = "inner allocators, group scales"
        else:
            w = self._weighted_start(ctx, M, bud, U)
            x = None
            report["stage"] = "asset risk budgets by iterative scaling (weighted memberships)"
        self._inner = [(g, grps[k].symbols, U[grps[k].idx, k]) for k, g in enumerate(groups)]
        self.diagnostics_["method"] = report["stage"]
        shares1 = group_risk_contributions(w, ctx.cov, M)
        if cons is not None:
            lin_bad = [r for r in cons.rules if r.kind not in ("turnover",) and r.violation(w) > 1e-10]
            if lin_bad and kind == "risk":
                w = self._stage_two(ctx, groups, M, w, shares1, report)
            elif lin_bad:
                w = self._project(ctx, w, "weight budgets under rules that act inside groups")
                report["stage"] += "; projected"
            turn = [r for r in cons.rules if r.kind == "turnover" and r.violation(w) > 1e-10]
            if turn:
                need = 0.5 * np.abs(w - turn[0].w0).sum()
                w = self._project(ctx, w, f"turnover_max binds: the target needs {need:.2%} one-way, "
                                          f"the mandate allows {turn[0].limit / 2:.2%}; the smallest trades are "
                                          "skipped first")
                report["binding"].append("turnover_max")
                report["stage"] += "; turnover projection"
        self._finish_report(ctx, groups, M, bud, w)
        return w

    # ------------------------------------------------------------ stage 1
    def _outer_rows(self, ctx, M, groups, B):
        """Rules acting on whole groups, as homogeneous rows over the group scales, with labels."""
        cons = ctx.constraints
        G = M.shape[1]
        F, labels = [], []
        if cons is None:
            return np.zeros((0, G)), labels
        lo, hi = cons.bounds()
        lo = np.maximum(lo, 0.0)
        for k, g in enumerate(groups):
            mem = M[:, k] > 0
            cap = float(hi[mem].sum())
            e = np.zeros(G)
            e[k] = 1.0
            if np.isfinite(cap):
                F.append(e - cap / B)
                labels.append(f"capacity of {g} (every member at its cap: {cap:.4g})")
            flo = float(lo[mem].sum())
            if flo > 0:
                F.append(-e + flo / B)
                labels.append(f"floors of {g} (every member at its floor: {flo:.4g})")
        for r in cons.rules:
            if r.kind not in ("ineq", "eq") or r.name == "budget":
                continue
            for j in range(r.A.shape[0]):
                a = r.A[j]
                coef = np.zeros(G)
                const = True
                for k in range(G):
                    vals = a[M[:, k] > 0]
                    if len(vals) and np.ptp(vals) > 1e-12 * max(1.0, np.abs(vals).max()):
                        const = False
                        break
                    coef[k] = vals[0] if len(vals) else 0.0
                if not const:
                    continue
                row = coef - r.b[j] / B
                if r.kind == "eq":
                    F += [row, -row]
                    labels += [r.name, r.name]
                else:
                    F.append(row)
                    labels.append(r.name)
        return (np.array(F) if F else np.zeros((0, G))), labels

    def _group_scales(self, C, bud, F, B):
        G = len(bud)
        if G == 1:
            return np.array([B]), []
        if G == 2:
            return _two_group_scales(C, bud, F, B)
        x, info = constrained_risk_budget(C, bud, F, budget=B)
        act = [j for j, mu in zip(info["active"], info["mu"]) if mu > 1e-12]
        return x, act

    def _stage_one(self, ctx, groups, M, bud, grps, U, kind):
        B = ctx.budget
        cons = ctx.constraints
        F, labels = self._outer_rows(ctx, M, groups, B)
        G = len(groups)

        def scales(U):
            if kind == "weight":
                return self._weight_scales(bud, F, B)
            C = U.T @ ctx.cov @ U
            return self._group_scales(C, bud, F, B)

        x, act = scales(U)
        it = 0
        if cons is not None:
            lo, hi = cons.bounds()
            lo = np.maximum(lo, 0.0)

            def shapes(x):
                Un = np.zeros_like(U)
                for k, grp in enumerate(grps):
                    Un[grp.idx, k] = self._shape(ctx, grp, lo[grp.idx] / x[k], hi[grp.idx] / x[k])
                return Un

            if G == 2:
                # secant on the first group's scale: z = T(z), T = group scales after reshaping at z,
                # kept where both groups can hold their share (between floors and capacities)
                cap = [float(hi[M[:, k] > 0].sum()) for k in range(2)]
                flo = [float(lo[M[:, k] > 0].sum()) for k in range(2)]
                z_lo, z_hi = max(flo[0], B - cap[1], 0.0), min(cap[0], B - flo[1], B)
                hist = []
                z = x[0]
                prev = getattr(self, "_z", None)
                if prev is not None and prev[0] == tuple(groups):  # warm start: the last fit's split
                    z = min(max(prev[1] * B, z_lo), z_hi)
                step = np.inf
                for it in range(1, 61):
                    U = shapes(np.array([z, B - z]))
                    xn, act = scales(U)
                    gz = xn[0] - z
                    step = abs(gz)
                    if step <= 1e-10 * B:
                        x = xn
                        break
                    hist.append((z, gz))
                    if len(hist) >= 2 and hist[-1][1] != hist[-2][1]:
                        (z0, g0), (z1, g1) = hist[-2], hist[-1]
                        zn = z1 - g1 * (z1 - z0) / (g1 - g0)
                    else:
                        zn = xn[0]
                    if not (z_lo < zn < z_hi):
                        zn = min(max(xn[0], z_lo), z_hi)
                    z = zn
                    x = np.array([z, B - z])
            else:
                for it in range(1, 101):
                    U = shapes(x)
                    xn, act = scales(U)
                    step = float(np.max(np.abs(xn - x)))
                    x = xn
                    if step <= 1e-13 * B:
                        break
            U = shapes(x)
            if G == 2:
                self._z = (tuple(groups), float(x[0] / B))
            self._report["iterations"] = it
            if step > 1e-9 * B:
                self.diagnostics_["fixed_point_step"] = step
        w = U @ x
        self._report["outer_binding"] = [labels[j] for j in act]
        # the stated problem at the group level (for checks): constrained risk budgeting of the
        # sub-portfolios, variables = group scales, homogeneous rows over them
        self._report["problem"] = {"level": "group", "budgets": bud.copy(), "rows": F, "labels": labels,
                                   "variables": x.copy(), "shapes": U.copy()}
        self._scales = (list(groups), x)
        return w, x, U

    def _weight_scales(self, bud, F, B):
        """Weight budgets: ``x = B b`` when the group-level rules allow it, else the closest ``x``
        (Euclidean) that they allow."""
        x = B * bud
        if not len(F) or (F @ x <= 1e-12).all():
            return x, []
        import cvxpy as cp

        v = cp.Variable(len(bud))
        cp.Problem(cp.Minimize(cp.sum_squares(v - x)), [F @ v <= 0, cp.sum(v) == B, v >= 0]).solve(
            solver=cp.CLARABEL)
        if v.value is None:
            raise SolverError("weight budgets: the group-level rules conflict")
        xv = np.maximum(np.asarray(v.value, float), 0.0)
        return B * xv / xv.sum(), [j for j in range(len(F)) if F[j] @ xv >= -1e-9]

    def _weighted_start(self, ctx, M, bud, U):
        """Weighted memberships: asset risk budgets by generalized iterative scaling (Darroch &
        Ratcliff 1972) so that ``M' beta = b``, from the inner allocators' risk distribution."""
        n, G = M.shape
        beta = np.zeros(n)
        for k in range(G):
            u = U[:, k]
            su = ctx.cov @ u
            beta += bud[k] * u * su / float(u @ su)
        beta = np.maximum(beta, 1e-300)
        for _ in range(10_000):
            got = M.T @ beta
            if np.max(np.abs(got - bud)) <= 1e-13:
                break
            beta = beta * np.exp(np.log(bud / got) @ M.T)
        else:
            raise SolverError("group risk budgets: iterative scaling did not converge")
        if (beta <= 0).any():
            raise SolverError("group risk budgets: some asset would need a zero risk budget")
        w, _ = risk_budget_weights(ctx.cov, beta / beta.sum())
        return ctx.budget * w / w.sum()

    # ------------------------------------------------------------ stage 2
    def _stage_two(self, ctx, groups, M, w1, target, report):
        """Asset-level constrained risk budgeting keeping stage 1's risk distribution inside
        groups, group totals of the budgets rescaled until the group shares meet ``target``."""
        cons = ctx.constraints
        if not cons.homogeneous_supported():
            report["stage"] += "; projected (the mandate allows shorts)"
            return self._project(ctx, w1, "risk budgets under a mandate that allows shorts")
        rc = w1 * (ctx.cov @ w1) / float(w1 @ ctx.cov @ w1)
        beta0 = np.maximum(rc, 1e-9 * max(float(rc.max()), 1e-300))
        beta0 = beta0 / beta0.sum()
        G = M.shape[1]
        start = np.maximum(w1, 1e-12 * ctx.budget)
        # warm start: the previous fit's rescaling of the group totals (same groups), else none
        prev = getattr(self, "_theta", None)
        theta = np.array([prev.get(g, 0.0) for g in groups]) if prev and set(prev) == set(groups) else np.zeros(G)
        theta = theta - theta[-1]

        def solve(theta, start, active):
            beta = beta0 * np.exp(M @ theta)
            w, rep = risk_budget_under(ctx.cov, beta / beta.sum(), cons, start=start, active=active)
            return w, rep, group_risk_contributions(w, ctx.cov, M)

        w, rep, sh = solve(theta, start, None)
        zero = (w, rep, sh) if not theta.any() else None
        best, err = (w, rep, sh, theta.copy()), float(np.max(np.abs(sh - target)))
        rounds = 1
        hist = []
        while err > BUDGET_TOL and rounds < 60:
            rounds += 1
            if G == 2:
                # secant on the log ratio of the two groups' budget totals
                hist.append((theta[0] - theta[1], sh[0] - target[0]))
                if len(hist) >= 2 and hist[-1][1] != hist[-2][1]:
                    (t0, f0), (t1, f1) = hist[-2], hist[-1]
                    tn = t1 - f1 * (t1 - t0) / (f1 - f0)
                    tn = float(np.clip(tn, t1 - 3.0, t1 + 3.0))
                else:
                    tn = theta[0] - theta[1] + np.log(target[0] / sh[0]) - np.log(target[1] / sh[1])
                theta = np.array([tn, 0.0])
            else:
                theta = theta + np.log(target / np.maximum(sh, 1e-300))
                theta = theta - theta[-1]
            try:
                w, rep, sh = solve(theta, w, rep["info"]["active"])
            except SolverError:
                break
            e = float(np.max(np.abs(sh - target)))
            if e < err:
                best, err = (w, rep, sh, theta.copy()), e
            if abs(theta).max() > 40:
                break
        w, rep, sh, theta = best
        matched = err <= BUDGET_TOL
        if matched:
            self._theta = dict(zip(groups, theta.tolist()))
        else:
            self._theta = None
            # the stated criterion when the budgets cannot be met: stage 1's own risk contributions
            w, rep, sh = zero if zero is not None else solve(np.zeros(G), start, None)
        report["stage"] += ("; asset-level constrained risk budgeting, group totals rescaled to meet the budgets"
                            if matched else
                            "; asset-level constrained risk budgeting on stage 1's risk contributions "
                            "(budgets not reachable under the rules)")
        report["iterations_stage2"] = rounds
        report["matched"] = matched
        report["binding"] += rep["binding"]
        report["effects"] = {} if matched else {lab: (eff @ M) for lab, eff in rep["effects"].items()}
        F, H, lf, lh, _ = cons.homogeneous()
        report["problem"] = {"level": "asset", "budgets": rep["info"]["budgets"], "rows": F, "eq_rows": H,
                             "labels": lf, "variables": w.copy(), "matched": matched}
        self._effects = (ctx.symbols, rep["effects"])
        info = rep["info"]
        self.diagnostics_.update({"crb_method": info["method"], "crb_kkt_residual": info["kkt"],
                                  "crb_newton_steps": info["newton"]})
        if rep["unsupported"]:
            return w  # turnover: handled by the caller
        return w

    # ------------------------------------------------------------ reporting
    def _finish_report(self, ctx, groups, M, bud, w):
        rep = self._report
        sh = group_risk_contributions(w, ctx.cov, M)
        gap = sh - bud
        rep["shares"] = dict(zip(groups, sh.tolist()))
        rep["gap_points"] = dict(zip(groups, (100 * gap).tolist()))
        rep["met"] = bool(np.max(np.abs(gap)) <= 1e-6)
        rep["invested"] = float(w.sum())
        cons = ctx.constraints
        lines = []
        if rep.get("outer_binding"):
            lines += rep["outer_binding"]
        lines += [x for x in rep["binding"] if x not in lines]
        if cons is not None:
            for a in cons.active(w):
                name = a.split(":")[0].split(" (floor)")[0]
                if not any(line.split(":")[0] == name for line in lines):
                    lines.append(a)
        rep["binding"] = lines
        if not rep["met"]:
            parts = []
            for k, g in enumerate(groups):
                if abs(gap[k]) <= 1e-6:
                    continue
                eff = {lab: 100 * float(v[k]) for lab, v in rep.get("effects", {}).items() if abs(v[k]) >= 5e-4}
                top = sorted(eff.items(), key=lambda t: -abs(t[1]))
                why = ", ".join(f"{lab} {v:+.2f} pts" for lab, v in top[:4]) + \
                    (f" and {len(top) - 4} smaller" if len(top) > 4 else "")
                parts.append(f"{g} {100 * sh[k]:.2f}% of risk vs {100 * bud[k]:.2f}%"
                             + (f" ({why})" if why else ""))
            rep["summary"] = "risk budgets not met: " + "; ".join(parts) + \
                (f"; bound by {', '.join(rep['outer_binding'])}" if rep.get("outer_binding") else "")
        else:
            rep["summary"] = "risk budgets met (" + ", ".join(f"{g} {100 * s:.2f}%" for g, s in zip(groups, sh)) + ")"
        self.budget_report_ = rep
        if getattr(self, "status_kind_", "exact") == "projected":
            self._reason = f"{self._reason}; {rep['summary']}"
            return
        self._solver = rep["stage"]
        if lines:
            self._set_status("binding", binding=lines + [rep["summary"]])
        elif not rep["met"]:
            self._set_status("binding", binding=[rep["summary"]])

    @property
    def group_scales_(self) -> pd.Series:
        """Weight of each group's sub-portfolio in the book (stage 1)."""
        g, x = getattr(self, "_scales", ([], np.zeros(0)))
        return pd.Series(x, index=g, name="scale")

    @property
    def inner_weights_(self) -> dict:
        """Group -> its sub-portfolio's weights as used in the book (sum to 1)."""
        return {g: pd.Series(v, index=syms) for g, syms, v in getattr(self, "_inner", [])}

    def _finish(self, returns, ctx, w, status):
        super()._finish(returns, ctx, w, status)
        self._groups = None
        if ctx.symbols and ctx.universe is not None:
            gids, Mv = _members(ctx.universe, self.by, ctx.date, ctx.symbols)
            sw = ctx.cov @ w
            var = float(w @ sw)
            rc = w * sw / var if var > 0 else np.zeros_like(w)
            self._groups = (gids, Mv.T @ w, Mv.T @ rc)

    @property
    def group_weights_(self) -> pd.Series:
        """Look-through exposure per group (``weights_ @ M``)."""
        g = getattr(self, "_groups", None)
        if g is None:
            raise AttributeError("group_weights_ (not fitted)")
        return pd.Series(g[1], index=pd.Index(g[0], name=self.by), name="exposure")

    @property
    def group_risk_(self) -> pd.Series:
        """Membership-weighted risk shares per group (``risk_contributions_ @ M``)."""
        g = getattr(self, "_groups", None)
        if g is None:
            raise AttributeError("group_risk_ (not fitted)")
        return pd.Series(g[2], index=pd.Index(g[0], name=self.by), name="risk_share")
