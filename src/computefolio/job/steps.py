"""The steps of the main job that call the library: load, construct, benchmarks, risk, correlation.

Each function takes the strategy (and what earlier steps produced) and returns library
objects; tables and sentences for the outputs are built in :mod:`computefolio.job.results`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..allocate.sleeves import build_allocator
from ..clock import periods_per_year
from ..data.load import load_market as load_data
from ..data.market import MarketData
from ..errors import ConfigError
from ..strategy import Strategy
from ..universe import Universe, load_universe


def history_start(strategy: Strategy) -> pd.Timestamp:
    """First date of data to load: ``start`` minus the estimation window (and a margin)."""
    per_day = 365.25 / periods_per_year(strategy.basis)
    days = int(math.ceil(max(strategy.lookback, strategy.risk.correlation_window) * per_day * 1.05)) + 10
    return pd.Timestamp(strategy.start) - pd.Timedelta(days=days)


def data_start(strategy: Strategy, universe: Universe | None = None) -> pd.Timestamp:
    """First date to load: the estimators' history before ``start``, and the earliest
    historical stress window the strategy runs (so old scenarios replay on real moves)."""
    start = history_start(strategy)
    if strategy.stress.historical != "none":
        scen = select_scenarios(strategy, universe if universe is not None else load_universe())
        firsts = [pd.Timestamp(s.start) for s in scen if s.kind == "historical"]
        if firsts:
            start = min(start, min(firsts) - pd.Timedelta(days=7))
    return start


def load_market(strategy: Strategy, universe: Universe, data: str | Path | None = None) -> MarketData:
    """The market of a strategy: sample, files (``data`` overrides) or store, from
    :func:`data_start` to ``end``."""
    start = data_start(strategy, universe)
    end = pd.Timestamp(strategy.end) if strategy.end is not None else None
    if data is not None:
        return load_data(universe, source="files", path=data, start=start, end=end)
    src = strategy.data.source
    if src == "auto":
        from ..data.load import resolve_source

        src = resolve_source(store=strategy.data.store or None)
    if src == "sample":
        return load_data(universe, source="sample", start=start, end=end, seed=strategy.data.seed)
    if src == "files":
        return load_data(universe, source="files", path=strategy.resolve_dir(strategy.data.path, "data.path"),
                         start=start, end=end)
    return load_data(universe, source="store", store=strategy.data.store or None, start=start, end=end)


#: Share of a sleeve's members (with data, counted equally) that must have fresh prices
#: for a run without an explicit end to go on.
FRESH_MAJORITY = 0.5


def resolve_end(strategy: Strategy, universe: Universe, market: MarketData, delisted=None
                ) -> tuple[pd.Timestamp, str]:
    """The last valuation date of a run, and why.

    With an ``end`` (the strategy's, or ``--end``/``--asof``), that date (the data's last
    date if earlier, said in the reason). Without one: the last date on which every
    budget group (sleeve or layer) still has fresh prices for most of its members with
    data (more than :data:`FRESH_MAJORITY` of them, counted equally), so a run neither
    stops at the earliest end among all assets nor runs months into a frozen sleeve.
    "Fresh" = the asset's last price is on its calendar's last bar (:meth:`MarketData.freshness`).

    Returns
    -------
    (end, reason) — ``reason`` is one sentence for the outputs.
    """
    if strategy.end is not None:
        asked = pd.Timestamp(strategy.end)
        if asked > market.end:
            return market.end, (f"the run ends on {market.end.date()}, the last date of the data, before the "
                                f"requested end {asked.date()}")
        return asked, f"the run ends on {asked.date()} as requested"
    m = universe.membership(strategy.budget_by)
    groups = {g: {s: 1.0 for s in market.symbols if s in m.index and m.at[s, g] > 0}
              for g in strategy.budgets if g in m.columns}
    day, fail = market.last_fresh_date(groups, delisted=delisted, majority=FRESH_MAJORITY,
                                       not_before=strategy.start)
    if day is None:
        return market.end, (f"the run ends on {market.end.date()}, the last date of the data (no date had fresh "
                            f"prices for most members of every {strategy.budget_by})")
    if fail is None:
        return day, f"the run ends on {day.date()}, the last date of the data"
    lives = market.lives()
    stale = sorted(set(fail["alive"]) - set(fail["fresh"]))
    ends = ", ".join(f"{s} {lives.at[s, 'last'].date()}" for s in stale[:10]) + (" ..." if len(stale) > 10 else "")
    return day, (f"the run ends on {day.date()}, the last date on which every {strategy.budget_by} has fresh prices "
                 f"for most of its members: after it, {fail['group']} has fresh prices for only "
                 f"{len(fail['fresh'])} of {len(fail['alive'])} (prices end: {ends}); the data run to "
                 f"{market.end.date()}; pass --end to choose another date")


def group_gap_message(exc, strategy: Strategy, universe: Universe, market: MarketData, mandate=None) -> str | None:
    """When a rebalance failed because a group has no member with data, say which.

    Looks at the budget groups and the mandate's group minimums on the failing date
    (``exc.date``) and names each group without a member that has prices then, with
    its members and where each member's data starts and ends. None when that is not
    the cause.
    """
    day = getattr(exc, "date", None)
    if day is None:
        return None
    day = pd.Timestamp(day)
    lives = market.lives()
    whys: dict[tuple[str, str], list[str]] = {}
    for g in strategy.budgets:
        whys.setdefault((strategy.budget_by, g), []).append("has a budget")
    if mandate is not None:
        for r in mandate.groups:
            if r.min:
                whys.setdefault((r.by, r.group), []).append(f"mandate minimum {r.min:g}")
    lines = []
    for (by, g), why in whys.items():
        why = "; ".join(why)
        try:
            m = universe.membership(by, date=day)
        except Exception:  # noqa: BLE001 - an unknown field is another error's business
            continue
        if g not in m.columns:
            continue
        mem = [s for s in m.index if m.at[s, g] > 0 and not universe.asset(s).benchmark]
        live = [s for s in mem if s in lives.index and pd.notna(lives.at[s, "first"])
                and lives.at[s, "first"] <= day <= lives.at[s, "last"]]
        if live:
            continue
        spans = []
        for s in mem:
            if s in lives.index and pd.notna(lives.at[s, "first"]):
                spans.append(f"{s} {lives.at[s, 'first'].date()}..{lives.at[s, 'last'].date()}")
            else:
                spans.append(f"{s} no data")
        lines.append(f"{by} {g} ({why}) has no member with prices on {day.date()}; its members' data: "
                     + ", ".join(spans))
    if not lines:
        return None
    return "; ".join(lines) + ". Choose --start/--end inside the data, or data that cover the group"


def _aggregate_dated(messages: list[str]) -> list[str]:
    """Merge ``"YYYY-MM-DD: text"`` messages with the same text into one line listing the dates."""
    import re

    out: list[str] = []
    dated: dict[str, list[str]] = {}
    for m in messages:
        g = re.match(r"^(\d{4}-\d{2}-\d{2}): (.*)$", m, re.S)
        if g:
            dated.setdefault(g.group(2), []).append(g.group(1))
        elif m not in out:
            out.append(m)
    for text, days in dated.items():
        shown = ", ".join(days[:6]) + (f" and {len(days) - 6} more" if len(days) > 6 else "")
        out.append(f"{len(days)} rebalance{'s' if len(days) > 1 else ''} ({shown}): {text}")
    return out


def investable_symbols(strategy: Strategy, universe: Universe, market: MarketData) -> list[str]:
    """Symbols in a budget group (membership > 0 at any date) that have prices."""
    m = universe.membership(strategy.budget_by)
    groups = [g for g in strategy.budgets if g in m.columns]
    have = set(market.symbols)
    return [s for s in universe.symbols if s in have and (m.loc[s, groups] > 0).any()]


def build_policy(strategy: Strategy, universe: Universe, mandate, symbols: list[str], market: MarketData | None = None):
    """The :class:`computefolio.backtest.policy.Policy` of a strategy."""
    from ..allocate.voltarget import VolatilityTarget
    from ..backtest.policy import Policy
    from ..backtest.schedule import Calendar, DriftBands

    cal = Calendar(strategy.schedule.frequency, clock="session")
    sched = cal
    if strategy.drift_bands is not None:
        b = strategy.drift_bands
        if b.by == "asset":
            sched = DriftBands(abs=b.absolute, rel=b.relative, review=cal)
        else:
            groups = universe.membership(b.by, symbols=symbols)
            sched = DriftBands(group_abs=b.absolute, group_rel=b.relative, groups=groups, review=cal)
    vt = None
    if strategy.vol_target is not None:
        vt = VolatilityTarget(strategy.vol_target.target, leverage_max=strategy.vol_target.leverage_max,
                              basis=strategy.basis, mandate=mandate)
    alloc = build_allocator(strategy, mandate)
    alloc.overlay = vt  # the allocator builds its book for the overlay's scale (see StrategyAllocator.fit)
    if market is not None:
        alloc.no_volume = {s for s in symbols if not market.has_volume(s)}
    return Policy(alloc, sched, vol_target=vt, lookback=strategy.lookback, basis=strategy.basis,
                  min_history=strategy.min_history, name=strategy.name)


def benchmark_weights(spec, universe: Universe, prices: pd.DataFrame, schedule_dates: pd.DatetimeIndex):
    """Target weights of a benchmark book (DataFrame indexed by its rebalance dates) and notes."""
    notes = []
    first = prices.index[0]
    if spec.weights is not None:
        syms = list(spec.weights)
        missing = [s for s in syms if s not in prices.columns or prices[s].notna().sum() == 0]
        if missing:
            return None, [f"benchmark {spec.name}: no prices for {', '.join(missing)}; left out"]
        starts = {s: prices[s].first_valid_index() for s in syms}
        late = [s for s, d in starts.items() if d > first]
        if late:
            notes.append(f"benchmark {spec.name}: starts {max(starts.values()).date()} when "
                         f"{', '.join(late)} first has a price")
        d0 = max(starts.values())
        dates = [d0] + ([] if spec.rebalance == "never" else [d for d in schedule_dates if d > d0])
        w = pd.DataFrame([spec.weights] * len(dates), index=pd.DatetimeIndex(dates), dtype=float)
        return w, notes
    syms = [s for s in universe.symbols if universe.asset(s).sleeve in set(spec.equal_weight)
            and s in prices.columns]
    dates = [first] + [d for d in schedule_dates if d > first]
    live = np.isfinite(prices.loc[pd.DatetimeIndex(dates), syms].to_numpy(dtype=float))
    n = live.sum(axis=1, keepdims=True)
    w = pd.DataFrame(np.where(live, 1.0 / np.maximum(n, 1), 0.0), index=pd.DatetimeIndex(dates), columns=syms)
    notes.append(f"benchmark {spec.name}: equal weight over the listed assets of "
                 f"{', '.join(spec.equal_weight)} at each {spec.rebalance} rebalance")
    return w, notes


def select_scenarios(strategy: Strategy, universe: Universe) -> list:
    """The stress scenarios the strategy asks for (ConfigError naming an unknown one)."""
    from ..risk.stress import load_scenarios

    path = strategy.resolve(strategy.stress.file, "stress.file") if strategy.stress.file else None
    scen = load_scenarios(path, universe)
    out = []
    for kind in ("historical", "hypothetical"):
        want = getattr(strategy.stress, kind)
        have = [s for s in scen if s.kind == kind]
        if want == "none":
            continue
        if want == "all":
            out.extend(have)
            continue
        names = {s.name: s for s in have}
        unknown = [n for n in want if n not in names]
        if unknown:
            raise ConfigError(str(strategy.file) if strategy.file else None, f"stress.{kind}",
                              f"names of {kind} scenarios ({', '.join(sorted(names))}); unknown: {', '.join(unknown)}")
        out.extend(names[n] for n in want)
    return out


def _risk_step(strategy: Strategy, universe: Universe, market: MarketData, w: pd.Series, capital: float,
               asof: pd.Timestamp, **private):
    """:func:`computefolio.risk.report.risk_report` on the final book (``market`` ends at ``asof``);
    ``private``: ``extra_returns``, ``extra_methods`` and ``access`` of a private sleeve (job.private)."""
    from ..risk.report import risk_report

    rk = strategy.risk
    pairs = (("BTC", "QQQ"),) if {"BTC", "QQQ"} <= set(market.symbols) else ()
    return risk_report(w, market, universe, capital=capital, basis=strategy.basis,
                       confidence=rk.confidence, horizon=rk.horizon, scenarios=select_scenarios(strategy, universe),
                       lookback=rk.window, asof=asof, participation=rk.participation, pairs=pairs,
                       regime_legs=(), correlation_window=rk.correlation_window, seed=rk.seed, dcc=False, **private)


def _correlation_step(strategy: Strategy, universe: Universe, rets: pd.DataFrame, warns: list) -> dict | None:
    """Rolling, EWMA and DCC correlation of the two sleeves over the backtest, with regimes."""
    from ..errors import ComputefolioError
    from ..risk.regimes import correlation_regimes

    legs = []
    for sl in ("digital_assets", "ai_equities"):
        members = [s for s in universe.select(sleeve=sl) if s in rets.columns and rets[s].notna().any()]
        legs.append(members)
    if not all(legs):
        warns.append("sleeve correlation: a sleeve has no asset with returns in the backtest window")
        return None
    try:
        out = correlation_regimes(rets, legs[0], legs[1], window=strategy.risk.correlation_window, dcc=True)
    except (ComputefolioError, ValueError) as exc:
        warns.append(f"sleeve correlation: {exc}")
        return None
    out["a"], out["b"] = "digital_assets", "ai_equities"
    return out
