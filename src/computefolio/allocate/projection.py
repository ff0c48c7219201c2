"""Exact projection of heuristic weights onto a mandate's rules.

Heuristic allocators (equal weight, inverse volatility, HRP, HERC, any skfolio
optimizer through the adapter) produce weights without constraints; the
mandate is then applied by the Euclidean projection

    w* = argmin ||w - w_h||^2  subject to every rule (box, budget, groups,
                                cash, gross leverage, turnover, compute exposure),

the closest book to the heuristic one that obeys the mandate. It is exact: the
result meets every rule to solver tolerance (checked, then cleaned to the box
bounds), and it leaves ``w_h`` untouched when ``w_h`` already complies.

* Box bounds + budget only: the solution is ``clip(w_h - lambda, lo, hi)`` with the
  scalar ``lambda`` making the budget hold (a water-filling problem); found by
  bisection over the breakpoints and then solved exactly on the final free set.
* Anything else: the QP with cvxpy and Clarabel.

Note the projection is not Riskfolio-Lib's HRP bound heuristic (clip and
redistribute pro rata, which ignores group rules, Riskfolio #117/#118).
"""

from __future__ import annotations

import numpy as np

from ..errors import SolverError
from .mandate import TOL, Constraints

__all__ = ["project", "project_box_budget", "scale_into_bounds"]


def scale_into_bounds(p: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> np.ndarray:
    """Proportional water-filling: ``w_i = clip(t p_i, lo_i, hi_i)`` with ``t`` making ``sum(w) = budget``.

    The rule that keeps a heuristic's own proportions under per-asset bounds: assets at a
    cap (or floor) are held there and every other asset keeps its ratio to the others
    (inverse volatility stays inverse volatility among the uncapped names; equal weight
    stays equal). ``t`` is exact: found between consecutive breakpoints ``lo_i/p_i``,
    ``hi_i/p_i``, then solved on the free set. Requires ``p > 0`` and
    ``sum(lo) <= budget <= sum(hi)``.
    """
    p = np.asarray(p, float)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    if lo.sum() > budget + 1e-12 or hi.sum() < budget - 1e-12:
        raise SolverError(f"bounds cannot reach the budget {budget:g}")
    x = p * (budget / p.sum())
    if (x >= lo).all() and (x <= hi).all():
        return x
    bps = np.unique(np.concatenate([lo / p, np.where(np.isfinite(hi), hi / p, np.inf)]))
    bps = bps[np.isfinite(bps)]

    def total(t):
        return np.clip(t * p, lo, hi).sum()

    a, b = 0, len(bps) - 1
    if total(bps[b]) < budget:  # pragma: no cover - sum(hi) >= budget with finite hi
        b_t = bps[b]
    else:
        while b - a > 1:
            m = (a + b) // 2
            if total(bps[m]) >= budget:
                b = m
            else:
                a = m
        b_t = bps[b]
    t_lo, t_hi = (bps[a], b_t) if total(bps[a]) <= budget else (0.0, bps[a])
    mid = 0.5 * (t_lo + t_hi)
    free = (mid * p > lo) & (mid * p < hi)
    fixed = np.where(mid * p <= lo, lo, 0.0).sum() + np.where(mid * p >= hi, hi, 0.0).sum()
    t = (budget - fixed) / p[free].sum() if free.any() else t_hi
    return np.clip(t * p, lo, hi)


def project_box_budget(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> np.ndarray:
    """Euclidean projection onto ``{x : lo <= x <= hi, sum x = budget}``.

    ``x(lam) = clip(w - lam, lo, hi)`` is non-increasing in ``lam``; bisection
    brackets ``lam`` between breakpoints, then ``lam`` is solved exactly from the
    free coordinates. Requires ``sum lo <= budget <= sum hi``.
    """
    w = np.asarray(w, float)
    lo = np.where(np.isfinite(lo), lo, -1e6)
    hi = np.where(np.isfinite(hi), hi, 1e6)
    if lo.sum() > budget + 1e-12 or hi.sum() < budget - 1e-12:
        raise SolverError(f"box bounds cannot reach the budget {budget:g}")
    bps = np.unique(np.concatenate([w - lo, w - hi]))

    def total(lam):
        return np.clip(w - lam, lo, hi).sum()

    # total() decreases with lam; find consecutive breakpoints bracketing the budget
    a, b = 0, len(bps) - 1
    if total(bps[a]) < budget:  # pragma: no cover - cannot happen when sum hi >= budget
        return np.clip(w - bps[a], lo, hi)
    if total(bps[b]) > budget:  # pragma: no cover
        return np.clip(w - bps[b], lo, hi)
    while b - a > 1:
        m = (a + b) // 2
        if total(bps[m]) >= budget:
            a = m
        else:
            b = m
    lam_a, lam_b = bps[a], bps[b]
    mid = 0.5 * (lam_a + lam_b)
    x = w - mid
    free = (x > lo) & (x < hi)
    fixed_sum = np.where(x <= lo, lo, 0.0).sum() + np.where(x >= hi, hi, 0.0).sum()
    if free.any():
        lam = (w[free].sum() + fixed_sum - budget) / free.sum()
    else:
        lam = lam_a
    return np.clip(w - lam, lo, hi)


def project(w: np.ndarray, cons: Constraints, *, tol: float = TOL) -> np.ndarray:
    """Closest weights to ``w`` (Euclidean) that meet every rule of ``cons``.

    Parameters
    ----------
    w : ndarray, shape (n,)
        Heuristic weights over ``cons.symbols``.
    cons : Constraints
        Compiled mandate rules (feasibility already checked).

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    SolverError
        When the QP solver fails or its answer breaks a rule by more than ``tol``.
    """
    w = np.asarray(w, float)
    if not cons.breaches(w, tol=1e-13):
        return w.copy()
    lo, hi = cons.bounds()
    if cons.is_box_budget() and cons.budget is not None:
        x = project_box_budget(w, lo, hi, cons.budget)
    else:
        import cvxpy as cp

        v = cp.Variable(len(w))
        prob = cp.Problem(cp.Minimize(cp.sum_squares(v - w)), cons.cvxpy(v))
        try:
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, max_iter=500)
        except cp.error.SolverError as exc:  # pragma: no cover
            raise SolverError(f"projection onto mandate {cons.name!r} failed: {exc}") from None
        if v.value is None or prob.status not in ("optimal", "optimal_inaccurate"):
            raise SolverError(f"projection onto mandate {cons.name!r}: solver status {prob.status}")
        x = np.clip(np.asarray(v.value, float), lo, hi)
    bad = cons.breaches(x, tol=tol)
    if bad:
        raise SolverError(f"projection onto mandate {cons.name!r} breaks: {'; '.join(bad)}")
    return x
