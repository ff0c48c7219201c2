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

import numba
import numpy as np
import scipy.cluster.hierarchy as sch
from scipy.spatial.distance import squareform

from .base import Allocator, FitContext

__all__ = ["HierarchicalRiskParity", "HierarchicalEqualRiskContribution", "correlation_distance",
           "hrp_weights", "herc_weights", "hrp_weights_capped", "herc_weights_capped"]

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


@numba.njit(cache=True)
def _ivp_var_nb(c, a, b):  # pragma: no cover - compiled
    """Variance of the inverse-variance portfolio of the block ``c[a:b, a:b]``."""
    k = b - a
    v = np.empty(k)
    tot = 0.0
    for i in range(k):
        v[i] = 1.0 / c[a + i, a + i]
        tot += v[i]
    out = 0.0
    for i in range(k):
        s = 0.0
        for j in range(k):
            s += c[a + i, a + j] * v[j]
        out += v[i] * s
    return out / (tot * tot)


@numba.njit(cache=True)
def _bisection(c):  # pragma: no cover - compiled
    """The splits of HRP's recursive bisection of the ordered covariance ``c``, level by level
    (``a, m, b``: the halves ``[a, m)`` and ``[m, b)``) with the left half's share ``alpha``,
    and the resulting weights (in ``c``'s order)."""
    n = c.shape[0]
    A = np.empty(max(n - 1, 0), dtype=np.int64)
    Mi = np.empty(max(n - 1, 0), dtype=np.int64)
    Bi = np.empty(max(n - 1, 0), dtype=np.int64)
    alpha = np.empty(max(n - 1, 0))
    w = np.ones(n)
    cur_a = np.empty(n, dtype=np.int64)
    cur_b = np.empty(n, dtype=np.int64)
    nxt_a = np.empty(n, dtype=np.int64)
    nxt_b = np.empty(n, dtype=np.int64)
    cur_a[0], cur_b[0] = 0, n
    ncur, k = 1, 0
    while ncur > 0:
        nn = 0
        for r in range(ncur):
            a, b = cur_a[r], cur_b[r]
            if b - a > 1:
                m = a + (b - a) // 2
                v1 = _ivp_var_nb(c, a, m)
                v2 = _ivp_var_nb(c, m, b)
                al = 1.0 - v1 / (v1 + v2)
                A[k], Mi[k], Bi[k], alpha[k] = a, m, b, al
                k += 1
                for i in range(a, m):
                    w[i] *= al
                for i in range(m, b):
                    w[i] *= 1.0 - al
                nxt_a[nn], nxt_b[nn] = a, m
                nxt_a[nn + 1], nxt_b[nn + 1] = m, b
                nn += 2
        for r in range(nn):
            cur_a[r], cur_b[r] = nxt_a[r], nxt_b[r]
        ncur = nn
    return A, Mi, Bi, alpha, w


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
    c = np.ascontiguousarray(cov[np.ix_(order, order)], dtype=float)
    w = _bisection(c)[4]
    out = np.empty(len(order))
    out[order] = w
    return out


def _capacity(lo: np.ndarray, hi: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Finite per-asset bounds for the capped splits (an open upper bound can hold the whole budget)."""
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, abs(budget) + np.abs(lo).sum())
    return lo, hi


def _split(alpha: float, W: float, loL: float, hiL: float, loR: float, hiR: float) -> float:
    """The left share of ``W``: ``alpha W`` clipped so that both sides can meet their members' bounds."""
    return min(max(alpha * W, loL, W - hiR), hiL, W - loR)


@numba.njit(cache=True)
def _capped_bisection(A, Mi, Bi, alpha, lo, hi, budget):  # pragma: no cover - compiled
    """Capped recursive bisection along the splits of :func:`_bisection` (ordered bounds)."""
    n = lo.shape[0]
    clo = np.zeros(n + 1)
    chi = np.zeros(n + 1)
    for i in range(n):
        clo[i + 1] = clo[i] + lo[i]
        chi[i + 1] = chi[i] + hi[i]
    w = np.empty(n)
    # the splits are stored level by level; the range [a, b) of split k gets its parent's share
    parent_w = {(0, n): budget}
    for k in range(len(A)):
        a, m, b = A[k], Mi[k], Bi[k]
        Wk = parent_w[(a, b)]
        loL, hiL, loR, hiR = clo[m] - clo[a], chi[m] - chi[a], clo[b] - clo[m], chi[b] - chi[m]
        left = alpha[k] * Wk
        left = max(left, loL)
        left = max(left, Wk - hiR)
        left = min(left, hiL)
        left = min(left, Wk - loR)
        parent_w[(a, m)] = left
        parent_w[(m, b)] = Wk - left
    for i in range(n):
        v = parent_w.get((i, i + 1), -1.0)
        if v < 0.0:
            v = budget  # n == 1
        w[i] = min(max(v, lo[i]), hi[i])
    return w


def hrp_weights_capped(cov: np.ndarray, order: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                       budget: float = 1.0, cache: dict | None = None) -> np.ndarray:
    """HRP's recursive bisection under per-asset bounds (*capped recursive bisection*).

    Each split gives the left half ``alpha W`` of its parent's weight ``W`` exactly as
    :func:`hrp_weights` does, clipped to what the halves can hold: the left half gets at
    least the sum of its members' floors and at most the sum of their caps (and the same
    for the right half). Weight a capped cluster cannot take goes to its sibling cluster,
    one level up the tree at a time, never spread evenly. With every bound slack it equals
    ``budget * hrp_weights(cov, order)``; each leaf ends inside its bounds when
    ``sum(lo) <= budget <= sum(hi)``.
    """
    n = len(order)
    splits = None if cache is None else cache.get("splits")
    if splits is None:
        splits = _bisection(np.ascontiguousarray(cov[np.ix_(order, order)], dtype=float))[:4]
        if cache is not None:
            cache["splits"] = splits
    lo, hi = _capacity(lo, hi, budget)
    w = _capped_bisection(*splits, np.ascontiguousarray(lo[order]), np.ascontiguousarray(hi[order]), float(budget))
    out = np.empty(n)
    out[order] = w
    return out


def _hrp_weights_capped_py(cov, order, lo, hi, budget=1.0):  # pragma: no cover - reference for the tests
    """The same capped bisection in plain Python (a reference implementation)."""
    n = len(order)
    A, Mi, Bi, al, _ = _bisection(np.ascontiguousarray(cov[np.ix_(order, order)], dtype=float))
    alphas = {(int(a), int(b)): float(x) for a, b, x in zip(A, Bi, al)}
    lo, hi = _capacity(lo, hi, budget)
    clo = np.concatenate([[0.0], np.cumsum(lo[order])])
    chi = np.concatenate([[0.0], np.cumsum(hi[order])])
    w = np.empty(n)
    total = {(0, n): float(budget)}
    ranges = [(0, n)]
    while ranges:
        nxt = []
        for a, b in ranges:
            W = total.pop((a, b))
            if b - a == 1:
                w[a] = min(max(W, lo[order[a]]), hi[order[a]])
                continue
            m = a + (b - a) // 2
            left = _split(alphas[(a, b)], W, clo[m] - clo[a], chi[m] - chi[a], clo[b] - clo[m], chi[b] - chi[m])
            total[(a, m)] = left
            total[(m, b)] = W - left
            nxt += [(a, m), (m, b)]
        ranges = nxt
    out = np.empty(n)
    out[order] = w
    return out


def herc_weights_capped(cov: np.ndarray, z: np.ndarray, k: int, lo: np.ndarray, hi: np.ndarray,
                        budget: float = 1.0) -> np.ndarray:
    """HERC under per-asset bounds: the same top-down splits as :func:`herc_weights`, each
    clipped to what the two sub-trees can hold (as :func:`hrp_weights_capped`), and inside
    each cluster inverse-variance weights water-filled into the bounds
    (:func:`~computefolio.allocate.projection.scale_into_bounds`)."""
    from .projection import scale_into_bounds

    n = cov.shape[0]
    k = max(1, min(int(k), n))
    lo, hi = _capacity(lo, hi, budget)
    lab = sch.fcluster(z, k, criterion="maxclust")
    groups = [np.flatnonzero(lab == g) for g in np.unique(lab)]
    cvar = np.array([_ivp_variance(cov[np.ix_(g, g)]) for g in groups])
    gsets = [set(g.tolist()) for g in groups]
    root, nodes = sch.to_tree(z, rd=True)
    heights = np.array([nd.dist for nd in nodes])
    split = {int(nodes[i].id) for i in np.argsort(heights)[::-1][: k - 1] if not nodes[i].is_leaf()}
    iv = 1.0 / np.diag(cov)
    w = np.zeros(n)
    stack = [(root, float(budget))]
    while stack:
        nd, W = stack.pop()
        mem = np.asarray(nd.pre_order())
        if nd.id in split:
            left, right = nd.get_left(), nd.get_right()
            lm, rm = np.asarray(left.pre_order()), np.asarray(right.pre_order())
            ls, rs = set(lm.tolist()), set(rm.tolist())
            lr = sum(cvar[j] for j, g in enumerate(gsets) if g <= ls)
            rr = sum(cvar[j] for j, g in enumerate(gsets) if g <= rs)
            L = _split(1.0 - lr / (lr + rr), W, lo[lm].sum(), hi[lm].sum(), lo[rm].sum(), hi[rm].sum())
            stack += [(left, L), (right, W - L)]
        else:
            w[mem] = scale_into_bounds(iv[mem], lo[mem], hi[mem], W)
    return w


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
        See :class:`~computefolio.allocate.base.Allocator`. Under a mandate,
        per-asset bounds by capped recursive bisection (:func:`hrp_weights_capped`);
        other rules as in :meth:`~computefolio.allocate.base.Allocator._under_rules`.

    Attributes
    ----------
    linkage_ : ndarray, shape (n - 1, 4)
        scipy linkage matrix over the kept symbols.
    order_ : list[str]
        Quasi-diagonal order of the kept symbols.
    """

    handles_constraints = True
    uses_returns = False

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
        w = ctx.budget * hrp_weights(ctx.cov, order)
        self._free = (ctx.cov, order, w / ctx.budget)
        if ctx.constraints is None:
            return w
        lo, hi = ctx.constraints.bounds()
        if (w < lo - 1e-15).any() or (w > hi + 1e-15).any():
            if (lo < 0).any():
                return self._project(ctx, w, "the mandate allows shorts")
            w = hrp_weights_capped(ctx.cov, order, lo, hi, ctx.budget)
            return self._under_rules(ctx, w, "capped recursive bisection")
        return self._under_rules(ctx, w, "closed form")


    def _box_shaper(self, ctx: FitContext):
        """Capped recursive bisection on the tree of the last fit (split ratios computed once)."""
        cov, order, free = self._free if getattr(self, "_free", None) is not None else (None, None, None)
        if cov is None or cov.shape != ctx.cov.shape or not np.array_equal(cov, ctx.cov):
            return super()._box_shaper(ctx)
        cache: dict = {}

        def solve(lo, hi):
            w = ctx.budget * free
            if (w >= lo - 1e-15).all() and (w <= hi + 1e-15).all():
                return w
            return hrp_weights_capped(ctx.cov, order, lo, hi, ctx.budget, cache)

        return solve


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

    handles_constraints = True
    uses_returns = False

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
        w = ctx.budget * herc_weights(ctx.cov, z, k)
        if ctx.constraints is None:
            return w
        lo, hi = ctx.constraints.bounds()
        if (w < lo - 1e-15).any() or (w > hi + 1e-15).any():
            if (lo < 0).any():
                return self._project(ctx, w, "the mandate allows shorts")
            w = herc_weights_capped(ctx.cov, z, k, lo, hi, ctx.budget)
            return self._under_rules(ctx, w, "capped top-down splits, water-filled clusters")
        return self._under_rules(ctx, w, "closed form")
