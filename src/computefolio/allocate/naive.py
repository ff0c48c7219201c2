"""Naive allocators: equal weight and inverse volatility (or inverse variance)."""

from __future__ import annotations

import numpy as np

from .base import Allocator, FitContext

__all__ = ["EqualWeight", "InverseVolatility"]


class EqualWeight(Allocator):
    """``1/N`` over the kept symbols, scaled to the invested fraction.

    Under a mandate, per-asset bounds by proportional water-filling
    (:func:`~computefolio.allocate.projection.scale_into_bounds`: capped assets at their cap,
    the others equal); other rules as described in :meth:`Allocator._under_rules`.
    """

    handles_constraints = True
    uses_returns = False

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        n = len(ctx.symbols)
        self._status = "closed form"
        return _bounded(self, ctx, np.full(n, 1.0 / n))


class InverseVolatility(Allocator):
    """Weights proportional to ``1 / sigma_i**power`` (``power=1``: inverse volatility;
    ``power=2``: inverse variance, the naive risk-parity of HRP's leaves).

    Under a mandate: capped assets at their cap, the others in proportion to
    ``1 / sigma_i**power`` (proportional water-filling); other rules as in
    :meth:`Allocator._under_rules`.

    Parameters
    ----------
    power : float, default 1
        Exponent of the volatility.
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator`.
    """

    def __init__(self, power: float = 1.0, *, covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.power = power

    handles_constraints = True
    uses_returns = False

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        sd = np.sqrt(np.diag(ctx.cov))
        iv = 1.0 / sd ** self.power
        self._status = "closed form"
        return _bounded(self, ctx, iv / iv.sum())


def _bounded(alloc: Allocator, ctx: FitContext, p: np.ndarray) -> np.ndarray:
    """Proportions ``p`` at the budget; under a mandate, water-filled into the bounds first."""
    if ctx.constraints is None:
        return ctx.budget * p
    from .projection import scale_into_bounds

    lo, hi = ctx.constraints.bounds()
    w = scale_into_bounds(p, np.maximum(lo, 0.0) if (lo >= 0).all() else lo, hi, ctx.budget) \
        if (lo >= 0).all() else ctx.budget * p
    return alloc._under_rules(ctx, w, "closed form; per-asset bounds by proportional water-filling")
