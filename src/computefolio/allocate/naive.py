"""Naive allocators: equal weight and inverse volatility (or inverse variance)."""

from __future__ import annotations

import numpy as np

from .base import Allocator, FitContext

__all__ = ["EqualWeight", "InverseVolatility"]


class EqualWeight(Allocator):
    """``1/N`` over the kept symbols, scaled to the invested fraction.

    Heuristic: under a mandate the result is projected onto the rules.
    """

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        n = len(ctx.symbols)
        self._status = "closed form"
        return np.full(n, ctx.budget / n)


class InverseVolatility(Allocator):
    """Weights proportional to ``1 / sigma_i**power`` (``power=1``: inverse volatility;
    ``power=2``: inverse variance, the naive risk-parity of HRP's leaves).

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

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        sd = np.sqrt(np.diag(ctx.cov))
        iv = 1.0 / sd ** self.power
        self._status = "closed form"
        return ctx.budget * iv / iv.sum()
