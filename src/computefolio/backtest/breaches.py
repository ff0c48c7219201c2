"""The mandate through time: every rule checked after every rebalance and at every valuation date.

A mandate must hold at every date, not only on the final book. :func:`mandate_breaches`
checks a backtest's daily post-trade weights against each rule of a
:class:`~computefolio.allocate.mandate.Mandate` and classifies every violation:

*active*
    On a rebalance date, the rule is broken after the trades by more than before them
    (our trade caused or worsened it). A mandate-compliant construction has none.
*passive*
    Broken by the market: on a valuation date without trades, or on a rebalance date
    no worse than before the trades (drift the rebalance could not or did not cure).

Consecutive dates on which one rule (and one asset or group) is broken form an *episode*,
reported with its first and last date, its largest size and the calendar days until it
was cured (None when still open on the last date).

Rules checked (sizes are fractions of the book's value, 0 when a rule holds)
--------------------------------------------------------------------------
held at zero (restricted list, benchmarks when not held, an asset max of 0) · long only ·
asset max/min with overrides · cash floor · gross leverage · group min/max by any taxonomy
field (look-through with weighted membership as of each date's classification) · minimum
compute exposure · liquidity: position <= days x participation x ADV (ADV per period of the
book's basis, the last 20 periods' traded value, carried when volume stops) and, on
rebalance dates, each trade <= max_adv_fraction x ADV. Turnover is checked by the
allocator at each fit (against the composition, not the volatility overlay's rescaling);
fits where it could not be applied are listed by the run's caveats.

Pre-trade weights on a rebalance date are the previous date's weights drifted with each
asset's price over the period and divided by the pre-trade book value (post-trade value
plus the day's costs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TOL = 1e-7


@dataclass
class BreachReport:
    """What :func:`mandate_breaches` found.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per (date, rule, item) broken: ``date, rule, item, detail, size`` (fraction
        of the book), ``kind`` (active | passive), ``rebalance`` (bool).
    episodes : pandas.DataFrame
        Consecutive dates of one (rule, item): ``rule, item, detail, kind`` (active if its
        first date was an active breach: the episode started with the book's trade; its
        ``max_size`` may include drift after it), ``start, end`` (last date broken), ``dates``,
        ``max_size``, ``cured`` (first date it held again, NaT if open) and ``days_to_cure``.
    rebalances : int
        Rebalance dates checked.
    active_rebalances : int
        Rebalance dates with at least one active breach.
    checked : list of str
        Rules checked; ``not_checked`` says which could not be and why.
    """

    events: pd.DataFrame
    episodes: pd.DataFrame
    rebalances: int
    active_rebalances: int
    dates: int
    checked: list = field(default_factory=list)
    not_checked: list = field(default_factory=list)

    @property
    def active(self) -> pd.DataFrame:
        return self.events[self.events["kind"] == "active"]

    def summary(self) -> str:
        n_act = int((self.events["kind"] == "active").sum()) if len(self.events) else 0
        n_pas_ep = int((self.episodes["kind"] == "passive").sum()) if len(self.episodes) else 0
        return (f"{self.active_rebalances} of {self.rebalances} rebalances with an active breach ({n_act} rule "
                f"breaches caused by trades); {n_pas_ep} passive breach episodes over {self.dates} valuation dates")


def _episodes(events: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Runs of consecutive valuation dates on which one (rule, item) is broken."""
    cols = ["rule", "item", "detail", "kind", "start", "end", "dates", "max_size", "cured", "days_to_cure"]
    if events.empty:
        return pd.DataFrame(columns=cols)
    ev = events.sort_values(["rule", "item", "date"], kind="stable").reset_index(drop=True)
    pos = index.get_indexer(pd.DatetimeIndex(ev["date"]))
    key = (ev["rule"] + "\x00" + ev["item"]).to_numpy()
    new = np.ones(len(ev), dtype=bool)
    new[1:] = (key[1:] != key[:-1]) | (np.diff(pos) > 1)
    gid = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(ev) - 1]
    size = ev["size"].to_numpy()
    max_size = np.maximum.reduceat(size, first)
    nxt = pos[last] + 1
    cured = pd.DatetimeIndex([index[k] if k < len(index) else pd.NaT for k in nxt])
    start = pd.DatetimeIndex(ev["date"].to_numpy()[first])
    days = [None if pd.isna(c) else int((c - a).days) for c, a in zip(cured, start)]
    out = pd.DataFrame({"rule": ev["rule"].to_numpy()[first], "item": ev["item"].to_numpy()[first],
                        "detail": ev["detail"].to_numpy()[first],
                        "kind": np.where(ev["kind"].to_numpy()[first] == "active", "active", "passive"),
                        "start": start, "end": pd.DatetimeIndex(ev["date"].to_numpy()[last]),
                        "dates": np.bincount(gid), "max_size": max_size, "cured": cured, "days_to_cure": days},
                       columns=cols)
    return out.sort_values(["start", "rule"], kind="stable").reset_index(drop=True)


def mandate_breaches(result, mandate, universe, market=None, *, tol: float = TOL,
                     adv_window: int = 20) -> BreachReport:
    """Check a backtest's weights against ``mandate`` on every valuation date.

    Parameters
    ----------
    result : computefolio.backtest.Result
        With daily ``weights`` (``keep_weights=True``), ``equity``, ``costs`` and ``trades``.
    mandate : Mandate
    universe : Universe
        Taxonomy for group and compute-exposure rules, as of each date.
    market : MarketData, optional
        Prices (drift to pre-trade weights) and volume (liquidity rules). Without it,
        pre-trade weights are the previous date's and liquidity rules are not checked.
    tol : float
        A rule counts as broken above this size (fraction of the book).

    Returns
    -------
    BreachReport
    """
    if result.weights is None:
        raise ValueError("mandate_breaches needs the backtest's daily weights (keep_weights=True)")
    Wdf = result.weights.fillna(0.0)
    idx = Wdf.index
    syms = [str(c) for c in Wdf.columns]
    W = Wdf.to_numpy(dtype=float)
    T, N = W.shape
    V = result.equity.reindex(idx).to_numpy(dtype=float)
    C = result.costs.reindex(idx).fillna(0.0).to_numpy(dtype=float)
    trades = result.trades
    reb_dates = set(pd.DatetimeIndex(trades["date"]).normalize()) if len(trades) else set()
    reb_dates |= {pd.Timestamp(e["date"]) for e in (getattr(result, "rebalances", None) or [])}
    is_reb = np.array([d in reb_dates for d in idx])

    # pre-trade weights: yesterday's weights drifted by each price, over the pre-trade value
    px = None
    if market is not None:
        px = market.prices(result.basis).reindex(index=idx, columns=syms).ffill().to_numpy(dtype=float)
    Wpre = np.zeros_like(W)
    for i in np.flatnonzero(is_reb):
        if i == 0:
            continue
        vals = W[i - 1] * V[i - 1]
        if px is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                g = np.where(np.isfinite(px[i]) & np.isfinite(px[i - 1]) & (px[i - 1] > 0), px[i] / px[i - 1], 1.0)
            vals = vals * g
        pre_v = V[i] + C[i]
        Wpre[i] = vals / pre_v if pre_v > 0 else 0.0

    rules: list[tuple[str, str, str, np.ndarray, np.ndarray | None]] = []  # (rule, item, detail, post, pre)
    checked, not_checked = [], []

    def add(rule, item, detail, post, pre=None):
        rules.append((rule, item, detail, np.maximum(post, 0.0), None if pre is None else np.maximum(pre, 0.0)))

    # held at zero
    fixed = mandate.fixed_zero(syms, universe=universe)
    for s, why in fixed.items():
        j = syms.index(s)
        add("held at zero", s, why, np.abs(W[:, j]), np.abs(Wpre[:, j]))
    checked.append("held at zero")
    free = [j for j, s in enumerate(syms) if s not in fixed]
    if mandate.long_only:
        for j in free:
            add("long_only", syms[j], "weight >= 0", -W[:, j], -Wpre[:, j])
        checked.append("long_only")
    ov = mandate.assets.overrides
    for j in free:
        s = syms[j]
        hi = ov[s].max if s in ov and ov[s].max is not None else mandate.assets.max
        lo = ov[s].min if s in ov and ov[s].min is not None else mandate.assets.min
        if hi < np.inf:
            add("assets.max", s, f"{s} <= {hi:g}", W[:, j] - hi, Wpre[:, j] - hi)
        if lo > 0 or not mandate.long_only:
            add("assets.min", s, f"{s} >= {lo:g}", lo - W[:, j], lo - Wpre[:, j])
    checked.append("assets.max/min")
    cash, cash_pre = 1.0 - W.sum(axis=1), 1.0 - Wpre.sum(axis=1)
    if mandate.cash_min > 0:
        add("cash_min", "cash", f"cash >= {mandate.cash_min:g}", mandate.cash_min - cash, mandate.cash_min - cash_pre)
        checked.append("cash_min")
    if mandate.gross_leverage_max is not None:
        lev = float(mandate.gross_leverage_max)
        add("gross_leverage_max", "book", f"sum |w| <= {lev:g}", np.abs(W).sum(axis=1) - lev,
            np.abs(Wpre).sum(axis=1) - lev)
        checked.append("gross_leverage_max")

    # classification as of each date: segments between the universe's reclassification dates
    changes = sorted({pd.Timestamp(c.since) for a in universe.assets if a.symbol in set(syms)
                      for c in [*a.history, a.current] if c.since is not None})
    seg_start = sorted({0, *[int(idx.searchsorted(d)) for d in changes if idx[0] < d <= idx[-1]]})
    seg_bounds = list(zip(seg_start, seg_start[1:] + [T]))
    for g in mandate.groups:
        post = np.zeros(T)
        pre = np.zeros(T)
        for a, b in seg_bounds:
            m = universe.membership(g.by, date=idx[a], symbols=syms)
            if g.group not in m.columns:
                continue
            col = m[g.group].to_numpy()
            post[a:b] = W[a:b] @ col
            pre[a:b] = Wpre[a:b] @ col
        label = f"group {g.by}:{g.group}"
        if g.max is not None:
            add(f"{label} max", g.group, f"exposure to {g.by} {g.group} <= {g.max:g}", post - g.max, pre - g.max)
        if g.min is not None:
            # a book entirely in cash (before the first investment) is not held to group minimums
            invested = W.sum(axis=1) > tol
            add(f"{label} min", g.group, f"exposure to {g.by} {g.group} >= {g.min:g}",
                np.where(invested, g.min - post, 0.0), np.where(Wpre.sum(axis=1) > tol, g.min - pre, 0.0))
    if mandate.groups:
        checked.append("groups")
    if mandate.compute_exposure_min is not None:
        mm = mandate.compute_exposure_min
        post = np.zeros(T)
        pre = np.zeros(T)
        for a, b in seg_bounds:
            c = universe.compute_exposure(idx[a], syms).to_numpy() - mm
            post[a:b] = -(W[a:b] @ c)
            pre[a:b] = -(Wpre[a:b] @ c)
        add("compute_exposure_min", "book", f"weighted average compute score >= {mm:g}", post, pre)
        checked.append("compute_exposure_min")

    liq = mandate.liquidity
    if liq is not None and (liq.max_days_to_liquidate or liq.max_adv_fraction):
        tv = market.traded_values(result.basis) if market is not None else None
        if tv is None:
            not_checked.append("liquidity (no volume data)")
        else:
            # the allocator's ADV: trailing traded value over the full history (not cut at the backtest start)
            adv = tv.reindex(columns=syms).rolling(adv_window, min_periods=1).mean().ffill().reindex(idx)
            adv = adv.where(adv > 0).to_numpy(dtype=float)
            novol = [s for j, s in enumerate(syms) if not np.isfinite(adv[:, j]).any()]
            if novol:
                not_checked.append(f"liquidity for {', '.join(novol)} (no volume data)")
            if liq.max_days_to_liquidate:
                cap = liq.max_days_to_liquidate * liq.participation
                with np.errstate(invalid="ignore"):
                    lim = np.where(np.isfinite(adv), cap * adv / V[:, None], np.inf)
                for j in free:
                    if syms[j] in novol:
                        continue
                    add("liquidity.max_days_to_liquidate", syms[j],
                        f"{syms[j]} position <= {liq.max_days_to_liquidate:g} days x {liq.participation:g} x ADV",
                        np.abs(W[:, j]) - lim[:, j], np.abs(Wpre[:, j]) - lim[:, j])
                checked.append("liquidity.max_days_to_liquidate")
            if liq.max_adv_fraction and len(trades):
                tr = trades[trades["kind"].isin(["rebalance", "deferred"])]
                notional = tr.pivot_table(index="date", columns="symbol", values="notional", aggfunc="sum")
                notional = notional.reindex(index=idx, columns=syms).fillna(0.0).to_numpy(dtype=float)
                with np.errstate(invalid="ignore"):
                    size = np.where(np.isfinite(adv) & (V[:, None] > 0),
                                    (notional - liq.max_adv_fraction * adv) / V[:, None], 0.0)
                for j in np.flatnonzero((size > tol).any(axis=0)):
                    add("liquidity.max_adv_fraction", syms[j], f"{syms[j]} trade <= {liq.max_adv_fraction:g} x ADV",
                        size[:, j], np.zeros(T))
                checked.append("liquidity.max_adv_fraction")

    rows = []
    for rule, item, detail, post, pre in rules:
        for i in np.flatnonzero(post > tol):
            active = bool(is_reb[i] and (pre is None or post[i] > pre[i] + tol))
            rows.append({"date": idx[i], "rule": rule, "item": item, "detail": detail, "size": float(post[i]),
                         "kind": "active" if active else "passive", "rebalance": bool(is_reb[i])})
    events = pd.DataFrame(rows, columns=["date", "rule", "item", "detail", "size", "kind", "rebalance"])
    if len(events):
        events = events.sort_values(["date", "rule", "item"]).reset_index(drop=True)
    act = set(events.loc[events["kind"] == "active", "date"]) if len(events) else set()
    return BreachReport(events=events, episodes=_episodes(events, idx), rebalances=int(is_reb.sum()),
                        active_rebalances=len(act), dates=T, checked=checked, not_checked=not_checked)
