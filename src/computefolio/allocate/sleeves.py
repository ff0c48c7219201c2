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
from .base import Allocator, FitContext

__all__ = ["StrategyAllocator", "build_allocator", "allocator_from_spec", "make_covariance"]


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


class StrategyAllocator(Allocator):
    """Allocators per group (sleeve or layer) combined by risk or weight budgets.

    Each group's allocator runs on the group's members alone and gives a
    sub-portfolio ``w_g`` (summing to 1). With *weight* budgets the book is
    ``sum_g b_g w_g``. With *risk* budgets the group weights ``W`` solve risk budgeting
    on the sub-portfolios' covariance ``S_G = W_sub' S W_sub`` (Spinu's Newton method,
    :func:`computefolio.allocate.riskparity.risk_budget_weights`), so that the share of
    book variance from group ``g`` equals ``b_g``; the book is ``sum_g W_g w_g``.
    The result is scaled to the mandate's invested fraction and projected onto its
    rules by :class:`~computefolio.allocate.base.Allocator`.

    Weighted membership (layers): an asset in several layers enters each layer's
    sub-portfolio with its inner weight times its membership weight (renormalized), so
    a 60/40 miner contributes 60% of its inner weight to one layer and 40% to the other.

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
        Weight of each group's sub-portfolio (before the mandate projection).
    group_risk_ : pandas.Series
        Share of book variance from each group (before the projection).
    inner_ : dict[str, pandas.Series]
        Each group's sub-portfolio weights.
    """

    def __init__(self, by: str = "sleeve", budgets: dict | None = None, kind: str = "risk",
                 allocators: dict | None = None, *, covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.by = by
        self.budgets = dict(budgets or {})
        self.kind = kind
        self.allocators = dict(allocators or {})
        #: Symbols whose data source has no volume at all: liquidity rules are not applied
        #: to them (set by the main job from the market; an asset with volume data but a
        #: zero or missing ADV stays frozen, as the mandate says).
        self.no_volume: set[str] = set()

    def fit(self, returns: pd.DataFrame, *, universe=None, current_weights=None, adv=None,
            date=None, capital: float | None = None) -> "StrategyAllocator":
        """Fit as every allocator, with three rules for a book run by a policy.

        * The *turnover* rule compares compositions: the current weights are rescaled to
          the mandate's invested fraction (a volatility-target overlay that left cash is
          not turnover), and the initial investment from cash is not capped.
        * Liquidity rules apply to assets with volume data; an asset without ADV is not
          constrained by them (named once in a warning) instead of being frozen.
        * If the rules cannot all hold against the current book (e.g. a group minimum
          that needs more turnover than allowed), the book is rebalanced without the
          turnover rule, then without the liquidity rules, with a warning naming the
          date and the conflict. Any other infeasibility raises
          :class:`~computefolio.errors.InfeasibleError`.
        """
        from ..errors import InfeasibleError

        self._capital = capital  # liquidity rules are sized on today's book value
        mandate = self._mandate()
        cw = None
        if current_weights is not None:
            cw = pd.Series(current_weights, dtype=float).fillna(0.0)
            tot = float(cw.sum())
            if cw.abs().sum() <= 1e-12 or tot <= 1e-12:
                cw = None
            elif mandate is not None:
                cw = cw * (mandate.invested_fraction() / tot)
        adv_s = None
        if adv is not None:
            adv_s = pd.Series(adv, dtype=float).reindex([str(c) for c in returns.columns])
            novol = [s for s in adv_s.index if s in self.no_volume]
            if novol and not getattr(self, "_warned_adv", False):
                warnings.warn(f"no volume data in the source for {', '.join(novol)}: the mandate's liquidity "
                              f"rules are not applied to them", UserWarning, stacklevel=2)
                self._warned_adv = True
            # the mandate treats a missing ADV as 0 (frozen); "no rule" is an ADV so large
            # that the bounds exceed any weight (LP solvers read them as infinite)
            adv_s[novol] = 1e30
        day = pd.Timestamp(date).date() if date is not None else "?"
        if callable(getattr(self, "on_fit", None)):
            self.on_fit()
        try:
            return super().fit(returns, universe=universe, current_weights=cw, adv=adv_s, date=date, capital=capital)
        except InfeasibleError as exc:
            if cw is None and adv_s is None:
                raise
            first = exc
        if cw is not None:
            try:
                super().fit(returns, universe=universe, current_weights=None, adv=adv_s, date=date, capital=capital)
                warnings.warn(f"{day}: {first}; rebalanced without the turnover rule", UserWarning, stacklevel=2)
                return self
            except InfeasibleError:
                pass
        super().fit(returns, universe=universe, current_weights=None, adv=None, date=date, capital=capital)
        warnings.warn(f"{day}: {first}; rebalanced without the turnover and liquidity rules", UserWarning,
                      stacklevel=2)
        return self

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        from .riskparity import risk_budget_weights

        if ctx.universe is None:
            raise DataError("StrategyAllocator needs the universe (fit(..., universe=...))")
        syms = ctx.symbols
        m = ctx.universe.membership(self.by, date=ctx.date, symbols=syms)
        groups, subs = [], []
        self.inner_ = {}
        notes = []
        for g, b in self.budgets.items():
            if g not in m.columns:
                raise DataError(f"budget group {g!r} is not a {self.by} of the universe")
            mem = m[g]
            members = [s for s in syms if mem[s] > 0]
            if not members:
                notes.append(f"{self.by} {g}: no asset with enough history; its budget is spread over the others")
                continue
            inner = self.allocators[g]
            inner.fit(ctx.returns[members], universe=ctx.universe, date=ctx.date)
            wi = inner.weights_.reindex(members).fillna(0.0) * mem[members]
            if wi.sum() <= 0:
                notes.append(f"{self.by} {g}: inner allocator returned no weight")
                continue
            wi = wi / wi.sum()
            self.inner_[g] = wi
            groups.append(g)
            subs.append(wi.reindex(syms).fillna(0.0).to_numpy())
        if not groups:
            raise DataError(f"no {self.by} with a budget has assets with enough history")
        wsub = np.column_stack(subs)  # n x G
        b = np.array([self.budgets[g] for g in groups], dtype=float)
        b = b / b.sum()
        cg = wsub.T @ ctx.cov @ wsub  # covariance of the sub-portfolios
        if self.kind == "risk" and len(groups) > 1:
            gw, info = risk_budget_weights(cg, b)
            self.diagnostics_["group_solver"] = info
        else:
            gw = b
        w = wsub @ gw
        var = float(gw @ cg @ gw)
        self.group_weights_ = pd.Series(gw, index=groups, name="weight")
        self.group_risk_ = pd.Series(gw * (cg @ gw) / var if var > 0 else np.zeros(len(gw)), index=groups,
                                     name="risk_share")
        self.diagnostics_["notes"] = notes
        self._status = f"{self.kind} budgets by {self.by}"
        return ctx.budget * w / w.sum()


def build_allocator(strategy, mandate=None) -> "StrategyAllocator":
    """The strategy's allocator: one inner allocator per budget group, budgets across them."""
    cov = make_covariance(strategy)
    inner = {g: allocator_from_spec(b.allocator or strategy.allocator, covariance=cov)
             for g, b in strategy.budgets.items()}
    return StrategyAllocator(by=strategy.budget_by, budgets={g: b.budget for g, b in strategy.budgets.items()},
                             kind=strategy.budget_kind, allocators=inner, covariance=cov, mandate=mandate)
