"""The strategy's own allocator: an allocator per sleeve or layer, risk or weight budgets across them.

A strategy file (:mod:`computefolio.strategy`) names budgets per group and an inner
allocator per group; :func:`build_allocator` turns it into a :class:`StrategyAllocator`
under the strategy's mandate. The main job (:mod:`computefolio.job`), ``computefolio
allocate`` and ``computefolio risk`` build it the same way.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .base import Allocator, FitContext, as_mapping, labels
from .groups import GroupRiskBudget

__all__ = ["StrategyAllocator", "build_allocator", "allocator_from_spec", "make_covariance", "rebalance_table"]


def allocator_from_spec(spec, covariance=None) -> Allocator:
    """An allocator of :mod:`computefolio.allocate` from a strategy's allocator spec."""
    from . import make_allocator as build  # the one method-name -> allocator table

    try:
        return build(spec.method, covariance=covariance, **dict(spec.params))
    except (TypeError, ValueError) as exc:
        raise ConfigError(None, "allocator", f"parameters accepted by the {spec.method!r} allocator ({exc})") from None


def make_covariance(strategy):
    """The covariance estimator named by the strategy (:mod:`computefolio.risk.covariance`)."""
    from ..risk import covariance as C

    spec = strategy.covariance
    if spec.method == "sample":
        return C.SampleCovariance()
    if spec.method == "ewma":
        return C.EWMACovariance(halflife=spec.halflife or 63)
    if spec.method == "ledoit_wolf":
        return C.LedoitWolfCovariance()
    return C.PairwiseShrunkCovariance()


class StrategyAllocator(GroupRiskBudget):
    """Allocators per group (sleeve or layer) combined by risk or weight budgets, under the mandate.

    Each group's allocator runs on the group's members alone and gives a sub-portfolio
    ``u_g`` (summing to 1). With *risk* budgets the group scales solve risk budgeting on
    the sub-portfolios' covariance so that each group's share of book variance equals
    ``b_g``; with *weight* budgets the book is ``sum_g B b_g u_g`` (``B`` the invested
    fraction). Under the mandate the rules are constraints of the construction (inner
    allocators under each group's share of the bounds, group scales by constrained risk
    budgeting, asset-level constrained risk budgeting for the rules no group scaling can
    meet): see :mod:`computefolio.allocate.groups`, which this class extends with one
    allocator per group and the three rules of :meth:`fit`.

    Parameters
    ----------
    by : {"sleeve", "layer"}
    budgets : dict[str, float]
        Group -> budget (fractions summing to 1).
    kind : {"risk", "weight"}
    allocators : dict[str, Allocator]
        Group -> inner allocator (no mandate: the mandate applies to the whole book).
    covariance, mandate
        As for every allocator.

    Attributes
    ----------
    group_weights_ : pandas.Series
        Look-through exposure per group.
    group_risk_ : pandas.Series
        Share of book variance per group (membership-weighted Euler contributions).
    inner_ : dict[str, pandas.Series]
        Each group's sub-portfolio weights as used in the book.
    budget_report_ : dict
        See :class:`~computefolio.allocate.groups.GroupRiskBudget`.
    rebalances_ : list[dict]
        One record per fit (a backtest's rebalances, in order): ``date``, ``status``
        (``exact``/``binding``/``projected``/``fallback``), ``status_text``, ``targets``,
        ``shares`` and ``gap_points`` per group, ``within_1pt`` (every share within one
        percentage point of its budget), ``met`` (within 1e-6), ``binding`` (rules at their
        limit), ``summary`` (one line: shares vs budgets and, when missed, each binding
        rule's effect in points), ``invested``, ``remainder_to_cash``. See
        :func:`rebalance_table`.
    """

    def __init__(self, by: str = "sleeve", budgets: dict | None = None, kind: str = "risk",
                 allocators: dict | None = None, *, covariance=None, mandate=None):
        super().__init__(by=by, budgets=dict(budgets or {}), inner=None, covariance=covariance, mandate=mandate)
        self.kind = kind
        self.allocators = dict(allocators or {})
        #: Symbols whose data source has no volume at all: liquidity rules are not applied
        #: to them (set by the main job from the market; an asset with volume data but a
        #: zero or missing ADV stays frozen, as the mandate says).
        self.no_volume: set[str] = set()
        #: Sales stay short of the ADV trade cap by this fraction of the position kept: a
        #: backtest sizes holdings on the book after the rebalance's costs, so a sale executes
        #: larger than planned by (kept weight) x (costs / book); 1% covers costs up to 1% of the
        #: book per rebalance (see ``Mandate.constraints``). The overlay uses the same.
        self.sale_margin: float = 0.01
        self.rebalances_: list[dict] = []

    def fit(self, returns: pd.DataFrame, *, universe=None, current_weights=None, adv=None,
            date=None, capital: float | None = None) -> "StrategyAllocator":
        """Fit as every allocator, with three rules for a book run by a policy.

        * With a volatility-target overlay (``overlay``, set by the main job), the book is
          ``scale * w``. The composition ``w`` (summing to the invested fraction) meets the
          asset and group bounds as they are (the risk budgets are the composition's; an
          overlay never changes them), and the trade rules -- turnover, ADV trade caps,
          days-to-liquidate -- *as they apply at the overlay's anticipated scale*
          (:meth:`Mandate.scaled(scale, static=False) <computefolio.allocate.mandate.Mandate.scaled>`:
          turnover divided by the scale, currency rules on the invested capital, current
          weights divided by it). The scale is the overlay's for the previous composition on
          today's window, under the bounds (a first fit, then a second one when the new
          composition's scale differs by more than 10%). The overlay
          (:class:`~computefolio.allocate.voltarget.VolatilityTarget`) then scales within the
          rules, which hold at the anticipated scale by construction; when they cannot hold
          there (de-risking faster than turnover allows) the current book's scale is used.
          The initial investment from cash is not capped by turnover. Without an overlay the
          scale is 1.
        * Liquidity rules apply to assets with volume data; an asset without ADV is not
          constrained by them (named once in a warning) instead of being frozen.
        * If the rules cannot all hold against the current book (e.g. a group minimum
          that needs more turnover than allowed), the book is rebalanced without the
          turnover rule, then without the liquidity rules, with a warning naming the
          date and the conflict, and ``status_`` says ``fell back``. Any other
          infeasibility raises :class:`~computefolio.errors.InfeasibleError`.
        """
        self._capital = capital  # liquidity rules are sized on today's book value
        mandate = self._mandate()
        cw = None
        if current_weights is not None:
            cw = {k: v for k, v in as_mapping(current_weights).items() if v == v}
            if sum(abs(v) for v in cw.values()) <= 1e-12 or sum(cw.values()) <= 1e-12:
                cw = None
        adv_s = None
        if adv is not None:
            a = as_mapping(adv)
            cols = [str(c) for c in returns.columns]
            novol = [s for s in cols if s in self.no_volume]
            if novol and not getattr(self, "_warned_adv", False):
                warnings.warn(f"no volume data in the source for {', '.join(novol)}: the mandate's liquidity "
                              f"rules are not applied to them", UserWarning, stacklevel=2)
                self._warned_adv = True
            # the mandate treats a missing ADV as 0 (frozen); "no rule" is an ADV so large
            # that the bounds exceed any weight (LP solvers read them as infinite)
            nv = set(novol)
            adv_s = {s: (1e30 if s in nv else a.get(s, np.nan)) for s in cols}
        if callable(getattr(self, "on_fit", None)):
            self.on_fit()
        overlay = getattr(self, "overlay", None)
        if overlay is not None:
            overlay.sale_margin = self.sale_margin
        if mandate is None or overlay is None:
            self._fit_at(returns, 1.0, mandate, universe, cw, adv_s, date, capital)
            self.scale_anticipated_ = 1.0
            self._log(date)
            return self
        # the position rules do not depend on the capital: the mandate object as given (its compiled
        # rules are cached by the overlay between the two anticipations)
        from .mandate import Mandate

        static = self.mandate if isinstance(self.mandate, Mandate) else mandate
        prev = getattr(self, "_composition", None)
        scale = None
        if prev:
            good = np.isfinite(returns.to_numpy(dtype=float)).all(axis=0)
            ok = {c: prev[c] for c, g in zip(labels(returns.columns), good) if g and prev.get(c, 0.0) != 0.0}
            tot = sum(ok.values())
            if ok and tot > 0.8 * sum(prev.values()):  # the previous book is still mostly there
                k = mandate.invested_fraction() / tot
                # the previous composition's volatility today (the position rules are checked on the
                # new composition below, with a second fit when they move the scale)
                scale = self._anticipate(overlay, {c: v * k for c, v in ok.items()}, returns, mandate, universe,
                                         date, rules=False)
        first = scale is None
        scale = 1.0 if scale is None else scale
        self.scale_anticipated_ = scale
        self._fit_at(returns, scale, mandate, universe, cw, adv_s, date, capital)
        used = getattr(self, "scale_anticipated_", scale)
        s2, lo, hi = self._anticipate(overlay, self.weights_, returns, static, universe, date, interval=True)
        if first or abs(s2 / used - 1.0) > 0.10 or not (lo * (1 - 1e-9) <= used <= hi * (1 + 1e-9)):
            scale = s2
            self.scale_anticipated_ = scale
            self._fit_at(returns, scale, mandate, universe, cw, adv_s, date, capital)
        self._composition = {k: v for k, v in as_mapping(self.weights_).items() if v != 0.0}
        self._log(date)
        return self

    @staticmethod
    def _anticipate(overlay, w: pd.Series, returns: pd.DataFrame, mandate, universe, date, interval=False,
                    rules=True):
        """The overlay's scale for composition ``w`` under the rules that do not depend on trading
        (at most 1: the composition is at the invested fraction already); with ``interval``, also
        the scales those rules allow."""
        try:
            s, lo, hi = overlay.anticipate(w, returns, mandate=mandate, universe=universe, date=date, interval=True,
                                           rules=rules)
        except Exception:  # an overlay without anticipate() or a degenerate window: no scaling
            s, lo, hi = 1.0, 0.0, np.inf
        if not lo <= hi:  # the composition itself breaks a bound: no anticipation
            s = 1.0
        # minimums in fractions of capital need at least their sum invested (per taxonomy field)
        need = {}
        for g in mandate.groups:
            if g.min:
                need[g.by] = need.get(g.by, 0.0) + g.min
        floor = max(need.values(), default=0.0) / mandate.invested_fraction()
        s = float(min(max(s, floor * (1 + 1e-6), 1e-3), 1.0))
        return (s, lo, hi) if interval else s

    def _fit_at(self, returns, scale, mandate, universe, cw, adv_s, date, capital) -> None:
        """One fit with the trade rules as they apply at overlay scale ``scale`` (with the fallbacks).

        When the trade rules cannot hold at that scale (de-risking faster than turnover
        allows), the scale of the current book is used instead: the overlay then moves as far
        toward its target as the rules allow, and says so."""
        from ..errors import InfeasibleError

        if scale != 1.0 and mandate is not None:
            from .mandate import unexplained

            try:
                with unexplained():
                    return self._fit_at_exact(returns, scale, mandate, universe, cw, adv_s, date, capital, quiet=True)
            except InfeasibleError:
                now = 1.0 if cw is None else min(1.0, float(sum(cw.values())) / mandate.invested_fraction())
                s_min = self._min_scale(returns, mandate, universe, date)
                if s_min is not None:
                    now = min(1.0, max(now, s_min * (1 + 1e-9)))
                if abs(now - scale) <= 1e-12:
                    raise
                self.scale_anticipated_ = now
                # every rule at the current book's scale: the overlay stays near it, so the
                # position rules (a group minimum a fall left unmet) are met there too
                return self._fit_at_exact(returns, now, mandate, universe, cw, adv_s, date, capital, static=True)
        return self._fit_at_exact(returns, scale, mandate, universe, cw, adv_s, date, capital)

    @staticmethod
    def _min_scale(returns, mandate, universe, date) -> float | None:
        """The smallest overlay scale at which the position rules can hold: the least investment
        the mandate's minimums need (an LP), over the invested fraction."""
        m = mandate.model_copy(update={"turnover_max": None, "liquidity": None})
        syms = [str(c) for c, ok in zip(returns.columns, returns.notna().all().to_numpy()) if ok]
        syms = [s for s in syms if s not in m.fixed_zero(syms, universe=universe, date=date)]
        try:
            lo = m.constraints(syms, universe=universe, date=date, check=False).min_investable()
        except Exception:
            return None
        return None if lo is None else float(lo / m.invested_fraction())

    def _fit_at_exact(self, returns, scale, mandate, universe, cw, adv_s, date, capital, quiet=False,
                      static=False) -> None:
        from ..errors import InfeasibleError

        day = pd.Timestamp(date).date() if date is not None else "?"
        saved = self.mandate
        frame = None if mandate is None else mandate.scaled(scale, static=static)
        kw = dict(universe=universe, current_weights=None if cw is None else {k: v / scale for k, v in cw.items()},
                  adv=adv_s, date=date, capital=capital)
        try:
            self.mandate = frame
            try:
                super().fit(returns, **kw)
                return
            except InfeasibleError as exc:
                if quiet or mandate is None or (cw is None and adv_s is None) or \
                        (mandate.turnover_max is None and mandate.liquidity is None):
                    raise
                first = exc
            steps = []
            if cw is not None and mandate.turnover_max is not None:
                steps.append(("the turnover rule", {"turnover_max": None}))
            if mandate.liquidity is not None and adv_s is not None:
                steps.append(("the turnover and liquidity rules", {"turnover_max": None, "liquidity": None}))
            for k, (what, upd) in enumerate(steps):
                self.mandate = mandate.model_copy(update=upd).scaled(scale, static=static)
                try:
                    super().fit(returns, **kw)
                except InfeasibleError:
                    if k == len(steps) - 1:
                        raise
                    continue
                why = f"{day}: {first}; rebalanced without {what}"
                warnings.warn(why, UserWarning, stacklevel=3)
                self._fell_back(why)
                return
            raise first
        finally:
            self.mandate = saved

    def _fell_back(self, why: str) -> None:
        self._set_status("fallback", reason=why)
        self.status_ = self._status

    def _inner_for(self, g: str) -> Allocator:
        return self.allocators[g]

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        if ctx.universe is None:
            raise DataError("StrategyAllocator needs the universe (fit(..., universe=...))")
        from .groups import _members

        gids, Mv = _members(ctx.universe, self.by, ctx.date, ctx.symbols)
        col = {g: j for j, g in enumerate(gids)}
        groups, notes = [], []
        for g in self.budgets:
            if g not in col:
                raise DataError(f"budget group {g!r} is not a {self.by} of the universe")
            if (Mv[:, col[g]] > 0).any():
                groups.append(g)
            else:
                notes.append(f"{self.by} {g}: no asset with enough history; its budget is spread over the others")
        if not groups:
            raise DataError(f"no {self.by} with a budget has assets with enough history")
        self.diagnostics_["notes"] = notes
        M = Mv[:, [col[g] for g in groups]]
        bud = np.array([self.budgets[g] for g in groups], dtype=float)
        bud = bud / bud.sum()
        grps = [self._fit_inner(ctx, g, np.flatnonzero(M[:, k] > 0)) for k, g in enumerate(groups)]
        return self._solve(ctx, groups, M, bud, grps, kind=self.kind if len(groups) > 1 else "weight")

    @property
    def inner_(self) -> dict:
        """Group -> its sub-portfolio's weights (as :attr:`inner_weights_`)."""
        return self.inner_weights_

    def _log(self, date) -> None:
        rep = getattr(self, "budget_report_", None) or {}
        gaps = rep.get("gap_points", {})
        self.rebalances_.append({
            "date": None if date is None else str(pd.Timestamp(date).date()),
            "status": self.status_kind_,
            "status_text": self.status_,
            "kind": self.kind,
            "targets": dict(rep.get("targets", {})),
            "shares": dict(rep.get("shares", {})),
            "gap_points": dict(gaps),
            "within_1pt": bool(all(abs(v) <= 1.0 for v in gaps.values())),
            "met": bool(rep.get("met", False)),
            "binding": list(rep.get("binding", [])),
            "summary": rep.get("summary", ""),
            "invested": float(self.weights_.sum()),
            "scale_anticipated": float(getattr(self, "scale_anticipated_", 1.0)),
            "remainder_to_cash": float(self.diagnostics_.get("remainder_to_cash", 0.0)),
            "breaches": list(self.breaches_),
        })

    def rebalance_lines(self) -> list[str]:
        """One line per fit: date, risk share per group against its budget, and either
        "within 1 pt" or the rules that kept it away (see ``rebalances_``)."""
        out = []
        for r in self.rebalances_:
            sh = " / ".join(f"{g} {100 * r['shares'][g]:.2f}% (budget {100 * r['targets'][g]:.0f}%)"
                            for g in r["shares"])
            tail = "within 1 pt" if r["within_1pt"] else "off by more than 1 pt: " + r["summary"]
            if r["binding"] and r["within_1pt"]:
                tail += "; binding: " + "; ".join(r["binding"])
            out.append(f"{r['date']}: {sh}; {r['status']}; {tail}")
        return out


def rebalance_table(allocator, overlay=None) -> pd.DataFrame:
    """The per-rebalance construction record of a backtest as a table (one row per rebalance).

    Columns: ``date``, ``status``, ``share_<group>`` and ``target_<group>`` (fractions of
    variance), ``max_gap_points``, ``within_1pt``, ``binding``, ``summary``, ``invested``;
    with a :class:`~computefolio.allocate.voltarget.VolatilityTarget` overlay that kept a log,
    also ``vol_target``, ``vol_before``, ``vol_after`` (annualized), ``scale``, ``overlay_bound_by``
    and ``overlay_invested`` (matched on the date).
    """
    rows = []
    for r in getattr(allocator, "rebalances_", []):
        row = {"date": r["date"], "status": r["status"]}
        for g, v in r["shares"].items():
            row[f"share_{g}"] = v
            row[f"target_{g}"] = r["targets"].get(g)
        row["max_gap_points"] = max((abs(v) for v in r["gap_points"].values()), default=0.0)
        row.update(within_1pt=r["within_1pt"], binding="; ".join(r["binding"]), summary=r["summary"],
                   invested=r["invested"])
        rows.append(row)
    df = pd.DataFrame(rows)
    log = getattr(overlay, "log_", None)
    if log and len(df):
        ov = pd.DataFrame([{"date": x["date"], "vol_target": x["target"], "vol_before": x["volatility_before"],
                            "vol_after": x["volatility_after"], "scale": x["scale"], "overlay_bound_by": x["bound_by"],
                            "overlay_invested": x["invested"]} for x in log])
        ov = ov.drop_duplicates("date", keep="last")
        df = df.merge(ov, on="date", how="left")
    return df


def build_allocator(strategy, mandate=None) -> "StrategyAllocator":
    """The strategy's allocator: one inner allocator per budget group, budgets across them."""
    cov = make_covariance(strategy)
    inner = {g: allocator_from_spec(b.allocator or strategy.allocator, covariance=cov)
             for g, b in strategy.budgets.items()}
    return StrategyAllocator(by=strategy.budget_by, budgets={g: b.budget for g, b in strategy.budgets.items()},
                             kind=strategy.budget_kind, allocators=inner, covariance=cov, mandate=mandate)
