"""Return attribution: who made the book's return, and did the sleeves' bets pay off?

Two questions, each answered per period and then linked across periods so that the
parts add up to the compounded total:

1. **Contribution** (:func:`contributions`, :func:`group_contributions`): the book's
   return of period *t* split into the contribution of each asset,
   ``w[i, t-1] * r[i, t]`` (the weight at the start of the period, i.e. the post-trade
   weight of the previous valuation date, times the asset's return over the period),
   the contribution of cash, ``c[t-1] * rc[t]`` (``c = 1 - sum(w)``), and trading costs,
   ``-cost[t] / V[t-1]``. Contributions by sleeve, layer or theme are the asset
   contributions times the *weighted membership* in force at the start of the period
   (a miner that is 60% bitcoin mining and 40% AI hosting contributes 60/40). Layers and
   sleeves partition the book, so their parts (plus cash and costs) add up to the book's
   return; themes overlap and need not.
2. **Brinson–Fachler** (:func:`brinson_fachler`): the active return against a policy
   benchmark of the same groups, split per group into allocation
   ``(wp - wb) * (rb - B)``, selection ``wb * (rp - rb)`` and interaction
   ``(wp - wb) * (rp - rb)`` (Brinson & Fachler 1985, "Measuring non-U.S. equity
   portfolio performance", *Journal of Portfolio Management* 11(3)). ``wp, rp`` are the
   book's weight in and return of a group, ``wb, rb`` the benchmark's, ``B`` the
   benchmark's total return. A group the book does not hold has ``rp = rb`` by
   convention (no selection where nothing was selected). Cash is a group of its own;
   costs are an effect of their own. Per period the effects add up to ``R - B``.

**Linking** (:func:`linking_coefficients`, :func:`link`). Per-period parts add up to
the period's return, but compounded returns are not sums. A linked part is
``sum_t beta_t * part_t``; the coefficients make the linked parts add up to the
compounded ``R - B`` (``B = 0`` for contributions) exactly:

* Carino (1999), "Combining attribution effects over time", *Journal of Performance
  Measurement* 3(4): ``beta_t = k_t / k`` with ``k_t = (ln(1+R_t) - ln(1+B_t)) / (R_t - B_t)``
  and ``k = (ln(1+R) - ln(1+B)) / (R - B)`` (limits ``1/(1+R_t)`` and ``1/(1+R)`` when
  the two returns are equal).
* Menchero (2000), "An optimized approach to linking attribution effects over time",
  *Journal of Performance Measurement* 5(1): ``beta_t = A + alpha_t`` with
  ``A = ((R - B) / T) / ((1+R)^(1/T) - (1+B)^(1/T))`` and
  ``alpha_t = ((R - B) - A * sum(a)) * a_t / sum(a^2)``, ``a_t = R_t - B_t``.

Units: every return, weight and contribution is a fraction (0.01 = 1%) of the book's
value at the start of the period (per-period parts) or at the start of the span (linked
parts). Inputs are pandas objects indexed by the valuation dates of one basis; the
functions do not annualize anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Linking methods: Carino (1999) and Menchero (2000).
LINKING_METHODS = ("carino", "menchero")

#: Names of the non-asset parts of a contribution table.
CASH, COSTS = "cash", "costs"


# ----------------------------------------------------------------------------- linking
def _log_ratio(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(ln(1+r) - ln(1+b)) / (r - b)``, stable when ``r`` and ``b`` are close."""
    a = r - b
    close = np.abs(a) < 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (np.log1p(r) - np.log1p(b)) / np.where(close, 1.0, a)
    # limit: d/dx ln(1+x) at the mid-point
    return np.where(close, 1.0 / (1.0 + 0.5 * (r + b)), k)


def linking_coefficients(R, B=None, method: str = "carino") -> np.ndarray:
    """Coefficients ``beta_t`` that link per-period parts into a compounded total.

    Parameters
    ----------
    R : array-like, shape (T,)
        The book's simple return per period (fractions).
    B : array-like, shape (T,), optional
        The benchmark's return per period (default 0: plain contributions).
    method : {"carino", "menchero"}
        Carino (1999) logarithmic or Menchero (2000) optimized linking.

    Returns
    -------
    numpy.ndarray, shape (T,)
        ``sum_t beta_t * (R_t - B_t) == prod(1 + R) - prod(1 + B)`` (to rounding).
    """
    if method not in LINKING_METHODS:
        raise ValueError(f"method must be one of {LINKING_METHODS}, got {method!r}")
    R = np.asarray(R, dtype=float)
    B = np.zeros_like(R) if B is None else np.asarray(B, dtype=float)
    if R.shape != B.shape or R.ndim != 1:
        raise ValueError("R and B must be one-dimensional and of the same length")
    if np.any(~np.isfinite(R)) or np.any(~np.isfinite(B)):
        raise ValueError("returns to link must be finite")
    if np.any(R <= -1) or np.any(B <= -1):
        raise ValueError("a return of -100% or worse cannot be linked")
    T = len(R)
    if T == 0:
        return np.zeros(0)
    Rt, Bt = float(np.prod(1.0 + R) - 1.0), float(np.prod(1.0 + B) - 1.0)
    if method == "carino":
        k_t = _log_ratio(R, B)
        k = float(_log_ratio(np.array([Rt]), np.array([Bt]))[0])
        return k_t / k
    a = R - B
    if abs(Rt - Bt) < 1e-14:
        A = (1.0 + Rt) ** ((T - 1.0) / T)
    else:
        A = ((Rt - Bt) / T) / ((1.0 + Rt) ** (1.0 / T) - (1.0 + Bt) ** (1.0 / T))
    ss = float(np.sum(a * a))
    alpha = ((Rt - Bt) - A * float(np.sum(a))) * a / ss if ss > 0 else np.zeros(T)
    return A + alpha


def link(parts: pd.DataFrame, R: pd.Series, B: pd.Series | None = None, method: str = "carino") -> pd.Series:
    """Link per-period parts (columns of ``parts``) over all its periods.

    ``parts`` rows must add up to ``R - B`` per period for the linked parts to add up to
    the compounded ``R - B``. Returns a Series over ``parts.columns``.
    """
    beta = linking_coefficients(R.reindex(parts.index).to_numpy(dtype=float),
                                None if B is None else B.reindex(parts.index).to_numpy(dtype=float), method)
    return pd.Series(beta @ parts.to_numpy(dtype=float), index=parts.columns)


# ----------------------------------------------------------------------------- contributions
def contributions(weights: pd.DataFrame, returns: pd.DataFrame, *, cash_return: pd.Series | None = None,
                  costs: pd.Series | None = None, value: pd.Series | None = None,
                  initial_value: float | None = None) -> pd.DataFrame:
    """Per-period contribution of each asset, of cash and of trading costs.

    Parameters
    ----------
    weights : DataFrame, dates x symbols
        Post-trade weights on each valuation date (fractions of the book's value); the
        weight at the *start* of period t is the row of date t-1 (zero before the first
        date: the book starts in cash). NaN counts as 0.
    returns : DataFrame, dates x symbols
        Each asset's simple return over period t (ending on date t). NaN is allowed
        only where the weight at the start of the period is 0.
    cash_return : Series, optional
        Return of cash over period t (e.g. ``growth - 1``); default 0.
    costs : Series, optional
        Trading costs paid on date t (currency). Needs ``value``.
    value : Series, optional
        The book's value on each date (currency), post-trade and net of costs.
    initial_value : float, optional
        The book's value before the first date (the starting capital).

    Returns
    -------
    DataFrame, dates x (symbols + ["cash", "costs"])
        Fractions of the book's value at the start of each period. Rows add up to the
        book's return when the inputs describe the book (tested to 1e-10).
    """
    idx = weights.index
    syms = list(weights.columns)
    W = weights.reindex(columns=syms).fillna(0.0).to_numpy(dtype=float)
    Rt = returns.reindex(index=idx, columns=syms).to_numpy(dtype=float)
    W0 = np.vstack([np.zeros((1, len(syms))), W[:-1]])  # weight at the start of each period
    bad = (W0 != 0) & ~np.isfinite(Rt)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise ValueError(f"{syms[j]} is held at the start of the period ending {idx[t].date()} but has no return")
    C = np.where(W0 != 0, W0 * np.nan_to_num(Rt), 0.0)
    out = pd.DataFrame(C, index=idx, columns=syms)
    cash_w = 1.0 - W0.sum(axis=1)
    rc = np.zeros(len(idx)) if cash_return is None else cash_return.reindex(idx).fillna(0.0).to_numpy(dtype=float)
    out[CASH] = cash_w * rc
    if costs is not None:
        if value is None or initial_value is None:
            raise ValueError("costs need the book's value and its initial value to become fractions")
        v0 = np.concatenate([[float(initial_value)], value.reindex(idx).to_numpy(dtype=float)[:-1]])
        out[COSTS] = -costs.reindex(idx).fillna(0.0).to_numpy(dtype=float) / v0
    else:
        out[COSTS] = 0.0
    return out


Membership = pd.DataFrame | Sequence[tuple[pd.Timestamp, pd.DataFrame]] | Mapping[pd.Timestamp, pd.DataFrame]


def _segments(membership: Membership) -> list[tuple[pd.Timestamp | None, pd.DataFrame]]:
    if isinstance(membership, pd.DataFrame):
        return [(None, membership)]
    items = list(membership.items()) if isinstance(membership, Mapping) else list(membership)
    if not items:
        raise ValueError("membership is empty")
    items = sorted(((pd.Timestamp(d), m) for d, m in items), key=lambda t: t[0])
    return [(None, items[0][1])] + items[1:]  # the first one also applies before its date


def membership_weights(membership: Membership, symbols: Sequence[str],
                       asof: pd.DatetimeIndex) -> tuple[np.ndarray, list[str]]:
    """Membership in force on each date of ``asof``: array (len(asof), N, G) and the group ids.

    ``membership`` is one DataFrame (symbols x groups) or a sequence of
    ``(effective_from, DataFrame)``; the first one also applies before its date.
    Symbols missing from a membership frame have no group (rows of 0).
    """
    segs = _segments(membership)
    groups = list(dict.fromkeys(g for _, m in segs for g in m.columns))
    mats = [m.reindex(index=list(symbols), columns=groups).fillna(0.0).to_numpy(dtype=float) for _, m in segs]
    # compare in one unit: pandas indexes may hold microseconds where a Timestamp holds nanoseconds
    starts = np.array([np.iinfo(np.int64).min if d is None else d.as_unit("ns").value for d, _ in segs],
                      dtype=np.int64)
    which = np.searchsorted(starts, pd.DatetimeIndex(asof).as_unit("ns").asi8, side="right") - 1
    return np.stack([mats[k] for k in which]) if len(which) else np.zeros((0, len(symbols), len(groups))), groups


def group_contributions(contrib: pd.DataFrame, membership: Membership, *, keep: Sequence[str] = (CASH, COSTS),
                        asof: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Contributions by group: asset contributions times weighted membership.

    Parameters
    ----------
    contrib : DataFrame, dates x parts
        From :func:`contributions` (assets plus ``cash`` and ``costs``).
    membership : DataFrame or sequence of (effective_from, DataFrame)
        Symbols x groups membership weights (point in time, see :func:`membership_weights`).
    keep : sequence of str
        Non-asset columns carried over unchanged.
    asof : DatetimeIndex, optional
        Date of the classification for each period; default the start of the period
        (the previous valuation date; the first period uses its own date).

    Returns
    -------
    DataFrame, dates x (groups + keep)
    """
    syms = [c for c in contrib.columns if c not in keep]
    idx = contrib.index
    if asof is None:
        asof = pd.DatetimeIndex([idx[0], *idx[:-1]]) if len(idx) else idx
    M, groups = membership_weights(membership, syms, asof)
    C = contrib[syms].to_numpy(dtype=float)
    G = np.einsum("tn,tng->tg", C, M) if len(idx) else np.zeros((0, len(groups)))
    out = pd.DataFrame(G, index=idx, columns=groups)
    for k in keep:
        if k in contrib.columns:
            out[k] = contrib[k]
    return out


def group_weights(weights: pd.DataFrame, membership: Membership, *, asof: pd.DatetimeIndex | None = None,
                  start: bool = True) -> pd.DataFrame:
    """Group weights at the start of each period (``start=True``) or on each date, plus ``cash``."""
    idx = weights.index
    W = weights.fillna(0.0).to_numpy(dtype=float)
    if start:
        W = np.vstack([np.zeros((1, W.shape[1])), W[:-1]])
        if asof is None:
            asof = pd.DatetimeIndex([idx[0], *idx[:-1]]) if len(idx) else idx
    elif asof is None:
        asof = idx
    M, groups = membership_weights(membership, list(weights.columns), asof)
    out = pd.DataFrame(np.einsum("tn,tng->tg", W, M) if len(idx) else np.zeros((0, len(groups))),
                       index=idx, columns=groups)
    out[CASH] = 1.0 - W.sum(axis=1)
    return out


@dataclass
class Linked:
    """Per-period parts and their links over the whole span.

    Attributes
    ----------
    periods : DataFrame, dates x parts
        Per-period parts (fractions of the book's value at the start of the period).
    linked : Series
        Each part linked over the span (fractions of the value at the start of the span);
        adds up to ``total``.
    cumulative : DataFrame, dates x parts
        Each part linked from the first period up to each date (adds up, row by row, to
        the compounded return to that date); for charts.
    total : float
        Compounded return (or active return ``R - B``) over the span.
    method : str
    residual : Series
        Per period, the return minus the sum of the parts (0 when the parts describe the
        book; kept so a test or a reader can see it).
    """

    periods: pd.DataFrame
    linked: pd.Series
    cumulative: pd.DataFrame
    total: float
    method: str
    residual: pd.Series


def linked_parts(parts: pd.DataFrame, R: pd.Series, B: pd.Series | None = None, method: str = "carino",
                 *, cumulative: bool = True) -> Linked:
    """Link ``parts`` (rows adding up to ``R - B``) over the span, and cumulatively to each date.

    The cumulative links re-link from the first period to each date t (Carino: with that
    sub-span's own ``k``), so every row of ``cumulative`` adds up to the compounded
    active return up to t. Cost: one pass for Carino; O(T^2) for Menchero, so Menchero
    returns only the last row.
    """
    R = R.reindex(parts.index).astype(float)
    Bs = None if B is None else B.reindex(parts.index).astype(float)
    active = R - (0.0 if Bs is None else Bs)
    resid = active - parts.sum(axis=1)
    total = float(np.prod(1.0 + R.to_numpy()) - (np.prod(1.0 + Bs.to_numpy()) if Bs is not None else 1.0))
    lk = link(parts, R, Bs, method)
    cum = pd.DataFrame(index=parts.index, columns=parts.columns, dtype=float)
    if cumulative and len(parts):
        r = R.to_numpy()
        b = np.zeros_like(r) if Bs is None else Bs.to_numpy()
        if method == "carino":
            k_t = _log_ratio(r, b)
            RT = np.cumprod(1.0 + r) - 1.0
            BT = np.cumprod(1.0 + b) - 1.0
            k = _log_ratio(RT, BT)
            acc = np.cumsum(k_t[:, None] * parts.to_numpy(dtype=float), axis=0)
            cum = pd.DataFrame(acc / k[:, None], index=parts.index, columns=parts.columns)
        else:
            cum.iloc[-1] = lk.to_numpy()
    return Linked(periods=parts, linked=lk, cumulative=cum, total=total, method=method, residual=resid)


# ----------------------------------------------------------------------------- Brinson-Fachler
@dataclass
class BrinsonFachler:
    """Brinson–Fachler effects per period and linked.

    Attributes
    ----------
    allocation, selection, interaction : DataFrame, dates x groups
        Per-period effects (fractions of the book's value at the start of the period).
    other : DataFrame, dates x extra effects
        Effects outside the groups (trading costs), per period.
    portfolio, benchmark : Series
        Per-period returns ``R`` and ``B``.
    linked : DataFrame, groups (+ other effects) x ["allocation", "selection", "interaction", "total"]
        Linked over the span; the grand total equals ``prod(1+R) - prod(1+B)``.
    method : str
    """

    allocation: pd.DataFrame
    selection: pd.DataFrame
    interaction: pd.DataFrame
    other: pd.DataFrame
    portfolio: pd.Series
    benchmark: pd.Series
    linked: pd.DataFrame
    method: str

    @property
    def active(self) -> float:
        """Compounded active return ``prod(1+R) - prod(1+B)``."""
        return float(np.prod(1.0 + self.portfolio.to_numpy()) - np.prod(1.0 + self.benchmark.to_numpy()))

    def per_period_total(self) -> pd.Series:
        """Sum of every effect per period (equals ``R - B``)."""
        return (self.allocation.sum(axis=1) + self.selection.sum(axis=1) + self.interaction.sum(axis=1)
                + self.other.sum(axis=1))


def brinson_fachler(wp: pd.DataFrame, rp: pd.DataFrame, wb: pd.DataFrame, rb: pd.DataFrame, *,
                    other: pd.DataFrame | None = None, method: str = "carino") -> BrinsonFachler:
    """Brinson–Fachler allocation, selection and interaction per group, linked over time.

    Parameters
    ----------
    wp, rp : DataFrame, dates x groups
        The book's weight in each group at the start of each period and the group's
        return over the period. Where ``wp`` is 0 the group's return may be NaN (it is
        then set to ``rb``). Each row of ``wp`` must add up to 1 (include cash as a group).
    wb, rb : DataFrame, dates x groups
        The benchmark's group weights (rows adding up to 1) and group returns.
    other : DataFrame, dates x effects, optional
        Parts of the book's return outside the groups (trading costs), kept as effects.
    method : {"carino", "menchero"}
        Linking method.

    Returns
    -------
    BrinsonFachler
        Per period, allocation + selection + interaction + other = R - B, with
        ``R = sum(wp * rp) + sum(other)`` and ``B = sum(wb * rb)``.
    """
    groups = list(dict.fromkeys([*wp.columns, *wb.columns]))
    idx = wp.index
    WP = wp.reindex(index=idx, columns=groups).fillna(0.0).to_numpy(dtype=float)
    WB = wb.reindex(index=idx, columns=groups).fillna(0.0).to_numpy(dtype=float)
    RB = rb.reindex(index=idx, columns=groups).to_numpy(dtype=float)
    RP = rp.reindex(index=idx, columns=groups).to_numpy(dtype=float)
    RB = np.where((WB == 0) & ~np.isfinite(RB), 0.0, RB)
    RP = np.where((WP == 0) | ~np.isfinite(RP), RB, RP)
    if (~np.isfinite(RB)).any():
        t, g = np.argwhere(~np.isfinite(RB))[0]
        raise ValueError(f"benchmark group {groups[g]} has weight but no return in the period ending {idx[t].date()}")
    for name, W in (("book", WP), ("benchmark", WB)):
        dev = np.abs(W.sum(axis=1) - 1.0)
        if (dev > 1e-9).any():
            t = int(np.argmax(dev))
            raise ValueError(f"{name} group weights add up to {W[t].sum():.12g}, not 1, at the start of the period "
                             f"ending {idx[t].date()} (include cash as a group)")
    Bt = (WB * RB).sum(axis=1)
    oth = (pd.DataFrame(index=idx) if other is None else other.reindex(idx).fillna(0.0))
    Rt = (WP * RP).sum(axis=1) + oth.to_numpy(dtype=float).sum(axis=1)
    alloc = (WP - WB) * (RB - Bt[:, None])
    sel = WB * (RP - RB)
    inter = (WP - WB) * (RP - RB)
    A = pd.DataFrame(alloc, index=idx, columns=groups)
    S = pd.DataFrame(sel, index=idx, columns=groups)
    I = pd.DataFrame(inter, index=idx, columns=groups)
    beta = linking_coefficients(Rt, Bt, method)
    rows = {}
    for g in groups:
        a, s, i = float(beta @ A[g].to_numpy()), float(beta @ S[g].to_numpy()), float(beta @ I[g].to_numpy())
        rows[g] = {"allocation": a, "selection": s, "interaction": i, "total": a + s + i}
    for c in oth.columns:
        v = float(beta @ oth[c].to_numpy(dtype=float))
        rows[c] = {"allocation": 0.0, "selection": 0.0, "interaction": 0.0, "total": v}
    return BrinsonFachler(allocation=A, selection=S, interaction=I, other=oth,
                          portfolio=pd.Series(Rt, index=idx, name="portfolio"),
                          benchmark=pd.Series(Bt, index=idx, name="benchmark"),
                          linked=pd.DataFrame.from_dict(rows, orient="index"), method=method)


def segment_returns(contrib: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Group returns from group contributions and start-of-period group weights (NaN where the weight is 0)."""
    w = weights.reindex(index=contrib.index, columns=contrib.columns)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = contrib.to_numpy(dtype=float) / w.to_numpy(dtype=float)
    r[np.abs(w.to_numpy(dtype=float)) < 1e-15] = np.nan
    return pd.DataFrame(r, index=contrib.index, columns=contrib.columns)
