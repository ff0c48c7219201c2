"""Volatility-target overlay: scale a book to a target annualized volatility.

``scale = min(target / sigma_ann, leverage_max / gross)`` where ``sigma_ann`` is
the book's volatility from the chosen covariance estimator, annualized with the
periods per year of the returns' basis (252 on the session basis, 365 on the
calendar basis; from ``returns.attrs["periods_per_year"]``, or ``basis=``).
The scaled weights are ``scale * w``; the remainder ``1 - sum(scale * w)`` is cash
(``cash_``). Scaling *down* keeps every cap-type mandate rule (asset and group
maxima, gross leverage, cash floor); scaling *up* is capped at
``leverage_max / gross`` and, under a mandate, at the largest scale that keeps
asset and group maxima, gross leverage and the cash floor (``cap_`` says which
limit bound). Minimum-type rules (asset or group minima) can break when a book is
scaled down; they are reported in ``breaches_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Allocator, sample_covariance

__all__ = ["VolatilityTarget"]


class VolatilityTarget:
    """Scale weights to a target annualized volatility, the rest in cash.

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
        Caps scaling up (see module docstring) and reports breaches.

    Attributes
    ----------
    weights_ : pandas.Series
    scale_ : float
    volatility_before_, volatility_after_ : float
        Annualized, on ``basis_``.
    cash_ : float
    cap_ : str
        ``"target"``, ``"leverage_max"`` or the mandate rule that bound.
    """

    def __init__(self, target: float = 0.15, allocator: Allocator | None = None, *, basis: str | None = None,
                 leverage_max: float = 1.0, estimator=None, mandate=None):
        self.target = target
        self.allocator = allocator
        self.basis = basis
        self.leverage_max = leverage_max
        self.estimator = estimator
        self.mandate = mandate

    def fit(self, returns: pd.DataFrame, **kwargs) -> "VolatilityTarget":
        """Fit the allocator on ``returns`` (keyword arguments passed on), then scale."""
        if self.allocator is None:
            raise ValueError("VolatilityTarget.fit needs allocator=; use apply(weights, returns) otherwise")
        self.allocator.fit(returns, **kwargs)
        cov = None
        if self.estimator is None:
            cov = self.allocator.covariance_
        self._scale(self.allocator.weights_, returns, None, cov)
        return self

    def apply(self, weights: pd.Series, returns: pd.DataFrame, periods_per_year: float | None = None) -> pd.Series:
        """Scaled weights for ``weights`` (Series over symbols) given a returns window."""
        self._scale(weights, returns, periods_per_year, None)
        return self.weights_

    __call__ = apply

    def _ppy(self, returns, periods_per_year) -> float:
        if periods_per_year:
            return float(periods_per_year)
        from ..data.market import annualization

        return float(annualization(returns, self.basis or (returns.attrs or {}).get("basis")))

    def _scale(self, weights, returns, periods_per_year, cov) -> None:
        w = pd.Series(weights, dtype=float)
        w.index = w.index.map(str)
        held = w[w != 0.0]
        syms = list(held.index)
        ppy = self._ppy(returns, periods_per_year)
        self.basis_ = self.basis or (returns.attrs or {}).get("basis")
        self.periods_per_year_ = ppy
        if not syms:
            self.weights_, self.scale_, self.cash_ = w * 0.0, 0.0, 1.0
            self.volatility_before_ = self.volatility_after_ = 0.0
            self.cap_, self.breaches_ = "empty book", []
            return
        if cov is None:
            sub = returns[syms]
            if sub.isna().any().any():
                bad = sub.columns[sub.isna().any()].tolist()
                raise ValueError(f"volatility target: held symbols with NaN returns in the window: {bad[:5]}")
            c = (sample_covariance(sub.to_numpy(dtype=float)) if self.estimator is None
                 else np.asarray(self.estimator.fit(sub).covariance_, dtype=float))
        else:
            c = np.asarray(pd.DataFrame(cov).reindex(index=syms, columns=syms), dtype=float)
        x = held.to_numpy()
        vol = float(np.sqrt(max(x @ c @ x, 0.0) * ppy))
        gross = float(np.abs(x).sum())
        cands = {"target": self.target / vol if vol > 0 else np.inf,
                 "leverage_max": self.leverage_max / gross if gross > 0 else np.inf}
        if self.mandate is not None:
            m = self.mandate
            hi = np.array([(m.assets.overrides[s].max if s in m.assets.overrides and
                            m.assets.overrides[s].max is not None else m.assets.max) for s in syms])
            pos = x > 0
            if pos.any():
                cands["assets.max"] = float(np.min(hi[pos] / x[pos]))
            if m.gross_leverage_max is not None:
                cands["gross_leverage_max"] = m.gross_leverage_max / gross
            if x.sum() > 0:
                cands["cash_min"] = (1.0 - m.cash_min) / x.sum()
        cap = min(cands, key=cands.get)
        s = float(cands[cap])
        self.scale_ = s
        self.cap_ = cap
        self.weights_ = (w * s).rename("weight")
        self.cash_ = float(1.0 - self.weights_.sum())
        self.volatility_before_ = vol
        self.volatility_after_ = vol * s
        self.breaches_ = []
        if self.mandate is not None:
            try:
                self.breaches_ = self.mandate.check(self.weights_)
            except Exception as exc:  # group rules need a universe; report, do not fail
                self.breaches_ = [f"not checked: {exc}"]

    def __repr__(self) -> str:
        return (f"VolatilityTarget(target={self.target!r}, basis={self.basis!r}, "
                f"leverage_max={self.leverage_max!r})")
