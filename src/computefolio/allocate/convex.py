"""Convex allocators: minimum variance, maximum diversification, mean-variance, mean-CVaR.

They take the mandate as constraints (never a projection afterwards).

Solvers
-------
* Minimum variance with only per-asset bounds and the budget (the common
  long-only case): a dedicated primal active-set method (Nocedal & Wright,
  *Numerical Optimization*, 2nd ed., Algorithm 16.3) started from a feasible
  vertex (lowest-variance assets filled first); each step solves the
  equality-constrained QP on the free assets exactly (Cholesky), so the answer
  is exact to rounding and the work grows with the number of assets held, not
  the universe size.
* Any other rule (groups, turnover, gross leverage, compute exposure) and the
  other quadratic objectives: cvxpy with Clarabel, the variance written as
  ``||L' w||^2`` with ``L`` a square-root factor of the covariance.
* Ratio objectives (maximum Sharpe, maximum diversification) by the
  homogenization of Cornuejols & Tutuncu (2007, section 8.2): ``y = k w``,
  ``k >= 0``; every rule is scaled by ``k``.
* Mean-CVaR: the Rockafellar & Uryasev (2000) linear program, solved by HiGHS
  (``scipy.optimize.linprog``), with every mandate rule as linear rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgError, cho_factor, cho_solve, eigh

from ..errors import SolverError
from .base import Allocator, FitContext

__all__ = ["MinimumVariance", "MaximumDiversification", "MeanVariance", "MeanCVaR", "box_qp"]


def box_qp(S: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float, q: np.ndarray | None = None,
           *, max_iter: int | None = None, tol: float = 1e-13) -> tuple[np.ndarray, dict]:
    """Solve ``min 1/2 w'Sw - q'w  s.t.  sum(w) = budget, lo <= w <= hi`` exactly.

    Primal active-set method (see module docstring). ``S`` must be positive
    definite on every face visited (true for a covariance of full rank).

    Returns
    -------
    w : ndarray, shape (n,)
    info : dict
        ``iterations``, ``n_free`` (assets strictly inside their bounds).

    Raises
    ------
    SolverError
        When bounds cannot reach the budget or the iteration limit is hit.
    """
    n = S.shape[0]
    q = np.zeros(n) if q is None else np.asarray(q, float)
    lo = np.asarray(lo, float).copy()
    hi = np.asarray(hi, float).copy()
    hi = np.minimum(hi, lo + abs(budget) + np.abs(lo).sum() + 1.0)  # finite upper bounds for the start
    if lo.sum() > budget + 1e-12 or hi.sum() < budget - 1e-12:
        raise SolverError(f"bounds cannot reach the budget {budget:g}")
    max_iter = max_iter or 20 * n + 100
    out = _pdas_box_qp(S, lo, hi, budget, q, tol)
    if out is not None:
        return out
    # feasible start: lower bounds, then fill lowest-variance first
    w = lo.copy()
    state = np.full(n, -1, dtype=np.int8)  # -1 at lower, +1 at upper, 0 free
    rem = budget - lo.sum()
    for i in np.argsort(np.diag(S) - q, kind="stable"):
        if rem <= 0:
            break
        room = hi[i] - lo[i]
        add = min(room, rem)
        w[i] += add
        rem -= add
        state[i] = 1 if add >= room else 0
    g = S @ w - q
    scale = max(1.0, float(np.max(np.abs(g))))
    it = 0
    while it < max_iter:
        it += 1
        F = np.flatnonzero(state == 0)
        p = None
        lam = None
        if len(F) >= 1:
            gF = g[F]
            SF = S[np.ix_(F, F)]
            try:
                c = cho_factor(SF, check_finite=False)
                a = cho_solve(c, gF, check_finite=False)
                e = cho_solve(c, np.ones(len(F)), check_finite=False)
            except LinAlgError:
                raise SolverError("covariance is singular on the active face; use a shrunk estimator") from None
            lam = float(a.sum() / e.sum())
            p = -(a - lam * e)
            if np.max(np.abs(p)) <= 1e-15 * max(1.0, np.max(np.abs(w[F]))):
                p = None
        if p is None:
            # optimality test on the multipliers of the active bounds
            L = np.flatnonzero(state == -1)
            U = np.flatnonzero(state == 1)
            if lam is None:  # no free variable: any lam in [max g_U, min g_L] works
                lam_hi = np.min(g[L]) if len(L) else np.inf
                lam_lo = np.max(g[U]) if len(U) else -np.inf
                lam = 0.5 * (lam_lo + lam_hi) if np.isfinite(lam_lo) and np.isfinite(lam_hi) else \
                    (lam_lo if np.isfinite(lam_lo) else lam_hi)
            mu_L = g[L] - lam if len(L) else np.zeros(0)
            mu_U = lam - g[U] if len(U) else np.zeros(0)
            jl = int(np.argmin(mu_L)) if len(L) else -1
            ju = int(np.argmin(mu_U)) if len(U) else -1
            vl = mu_L[jl] if len(L) else np.inf
            vu = mu_U[ju] if len(U) else np.inf
            if min(vl, vu) >= -tol * scale:
                return np.clip(w, lo, hi), {"iterations": it, "n_free": int((state == 0).sum()), "lambda": lam}
            if vl <= vu:
                state[L[jl]] = 0
            else:
                state[U[ju]] = 0
            continue
        # step towards the face's minimizer, stopping at the first bound hit
        wF = w[F]
        alpha, block, to = 1.0, -1, 0
        neg = p < 0
        if neg.any():
            r = (lo[F][neg] - wF[neg]) / p[neg]
            k = int(np.argmin(r))
            if r[k] < alpha:
                alpha, block, to = float(r[k]), int(F[neg][k]), -1
        pos = p > 0
        if pos.any():
            r = (hi[F][pos] - wF[pos]) / p[pos]
            k = int(np.argmin(r))
            if r[k] < alpha:
                alpha, block, to = float(r[k]), int(F[pos][k]), 1
        alpha = max(alpha, 0.0)
        dw = alpha * p
        w[F] = wF + dw
        g += S[:, F] @ dw
        if block >= 0:
            w[block] = lo[block] if to == -1 else hi[block]
            state[block] = to
    raise SolverError(f"active-set QP did not converge in {max_iter} iterations")


def _pdas_box_qp(S, lo, hi, budget, q, tol, max_iter: int = 15):
    """Primal-dual active set (Hintermueller, Ito & Kunisch 2002) for the box-and-budget QP.

    Guess which assets sit at a bound, solve the equality QP on the others exactly (Cholesky),
    move every asset whose weight left its bounds to the bound and free every bound asset whose
    multiplier has the wrong sign, until the guess repeats. Converges in a few iterations when
    many assets are held (where adding one bound at a time takes one iteration per asset); the
    result is returned only when it is a verified KKT point, else None (the primal active-set
    method then runs from scratch)."""
    n = S.shape[0]
    state = np.zeros(n, dtype=np.int8)  # -1 at lower, +1 at upper, 0 free
    seen = set()
    for it in range(1, max_iter + 1):
        F = np.flatnonzero(state == 0)
        if not len(F):
            return None
        w = np.where(state < 0, lo, np.where(state > 0, hi, 0.0))
        fixed = state != 0
        rhs = q[F] - S[np.ix_(F, fixed)] @ w[fixed] if fixed.any() else q[F].copy()
        try:
            c = cho_factor(S[np.ix_(F, F)], check_finite=False)
        except LinAlgError:
            return None
        a = cho_solve(c, rhs, check_finite=False)
        e = cho_solve(c, np.ones(len(F)), check_finite=False)
        lam = (a.sum() - (budget - w[fixed].sum())) / e.sum()
        w[F] = a - lam * e
        g = S @ w - q
        # KKT: free g_i = -lam ... here stationarity reads S w - q + lam 1 = mu_L - mu_U on the bounds
        new = state.copy()
        new[F[w[F] < lo[F]]] = -1
        new[F[w[F] > hi[F]]] = 1
        L = np.flatnonzero(state < 0)
        U = np.flatnonzero(state > 0)
        scale = max(1.0, float(np.max(np.abs(g))))
        new[L[(g[L] + lam) < -tol * scale]] = 0
        new[U[(g[U] + lam) > tol * scale]] = 0
        if (new == state).all():
            if (w < lo - 1e-12).any() or (w > hi + 1e-12).any():
                return None
            return np.clip(w, lo, hi), {"iterations": it, "n_free": int(len(F)), "lambda": float(-lam),
                                        "method": "primal-dual active set"}
        key = new.tobytes()
        if key in seen:
            return None
        seen.add(key)
        state = new
    return None


def _sqrt_factor(S: np.ndarray) -> np.ndarray:
    """``L`` with ``L L' = S`` (Cholesky, or the eigenvalue square root when singular)."""
    try:
        return np.linalg.cholesky(S)
    except LinAlgError:
        vals, vecs = eigh(S)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _scaled_factor(S: np.ndarray) -> tuple[np.ndarray, float]:
    """Square-root factor of ``S / s`` with ``s`` the mean variance, and ``s``.

    Clarabel's absolute gap tolerance is meaningless on daily variances (~1e-4);
    working on the covariance scaled to unit mean variance makes its answers
    exact to ~1e-10 in the weights.
    """
    s = float(np.mean(np.diag(S)))
    s = s if s > 0 else 1.0
    return _sqrt_factor(S / s), s


def _solve_cvxpy(prob, what: str):
    """Solve with Clarabel at tight tolerances (1e-12); if it stalls there, solve a fresh
    copy at Clarabel's defaults (1e-8) (cvxpy keeps a failed solver's state on a problem).

    Returns the problem that holds the solution (``prob`` or its copy).
    """
    import cvxpy as cp

    tight = dict(tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10, max_iter=500)
    err = None
    for params in (tight, {}):
        p = prob if params else cp.Problem(prob.objective, prob.constraints)
        try:
            p.solve(solver=cp.CLARABEL, **params)
        except cp.error.SolverError as exc:
            err = exc
            continue
        if p.status in ("optimal", "optimal_inaccurate") and (p.status == "optimal" or not params):
            return p
        err = p.status
    raise SolverError(f"{what}: Clarabel failed ({err})")


class _Convex(Allocator):
    handles_constraints = True

    def __init__(self, *, bounds: tuple[float, float] = (0.0, 1.0), covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.bounds = bounds

    def _box(self, ctx: FitContext) -> tuple[np.ndarray, np.ndarray]:
        n = len(ctx.symbols)
        if ctx.constraints is not None:
            return ctx.constraints.bounds()
        return np.full(n, float(self.bounds[0])), np.full(n, float(self.bounds[1]))

    def _cvx_constraints(self, ctx: FitContext, w, k=None) -> list:
        if ctx.constraints is not None:
            return ctx.constraints.cvxpy(w, k)
        import cvxpy as cp

        one = 1.0 if k is None else k
        lo, hi = self._box(ctx)
        return [w >= lo * one, w <= hi * one, cp.sum(w) == ctx.budget * one]

    def _clean(self, ctx: FitContext, w: np.ndarray) -> np.ndarray:
        lo, hi = self._box(ctx)
        w = np.clip(w, lo, hi)
        w[np.abs(w) < 1e-12] = 0.0
        return w


class MinimumVariance(_Convex):
    """Minimum variance: ``min w' Sigma w`` under the mandate.

    Parameters
    ----------
    bounds : (float, float), default (0, 1)
        Per-asset bounds when no mandate is given (a mandate brings its own).
    solver : {"auto", "active_set", "cvxpy"}, default "auto"
        ``auto``: the active-set method when the rules are bounds + budget only,
        else cvxpy/Clarabel.
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator`.
    """

    uses_returns = False

    def __init__(self, *, bounds=(0.0, 1.0), solver: str = "auto", covariance=None, mandate=None):
        super().__init__(bounds=bounds, covariance=covariance, mandate=mandate)
        self.solver = solver

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        simple = ctx.constraints is None or ctx.constraints.is_box_budget()
        if self.solver == "active_set" or (self.solver == "auto" and simple):
            if not simple:
                raise ValueError("solver='active_set' handles per-asset bounds and the budget only")
            lo, hi = self._box(ctx)
            w, info = box_qp(ctx.cov, lo, hi, ctx.budget)
            self.diagnostics_.update(info)
            self._status = "optimal (active set)"
            return self._clean(ctx, w)
        import cvxpy as cp

        L, _ = _scaled_factor(ctx.cov)
        w = cp.Variable(len(ctx.symbols))
        prob = cp.Problem(cp.Minimize(cp.sum_squares(L.T @ w)), self._cvx_constraints(ctx, w))
        prob = _solve_cvxpy(prob, "minimum variance")
        self._status = f"{prob.status} (clarabel)"
        return self._clean(ctx, np.asarray(w.value, float))


class MaximumDiversification(_Convex):
    """Maximum diversification (Choueifaty & Coignard, 2008): maximize
    ``sum w_i sigma_i / sqrt(w' Sigma w)`` under the mandate (homogenized QP).

    Parameters as :class:`MinimumVariance` (without ``solver``).
    """

    uses_returns = False

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        import cvxpy as cp

        sd = np.sqrt(np.diag(ctx.cov))
        L, s = _scaled_factor(ctx.cov)
        n = len(ctx.symbols)
        y, k = cp.Variable(n), cp.Variable(nonneg=True)
        cons = self._cvx_constraints(ctx, y, k) + [(sd / np.sqrt(s)) @ y == 1.0]
        prob = cp.Problem(cp.Minimize(cp.sum_squares(L.T @ y)), cons)
        prob = _solve_cvxpy(prob, "maximum diversification")
        self._status = f"{prob.status} (clarabel)"
        w = np.asarray(y.value, float) / float(k.value)
        self.diversification_ratio_ = float(sd @ w / np.sqrt(w @ ctx.cov @ w))
        return self._clean(ctx, w)


def _expected_returns(spec, ctx: FitContext) -> np.ndarray:
    if spec is None:
        return ctx.returns.to_numpy(dtype=float).mean(axis=0)
    if hasattr(spec, "fit"):
        spec.fit(ctx.returns)
        mu = getattr(spec, "mu_", None)
        if mu is None:
            mu = getattr(spec, "location_")
        return np.asarray(pd.Series(mu, index=ctx.symbols) if not isinstance(mu, pd.Series) else
                          mu.reindex(ctx.symbols), float)
    s = pd.Series(spec, dtype=float)
    missing = [x for x in ctx.symbols if x not in s.index]
    if missing:
        raise ValueError(f"expected returns missing for {', '.join(missing[:5])}")
    return s.reindex(ctx.symbols).to_numpy()


def _periods_per_year(ctx: FitContext, override) -> float:
    if override:
        return float(override)
    from ..data.market import annualization

    return float(annualization(ctx.returns, (ctx.returns.attrs or {}).get("basis")))


class MeanVariance(_Convex):
    """Markowitz mean-variance under the mandate.

    Parameters
    ----------
    objective : {"max_sharpe", "target_volatility", "utility"}, default "max_sharpe"
        ``max_sharpe``: maximize ``(mu - rf)'w / sqrt(w'Sigma w)`` (homogenized);
        ``target_volatility``: maximize ``mu'w`` with annualized volatility at most
        ``target_volatility``; ``utility``: maximize ``mu'w - risk_aversion/2 w'Sigma w``.
    expected_returns : Series, estimator or None
        Per-period expected returns per symbol (default: sample mean of the window).
    risk_free : float, default 0
        Per-period risk-free rate (max Sharpe).
    target_volatility : float, optional
        Annualized, on the returns' basis (``periods_per_year`` from the returns'
        attrs, or the ``periods_per_year`` argument).
    risk_aversion : float, default 1
    bounds, covariance, mandate
        As :class:`MinimumVariance`.
    """

    def __init__(self, objective: str = "max_sharpe", *, expected_returns=None, risk_free: float = 0.0,
                 target_volatility: float | None = None, risk_aversion: float = 1.0,
                 periods_per_year: float | None = None, bounds=(0.0, 1.0), covariance=None, mandate=None):
        super().__init__(bounds=bounds, covariance=covariance, mandate=mandate)
        self.objective = objective
        self.expected_returns = expected_returns
        self.risk_free = risk_free
        self.target_volatility = target_volatility
        self.risk_aversion = risk_aversion
        self.periods_per_year = periods_per_year

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        import cvxpy as cp

        mu = _expected_returns(self.expected_returns, ctx)
        L, s = _scaled_factor(ctx.cov)
        n = len(ctx.symbols)
        if self.objective == "max_sharpe":
            ex = mu - self.risk_free
            if not (ex > 0).any():
                raise SolverError("max Sharpe needs at least one asset with expected return above the risk-free rate")
            y, k = cp.Variable(n), cp.Variable(nonneg=True)
            prob = cp.Problem(cp.Minimize(cp.sum_squares(L.T @ y)),
                              self._cvx_constraints(ctx, y, k) + [(ex / np.max(np.abs(ex))) @ y == 1.0])
            prob = _solve_cvxpy(prob, "max Sharpe")
            w = np.asarray(y.value, float) / float(k.value)
        elif self.objective == "target_volatility":
            if self.target_volatility is None:
                raise ValueError("objective='target_volatility' needs target_volatility=")
            ppy = _periods_per_year(ctx, self.periods_per_year)
            var_max = self.target_volatility ** 2 / ppy
            w_ = cp.Variable(n)
            prob = cp.Problem(cp.Maximize((mu / np.max(np.abs(mu))) @ w_), self._cvx_constraints(ctx, w_)
                              + [cp.sum_squares(L.T @ w_) <= var_max / s])
            prob = _solve_cvxpy(prob, "mean-variance at target volatility")
            w = np.asarray(w_.value, float)
        elif self.objective == "utility":
            w_ = cp.Variable(n)
            prob = cp.Problem(cp.Maximize(mu @ w_ / s - 0.5 * self.risk_aversion * cp.sum_squares(L.T @ w_)),
                              self._cvx_constraints(ctx, w_))
            prob = _solve_cvxpy(prob, "mean-variance utility")
            w = np.asarray(w_.value, float)
        else:
            raise ValueError(f"objective must be max_sharpe, target_volatility or utility; got {self.objective!r}")
        self._status = f"{prob.status} (clarabel)"
        self.expected_returns_ = pd.Series(mu, index=ctx.symbols)
        return self._clean(ctx, w)


class MeanCVaR(_Convex):
    """Minimum CVaR (or minimum CVaR at a target return) under the mandate.

    The Rockafellar & Uryasev (2000) linear program over the historical
    scenarios (rows of the returns window): minimize
    ``alpha + 1 / (T (1 - beta)) sum_t u_t`` with ``u_t >= -r_t'w - alpha``,
    ``u_t >= 0``; the optimum is the portfolio's CVaR at confidence ``beta``
    (loss per period, a fraction of capital). Solved by HiGHS.

    Parameters
    ----------
    beta : float, default 0.95
        Confidence level (PyPortfolioOpt's convention: the worst ``1 - beta`` of periods).
    target_return : float, optional
        Per-period minimum expected return ``mu'w`` (sample mean by default).
    formulation : {"dual", "primal"}, default "dual"
        ``dual``: scenario generation (only tail scenarios enter, see
        ``_scenario_generation``), each restricted LP solved through its dual
        (``n + 1`` equality rows, ``y_t`` in ``[0, 1 / (T (1 - beta))]``, the tail
        probabilities) by dual simplex, the weights read from its multipliers;
        the answer is certified (primal feasible, full CVaR equal to the LP
        optimum to 1e-10) or the primal LP is solved instead. ``primal`` solves
        the Rockafellar-Uryasev LP (``T`` rows) directly.
    method : str, default "highs-ds"
        HiGHS algorithm for the primal ("highs", "highs-ds", "highs-ipm").
    bounds, mandate
        As :class:`MinimumVariance` (covariance is only used for diagnostics).

    Attributes
    ----------
    cvar_ : float
        CVaR per period of the optimal weights (recomputed from the sorted
        scenario losses). ``var_`` : the VaR (``alpha``) at the optimum.
    """

    def __init__(self, beta: float = 0.95, *, target_return: float | None = None, expected_returns=None,
                 formulation: str = "dual", method: str = "highs-ds", bounds=(0.0, 1.0), covariance=None,
                 mandate=None):
        super().__init__(bounds=bounds, covariance=covariance, mandate=mandate)
        self.beta = beta
        self.target_return = target_return
        self.expected_returns = expected_returns
        self.method = method
        self.formulation = formulation

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        import scipy.sparse as sp

        if not 0.0 < self.beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {self.beta}")
        R = ctx.returns.to_numpy(dtype=float)
        T, n = R.shape
        cons = ctx.constraints
        extra = [] if cons is None else [r for r in cons.rules if r.kind in ("turnover", "gross")]
        N = n * (1 + len(extra))  # weights, then |w - w0| bounds per turnover/gross rule
        lo, hi = self._box(ctx)
        lo = np.concatenate([lo, np.zeros(N - n)])
        hi = np.concatenate([hi, np.full(N - n, np.inf)])
        if cons is not None:
            A, b = cons.linear("ineq")
            E, e = cons.linear("eq")
        else:
            A, b = np.zeros((0, n)), np.zeros(0)
            E, e = np.ones((1, n)), np.array([ctx.budget])
        a_rows = [sp.hstack([sp.csr_matrix(A), sp.csr_matrix((len(b), N - n))], format="csr")]
        b_rows = [b]
        I = sp.identity(n, format="csr")
        for k, r in enumerate(extra):
            cc = r.w0 if r.kind == "turnover" else np.zeros(n)
            pre, post = sp.csr_matrix((n, n * k)), sp.csr_matrix((n, N - n * (k + 2)))
            a_rows += [sp.hstack([I, pre, -I, post], format="csr"), sp.hstack([-I, pre, -I, post], format="csr"),
                       sp.csr_matrix(np.concatenate([np.zeros(n * (k + 1)), np.ones(n), np.zeros(N - n * (k + 2))])[None, :])]
            b_rows += [cc, -cc, np.array([r.limit])]
        if self.target_return is not None:
            mu = _expected_returns(self.expected_returns, ctx)
            a_rows.append(sp.csr_matrix(np.concatenate([-mu, np.zeros(N - n)])[None, :]))
            b_rows.append(np.array([-self.target_return]))
        A = sp.vstack(a_rows, format="csr")
        b = np.concatenate(b_rows)
        E = sp.hstack([sp.csr_matrix(E), sp.csr_matrix((len(e), N - n))], format="csr")
        c = 1.0 / (T * (1.0 - self.beta))
        w = None
        if self.formulation == "dual":
            w = self._scenario_generation(R, A, b, E, e, lo, hi, n, N, c)
        if w is None:
            w = self._solve_primal(R, A, b, E, e, lo, hi, n, N, c)
        loss = np.sort(-(R @ w))
        alpha = loss[int(np.ceil(T * self.beta)) - 1]
        self.var_ = float(alpha)
        self.cvar_ = float(alpha + c * np.maximum(loss - alpha, 0.0).sum())
        return self._clean(ctx, w)

    def _solve_dual(self, R, A, b, E, e, lo, hi, n, N, c):
        """The LP dual over the scenarios ``R`` (``n + 1`` rows; ``c = 1 / (T (1 - beta))`` of the
        full problem); returns ``(w, optimum, iterations)`` with ``w`` from its multipliers, or None."""
        import scipy.sparse as sp
        from scipy.optimize import linprog

        T = R.shape[0]
        fl, fh = np.isfinite(lo), np.isfinite(hi)
        Rx = sp.hstack([sp.csr_matrix(R), sp.csr_matrix((T, N - n))], format="csr")
        Ip = sp.identity(N, format="csc")[:, np.flatnonzero(fl)]
        Iq = sp.identity(N, format="csc")[:, np.flatnonzero(fh)]
        top = sp.hstack([-Rx.T, A.T, E.T, -Ip, Iq], format="csc")
        m, k = A.shape[0], E.shape[0]
        bottom = sp.hstack([sp.csr_matrix(np.ones((1, T))), sp.csr_matrix((1, m + k + Ip.shape[1] + Iq.shape[1]))],
                           format="csc")
        Aeq = sp.vstack([top, bottom], format="csc")
        beq = np.concatenate([np.zeros(N), [1.0]])
        cost = np.concatenate([np.zeros(T), b, e, -lo[fl], hi[fh]])
        bnd = np.empty((len(cost), 2))
        bnd[:T] = (0.0, c)
        bnd[T:T + m] = (0.0, np.inf)
        bnd[T + m:T + m + k] = (-np.inf, np.inf)
        bnd[T + m + k:] = (0.0, np.inf)
        opts = {"presolve": False, "simplex_dual_edge_weight_strategy": "devex",
                "primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
        res = linprog(cost, A_eq=Aeq, b_eq=beq, bounds=bnd, method="highs-ds", options=opts)
        if res.status != 0:
            return None
        x = np.asarray(res.eqlin.marginals[:N], float)
        w = x[:n]
        # certify primal feasibility of the weights read from the duals
        if (w < lo[:n] - 1e-8).any() or (w > hi[:n] + 1e-8).any() or np.abs(E @ x - e).max(initial=0) > 1e-8 \
                or (A @ x - b).max(initial=0) > 1e-8:
            return None
        return w, float(-res.fun), int(res.nit)

    def _scenario_generation(self, R, A, b, E, e, lo, hi, n, N, c):
        """Exact min CVaR by scenario (constraint) generation on the LP.

        Only scenarios in the tail matter at the optimum (``u_t > 0`` for about
        ``T (1 - beta)`` of them). Solve the LP restricted to a scenario set ``S``
        (initially the worst ``2 T (1 - beta)`` scenarios of the equal-weight and
        of the minimum-variance book; ``|S| > T (1 - beta)`` keeps it bounded),
        each time by its dual (``n + 1`` rows); with ``alpha`` an optimal VaR for
        the restricted solution ``w``, every scenario outside ``S`` with loss
        above ``alpha`` is added. When none is left the restricted optimum is
        feasible for the full LP with the same objective, hence optimal (and
        certified: the full CVaR of ``w`` equals the restricted LP's value).
        """
        T = R.shape[0]
        m = T * (1.0 - self.beta)
        kk = int(np.ceil(m - 1e-9))
        k0 = min(T, int(np.ceil(2 * m)) + 1)
        starts = [-R.mean(axis=1)]
        try:  # the minimum-variance book under the bounds is close to the CVaR optimum
            C = np.cov(R, rowvar=False)
            w_mv, _ = box_qp(C, np.where(np.isfinite(lo[:n]), lo[:n], 0.0), np.where(np.isfinite(hi[:n]), hi[:n], 1.0),
                             float(e[0]) if len(e) == 1 else 1.0)
            starts.append(-(R @ w_mv))
        except Exception:  # pragma: no cover - only a starting guess
            pass
        S = set()
        for loss0 in starts:
            S.update(np.argpartition(loss0, T - k0)[T - k0:].tolist())
        S = np.array(sorted(S))
        lp_its, rounds = 0, 0
        for rounds in range(1, 101):
            out = self._solve_dual(R[S], A, b, E, e, lo, hi, n, N, c)
            if out is None:
                return None
            w, obj, nit = out
            lp_its += nit
            L = -(R @ w)
            LS = L[S]
            alpha = np.partition(LS, len(LS) - kk)[len(LS) - kk] if len(S) >= kk else -np.inf
            outside = np.ones(T, dtype=bool)
            outside[S] = False
            viol = np.flatnonzero(outside & (L > alpha + 1e-13))
            if not len(viol):
                loss = np.sort(L)
                a_full = loss[int(np.ceil(T * self.beta)) - 1]
                cvar = a_full + c * np.maximum(loss - a_full, 0.0).sum()
                if abs(cvar - obj) > 1e-10 * max(1.0, abs(cvar)):
                    return None
                self.diagnostics_.update({"lp_iterations": lp_its, "formulation": "dual",
                                          "method": "highs-ds", "scenario_rounds": rounds,
                                          "scenarios_used": int(len(S))})
                self._status = "optimal (HiGHS, LP dual with scenario generation)"
                return w
            S = np.union1d(S, viol)
        return None

    def _solve_primal(self, R, A, b, E, e, lo, hi, n, N, c):
        import scipy.sparse as sp
        from scipy.optimize import linprog

        T = R.shape[0]
        nv = N + 1 + T
        cost = np.zeros(nv)
        cost[N] = 1.0
        cost[N + 1:] = c
        scen = sp.hstack([sp.csr_matrix(-R), sp.csr_matrix((T, N - n)), sp.csr_matrix(-np.ones((T, 1))),
                          -sp.identity(T, format="csr")], format="csr")
        A_ub = sp.vstack([scen, sp.hstack([A, sp.csr_matrix((A.shape[0], 1 + T))])], format="csr")
        b_ub = np.concatenate([np.zeros(T), b])
        A_eq = sp.hstack([E, sp.csr_matrix((E.shape[0], 1 + T))], format="csr") if E.shape[0] else None
        bnd = np.empty((nv, 2))
        bnd[:N, 0], bnd[:N, 1] = lo, hi
        bnd[N] = (-np.inf, np.inf)
        bnd[N + 1:] = (0.0, np.inf)
        res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=e if E.shape[0] else None, bounds=bnd,
                      method=self.method, options={"primal_feasibility_tolerance": 1e-10,
                                                   "dual_feasibility_tolerance": 1e-10})
        if res.status != 0:
            raise SolverError(f"mean-CVaR LP: {res.message}")
        self.diagnostics_.update({"lp_iterations": int(getattr(res, "nit", 0)), "formulation": "primal",
                                  "method": self.method})
        self._status = f"optimal (HiGHS {self.method})"
        return np.asarray(res.x[:n], float)
