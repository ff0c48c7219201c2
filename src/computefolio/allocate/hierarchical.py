"""Hierarchical allocators: HRP (López de Prado, 2016) and HERC (Raffinot, 2018).

Conventions (matched exactly, see the agreement tests)
-----------------------------------------------------
* Correlation from the covariance estimate, ``rho = Sigma_ij / (s_i s_j)``
  (NumPy, no pandas ``corr``), distance ``d_ij = sqrt(clip((1 - rho_ij) / 2, 0, 1))``.
* ``scipy.cluster.hierarchy.linkage`` on the condensed distance
  (``squareform(d, checks=False)``), single linkage by default, any scipy
  method selectable.
* Quasi-diagonal order = the dendrogram's leaves left to right
  (``leaves_list(Z)``, identical to PyPortfolioOpt's ``to_tree(Z).pre_order()``).
  ``leaf_order=True`` first applies scipy's optimal leaf ordering
  (``linkage(..., optimal_ordering=True)``), which is Riskfolio-Lib's default
  (``leaf_order=True`` in ``HCPortfolio.optimization``); the default
  ``leaf_order=False`` is PyPortfolioOpt's ``HRPOpt`` and Riskfolio-Lib with
  ``leaf_order=False``.
* Recursive bisection of the *ordered list* into halves (``len // 2``), as in
  the paper's snippet 16.4 (not tree-based); each half's risk is the variance
  of its inverse-variance portfolio; the left half gets
  ``alpha = 1 - V_left / (V_left + V_right)``.

HERC follows Riskfolio-Lib's ``model="HERC"`` with ``rm="MV"``: ``k`` clusters
cut from the tree (``fcluster(..., "maxclust")``; ``n_clusters=None`` picks
``k`` with the two-difference gap statistic, ``max_k=10``); the ``k - 1``
highest merges are visited top-down, each split in proportion to the *sum* of
the inverse-variance-portfolio variances of the clusters under each child;
inside each cluster, inverse-variance weights.
"""

from __future__ import annotations

import numpy as np
import scipy.cluster.hierarchy as sch
from scipy.spatial.distance import squareform

from .base import Allocator, FitContext

__all__ = ["HierarchicalRiskParity", "HierarchicalEqualRiskContribution", "correlation_distance",
           "hrp_weights", "herc_weights"]

_LINKAGES = ("single", "complete", "average", "weighted", "centroid", "median", "ward")


def correlation_distance(cov: np.ndarray) -> np.ndarray:
    """``sqrt(clip((1 - rho) / 2, 0, 1))`` with ``rho`` from the covariance (``n x n``)."""
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))


def _linkage(cov: np.ndarray, method: str, leaf_order: bool) -> np.ndarray:
    if method not in _LINKAGES:
        raise ValueError(f"linkage must be one of {', '.join(_LINKAGES)}; got {method!r}")
    d = squareform(correlation_distance(cov), checks=False)
    return sch.linkage(d, method=method, optimal_ordering=leaf_order)


def _ivp_variance(c: np.ndarray) -> float:
    iv = 1.0 / np.diag(c)
    v = iv / iv.sum()
    return float(v @ c @ v)


def hrp_weights(cov: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Recursive bisection (López de Prado 2016, snippet 16.4) over ``order``.

    Parameters
    ----------
    cov : ndarray, shape (n, n)
    order : ndarray of int, shape (n,)
        Quasi-diagonal order (leaf order of the dendrogram).

    Returns
    -------
    ndarray, shape (n,)
        Weights in the original asset order, summing to 1.
    """
    n = len(order)
    c = cov[np.ix_(order, order)]
    w = np.ones(n)
    ranges = [(0, n)]
    while ranges:
        nxt = []
        for a, b in ranges:
            if b - a > 1:
                m = a + (b - a) // 2
                nxt.append((a, m))
                nxt.append((m, b))
        for i in range(0, len(nxt), 2):
            (a1, b1), (a2, b2) = nxt[i], nxt[i + 1]
            v1 = _ivp_variance(c[a1:b1, a1:b1])
            v2 = _ivp_variance(c[a2:b2, a2:b2])
            alpha = 1.0 - v1 / (v1 + v2)
            w[a1:b1] *= alpha
            w[a2:b2] *= 1.0 - alpha
        ranges = nxt
    out = np.empty(n)
    out[order] = w
    return out


def _two_diff_gap_k(dist: np.ndarray, z: np.ndarray, max_k: int) -> int:
    """Number of clusters by the two-difference gap statistic (Yue et al., 2008).

    ``W_k`` = sum over the ``k`` clusters of the (population) standard deviation
    of the within-cluster pairwise distances; ``k* = argmax_k W_{k+2} + W_k - 2 W_{k+1}``
    with ``W_1 = -inf``, over ``k <= min(max_k, sqrt(n)) + 2`` (Riskfolio-Lib's
    convention, for monotone linkages).
    """
    n = dist.shape[0]
    limit = min(max_k, np.sqrt(n)) + 2
    w_list: list[float] = []
    k = 1
    while k <= n:
        if k == 1:
            w_list.append(-np.inf)
        elif k > limit:
            break
        else:
            lab = sch.fcluster(z, k, criterion="maxclust")
            tot = 0.0
            for g in np.unique(lab):
                idx = np.flatnonzero(lab == g)
                if len(idx) > 1:
                    tot += float(np.std(squareform(dist[np.ix_(idx, idx)], checks=False)))
            w_list.append(tot)
        k += 1
    wl = np.array(w_list)
    best, best_i = -np.inf, 0
    for i in range(len(wl) - 2):
        g = wl[i + 2] + wl[i] - 2 * wl[i + 1]
        if np.isnan(g):
            continue
        if g > best:
            best, best_i = g, i
    return best_i + 1


def herc_weights(cov: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Hierarchical equal risk contribution weights (see module docstring)."""
    n = cov.shape[0]
    k = max(1, min(int(k), n))
    lab = sch.fcluster(z, k, criterion="maxclust")
    groups = [np.flatnonzero(lab == g) for g in np.unique(lab)]
    cvar = np.array([_ivp_variance(cov[np.ix_(g, g)]) for g in groups])
    w = np.ones(n)
    _, nodes = sch.to_tree(z, rd=True)
    heights = np.array([nd.dist for nd in nodes])
    order = np.argsort(heights)[::-1]  # same tie order as Riskfolio-Lib
    for idx in order[: k - 1]:
        nd = nodes[idx]
        if nd.is_leaf():
            continue
        left = np.asarray(nd.get_left().pre_order())
        right = np.asarray(nd.get_right().pre_order())
        lset, rset = set(left.tolist()), set(right.tolist())
        lr = sum(cvar[j] for j, g in enumerate(groups) if set(g.tolist()) <= lset)
        rr = sum(cvar[j] for j, g in enumerate(groups) if set(g.tolist()) <= rset)
        alpha = 1.0 - lr / (lr + rr)
        w[left] *= alpha
        w[right] *= 1.0 - alpha
    for g in groups:
        iv = 1.0 / np.diag(cov)[g]
        w[g] *= iv / iv.sum()
    return w


class HierarchicalRiskParity(Allocator):
    """Hierarchical Risk Parity (López de Prado, 2016, *Building diversified
    portfolios that outperform out of sample*, J. Portfolio Management 42(4)).

    Parameters
    ----------
    linkage : str, default "single"
        scipy linkage method (single, complete, average, weighted, centroid, median, ward).
    leaf_order : bool, default False
        Optimal leaf ordering before seriation (Riskfolio-Lib's default is True;
        PyPortfolioOpt has none). See the module docstring.
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator`. Under a mandate the
        weights are projected onto the rules (exact Euclidean projection).

    Attributes
    ----------
    linkage_ : ndarray, shape (n - 1, 4)
        scipy linkage matrix over the kept symbols.
    order_ : list[str]
        Quasi-diagonal order of the kept symbols.
    """

    def __init__(self, linkage: str = "single", leaf_order: bool = False, *, covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.linkage = linkage
        self.leaf_order = leaf_order

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        n = len(ctx.symbols)
        self._status = "closed form"
        if n == 1:
            self.linkage_, self.order_ = np.zeros((0, 4)), list(ctx.symbols)
            return np.array([ctx.budget])
        z = _linkage(ctx.cov, self.linkage, self.leaf_order)
        order = sch.leaves_list(z)
        self.linkage_ = z
        self.order_ = [ctx.symbols[i] for i in order]
        return ctx.budget * hrp_weights(ctx.cov, order)


class HierarchicalEqualRiskContribution(Allocator):
    """Hierarchical Equal Risk Contribution (Raffinot, 2018, *The hierarchical
    equal risk contribution portfolio*, SSRN 3237540), variance as the risk measure.

    Parameters
    ----------
    linkage : str, default "single"
    n_clusters : int or None, default None
        Number of clusters ``k``; None picks it by the two-difference gap statistic.
    max_k : int, default 10
        Upper bound for the gap statistic's search.
    covariance, mandate
        See :class:`~computefolio.allocate.base.Allocator`.

    Attributes
    ----------
    n_clusters_ : int
    clusters_ : dict[str, int]
        Symbol -> cluster label (1..k).
    """

    def __init__(self, linkage: str = "single", n_clusters: int | None = None, max_k: int = 10, *,
                 covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.linkage = linkage
        self.n_clusters = n_clusters
        self.max_k = max_k

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        n = len(ctx.symbols)
        self._status = "closed form"
        if n == 1:
            self.n_clusters_, self.clusters_ = 1, {ctx.symbols[0]: 1}
            return np.array([ctx.budget])
        z = _linkage(ctx.cov, self.linkage, False)
        k = self.n_clusters
        if k is None:
            k = _two_diff_gap_k(correlation_distance(ctx.cov), z, self.max_k)
        lab = sch.fcluster(z, k, criterion="maxclust")
        self.n_clusters_ = int(len(np.unique(lab)))
        self.clusters_ = dict(zip(ctx.symbols, lab.tolist()))
        self.linkage_ = z
        return ctx.budget * herc_weights(ctx.cov, z, k)
