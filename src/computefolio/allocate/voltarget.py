"""Volatility-target overlay: scale a book to a target annualized volatility, within the mandate.

``scale = target / sigma_ann`` where ``sigma_ann`` is the book's volatility from the chosen
covariance estimator (default: the sample covariance of the held assets over the returns
window), annualized with the periods per year of the returns' basis (252 on the session
basis, 365 on the calendar basis; from ``returns.attrs["periods_per_year"]``, or
``basis=``). The scaled weights are ``scale * w``; the remainder ``1 - sum(scale * w)`` is
cash (``cash_``).

Under a mandate (given to the constructor, or per call to :meth:`VolatilityTarget.apply`,
which a backtest's policy does at every rebalance) the scale is restricted to the
interval ``[s_lo, s_hi]`` where *every* rule holds for ``s * w``:

* cash floor: ``s sum(w) <= 1 - cash_min`` (and a long-only gross leverage cap);
* asset bounds: ``lo_i <= s w_i <= hi_i`` (caps, floors, overrides);
* group limits: ``min_g <= s (M'w)_g <= max_g`` (look-through, weighted membership);
* leverage: ``s sum|w| <= leverage_max`` (the overlay's own) and ``gross_leverage_max``;
* turnover against the *actual* current book ``w0``: ``sum_i |s w_i - w0_i| <= 2 turnover_max``
  (convex in ``s``: an interval found exactly from its breakpoints ``w0_i / w_i``);
* liquidity: the ADV trade caps ``|s w_i - w0_i| <= f ADV_i / capital`` and
  days-to-liquidate caps, as the mandate defines them;
* the compute-exposure floor is a ratio: scaling does not change it.

The scale is the target's, clipped into the interval; ``cap_`` names the rule that bound
it (``"target"`` when none did) and ``volatility_after_`` is the achieved volatility. When
no scale meets every rule -- a drifted book the allocator could not cure in one trade, e.g.
a sleeve below its minimum after a fall while the trade caps limit buying -- the mandate's
own precedence applies: turnover gives way first (as in the allocator's fallback), and a
passive breach moves toward compliance as far as the liquidity trade caps allow (as
:meth:`~computefolio.allocate.mandate.Mandate.constraints` does for positions). What gave
way is in ``relaxed_``, the rules the scaled book still breaks in ``breaches_``. Each call
appends a record to ``log_`` (date, target, volatility before/after, scale, bound,
invested, relaxed rules).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Allocator, sample_covariance

__all__ = ["VolatilityTarget", "scale_interval"]


def _turnover_interval(w: np.ndarray, w0: np.ndarray, limit: float) -> tuple[float, float]:
    """``{s >= 0 : sum_i |s w_i - w0_i| <= limit}`` (an interval: the function is convex in ``s``)."""
    f = lambda s: float(np.abs(s * w - w0).sum())  # noqa: E731
    nz = np.abs(w) > 0
    bps = np.unique(np.concatenate([[0.0], (w0[nz] / w[nz])]))
    bps = bps[bps >= 0]
    vals = np.array([f(s) for s in bps])
    k = int(np.argmin(vals))
    if vals[k] > limit:
        return np.inf, -np.inf  # empty
    # right end: f is linear between breakpoints and grows without bound beyond the last one
    lo_end, hi_end = bps[k], bps[k]
    j = k
    while j + 1 < len(bps) and vals[j + 1] <= limit:
        j += 1
    if j + 1 < len(bps):
        a, b, fa, fb = bps[j], bps[j + 1], vals[j], vals[j + 1]
        hi_end = a + (limit - fa) * (b - a) / (fb - fa) if fb != fa else b
    else:
        slope = float(np.abs(w).sum())
        hi_end = bps[j] + ((limit - vals[j]) / slope if slope > 0 else np.inf)
    j = k
    while j - 1 >= 0 and vals[j - 1] <= limit:
        j -= 1
    if j - 1 >= 0:
        a, b, fa, fb = bps[j - 1], bps[j], vals[j - 1], vals[j]
        lo_end = b - (limit - fb) * (b - a) / (fa - fb) if fa != fb else a
    else:
        lo_end = 0.0
    return float(lo_end), float(hi_end)


def scale_interval(w: np.ndarray, cons, *, cash_max: float | None = None) -> dict:
    """For each rule of ``cons`` (:class:`~computefolio.allocate.mandate.Constraints` over the
    symbols of ``w``), the interval of scales ``s >= 0`` for which ``s w`` meets it.

    The budget rule is not a rule here (the overlay sets the invested fraction); the cash floor
    is ``cash_max``, the largest invested fraction. Returns rule name -> ``(lo, hi)`` (an empty
    interval has ``lo > hi``).
    """
    w = np.asarray(w, float)
    out: dict = {}
    tb, tr = 1e-12, 1e-10  # a bound holds to 1e-12, a linear rule to 1e-10 (rounding, not room)

    def put(name, lo, hi):
        a, b = out.get(name, (0.0, np.inf))
        out[name] = (max(a, lo), min(b, hi))

    if cash_max is not None and w.sum() > 0:
        put("cash_min", 0.0, cash_max / float(w.sum()))
    for r in cons.rules:
        if r.name == "budget":
            continue
        if r.kind == "box":
            with np.errstate(divide="ignore", invalid="ignore"):
                pos, neg, zero = w > 0, w < 0, w == 0
                fl, fh = np.isfinite(r.lo), np.isfinite(r.hi)
                a = np.concatenate([np.where(fl & pos, (r.lo - tb) / np.where(pos, w, 1.0), 0.0)[pos],
                                    np.where(fh & neg, (r.hi + tb) / np.where(neg, w, 1.0), 0.0)[neg], [0.0]])
                b = np.concatenate([np.where(fh & pos, (r.hi + tb) / np.where(pos, w, 1.0), np.inf)[pos],
                                    np.where(fl & neg, (r.lo - tb) / np.where(neg, w, 1.0), np.inf)[neg], [np.inf]])
            put(r.name, float(a.max()), float(b.min()))
            if ((r.lo[zero] > tb) | (r.hi[zero] < -tb)).any():
                put(r.name, np.inf, -np.inf)
        elif r.kind in ("ineq", "eq"):
            a = r.A @ w
            for k in range(len(a)):
                bb = r.b[k]
                if r.kind == "eq":
                    if abs(a[k]) > 0:
                        put(r.name, bb / a[k], bb / a[k])
                    elif abs(bb) > 1e-12:
                        put(r.name, np.inf, -np.inf)
                elif a[k] > 0:
                    put(r.name, 0.0, (bb + tr) / a[k])
                elif a[k] < 0:
                    put(r.name, (bb + tr) / a[k], np.inf)
                elif bb < -tr:
                    put(r.name, np.inf, -np.inf)
        elif r.kind == "turnover":
            put(r.name, *_turnover_interval(w, r.w0, r.limit + tr))
        elif r.kind == "gross":
            g = float(np.abs(w).sum())
            put(r.name, 0.0, r.limit / g if g > 0 else np.inf)
    return out


_WINDOW: list = [None, None]
_WINDOW_COV: dict = {}
_STATIC: dict = {}


def _window(returns: pd.DataFrame):
    """``(column position by symbol, values)`` of a returns window, kept for the last window seen
    (the allocator's anticipation and the overlay read the same window at a rebalance)."""
    if _WINDOW[0] is returns:
        return _WINDOW[1]
    out = ({str(c): j for j, c in enumerate(returns.columns)}, returns.to_numpy(dtype=float))
    _WINDOW[0], _WINDOW[1] = returns, out
    return out


def _held(weights) -> tuple[list[str], np.ndarray]:
    """Symbols with a nonzero weight and their weights."""
    if isinstance(weights, pd.Series):
        names, vals = [str(k) for k in weights.index.tolist()], weights.to_numpy(dtype=float)
    else:
        d = dict(weights)
        names, vals = [str(k) for k in d], np.array(list(d.values()), dtype=float)
    nz = vals != 0.0
    return [n for n, k in zip(names, nz) if k], vals[nz]


class VolatilityTarget:
    """Scale weights to a target annualized volatility, the rest in cash, within the mandate.

    Parameters
    ----------
    target : float, default 0.15
        Annualized volatility target (fraction, e.g. 0.15 = 15%).
    allocator : Allocator, optional
        When given, :meth:`fit` fits it first and scales its weights.
    basis : {"session", "calendar"}, optional
        Annualization basis when the returns carry no ``periods_per_year`` attr.
    leverage_max : float, default 1.0
        Cap on gross exposure ``sum |w|`` after scaling.
    estimator : covariance estimator, optional
        Default: the allocator's covariance estimate (when fitted through
        :meth:`fit`), else the sample covariance.
    mandate : Mandate, optional
        Every rule holds after scaling (see the module docstring); :meth:`apply` may be
        given another (a policy passes the mandate in force at the rebalance).

    Attributes
    ----------
    weights_ : pandas.Series
    scale_ : float
    volatility_before_, volatility_after_ : float
        Annualized, on ``basis_``. ``volatility_after_`` is the achieved volatility.
    cash_ : float
    cap_ : str
        ``"target"``, ``"leverage_max"`` or the mandate rule that bound the scale.
    interval_ : tuple[float, float]
        Scales allowed by every rule.
    relaxed_ : list[str]
        Rules relaxed because no scale met them all (empty normally).
    breaches_ : list[str]
        Mandate rules the scaled book breaks (empty normally).
    log_ : list[dict]
        One record per call (see the module docstring).
    """

    def __init__(self, target: float = 0.15, allocator: Allocator | None = None, *, basis: str | None = None,
                 leverage_max: float = 1.0, estimator=None, mandate=None):
        self.target = target
        self.allocator = allocator
        self.basis = basis
        self.leverage_max = leverage_max
        self.estimator = estimator
        self.mandate = mandate
        self.log_: list[dict] = []

    def fit(self, returns: pd.DataFrame, **kwargs) -> "VolatilityTarget":
        """Fit the allocator on ``returns`` (keyword arguments passed on), then scale."""
        if self.allocator is None:
            raise ValueError("VolatilityTarget.fit needs allocator=; use apply(weights, returns) otherwise")
        self.allocator.fit(returns, **kwargs)
        cov = None
        if self.estimator is None:
            cov = self.allocator.covariance_
        ctx = {k: kwargs.get(k) for k in ("universe", "date", "current_weights", "adv", "capital")}
        self._scale(self.allocator.weights_, returns, None, cov, ctx, self.mandate)
        return self

    def apply(self, weights: pd.Series, returns: pd.DataFrame, periods_per_year: float | None = None, *,
              mandate=None, universe=None, date=None, current_weights=None, adv=None,
              capital: float | None = None) -> pd.Series:
        """Scaled weights for ``weights`` (Series over symbols) given a returns window.

        Parameters
        ----------
        weights : pandas.Series
            The book to scale (fractions of capital).
        returns : pandas.DataFrame
            The returns window (dates x symbols) the volatility is estimated on.
        periods_per_year : float, optional
        mandate : Mandate, optional
            Overrides the constructor's for this call.
        universe, date : optional
            Taxonomy and classification date (group rules).
        current_weights : pandas.Series, optional
            The book today, fractions of capital (turnover and trade caps; None: investing
            from cash, no turnover rule).
        adv : pandas.Series, optional
            Average daily traded value per symbol (liquidity rules).
        capital : float, optional
            Book value today (liquidity rules are sized on it).
        """
        ctx = dict(universe=universe, date=date, current_weights=current_weights, adv=adv, capital=capital)
        self._scale(weights, returns, periods_per_year, None, ctx, mandate if mandate is not None else self.mandate)
        return self.weights_

    __call__ = apply

    def anticipate(self, weights: pd.Series, returns: pd.DataFrame, periods_per_year: float | None = None, *,
                   mandate=None, universe=None, date=None, interval: bool = False, rules: bool = True):
        """The scale this overlay would give ``weights`` under the rules that do not depend on the
        current book (cash floor, asset and group bounds, leverage): ``target / sigma_ann``
        clipped into their interval. An allocator builds its book's trades for that scale.
        ``interval=True`` returns ``(scale, lo, hi)`` with the interval; ``rules=False`` skips the
        rules (the target's scale under ``leverage_max`` only)."""
        syms, x = _held(weights)
        if not syms:
            return (1.0, 0.0, np.inf) if interval else 1.0
        c = self._cov(returns, syms)
        w = (syms, x)
        vol = float(np.sqrt(max(x @ c @ x, 0.0) * self._ppy(returns, periods_per_year)))
        gross = float(np.abs(x).sum())
        s = self.target / vol if vol > 0 else np.inf
        hi = self.leverage_max / gross if gross > 0 else np.inf
        lo = 0.0
        m = (mandate if mandate is not None else self.mandate) if rules else None
        if m is not None:
            # no current book and no ADV: the turnover and liquidity rules are not compiled
            pos, _ = _window(returns)
            for a, b in self._mandate_limits(w, m, {"universe": universe, "columns": list(pos)}, date).values():
                lo, hi = max(lo, a), min(hi, b)
        out = float(min(max(s, lo), hi)) if lo <= hi else float(min(s, hi))
        return (out, float(lo), float(hi)) if interval else out

    def _ppy(self, returns, periods_per_year) -> float:
        if periods_per_year:
            return float(periods_per_year)
        from ..data.market import annualization

        return float(annualization(returns, self.basis or (returns.attrs or {}).get("basis")))

    def _cov(self, returns: pd.DataFrame, syms: list[str]) -> np.ndarray:
        """Covariance of the held symbols over the window (sample, or the given estimator).

        The sample covariance of every complete column of the window is computed once per window
        and sub-matrices are read from it (the same numbers: each entry depends only on its pair)."""
        pos, vals = _window(returns)
        ix = [pos[s] for s in syms]
        x = vals[:, ix]
        if not np.isfinite(x).all():
            bad = [s for s, ok in zip(syms, np.isfinite(x).all(axis=0)) if not ok]
            raise ValueError(f"volatility target: held symbols with NaN returns in the window: {bad[:5]}")
        if self.estimator is None:
            full = _WINDOW_COV.get(id(vals))
            if full is None or full[0] is not vals:
                ok = np.flatnonzero(np.isfinite(vals).all(axis=0))
                where = np.full(vals.shape[1], -1)
                where[ok] = np.arange(len(ok))
                full = (vals, where, sample_covariance(vals[:, ok]))
                _WINDOW_COV.clear()
                _WINDOW_COV[id(vals)] = full
            j = full[1][ix]
            return full[2][np.ix_(j, j)]
        from .base import estimate_covariance

        return estimate_covariance(self.estimator, x, pd.DataFrame(x, columns=syms))

    def _scale(self, weights, returns, periods_per_year, cov, ctx, mandate) -> None:
        w = pd.Series(weights, dtype=float)
        if not pd.api.types.is_string_dtype(w.index):
            w.index = w.index.map(str)
        syms, xh = _held(w)
        ppy = self._ppy(returns, periods_per_year)
        self.basis_ = self.basis or (returns.attrs or {}).get("basis")
        self.periods_per_year_ = ppy
        self.relaxed_, self.breaches_ = [], []
        date = ctx.get("date")
        if date is None and isinstance(returns.index, pd.DatetimeIndex) and len(returns.index):
            date = returns.index[-1]
        if not syms:
            self.weights_, self.scale_, self.cash_ = w * 0.0, 0.0, 1.0
            self.volatility_before_ = self.volatility_after_ = 0.0
            self.cap_, self.interval_ = "empty book", (0.0, 0.0)
            self._record(date)
            return
        if cov is None:
            c = self._cov(returns, syms)
        else:
            c = np.asarray(pd.DataFrame(cov).reindex(index=syms, columns=syms), dtype=float)
        x = xh
        vol = float(np.sqrt(max(x @ c @ x, 0.0) * ppy))
        gross = float(np.abs(x).sum())
        want = self.target / vol if vol > 0 else np.inf
        limits = {"leverage_max": (0.0, self.leverage_max / gross if gross > 0 else np.inf)}
        if mandate is not None:
            limits.update(self._mandate_limits(w, mandate, ctx, date))
        trade = [k for k in limits if k.startswith("liquidity.")]
        turn = [k for k in limits if k == "turnover_max"]
        static = [k for k in limits if k not in trade and k not in turn]

        def interval(names):
            a, b = 0.0, np.inf
            for k in names:
                a, b = max(a, limits[k][0]), min(b, limits[k][1])
            return a, b

        def empty(iv):
            return iv[0] > iv[1] * (1 + 1e-12) + 1e-15

        order = static + trade + turn
        lo, hi = interval(order)
        if empty((lo, hi)) and turn:
            # the mandate's order (as the allocator's fallback): turnover gives way first
            self.relaxed_.append("turnover_max")
            order = static + trade
            lo, hi = interval(order)
        if empty((lo, hi)):
            it, ist = interval(trade), interval(static)
            if trade and not empty(it):
                # a passive breach the trade caps cannot cure today (e.g. a group below its
                # minimum after a fall): move toward the static rules as far as the caps allow
                s0 = min(max(want, ist[0]), ist[1]) if not empty(ist) else want
                lo = hi = min(max(s0, it[0]), it[1])
                self.relaxed_ += [f"{k} (passive: the trade caps allow no more today)" for k in static
                                  if not (limits[k][0] * (1 - 1e-12) - 1e-15 <= lo <= limits[k][1] * (1 + 1e-12)
                                          + 1e-15)]
                order = trade
            else:
                self.relaxed_ += trade
                order = static
                lo, hi = interval(order)
                if empty((lo, hi)):
                    # cannot happen for a book that meets the rules at scale 1: keep the allocator's book
                    self.relaxed_.append("every rule (no scale meets them; the allocator's book is kept)")
                    lo = hi = 1.0
        s = float(min(max(want, lo), hi))
        cap = "target"
        if s < want * (1 - 1e-12):
            cap = min((k for k in order if limits[k][1] <= s * (1 + 1e-12)), key=lambda k: limits[k][1], default="?")
        elif s > want * (1 + 1e-12):
            cap = max((k for k in order if limits[k][0] >= s * (1 - 1e-12)), key=lambda k: limits[k][0], default="?")
        self.scale_ = s
        self.cap_ = cap
        self.interval_ = (float(lo), float(hi))
        self.weights_ = (w * s).rename("weight")
        self.cash_ = float(1.0 - self.weights_.sum())
        self.volatility_before_ = vol
        self.volatility_after_ = vol * s
        # rules the scaled book breaks (construction view: a passive breach the trade cap cannot
        # cure today is moved toward its bound, see Mandate.constraints); relaxed ones included
        self.breaches_ = [f"{k}: scale {s:.6g} outside [{a:.6g}, {b:.6g}]" for k, (a, b) in limits.items()
                          if not (a * (1 - 1e-12) - 1e-15 <= s <= b * (1 + 1e-12) + 1e-15)]
        self._record(date)

    def _mandate_limits(self, w: pd.Series, mandate, ctx, date) -> dict:
        """Rule -> interval of scales (see :func:`scale_interval`), on the mandate as the allocator
        compiles it (liquidity on today's capital, passive breaches cut as far as trade caps allow)."""
        from ..errors import DataError

        m = mandate
        cap = ctx.get("capital")
        adv = ctx.get("adv")
        if adv is not None and cap is not None and cap > 0 and cap != m.capital:
            m = m.model_copy(update={"capital": float(cap)})
        from .base import aligned, as_mapping

        cw = ctx.get("current_weights")
        cws = None
        if cw is not None:
            cws = {k: v for k, v in as_mapping(cw).items() if v == v}
            if sum(abs(v) for v in cws.values()) <= 1e-12:
                cws = None
        universe = ctx.get("universe")
        if isinstance(w, tuple):
            syms, wv = list(w[0]), np.asarray(w[1], dtype=float)
        else:
            syms, wv = [str(k) for k in w.index.tolist()], w.to_numpy(dtype=float)
        if cw is None and adv is None and ctx.get("columns"):
            # compile once per window, over all its columns in one order (absent symbols weigh 0)
            wd0 = dict(zip(syms, wv))
            syms = sorted(set(ctx["columns"]) | set(syms))
            wv = np.array([wd0.get(c, 0.0) for c in syms])
        fixed0 = m.fixed_zero(syms, universe=universe, date=date)
        live = [s for s, x in zip(syms, wv) if s not in fixed0 or x != 0]
        held_out = None
        if cws is not None:
            ls = set(live)
            held_out = {s: v for s, v in cws.items() if s not in ls}
        if adv is not None:
            adv = aligned(as_mapping(adv), live, np.nan)
        if cws is not None:
            cws = aligned(cws, live)
        static = cws is None and adv is None
        from .mandate import _in_force

        # the position rules depend on the date only through the classifications in force
        key = (id(mandate), tuple(live), id(universe),
               _in_force(universe, date, live) if universe is not None else None)
        hit = _STATIC.get(key) if static else None
        try:
            if hit is not None and hit[0] is mandate and hit[1] is universe:
                cons = hit[2]
            else:
                cons = m.constraints(live, universe=universe, date=date, current_weights=cws, adv=adv,
                                     held_out=held_out, check=False,
                                     sale_margin=float(getattr(self, "sale_margin", 0.0) or 0.0))
                if static:
                    if len(_STATIC) > 64:
                        _STATIC.clear()
                    _STATIC[key] = (mandate, universe, cons)
        except DataError as exc:  # group rules without a universe: the caps still apply
            self.relaxed_.append(f"group and compute-exposure rules not checked ({exc})")
            m2 = m.model_copy(update={"groups": [], "compute_exposure_min": None})
            cons = m2.constraints(live, universe=None, date=date, current_weights=cws, adv=adv,
                                  held_out=held_out, check=False)
        inv = 1.0 - m.cash_min
        if m.long_only and m.gross_leverage_max is not None:
            inv = min(inv, m.gross_leverage_max)
        wd = dict(zip(syms, wv))
        out = scale_interval(np.array([wd[s] for s in live]), cons, cash_max=inv)
        if m.gross_leverage_max is not None:
            g = float(np.abs(wv).sum())
            out["gross_leverage_max"] = (0.0, m.gross_leverage_max / g if g > 0 else np.inf)
        return out

    def _record(self, date) -> None:
        self.log_.append({
            "date": None if date is None else str(pd.Timestamp(date).date()),
            "target": float(self.target), "volatility_before": float(self.volatility_before_),
            "volatility_after": float(self.volatility_after_), "scale": float(self.scale_),
            "bound_by": self.cap_, "invested": float(self.weights_.sum()), "cash": float(self.cash_),
            "interval": tuple(float(v) for v in self.interval_), "relaxed": list(self.relaxed_),
            "breaches": list(self.breaches_),
            "met": bool(self.cap_ == "target"),
        })

    def describe(self) -> str:
        """One line: target, achieved volatility and what bound the scale."""
        if self.cap_ == "target":
            return f"volatility {self.volatility_after_:.2%} at the {self.target:.2%} target (scale {self.scale_:.4f})"
        return (f"volatility target {self.target:.2%} not met: achieved {self.volatility_after_:.2%} "
                f"(scale {self.scale_:.4f}, bound by {self.cap_})"
                + (f"; relaxed: {', '.join(self.relaxed_)}" if self.relaxed_ else ""))

    def __repr__(self) -> str:
        return (f"VolatilityTarget(target={self.target!r}, basis={self.basis!r}, "
                f"leverage_max={self.leverage_max!r})")
