"""Risk parity: equal risk contributions (ERC) or arbitrary risk budgets.

Solver
------
Spinu (2013), *An algorithm for computing risk parity weights*, SSRN 2297383:
the long-only risk-budgeting portfolio with budgets ``b`` (``b_i > 0``,
``sum b = 1``) is ``w = x / sum(x)`` where ``x`` minimizes the strictly convex

    f(x) = 1/2 x' Sigma x - sum_i b_i log x_i,   x > 0.

At the optimum ``x_i (Sigma x)_i = b_i`` for every ``i``, so risk contributions
are exactly ``b``. We solve it on the correlation matrix (``y = x * sigma``, same
solution up to scale, better conditioned) with Newton's method and a
backtracking line search that keeps ``y > 0``, from Spinu's starting point.

For speed the Newton phase is preceded by cyclical coordinate descent on the
same objective (Griveau-Billion, Richard & Roncalli, 2013, *A fast algorithm for
computing high-dimensional risk parity portfolios*, arXiv:1311.4057): each
coordinate has the closed-form minimizer ``y_i = (-c_i + sqrt(c_i^2 + 4 b_i)) / 2``
with ``c_i = sum_{j != i} R_ij y_j``; one sweep costs ``O(n^2)`` (numba). On
typical covariance matrices it reaches ``max_i |y_i (R y)_i - b_i| < 1e-15``
in tens of sweeps; when it has not after ``ccd_sweeps``, Newton finishes
(quadratic convergence). Either way the stopping test is the same.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ..errors import SolverError
from .base import Allocator, FitContext

__all__ = ["RiskParity", "risk_budget_weights", "constrained_risk_budget"]


@numba.njit(cache=True)
def _ccd(r, y, b, sweeps, tol):  # pragma: no cover - compiled
    n = len(y)
    ry = r @ y
    err = np.inf
    for s in range(sweeps):
        for i in range(n):
            c = ry[i] - y[i]
            yn = 0.5 * (-c + np.sqrt(c * c + 4.0 * b[i]))
            d = yn - y[i]
            if d != 0.0:
                for j in range(n):
                    ry[j] += r[i, j] * d
                y[i] = yn
        err = 0.0
        for i in range(n):
            e = abs(y[i] * ry[i] - b[i])
            if e > err:
                err = e
        if err <= tol:
            return s + 1, err
    return sweeps, err


def risk_budget_weights(cov: np.ndarray, budgets: np.ndarray | None = None, *, tol: float = 1e-14,
                        max_iter: int = 100, ccd_sweeps: int = 200) -> tuple[np.ndarray, dict]:
    """Long-only risk-budgeting weights by Spinu's convex formulation and Newton.

    Parameters
    ----------
    cov : ndarray, shape (n, n)
        Positive definite covariance.
    budgets : ndarray, shape (n,), optional
        Risk budgets (positive; normalized to sum 1). Default: equal (ERC).
    tol : float
        Stop when ``max_i |x_i (R x)_i - b_i| <= tol``.

    Returns
    -------
    w : ndarray, shape (n,)
        Weights summing to 1 with ``w_i (Sigma w)_i / w'Sigma w = b_i``.
    info : dict
        ``sweeps`` (coordinate-descent sweeps), ``iterations`` (Newton steps) and ``max_error`` (largest absolute gap between a risk
        contribution share and its budget).
    """
    n = cov.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, dtype=float)
    if b.shape != (n,) or (b <= 0).any() or not np.isfinite(b).all():
        raise ValueError("risk budgets must be positive and finite, one per asset")
    b = b / b.sum()
    sd = np.sqrt(np.diag(cov))
    r = cov / np.outer(sd, sd)
    # Spinu's start: x0 = b / sqrt(b' R b) ... scaled so that x0' R x0 = 1
    y = b / np.sqrt(b @ r @ b)
    sweeps, _ = _ccd(np.ascontiguousarray(r), y, b, ccd_sweeps, tol)
    it = 0
    ry = r @ y
    err = np.max(np.abs(y * ry - b))
    while err > tol and it < max_iter:
        g = ry - b / y
        h = r + np.diag(b / (y * y))
        try:
            step = cho_solve(cho_factor(h, check_finite=False), g, check_finite=False)
        except np.linalg.LinAlgError:  # pragma: no cover - H is PD when R is PSD
            step = np.linalg.solve(h, g)
        # damped Newton (Nesterov): full step inside the region where f is well behaved
        lam = np.sqrt(max(float(g @ step), 0.0))
        t = 1.0 if lam < 0.25 else 1.0 / (1.0 + lam)
        ynew = y - t * step
        while (ynew <= 0).any():
            t *= 0.5
            ynew = y - t * step
        y = ynew
        ry = r @ y
        err = np.max(np.abs(y * ry - b))
        it += 1
    x = y / sd
    w = x / x.sum()
    sw = cov @ w
    rc = w * sw / (w @ sw)
    max_err = float(np.max(np.abs(rc - b)))
    if not np.isfinite(w).all() or max_err > 1e-8:
        raise SolverError(f"risk parity did not converge: max budget error {max_err:.2e} after {it} Newton steps")
    return w, {"sweeps": int(sweeps), "iterations": it, "max_error": max_err}


# ----------------------------------------------------------------------------- constrained risk budgeting
@numba.njit(cache=True)
def _chol_solve(L, B):  # pragma: no cover - compiled
    """Solve ``L L' X = B`` for a lower-triangular ``L`` (columns of ``B`` are right-hand sides)."""
    n, m = B.shape
    X = B.copy()
    for c in range(m):
        for i in range(n):
            s = X[i, c]
            for j in range(i):
                s -= L[i, j] * X[j, c]
            X[i, c] = s / L[i, i]
        for i in range(n - 1, -1, -1):
            s = X[i, c]
            for j in range(i + 1, n):
                s -= L[j, i] * X[j, c]
            X[i, c] = s / L[i, i]
    return X


@numba.njit(cache=True)
def _face_newton_nb(R, beta, C, y0, tol, max_iter):  # pragma: no cover - compiled
    """Compiled body of :func:`_face_newton`; returns ``(ok, y, nu, iterations)``."""
    n = y0.shape[0]
    k = C.shape[0]
    y = y0.copy()
    nu = np.zeros(k)
    g = R @ y - beta / y
    rd = g + C.T @ nu
    rp = C @ y
    scale = 1.0
    rhs = np.empty((n, k + 1))
    for it in range(1, max_iter + 1):
        K = R.copy()
        for i in range(n):
            K[i, i] += beta[i] / (y[i] * y[i])
        L = np.linalg.cholesky(K)
        for i in range(n):
            rhs[i, 0] = g[i]
            for j in range(k):
                rhs[i, j + 1] = C[j, i]
        X = _chol_solve(L, rhs)
        Kig = X[:, 0].copy()
        if k > 0:
            KiC = X[:, 1:].copy()
            S = C @ KiC
            r = rp - C @ Kig
            # S = C K^-1 C' is positive definite for independent rows: Cholesky, else least squares
            Ls = np.zeros((k, k))
            ok = True
            for i in range(k):
                for j in range(i + 1):
                    v = S[i, j]
                    for q in range(j):
                        v -= Ls[i, q] * Ls[j, q]
                    if i == j:
                        if v <= 1e-13 * max(S[i, i], 1e-300):
                            ok = False
                            break
                        Ls[i, i] = np.sqrt(v)
                    else:
                        Ls[i, j] = v / Ls[j, j]
                if not ok:
                    break
            if ok:
                rr = np.empty((k, 1))
                rr[:, 0] = r
                nu_new = _chol_solve(Ls, rr)[:, 0].copy()
            else:
                nu_new = np.linalg.lstsq(S, r)[0]
            d = -(Kig + KiC @ nu_new)
        else:
            nu_new = nu
            d = -Kig
        r0 = np.sqrt(np.sum(rd * rd) + np.sum(rp * rp))
        t = 1.0
        for i in range(n):
            if d[i] < 0:
                ti = 0.99 * y[i] / -d[i]
                if ti < t:
                    t = ti
        while True:
            yn = y + t * d
            nun = nu + t * (nu_new - nu)
            gn = R @ yn - beta / yn
            rdn = gn + C.T @ nun
            rpn = C @ yn
            r1 = np.sqrt(np.sum(rdn * rdn) + np.sum(rpn * rpn))
            if r1 <= (1.0 - 0.01 * t) * r0 or t < 1e-12:
                break
            t *= 0.5
        if t < 1e-12:
            return False, y, nu, it
        y, nu, g, rd, rp = yn, nun, gn, rdn, rpn
        if it == 1:
            scale = max(1.0, np.max(np.abs(beta / y)))
        ok = np.max(np.abs(rd)) <= tol * scale
        if k > 0:
            ok = ok and np.max(np.abs(rp)) <= tol * scale
        if ok and t == 1.0:
            return True, y, nu, it
    return False, y, nu, max_iter


def _face_newton(R, beta, C, y, *, tol=1e-13, max_iter=200):
    """Minimize ``1/2 y'Ry - beta'log y`` subject to ``C y = 0`` (infeasible-start Newton,
    Boyd & Vandenberghe 2004, algorithm 10.2, damped to keep ``y > 0``), from a positive ``y``.

    Returns ``(y, nu, iterations)`` with ``Ry - beta/y + C'nu = 0`` and ``Cy = 0``, or None
    when the face has no positive point (the iteration cannot make progress).
    """
    C = np.ascontiguousarray(C, dtype=float).reshape(-1, len(y))
    try:
        ok, yo, nu, it = _face_newton_nb(np.ascontiguousarray(R), np.ascontiguousarray(beta), C,
                                         np.ascontiguousarray(y, dtype=float), tol, max_iter)
    except Exception:  # LinAlgError inside the compiled code (K is PD, so only on non-finite input)
        return None
    if not ok:
        return None
    return yo, nu, it


_SCALED: dict = {}


def constrained_risk_budget(cov: np.ndarray, budgets: np.ndarray, F: np.ndarray | None = None,
                            H: np.ndarray | None = None, *, budget: float = 1.0, start: np.ndarray | None = None,
                            active=None, tol: float = 1e-11, max_rounds: int | None = None,
                            fallback: bool = True) -> tuple[np.ndarray, dict]:
    """Constrained risk budgeting (Richard & Roncalli, 2019) under homogeneous linear rules.

    Solves ::

        min_y  1/2 y' Sigma y - sum_i b_i log y_i   s.t.  F y <= 0,  H y = 0,

    and returns ``w = budget * y / sum(y)``. The rules are the *homogenized* mandate: a rule
    ``a'w <= c`` on weights summing to ``B`` becomes ``(a - c/B 1)'y <= 0`` (the cone over the
    feasible set, Cornuejols & Tutuncu 2007 section 8.2), so the solution does not depend on the
    scale of ``y``. This is skfolio's ``RiskBudgeting`` formulation (``b'log w >= 0`` with a
    homogenizing factor) and minimizes ``log sigma(w) - b'log w`` over the mandate's feasible
    set. At the optimum ``y'Sigma y = 1`` and the KKT conditions read ::

        RC_i(w) - b_i = -y_i (F'mu + H'nu)_i,   mu >= 0,   mu_j (F y)_j = 0,

    where ``RC_i`` are shares of variance: when no rule binds the shares equal the budgets
    exactly; otherwise each binding rule ``j`` moves asset ``i``'s share by
    ``-y_i mu_j F_ji`` (the moves of one rule sum to 0 over the assets).

    Solver: the unconstrained Spinu solution, then a primal-dual active-set method
    (Hintermueller, Ito & Kunisch 2002) whose faces are solved exactly by infeasible-start
    Newton on the correlation scale; cycling falls back to adding one rule at a time, then
    to cvxpy/Clarabel (exponential cone), polished by the same active-set step.

    Parameters
    ----------
    cov : ndarray (n, n)
    budgets : ndarray (n,)
        Positive risk budgets (normalized to sum 1).
    F, H : ndarray (m, n), (p, n), optional
        Homogeneous inequality and equality rows in weight space.
    budget : float
        Sum of the returned weights.
    start : ndarray (n,), optional
        Positive starting point (e.g. a previous solution); default: the unconstrained one.
    active : iterable of int, optional
        Initial working set (rows of ``F`` believed active).

    Returns
    -------
    w : ndarray (n,)
    info : dict
        ``active`` (rows of ``F`` in the final working set), ``mu`` (their multipliers, same
        order), ``nu`` (multipliers of ``H``), ``y`` (the solution on the correlation scale,
        ``y_i = sigma_i y_i``), ``shares`` (risk shares), ``rounds``, ``newton`` (Newton steps),
        ``method``, ``kkt`` (largest stationarity residual of the share equation),
        ``feasibility`` (largest ``(F y)_+`` on the weights' scale).
    """
    n = cov.shape[0]
    b = np.asarray(budgets, dtype=float)
    if b.shape != (n,) or (b <= 0).any() or not np.isfinite(b).all():
        raise ValueError("risk budgets must be positive and finite, one per asset")
    b = b / b.sum()
    F = np.zeros((0, n)) if F is None else np.atleast_2d(np.asarray(F, float))
    H = np.zeros((0, n)) if H is None else np.atleast_2d(np.asarray(H, float))
    key = (id(cov), id(F), id(H))
    hit = _SCALED.get(key)
    if hit is not None and hit[0] is cov and hit[1] is F and hit[2] is H:
        sd, R, Ft, fn, Ht, hn = hit[3]
    else:
        sd = np.sqrt(np.diag(cov))
        R = cov / np.outer(sd, sd)
        # rows on the correlation scale (y~ = sd * y), each of unit norm
        Ft = F / sd
        fn = np.linalg.norm(Ft, axis=1)
        fn[fn == 0] = 1.0
        Ft = np.ascontiguousarray(Ft / fn[:, None])
        Ht = H / sd
        hn = np.linalg.norm(Ht, axis=1)
        hn[hn == 0] = 1.0
        Ht = np.ascontiguousarray(Ht / hn[:, None])
        if len(_SCALED) > 16:
            _SCALED.clear()
        _SCALED[key] = (cov, F, H, (sd, R, Ft, fn, Ht, hn))  # a fit solves several budgets on the same rows
    m = Ft.shape[0]
    info: dict = {"method": "unconstrained", "rounds": 0, "newton": 0}
    if start is None:
        w0, _ = risk_budget_weights(cov, b)
        y = w0 * sd
    else:
        # a warm start: positive, no weight below 1e-4 of the mean (the log terms need room)
        y = np.asarray(start, float) * sd
        y = np.maximum(y, 1e-4 * max(float(np.mean(np.abs(y))), 1e-300))
    y = y / np.sqrt(float(y @ R @ y))
    ftol = tol
    W = set() if active is None else {int(j) for j in active}
    if start is None and not W and not len(H):
        viol = Ft @ y
        if not m or float(viol.max()) <= ftol:
            return _crb_result(y, sd, R, b, Ft, fn, Ht, hn, [], np.zeros(0), np.zeros(0), budget, info)
    max_rounds = max_rounds or 4 * (m + 2) + 20
    visited: set = set()
    one_at_a_time = False
    for rnd in range(1, max_rounds + 1):
        act = sorted(W)
        C = np.vstack([Ht, Ft[act]]) if (len(H) or act) else np.zeros((0, n))
        out = _face_newton(R, b, C, y)
        if out is None and rnd == 1 and (start is not None or active):
            # a poor warm start (point or rows): begin again from the unconstrained solution
            w0, _ = risk_budget_weights(cov, b)
            y = w0 * sd
            y = y / np.sqrt(float(y @ R @ y))
            if active:
                W = set()
                act = []
                C = Ht if len(H) else np.zeros((0, n))
            out = _face_newton(R, b, C, y)
        if out is None:
            break
        y, nu, its = out
        info["newton"] += its
        info["rounds"] = rnd
        p = len(H)
        mu = nu[p:]
        viol = Ft @ y
        viol[act] = -np.inf
        drop = [act[k] for k in range(len(act)) if mu[k] < -ftol]
        add = [j for j in np.flatnonzero(viol > ftol)]
        if not drop and not add:
            info["method"] = "active set" if not one_at_a_time else "active set (one rule at a time)"
            return _crb_result(y, sd, R, b, Ft, fn, Ht, hn, act, mu, nu[:p], budget, info)
        key = frozenset(W)
        if key in visited:
            one_at_a_time = True
        visited.add(key)
        if one_at_a_time:
            if add:
                W.add(int(add[int(np.argmax(viol[add]))]))
            else:
                k = int(np.argmin(mu))
                W.discard(act[k])
        else:
            W = (W - set(drop)) | {int(j) for j in add}
    if not fallback:
        raise SolverError("constrained risk budgeting: active-set method did not converge")
    return _crb_clarabel(cov, b, F, H, sd, R, Ft, fn, Ht, hn, budget, info, tol)


def _crb_result(y, sd, R, b, Ft, fn, Ht, hn, act, mu, nu, budget, info):
    shares = y * (R @ y) / float(y @ R @ y)
    C = np.vstack([Ht, Ft[act]]) if (len(Ht) or len(act)) else np.zeros((0, len(y)))
    lam = np.concatenate([nu, mu])
    corr = y * (C.T @ lam) if len(lam) else np.zeros(len(y))
    # effect of each row on each asset's risk share: shares - b = sum over rows of effects
    effects = -(y[None, :] * C) * lam[:, None] if len(lam) else np.zeros((0, len(y)))
    info.update(active=list(act), mu=np.asarray(mu, float), nu=np.asarray(nu, float), y=y, budgets=b,
                shares=shares, kkt=float(np.max(np.abs(shares - b + corr))),
                feasibility=float(max(np.max(Ft @ y, initial=0.0), 0.0)),
                row_scale=fn, eq_scale=hn, effects=effects,
                effect_rows=[("H", j) for j in range(len(Ht))] + [("F", j) for j in act])
    x = y / sd
    return budget * x / x.sum(), info


def _crb_clarabel(cov, b, F, H, sd, R, Ft, fn, Ht, hn, budget, info, tol):
    """cvxpy/Clarabel on the correlation scale, then the active-set polish from its active rows."""
    import cvxpy as cp

    n = len(b)
    L = np.linalg.cholesky(R + 1e-14 * np.eye(n))
    y = cp.Variable(n)
    cons = []
    if len(Ft):
        cons.append(Ft @ y <= 0)
    if len(Ht):
        cons.append(Ht @ y == 0)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(L.T @ y) - b @ cp.log(y)), cons)
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=300)
    except cp.error.SolverError as exc:  # pragma: no cover
        raise SolverError(f"constrained risk budgeting: Clarabel failed ({exc})") from None
    if y.value is None or prob.status not in ("optimal", "optimal_inaccurate"):
        raise SolverError(f"constrained risk budgeting: Clarabel status {prob.status}")
    yv = np.maximum(np.asarray(y.value, float), 1e-300)
    act = [int(j) for j in np.flatnonzero(Ft @ yv >= -1e-7)] if len(Ft) else []
    try:
        w, inf2 = constrained_risk_budget(cov, b, F, H, budget=budget, start=yv / sd, active=act, tol=tol,
                                          fallback=False)
        inf2["method"] = "clarabel, polished by the active set"
        return w, inf2
    except SolverError:
        C = Ht
        mu = np.zeros(len(act))
        info["method"] = f"clarabel ({prob.status})"
        res = _crb_result(yv, sd, R, b, Ft, fn, Ht, hn, act, mu, np.zeros(len(Ht)), budget, info)
        res[1]["kkt"] = float("nan")
        return res


def risk_budget_under(cov: np.ndarray, budgets: np.ndarray, cons, *, start=None, active=None,
                      tol: float = 1e-10) -> tuple[np.ndarray, dict]:
    """Constrained risk budgeting under a compiled mandate (:class:`~computefolio.allocate.mandate.Constraints`).

    Every linear rule (bounds, groups, compute exposure, cash through the budget) enters
    :func:`constrained_risk_budget` as a homogeneous row. Turnover and gross leverage are not
    linear rows: the caller checks them on the answer (``report["unsupported"]``).

    Returns
    -------
    w : ndarray
    report : dict
        ``binding``: lines naming the binding rules (``"assets.max: DLR, EQIX"``, multiplier
        above ``tol``); ``effects``: rule label -> per-asset change of risk share caused by it
        (sums to ``shares - budgets``); ``labels``; ``info`` (the solver's); ``unsupported``:
        rules not applied (turnover, gross).
    """
    lo, hi = cons.bounds()
    dead = hi <= 1e-15
    if dead.any() and not dead.all():
        # assets capped at 0 cannot carry a risk budget: solve on the others (their rows
        # restricted to them), report them at 0
        from .mandate import Constraints

        keep = ~dead
        sub = Constraints(symbols=[s for s, k in zip(cons.symbols, keep) if k], name=cons.name,
                          skipped=list(cons.skipped),
                          rules=[_restrict(r, keep) for r in cons.rules])
        bb = np.asarray(budgets, float)[keep]
        st = None if start is None else np.asarray(start, float)[keep]
        wk, rep = risk_budget_under(cov[np.ix_(keep, keep)], bb / bb.sum(), sub, start=st, tol=tol)
        w = np.zeros(len(hi))
        w[keep] = wk
        full = {}
        for k, v in rep["effects"].items():
            e = np.zeros(len(hi))
            e[keep] = v
            full[k] = e
        rep["effects"] = full
        bfull = np.zeros(len(hi))
        bfull[keep] = rep["info"]["budgets"]
        rep["info"]["budgets"] = bfull
        rep["unsupported"] = [r for r in cons.rules if r.kind in ("turnover", "gross") and r.violation(w) > 1e-9]
        return w, rep
    F, H, lf, lh, other = cons.homogeneous()
    try:
        w, info = constrained_risk_budget(cov, budgets, F, H, budget=cons.budget, start=start, active=active,
                                          fallback=False)
    except SolverError:
        cons.check_feasible()  # an infeasible mandate is named, not handed to a solver
        w, info = constrained_risk_budget(cov, budgets, F, H, budget=cons.budget, start=start, active=active)
    effects: dict[str, np.ndarray] = {}
    binding: dict[str, list[str]] = {}
    strength = info["effects"]
    for k, (kind, j) in enumerate(info["effect_rows"]):
        name, sym = (lh if kind == "H" else lf)[j]
        lam = (info["nu"][j] if kind == "H" else info["mu"][k - len(info["nu"])])
        if kind == "F" and lam <= tol:
            continue
        label = name if sym is None else f"{name}: {sym}"
        effects[label] = effects.get(label, 0.0) + strength[k]
        binding.setdefault(name, [])
        if sym is not None:
            binding[name].append(sym)
    lines = [f"{name}: {', '.join(syms)}" if syms else name for name, syms in binding.items()]
    return w, {"binding": lines, "effects": effects, "info": info, "labels": (lf, lh),
               "unsupported": [r for r in other if r.violation(w) > 1e-9]}


def _restrict(rule, keep):
    """A rule restricted to the assets ``keep`` (the others at 0)."""
    from dataclasses import replace

    if rule.kind == "box":
        return replace(rule, lo=rule.lo[keep], hi=rule.hi[keep])
    if rule.kind in ("ineq", "eq"):
        return replace(rule, A=rule.A[:, keep])
    if rule.kind == "turnover":
        out = float(np.abs(rule.w0[~keep]).sum())
        return replace(rule, w0=rule.w0[keep], limit=rule.limit - out)
    return rule


class RiskParity(Allocator):
    """Risk budgeting (Maillard, Roncalli & Teiletche, 2010): each asset's share
    of portfolio variance equals its budget; equal budgets give ERC.

    Parameters
    ----------
    budgets : mapping of symbol to float or pandas.Series, optional
        Positive risk budgets per symbol (normalized over the kept symbols to sum
        to 1). Default: equal. Symbols without a budget get none (an error).
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator`. Under a mandate the
        risk-parity weights are projected onto the rules (risk contributions are
        then reported as they are, no longer equal to the budgets).

    Attributes
    ----------
    budgets_ : pandas.Series
        Budgets used over the kept symbols.
    diagnostics_ : dict
        ``iterations`` (Newton steps) and ``max_error`` (max |RC share - budget|).
    """

    handles_constraints = True
    uses_returns = False

    def __init__(self, budgets=None, *, covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.budgets = budgets

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        import pandas as pd

        b = None
        if self.budgets is not None:
            bs = pd.Series(self.budgets, dtype=float)
            missing = [s for s in ctx.symbols if s not in bs.index]
            if missing:
                raise ValueError(f"RiskParity: no risk budget for {', '.join(missing[:5])}"
                                 f"{' ...' if len(missing) > 5 else ''}")
            b = bs.reindex(ctx.symbols).to_numpy()
            if (b <= 0).any():
                bad = [s for s, v in zip(ctx.symbols, b) if v <= 0]
                raise ValueError(f"RiskParity: risk budgets must be positive; not for {', '.join(bad[:5])}")
        if len(ctx.symbols) == 1:
            self._budgets = (list(ctx.symbols), np.ones(1))
            return np.array([ctx.budget])
        n = len(ctx.symbols)
        bb = np.full(n, 1.0 / n) if b is None else b / b.sum()
        self._budgets = (list(ctx.symbols), bb)
        cons = ctx.constraints
        if cons is None or not cons.homogeneous_supported():
            w, info = risk_budget_weights(ctx.cov, b)
            self.diagnostics_.update(info)
            self._status = "Spinu objective: coordinate descent + Newton"
            w = ctx.budget * w
            if cons is not None:
                return self._project(ctx, w, "risk budgeting is long-only; the mandate allows shorts")
            return w
        w, rep = risk_budget_under(ctx.cov, bb, cons)
        info = rep["info"]
        self._warm = (w, info["active"])
        self.diagnostics_.update({"method": info["method"], "rounds": info["rounds"], "newton": info["newton"],
                                  "kkt_residual": info["kkt"],
                                  "max_error": float(np.max(np.abs(info["shares"] - bb)))})
        self._effects = (ctx.symbols, rep["effects"])
        self._status = f"constrained risk budgeting, Richard & Roncalli 2019; {info['method']}"
        if rep["binding"]:
            self._set_status("binding", binding=rep["binding"])
        if rep["unsupported"]:
            return self._project(ctx, w, "; ".join(f"{r.name} ({r.detail}) binds" for r in rep["unsupported"]))
        return w

    @property
    def budgets_(self) -> pd.Series:
        """Budgets used over the kept symbols (sum to 1)."""
        syms, b = getattr(self, "_budgets", ([], np.zeros(0)))
        return pd.Series(b, index=syms, name="risk_budget")

    def _box_shaper(self, ctx: FitContext):
        """Constrained risk budgeting under per-asset bounds, warm-started from the previous call."""
        n = len(ctx.symbols)
        if n == 1:
            return lambda lo, hi: np.array([ctx.budget])
        syms, bprev = getattr(self, "_budgets", (None, None))
        bs = bprev if syms == list(ctx.symbols) else np.full(n, 1.0 / n)
        free, _ = risk_budget_weights(ctx.cov, bs)
        state = {"w": None, "active": None}
        eye = np.eye(n)

        def solve(lo, hi):
            w = ctx.budget * free
            if (w >= lo - 1e-15).all() and (w <= hi + 1e-15).all():
                return w
            B = ctx.budget
            lo = np.maximum(lo, 0.0)
            if lo.sum() > B + 1e-12 or hi.sum() < B - 1e-12:
                raise SolverError(f"bounds cannot reach the budget {B:g}")
            if lo.sum() >= B - 1e-12:  # no room: every asset at its floor
                return lo * (B / lo.sum())
            if hi.sum() <= B + 1e-12:  # every asset at its cap
                return hi * (B / hi.sum())
            live = hi > 1e-15
            if not live.all():  # capped at 0: out of the problem (risk budgeting needs w > 0)
                out = np.zeros(n)
                sub = ctx.cov[np.ix_(live, live)]
                bl = bs[live] / bs[live].sum()
                if live.sum() == 1:
                    out[live] = B
                    return out
                from .mandate import Constraints, Rule

                c = Constraints(symbols=[str(i) for i in range(int(live.sum()))], name="bounds",
                                rules=[Rule.box("bounds", lo[live], hi[live]),
                                       Rule.eq("budget", np.ones(int(live.sum())), B)])
                out[live], _ = risk_budget_under(sub, bl, c)
                return out
            # a fixed layout (caps, then floors) keeps the warm start's row numbers meaningful;
            # a pinned asset (floor = cap) is an equality row
            pin = np.isfinite(hi) & (hi - lo <= 1e-15)
            F = np.vstack([eye - np.where(np.isfinite(hi) & ~pin, hi, 1e6 * B)[:, None] / B,
                           -eye + np.where(pin, 0.0, np.maximum(lo, 0.0))[:, None] / B])
            H = eye[pin] - hi[pin][:, None] / B
            try:
                w, info = constrained_risk_budget(ctx.cov, bs, F, H, budget=B, start=state["w"],
                                                  active=state["active"], fallback=False)
            except SolverError:
                w, info = constrained_risk_budget(ctx.cov, bs, F, H, budget=B)
            state["w"], state["active"] = w, info["active"]
            return np.clip(w, lo, hi)

        return solve
