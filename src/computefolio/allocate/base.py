"""The allocator contract shared by every portfolio-construction method.

Every allocator is configured in ``__init__``, learns in
:meth:`Allocator.fit` and exposes its results in attributes with a trailing
underscore, in the scikit-learn manner:

``weights_`` : pandas.Series
    Fraction of capital per symbol, over *every* column of the returns passed
    to ``fit`` (excluded symbols get exactly 0). Sums to the invested fraction
    (1 without a mandate; ``min(1 - cash_min, gross_leverage_max)`` under a
    long-only mandate). The remainder is cash.
``risk_contributions_`` : pandas.Series
    Euler risk contributions as *shares of portfolio variance*:
    ``w_i (Sigma w)_i / (w' Sigma w)``; they sum to 1 (0 for excluded symbols).
``variance_`` : float
    Portfolio variance per period of the returns (not annualized).
``excluded_`` : dict[str, str]
    Symbol -> reason for every symbol held at 0 before the allocator ran
    (NaN in the window, zero variance, fixed at 0 by the mandate). Never silent.
``status_`` : str
    How the weights were obtained, starting with one of four phrases:

    * ``"solved exactly"``: the allocator's own problem, no mandate rule at its limit
      (risk budgets met exactly, caps not touched);
    * ``"solved with binding rules: ..."``: optimal under the mandate with the named
      rules at their limits (for risk budgets: each rule's effect on the shares);
    * ``"projected onto the mandate: ..."``: heuristic weights moved to the closest
      compliant book (Euclidean projection), with the reason;
    * ``"fell back: ..."``: the first method failed (why) and another answered.

    The solver follows in parentheses. ``status_kind_`` holds the phrase's key
    (``"exact"``, ``"binding"``, ``"projected"``, ``"fallback"``), ``binding_``
    the binding rules, ``cash_note_`` what is left in cash beyond the mandate's floor
    when the rules do not let the book be fully invested (empty otherwise);
    ``diagnostics_`` holds solver details.
``breaches_`` : list[str]
    Mandate rules that the final weights break (empty when a mandate holds).

Covariance
----------
An allocator uses a covariance *estimator*: any object with ``fit(returns)``
that sets ``covariance_`` (dates x symbols in, symbols x symbols out, per
period), e.g. any estimator of :mod:`computefolio.risk.covariance`. Without
one, an allocator takes the unbiased sample covariance (``ddof=1``) of the
NaN-free returns it fits on (symbols with NaN are excluded first) by
:func:`sample_covariance`, one BLAS ``syrk``: the same numbers as
``computefolio.risk.covariance.SampleCovariance`` (tested) without building an
estimator object at every fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._params import ParamsMixin
from ..errors import DataError, InfeasibleError, SolverError

__all__ = ["Allocator", "FitContext", "risk_contributions", "sample_covariance"]


def sample_covariance(x: np.ndarray) -> np.ndarray:
    """Unbiased sample covariance (``ddof=1``) of a ``T x N`` float array without NaN.

    One symmetric rank-k BLAS update on the demeaned data (NumPy routes
    ``A.T @ A`` to ``syrk``); the result is exactly symmetric and equals
    ``numpy.cov(x, rowvar=False)`` to rounding.
    """
    x = np.asarray(x, dtype=float)
    t = x.shape[0]
    if t < 2:
        raise DataError(f"covariance needs at least 2 observations, got {t}")
    xc = x - x.mean(axis=0)
    c = xc.T @ xc  # NumPy dispatches A'A to BLAS syrk and fills both triangles: exactly symmetric
    c /= t - 1
    # c is exactly symmetric: c.T holds the same values in the Fortran order of a DataFrame's values
    # (an estimator's ``covariance_``); the layout picks the BLAS kernel of later products such as
    # ``cov @ w``, so they keep their last bit whether the covariance came from here or an estimator
    return c.T


def labels(index) -> list[str]:
    """An index's labels as ``str`` (one conversion of the whole index, not one per element)."""
    out = index.tolist()
    return out if all(type(k) is str for k in out) else [str(k) for k in out]


def as_mapping(x) -> dict:
    """Symbol (str) -> float from a Series, mapping or None (a Series' index is read once, not
    reindexed: cheaper than pandas alignment on string indexes)."""
    if x is None:
        return {}
    if isinstance(x, pd.Series):
        return dict(zip(labels(x.index), x.to_numpy(dtype=float)))
    return {str(k): float(v) for k, v in dict(x).items()}


def aligned(d: dict, symbols, fill: float = 0.0) -> np.ndarray:
    """Values of ``d`` over ``symbols`` (``fill`` where absent or NaN)."""
    v = np.array([d.get(s, fill) for s in symbols], dtype=float)
    v[np.isnan(v)] = fill
    return v


def estimate_covariance(est, x: np.ndarray, frame=None) -> np.ndarray:
    """Covariance of NaN-free returns ``x`` (T x n) by a :mod:`computefolio.risk.covariance` estimator.

    Estimators of that module compute in ``_estimate(x, mask, all_obs)``; on complete data
    ``fit`` only wraps it in pandas, so it is called directly (same numbers, tested). Any
    other estimator is fitted on ``frame`` (a DataFrame of ``x``).
    """
    if hasattr(est, "_estimate") and getattr(est, "nan_policy", None) in ("pairwise", "complete", "raise"):
        c, _ = est._estimate(x, np.ones(x.shape, dtype=bool), True)
        return np.asarray(c, dtype=float)
    if hasattr(est, "get_params") and hasattr(est, "set_params"):
        try:
            from sklearn.base import clone

            est = clone(est)
        except Exception:
            pass
    est.fit(frame)
    return np.asarray(est.covariance_, dtype=float)


def risk_contributions(w: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Shares of portfolio variance ``w_i (Sigma w)_i / (w' Sigma w)`` (sum to 1)."""
    sw = cov @ w
    var = float(w @ sw)
    if var <= 0:
        return np.zeros_like(w)
    return w * sw / var


@dataclass
class FitContext:
    """Everything an allocator's ``_allocate`` needs, over the *kept* symbols only.

    Attributes
    ----------
    symbols : list[str]
        Kept symbols (in the order of the returns' columns).
    returns : pandas.DataFrame
        Dates x kept symbols, no NaN.
    cov : numpy.ndarray
        ``n x n`` covariance per period.
    budget : float
        Invested fraction the weights must sum to.
    constraints : Constraints or None
        Compiled mandate rules over the kept symbols (see :mod:`.mandate`).
    universe, date, current_weights, adv
        As passed to ``fit`` (current weights and ADV reindexed to ``symbols``).
    """

    symbols: list[str]
    returns: Any  # pandas.DataFrame, or a zero-argument function that builds it on first use
    cov: np.ndarray
    budget: float = 1.0
    constraints: Any = None
    universe: Any = None
    date: Any = None
    current_weights: np.ndarray | None = None
    adv: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __getattribute__(self, name):
        v = object.__getattribute__(self, name)
        if name == "returns" and callable(v) and not isinstance(v, pd.DataFrame):
            v = v()
            object.__setattr__(self, "returns", v)
        return v


class Allocator(ParamsMixin):
    """Base class: fit on returns, get ``weights_`` that obey the mandate.

    Parameters
    ----------
    covariance : estimator, optional
        Object with ``fit(returns)`` setting ``covariance_``, or a fixed
        covariance (DataFrame over the symbols, or array). Default: the sample
        covariance (:func:`sample_covariance`).
    mandate : Mandate or str or path, optional
        Rules the weights must obey (see :mod:`computefolio.allocate.mandate`).
        Convex allocators take them as constraints; heuristic ones are
        projected onto them (:func:`computefolio.allocate.projection.project`).

    Notes
    -----
    Subclasses implement ``_allocate(ctx) -> numpy.ndarray`` (weights over
    ``ctx.symbols``). A subclass that handles the mandate itself sets
    ``handles_constraints = True``; otherwise the base class projects the
    result onto the rules (exact for box, group, budget, cash, turnover and
    compute-exposure rules: it is the Euclidean projection, a small QP).
    """

    handles_constraints: bool = False
    #: Whether ``_allocate`` reads ``ctx.returns`` (beyond the covariance); group budgets skip
    #: building a returns frame per group for allocators that do not.
    uses_returns: bool = True

    def __init__(self, *, covariance=None, mandate=None):
        self.covariance = covariance
        self.mandate = mandate

    # ------------------------------------------------------------------ API
    def fit(self, returns: pd.DataFrame, *, universe=None, current_weights=None, adv=None,
            date=None, capital: float | None = None) -> "Allocator":
        """Compute weights from returns.

        Parameters
        ----------
        returns : pandas.DataFrame
            Dates x symbols, simple returns per period (e.g. from
            ``MarketData.returns(basis)``). A symbol with any NaN in the window
            (too little history) is excluded with weight 0 and reported in
            ``excluded_``.
        universe : Universe, optional
            Taxonomy for group rules, risk budgets and benchmarks (needed when
            the mandate has group, compute-exposure or benchmark rules).
        current_weights : pandas.Series, optional
            Current book, fraction of capital per symbol (turnover and
            liquidity rules; missing symbols count as 0).
        adv : pandas.Series, optional
            Average daily traded value per symbol in the book's currency
            (liquidity rules).
        date : date-like, optional
            As-of date of the classification (default: the last date of ``returns``).
        capital : float, optional
            Book value today (currency). Rules in currency (liquidity caps against
            ADV) are sized on it; default: the mandate's ``capital``. A backtest
            passes the drifted book value at each rebalance.

        Returns
        -------
        self
        """
        self._capital = capital
        ctx = self._prepare(returns, universe=universe, current_weights=current_weights, adv=adv, date=date)
        if not ctx.symbols:
            raise DataError(f"{type(self).__name__}: no asset left to allocate to ("
                            + "; ".join(f"{k}: {v}" for k, v in list(self.excluded_.items())[:5])
                            + (" ..." if len(self.excluded_) > 5 else "") + ")")
        try:
            w = np.asarray(self._allocate(ctx), dtype=float)
        except (SolverError, InfeasibleError):
            if ctx.constraints is None or not self._fit_budget(ctx, force=True):
                raise
            w = np.asarray(self._allocate(ctx), dtype=float)
        if ctx.constraints is not None:
            cons = ctx.constraints
            if self.handles_constraints and self.status_kind_ == "exact" and not self.binding_:
                act = cons.active(w)
                if act:
                    self._set_status("binding", binding=act)
            if not self.handles_constraints:
                from .projection import project

                w0 = w.copy()
                w = project(w, cons)
                dist = float(np.linalg.norm(w - w0))
                self.diagnostics_["projection_distance"] = dist
                if dist > 1e-12:
                    self._set_status("projected", reason=f"{type(self).__name__} has no constrained form "
                                                         f"(moved {0.5 * np.abs(w - w0).sum():.2%} of capital)")
            bad = cons.breaches(w)
            if bad:
                from .projection import project

                cons.check_feasible()  # infeasible rules raise InfeasibleError naming them
                w = project(w, cons)
                self._set_status("fallback", reason=f"{type(self).__name__}'s answer broke {'; '.join(bad)}; "
                                                    "projected onto the mandate")
        self._finish(returns, ctx, w, self._status)
        return self

    def _under_rules(self, ctx: FitContext, w_box: np.ndarray, what: str) -> np.ndarray:
        """A heuristic's weights under the mandate, keeping the heuristic's logic.

        ``w_box`` already meets the per-asset bounds and the budget by the allocator's own
        rule (capped bisection, proportional water-filling). When another rule (group limits,
        compute exposure) still breaks, the book is the constrained risk-budgeting portfolio
        (Richard & Roncalli 2019) whose budgets are ``w_box``'s own risk contributions: the
        heuristic's distribution of risk, kept as far as the rules allow. Turnover, and
        mandates that allow shorts, end in the Euclidean projection (status ``projected``).
        """
        self._solver = what
        cons = ctx.constraints
        if cons is None or not cons.breaches(w_box, tol=1e-12):
            return w_box
        if not cons.homogeneous_supported():
            return self._project(ctx, w_box, "the mandate allows shorts")
        from .riskparity import risk_budget_under

        rc = risk_contributions(w_box, ctx.cov)
        beta = np.maximum(rc, 1e-9 * max(float(rc.max()), 1e-300))
        start = np.maximum(w_box, 1e-12 * ctx.budget)
        w, rep = risk_budget_under(ctx.cov, beta / beta.sum(), cons, start=start)
        self._solver = (f"{what}; other rules by constrained risk budgeting with its own risk contributions "
                        f"as budgets ({rep['info']['method']})")
        self._effects = (ctx.symbols, rep["effects"])
        self._set_status("binding", binding=rep["binding"] or cons.active(w))
        if rep["unsupported"]:
            return self._project(ctx, w, "; ".join(f"{r.name} ({r.detail}) binds" for r in rep["unsupported"]))
        return w

    def _box_shaper(self, ctx: FitContext):
        """A function ``(lo, hi) -> weights`` summing to ``ctx.budget`` within per-asset bounds, by
        this allocator's own logic, reusing what one fit computed (group budgets call it for
        every group scale they try). The default runs ``_allocate`` under a box-and-budget
        mandate; allocators override it with their precomputation."""
        from .mandate import Constraints, Rule

        n = len(ctx.symbols)

        def solve(lo, hi):
            cons = Constraints(symbols=list(ctx.symbols), name="group bounds",
                               rules=[Rule.box("bounds", lo, hi), Rule.eq("budget", np.ones(n), ctx.budget)])
            sub = FitContext(symbols=ctx.symbols, returns=ctx.returns, cov=ctx.cov, budget=ctx.budget,
                             constraints=cons, universe=ctx.universe, date=ctx.date)
            self.diagnostics_ = {}
            self.status_kind_, self.binding_, self._solver, self._reason, self.cash_note_ = "exact", [], "", "", ""
            w = np.asarray(self._allocate(sub), float)
            if not self.handles_constraints:
                from .projection import project_box_budget

                w = project_box_budget(w, lo, hi, ctx.budget)
            return np.clip(w, lo, hi)

        return solve

    def _project(self, ctx: FitContext, w: np.ndarray, reason: str) -> np.ndarray:
        """The closest book to ``w`` (Euclidean) meeting every rule, recorded as ``projected``."""
        from .projection import project

        x = project(np.asarray(w, float), ctx.constraints)
        self.diagnostics_["projection_distance"] = float(np.linalg.norm(x - w))
        if np.abs(x - w).max() > 1e-12:
            self._set_status("projected", reason=f"{reason} (moved {0.5 * np.abs(x - w).sum():.2%} of capital)")
        return x

    # ---------------------------------------------------------- status
    def _set_status(self, kind: str, *, binding=None, solver: str | None = None, reason: str | None = None) -> None:
        """Record how the weights were obtained (see ``status_`` in the module docstring)."""
        self.status_kind_ = kind
        if binding is not None:
            self.binding_ = list(binding)
        if solver is not None:
            self._solver = solver
        if reason is not None:
            self._reason = reason

    @property
    def _status(self) -> str:
        kind = getattr(self, "status_kind_", "exact")
        solver = getattr(self, "_solver", "")
        tail = f" ({solver})" if solver else ""
        if kind == "exact":
            text = "solved exactly"
        elif kind == "binding":
            text = "solved with binding rules: " + "; ".join(getattr(self, "binding_", []) or ["?"])
        elif kind == "projected":
            text = "projected onto the mandate: " + getattr(self, "_reason", "")
        else:
            text = "fell back: " + getattr(self, "_reason", "")
        note = getattr(self, "cash_note_", "")
        return text + tail + (f"; {note}" if note else "")

    @_status.setter
    def _status(self, solver: str) -> None:
        # allocators written before the status taxonomy set a solver description
        self._solver = solver

    def _fit_budget(self, ctx: FitContext, force: bool = False) -> bool:
        """Remainder to cash: when the rules cannot hold with the book invested at the mandate's
        fraction (e.g. every asset at its cap), invest the most they allow and say so.

        Returns True when the budget was lowered (``ctx`` updated), False when it stands.
        Raises :class:`InfeasibleError` naming the conflicting rules when no book meets them.
        """
        cons = ctx.constraints
        B = cons.budget
        if B is None:
            return False
        if not force:
            lo, hi = cons.bounds()
            if np.isfinite(hi).all() and hi.sum() >= B - 1e-12:
                return False
            if not np.isfinite(hi).all():
                return False
        best = cons.max_investable()
        if best is None or best <= 1e-9:
            cons.check_feasible()
            return False
        if best >= B - 1e-9:
            return False
        lo, hi = cons.bounds()
        if not (np.isfinite(hi).all() and hi.sum() <= best + 1e-12):
            # the most a general rule allows is a single point of the feasible set, where some
            # assets must be at 0; a hair less keeps every asset's weight positive (risk budgets)
            best *= 1.0 - 1e-6
        ctx.budget = best
        ctx.constraints = cons.with_budget(best, f"weights sum to {best:.6g}: the most the rules allow "
                                                 f"(the mandate's fraction is {B:g}; the rest is cash)")
        self.cash_note_ = (f"the rules allow at most {best:.2%} invested (not {B:.2%}): "
                           f"{B - best:.2%} of capital left in cash beyond the mandate's floor")
        self.diagnostics_["remainder_to_cash"] = float(B - best)
        return True

    def _allocate(self, ctx: FitContext) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ internals
    def _prepare(self, returns, *, universe, current_weights, adv, date) -> FitContext:
        if not isinstance(returns, pd.DataFrame):
            raise DataError(f"returns must be a pandas DataFrame (dates x symbols), got {type(returns).__name__}")
        if returns.columns.duplicated().any():
            dup = returns.columns[returns.columns.duplicated()].tolist()
            raise DataError(f"returns have duplicated symbols: {dup}")
        if len(returns) < 2:
            raise DataError(f"returns need at least 2 dates, got {len(returns)}")
        self.diagnostics_: dict = {}
        self._effects = (None, {})
        self.status_kind_, self.binding_, self._solver, self._reason, self.cash_note_ = "exact", [], "", "", ""
        excluded: dict[str, str] = {}
        x = returns.to_numpy(dtype=float)
        cols = labels(returns.columns)
        bad = ~np.isfinite(x).all(axis=0)
        flat = (x[0] == x).all(axis=0)
        keep = []
        for j, s in enumerate(cols):
            if bad[j]:
                nmiss = int(np.isnan(x[:, j]).sum())
                excluded[s] = (f"insufficient history: {nmiss} of {len(returns)} returns missing" if nmiss
                               else "non-finite returns")
            elif flat[j]:
                excluded[s] = "zero variance"
            else:
                keep.append(j)
        if date is None:
            date = returns.index[-1] if isinstance(returns.index, pd.DatetimeIndex) else None
        cw = None if current_weights is None else as_mapping(current_weights)
        advs = None if adv is None else as_mapping(adv)

        mandate = self._mandate()
        budget = 1.0
        constraints = None
        if mandate is not None:
            cand = [cols[j] for j in keep]
            fixed0 = mandate.fixed_zero(cand, universe=universe, date=date)
            for s, why in fixed0.items():
                excluded[s] = why
            keep = [j for j in keep if cols[j] not in fixed0]
            kept = [cols[j] for j in keep]
            budget = mandate.invested_fraction()
            ks = set(kept)
            held_out = {s: v for s, v in (cw or {}).items() if s not in ks}
            # feasibility is proven by the solution itself; the LP runs only when a solver fails
            constraints = mandate.constraints(
                kept, universe=universe, date=date, check=False, held_out=held_out,
                sale_margin=float(getattr(self, "sale_margin", 0.0) or 0.0),
                current_weights=None if cw is None else aligned(cw, kept),
                adv=None if advs is None else aligned(advs, kept, np.nan))
            if constraints.skipped:
                self.diagnostics_["skipped_rules"] = list(constraints.skipped)
        kept = [cols[j] for j in keep]
        if len(keep) == len(cols) and list(returns.columns) == kept:
            sub = returns
        else:
            def sub(returns=returns, keep=keep, kept=kept):  # built when an allocator reads it
                out = returns.iloc[:, keep]
                out.columns = kept
                return out
        xk = x[:, keep] if len(keep) != len(cols) else x
        cov = self._covariance(sub, xk) if kept else np.zeros((0, 0))
        self.excluded_ = excluded
        ctx = FitContext(extra={"columns": cols, "x": xk}, symbols=kept, returns=sub, cov=cov, budget=budget,
                         constraints=constraints, universe=universe, date=date,
                         current_weights=None if cw is None else aligned(cw, kept),
                         adv=None if advs is None else aligned(advs, kept, np.nan))
        if constraints is not None and kept:
            self._fit_budget(ctx)
        return ctx

    def _mandate(self):
        m = self.mandate
        if m is None:
            return None
        from .mandate import Mandate, load_mandate

        m = m if isinstance(m, Mandate) else load_mandate(m)
        cap = getattr(self, "_capital", None)
        if cap is not None and cap > 0 and cap != m.capital:
            m = m.model_copy(update={"capital": float(cap)})
        return m

    def _covariance(self, sub, x: np.ndarray | None = None) -> np.ndarray:
        """Covariance over the kept symbols; ``sub`` is their returns frame (or a function that
        builds it: only estimators outside :mod:`computefolio.risk.covariance` need it), ``x`` its
        values."""
        est = self.covariance

        def frame():
            return sub() if callable(sub) and not isinstance(sub, pd.DataFrame) else sub

        if x is None:
            x = frame().to_numpy(dtype=float)
        n = x.shape[1]
        if est is None:  # default: ``sub`` holds no NaN (``_prepare`` excluded those symbols)
            c = sample_covariance(x)
        elif isinstance(est, (pd.DataFrame, np.ndarray)):
            cols = frame().columns if isinstance(est, pd.DataFrame) else None
            c = pd.DataFrame(est).reindex(index=cols, columns=cols) if isinstance(est, pd.DataFrame) \
                else np.asarray(est)
            c = np.asarray(c, dtype=float)
        elif hasattr(est, "_estimate"):
            c = estimate_covariance(est, x, None)
        else:
            c = estimate_covariance(est, x, frame())
        if c.shape != (n, n) or not np.isfinite(c).all():
            raise DataError(f"covariance estimator returned shape {c.shape} or non-finite values "
                            f"for {n} assets")
        if est is None:
            return c  # exactly symmetric by construction
        return 0.5 * (c + c.T)

    def _finish(self, returns: pd.DataFrame, ctx: FitContext, w: np.ndarray, status: str) -> None:
        cols = ctx.extra.get("columns") or [str(c) for c in returns.columns]
        pos = {c: i for i, c in enumerate(cols)}
        ix = np.fromiter((pos[s] for s in ctx.symbols), dtype=np.int64, count=len(ctx.symbols))
        full = np.zeros(len(cols))
        rc = np.zeros(len(cols))
        if ctx.symbols:
            sw = ctx.cov @ w
            self.variance_ = float(w @ sw)
            full[ix] = w
            rc[ix] = w * sw / self.variance_ if self.variance_ > 0 else 0.0
        else:
            self.variance_ = 0.0
        index = pd.Index(cols, name="symbol")
        self.weights_ = pd.Series(full, index=index, name="weight")
        self.risk_contributions_ = pd.Series(rc, index=index, name="risk_contribution")
        self.status_ = status
        self.symbols_ = list(ctx.symbols)
        self._cov = (ctx.cov, list(ctx.symbols))
        self.__dict__.pop("_covariance_frame", None)
        self.breaches_ = []
        if ctx.constraints is not None and ctx.symbols:
            self.breaches_ = ctx.constraints.breaches(w)
        self.fit_context_ = ctx

    # -------------------------------------------------------------- helpers
    @property
    def covariance_(self) -> pd.DataFrame:
        """The covariance the weights were computed with (kept symbols x kept symbols, per period)."""
        got = self.__dict__.get("_covariance_frame")
        if got is None:
            if "_cov" not in self.__dict__:
                raise AttributeError("covariance_ (the allocator is not fitted)")
            c, syms = self._cov
            got = self.__dict__["_covariance_frame"] = pd.DataFrame(c, index=syms, columns=syms)
        return got

    @property
    def risk_effects_(self) -> dict:
        """Rule -> per-symbol change of risk share it causes (constrained risk budgeting's KKT
        decomposition ``RC_i - b_i = sum over rules``); empty when no rule binds."""
        syms, eff = getattr(self, "_effects", (None, {}))
        return {k: pd.Series(v, index=syms, name="risk_share_effect") for k, v in eff.items()}

    @property
    def volatility_(self) -> float:
        """Portfolio volatility per period of the returns (sqrt of ``variance_``)."""
        return float(np.sqrt(max(self.variance_, 0.0)))

