"""Use any skfolio optimizer as a computefolio allocator.

``SkfolioAllocator(MeanRisk(...))`` fits a clone of the skfolio estimator on the
kept symbols' returns (NaN assets excluded first and reported, as for every
allocator) and exposes its ``weights_`` as a Series scaled to the invested
fraction. Under a mandate the weights are projected onto the rules (the skfolio
estimator knows nothing of them); to keep a skfolio solution optimal under
box constraints, give it the same bounds itself.
"""

from __future__ import annotations

import numpy as np

from .base import Allocator, FitContext

__all__ = ["SkfolioAllocator"]


class SkfolioAllocator(Allocator):
    """Adapter for skfolio optimizers (``fit(X)`` then ``weights_`` as an array).

    Parameters
    ----------
    estimator : skfolio optimizer
        Cloned before each fit (``sklearn.base.clone``).
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator` (the covariance is only
        used for ``risk_contributions_``; skfolio estimates its own).

    Attributes
    ----------
    estimator_ : the fitted clone.
    """

    def __init__(self, estimator, *, covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.estimator = estimator

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        from sklearn.base import clone

        est = clone(self.estimator)
        est.fit(ctx.returns)
        w = np.asarray(est.weights_, dtype=float).ravel()
        if w.shape != (len(ctx.symbols),):
            raise ValueError(f"skfolio estimator returned {w.shape} weights for {len(ctx.symbols)} assets")
        self.estimator_ = est
        s = w.sum()
        self._status = f"skfolio {type(est).__name__}"
        return ctx.budget * w / s if s != 0 else w
