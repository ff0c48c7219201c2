"""Sweeps of strategy variants: a grid of strategy fields, one full policy backtest per variant.

A PM who tests one strategy tests many variants of it. :func:`run_sweep` takes a
strategy and a grid (:class:`Grid`, a YAML file) naming strategy fields and the values
to try; every combination is a variant, and every variant is the strategy's own
policy backtest -- the strategy allocator refitted on its schedule under the mandate,
drift bands, volatility target and costs, exactly as ``computefolio run`` builds it
(:func:`computefolio.job.steps.build_policy`, :func:`computefolio.backtest.policy.backtest`)
-- with its metrics (:func:`computefolio.metrics.summary`). Variants run on any
backend of :mod:`computefolio.scale.executor`; the market, universe, mandates and cost
models are loaded once in the driver and sent to each worker once.

Grid file (``GRID.yaml``)::

    axes:                         # strategy field -> values; every combination is a variant
      lookback: [126, 252, 504]
      vol_target: [0.20, 0.25, null]          # null: no volatility target
      allocator: [erc, hrp]                   # every group's allocator
      covariance: [ledoit_wolf, ewma]
      sleeves.digital_assets.risk_budget: [0.25, 0.35, 0.5]   # the other groups share the rest
    fixed: {start: 2021-01-01}    # optional: fields set for every variant
    heatmap: [lookback, vol_target]   # optional: the report's two heat-map axes
    metric: sharpe                # metric of the heat maps and of the ranking
    blocks: 16                    # CSCV blocks for the PBO (even)
    n_trials: null                # DSR's number of independent trials (default: variants run)

Axis names are strategy fields (:mod:`computefolio.strategy`), dotted for nested ones
(``covariance.halflife``, ``drift_bands.by``, ``vol_target.leverage_max``,
``sleeves.ai_equities.allocator``, ``schedule.frequency``), with shorthands:
``allocator`` sets the allocator of *every* budget group (a group's own allocator in
the strategy would otherwise win); ``schedule``, ``covariance``, ``vol_target`` and
``drift_bands`` take a frequency, a covariance method, a target volatility and an
absolute band (or ``null`` to switch the overlay off). When an axis sets one group's
budget, the groups the grid does not set are rescaled so that budgets still sum to 1.
Fields that would change what is compared (``name``, ``data``, ``universe``, ``basis``,
``currency``, ``benchmarks``, ``risk``, ``stress``, ``description``) cannot be axes.

Robustness: the sweep states the deflated Sharpe ratio of the best variant and the
probability of backtest overfitting of picking the best by Sharpe ratio
(:mod:`computefolio.overfitting`), both on the variants' daily returns in excess of
the strategy's cash rate.
"""

from __future__ import annotations

import copy
import itertools
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..allocate.sleeves import build_allocator
from ..config import load_yaml_model
from ..errors import ConfigError, DataError
from ..strategy import Strategy, strategy_from_dict
from .checkpoint import Checkpoint
from .executor import Executor, SerialExecutor, TaskResult, task_key

__all__ = ["Grid", "load_grid", "Variant", "expand_grid", "SweepContext", "build_context", "run_variant",
           "SweepResult", "run_sweep", "METRICS"]

#: Metrics a grid may rank and map by, with (label, unit, higher is better).
METRICS: dict[str, tuple[str, str, bool]] = {
    "sharpe": ("Sharpe", "ratio", True),
    "cagr": ("CAGR", "fraction/yr", True),
    "annual_return": ("annual return", "fraction/yr", True),
    "volatility": ("volatility", "fraction/yr", False),
    "sortino": ("Sortino", "ratio", True),
    "calmar": ("Calmar", "ratio", True),
    "max_drawdown": ("max drawdown", "fraction", True),  # negative numbers: closer to 0 is better
    "annual_turnover": ("turnover", "fraction/yr", False),
    "total_return": ("total return", "fraction", True),
}

_FORBIDDEN = ("name", "data", "universe", "basis", "currency", "benchmarks", "risk", "stress", "description")
_SHORT = {"schedule": "frequency", "covariance": "method", "vol_target": "target", "drift_bands": "absolute"}


class Grid(BaseModel):
    """A grid file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    axes: dict[str, list[Any]] = Field(min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    heatmap: list[str] | None = None
    metric: Literal["sharpe", "cagr", "annual_return", "volatility", "sortino", "calmar", "max_drawdown",
                    "annual_turnover", "total_return"] = "sharpe"
    blocks: int = Field(default=16, ge=2, le=24)
    n_trials: int | None = Field(default=None, ge=1)

    @field_validator("axes", mode="before")
    @classmethod
    def _scalars(cls, v):
        """``lookback: 126`` is an axis with one value."""
        if isinstance(v, dict):
            return {k: (x if isinstance(x, list) else [x]) for k, x in v.items()}
        return v

    @field_validator("axes")
    @classmethod
    def _axes(cls, v):
        for name, vals in v.items():
            if name.split(".")[0] in _FORBIDDEN:
                raise ValueError(f"axis {name!r}: a sweep compares variants of one strategy on one data set; "
                                 f"{name.split('.')[0]!r} cannot vary")
            if not vals:
                raise ValueError(f"axis {name!r}: at least one value")
            if len({repr(x) for x in vals}) != len(vals):
                raise ValueError(f"axis {name!r}: a value appears twice")
        return v

    @field_validator("blocks")
    @classmethod
    def _even(cls, v):
        if v % 2:
            raise ValueError(f"an even number of blocks, got {v}")
        return v

    @property
    def size(self) -> int:
        return int(np.prod([len(v) for v in self.axes.values()]))

    def heatmap_axes(self) -> list[str]:
        """The two axes of the heat maps: ``heatmap`` when given, else the first two axes with
        more than one value (fewer when the grid has fewer)."""
        if self.heatmap:
            return list(self.heatmap)
        return [a for a, v in self.axes.items() if len(v) > 1][:2]


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid file; errors name the file and the field (:class:`ConfigError`)."""
    g = load_yaml_model(path, Grid)
    if g.heatmap is not None:
        bad = [a for a in g.heatmap if a not in g.axes]
        if len(g.heatmap) != 2 or bad or g.heatmap[0] == g.heatmap[1]:
            raise ConfigError(str(path), "heatmap", f"two different axis names of 'axes' "
                                                    f"({', '.join(g.axes)}), got {g.heatmap}")
    return g


# ---------------------------------------------------------------- variants

@dataclass(frozen=True)
class Variant:
    """One point of the grid.

    Attributes
    ----------
    id : str
        ``v0001``... in grid order.
    values : dict
        Axis name -> value.
    strategy : Strategy
    """

    id: str
    values: dict
    strategy: Strategy

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())


def _show(v) -> str:
    if v is None:
        return "off"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) + "}"
    return str(v)


def _set_path(raw: dict, path: str, value, strategy: Strategy) -> None:
    parts = path.split(".")
    head = parts[0]
    if head not in Strategy.model_fields:
        raise KeyError(f"{head!r} is not a strategy field ({', '.join(sorted(Strategy.model_fields))})")
    if len(parts) == 1:
        if head == "allocator":
            raw["allocator"] = value
            for g in (raw.get(strategy.budget_by + "s") or {}).values():
                if isinstance(g, dict):
                    g["allocator"] = value
            return
        if head in _SHORT and value is not None and not isinstance(value, dict):
            if head in ("vol_target", "drift_bands") and raw.get(head):
                raw[head] = {**raw[head], _SHORT[head]: value}
            elif head == "drift_bands":
                raw[head] = {"absolute": value}
            else:
                raw[head] = {_SHORT[head]: value}
            if head == "drift_bands":  # a band kind replaces the other kind
                raw[head].pop("relative", None)
            return
        raw[head] = value
        return
    node = raw
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = {}
        if not isinstance(node[p], dict):
            raise KeyError(f"{p!r} is not a mapping in the strategy, so {path!r} does not name a field")
        node = node[p]
    node[parts[-1]] = value


def _rebalance_budgets(raw: dict, by: str, set_groups: set[str]) -> None:
    groups = raw.get(by + "s") or {}
    if not set_groups or not groups:
        return
    kind = "risk_budget" if any((g or {}).get("risk_budget") is not None for g in groups.values()) else "weight"
    fixed = sum(float(groups[g][kind]) for g in set_groups if g in groups)
    rest = [g for g in groups if g not in set_groups]
    if not rest:
        return
    left = 1.0 - fixed
    if left <= 0:
        raise ValueError(f"the grid's budgets for {', '.join(sorted(set_groups))} sum to {fixed:g}, "
                         f"leaving nothing for {', '.join(rest)}")
    tot = sum(float(groups[g][kind]) for g in rest)
    for g in rest:
        groups[g][kind] = float(groups[g][kind]) * left / tot


def expand_grid(base: Strategy, grid: Grid, grid_file: str | None = None) -> list[Variant]:
    """Every variant of ``base`` that ``grid`` names, validated (grid order: last axis fastest).

    Raises
    ------
    ConfigError
        Naming the grid file, the axis (or ``fixed`` field) and the variant's values when
        a value does not make a valid strategy.
    """
    raw0 = base.model_dump(mode="json", exclude_none=False)
    for k, v in grid.fixed.items():
        try:
            _set_path(raw0, k, copy.deepcopy(v), base)
        except KeyError as exc:
            raise ConfigError(grid_file, f"fixed.{k}", exc.args[0]) from None
    names = list(grid.axes)
    out = []
    for n, combo in enumerate(itertools.product(*(grid.axes[a] for a in names)), start=1):
        raw = copy.deepcopy(raw0)
        values = dict(zip(names, combo))
        budget_set: set[str] = set()
        for a, v in values.items():
            try:
                _set_path(raw, a, copy.deepcopy(v), base)
            except KeyError as exc:
                raise ConfigError(grid_file, f"axes.{a}", exc.args[0]) from None
            p = a.split(".")
            if len(p) == 3 and p[0] == base.budget_by + "s" and p[2] in ("risk_budget", "weight"):
                budget_set.add(p[1])
        label = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
        try:
            _rebalance_budgets(raw, base.budget_by, budget_set)
            s = strategy_from_dict(raw, base.file)
            build_allocator(s)  # allocator parameters a constructor refuses: a bad grid, not a failed task
        except (ConfigError, ValueError) as exc:
            msg = getattr(exc, "expected", None) or str(exc)
            fld = getattr(exc, "field", None)
            raise ConfigError(grid_file, "axes", f"variant {label} is not a valid strategy"
                                                 f"{f' ({fld}: {msg})' if fld else f' ({msg})'}") from None
        out.append(Variant(f"v{n:04d}", values, s))
    return out


# ---------------------------------------------------------------- the shared context and one variant

@dataclass
class SweepContext:
    """What every variant reads: built once in the driver, sent to each worker once.

    Attributes
    ----------
    universe : Universe
    market : MarketData
        Prices of every symbol any variant may hold, from the earliest history any
        variant's estimators need to the end of the sweep.
    mandates, costs : dict
        Loaded mandate / cost model by the name a strategy gives (None = none).
    data_hash : str
        Hash of the market data (part of every task key: new data, new results).
    ends : dict
        ``(start, end, budget groups)`` of a strategy -> ``(last valuation date, why)``, as
        ``computefolio run`` chooses it (:func:`computefolio.job.steps.resolve_end`: the
        strategy's end, else the last date on which every group still has fresh prices
        for most of its members -- never months of stale prices carried flat).
    """

    universe: Any
    market: Any
    mandates: dict
    costs: dict
    data_hash: str
    ends: dict = field(default_factory=dict)


def build_context(base: Strategy, variants: list[Variant], data: str | Path | None = None) -> SweepContext:
    """Load the universe, the market, the mandates and the cost models once for all variants."""
    from ..allocate.mandate import load_mandate
    from ..backtest.costs import load_costs
    from ..job.steps import load_market
    from ..universe import load_universe

    strategies = [v.strategy for v in variants]
    upath = base.resolve(base.universe, "universe") if base.universe else None
    universe = load_universe(upath)
    # one load covering every variant: the longest lookback before the earliest start, no stress windows
    first = min(strategies, key=lambda s: s.start)
    longest = max(s.lookback for s in strategies)
    ends = [s.end for s in strategies]
    end = None if any(e is None for e in ends) else max(ends)
    probe = base.with_overrides(start=first.start, end=end, lookback=longest,
                                min_history=min(base.min_history, longest),
                                stress={"historical": "none", "hypothetical": "none", "file": None})
    market = load_market(probe, universe, data)
    from ..job.steps import investable_symbols, resolve_end

    priced = market.price.notna().any()  # a symbol without a single price in the window cannot be held
    syms = sorted({s for st in strategies for s in investable_symbols(st, universe, market) if priced[s]},
                  key=list(market.symbols).index)
    if not syms:
        raise DataError("no symbol of the strategy's sleeves/layers has prices in the data")
    market = market.subset(syms)
    mandates = {}
    costs = {}
    for s in strategies:
        if s.mandate not in mandates:
            p = s.resolve(s.mandate, "mandate")
            mandates[s.mandate] = load_mandate(p) if p else None
        if s.costs not in costs:
            p = s.resolve(s.costs, "costs")
            costs[s.costs] = load_costs(p) if p else None
    ends = {}
    for st in strategies:
        k = _end_key(st)
        if k not in ends:
            ends[k] = resolve_end(st, universe, market, _delisted(universe))
    return SweepContext(universe=universe, market=market, mandates=mandates, costs=costs,
                        data_hash=market.data_hash(), ends=ends)


def _end_key(s: Strategy) -> tuple:
    return (str(s.start), str(s.end), s.budget_by, tuple(sorted(s.budgets)))


def _delisted(universe) -> dict:
    return {a.symbol: a.delisted for a in universe.assets if getattr(a, "delisted", None) is not None}


def run_variant(ctx: SweepContext, params: dict) -> dict:
    """One variant's full policy backtest and metrics (the task every backend runs).

    Parameters
    ----------
    ctx : SweepContext
    params : dict
        ``{"strategy": <strategy as a dict>, ...}`` (other keys are labels).

    Returns
    -------
    dict
        ``metrics`` (:func:`computefolio.metrics.summary`, floats), ``returns``
        (pandas.Series of daily book returns on the strategy's basis, net of costs),
        ``excess`` (the same minus the cash rate per period), ``fits`` (allocator fits),
        ``costs`` (currency paid), ``final_value`` (currency), ``warnings`` (distinct
        messages, at most 10) and ``n_warnings``.
    """
    from .. import metrics as M
    from ..backtest.policy import backtest
    from ..clock import periods_per_year
    from ..job.steps import build_policy, investable_symbols

    from ..errors import ComputefolioError, InfeasibleError
    from ..job.steps import group_gap_message

    s = strategy_from_dict(params["strategy"])
    market = ctx.market
    start = pd.Timestamp(s.start)
    end, _ = ctx.ends[_end_key(s)] if _end_key(s) in ctx.ends else (market.end, "")
    if end <= start:
        raise DataError(f"the data end on {pd.Timestamp(end).date()}, before the variant's start {start.date()}")
    symbols = investable_symbols(s, ctx.universe, market)
    if not symbols:
        raise DataError("no symbol of the variant's sleeves/layers has prices in the data")
    mandate = ctx.mandates.get(s.mandate)
    policy = build_policy(s, ctx.universe, mandate, symbols, market)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = backtest(policy, market.subset(symbols), costs=ctx.costs.get(s.costs), capital=s.capital,
                           start=start, end=end, universe=ctx.universe, cash_rate=s.cash_rate, keep_weights=False,
                           seed=s.data.seed)
        except ComputefolioError as exc:  # as computefolio run: name the group without data and its members
            why = group_gap_message(exc, s, ctx.universe, market, mandate)
            if why is not None:
                raise DataError(why) from None
            short = _short_history(s, ctx.universe, market, symbols) if isinstance(exc, InfeasibleError) else None
            if short:  # the usual cause in a sweep: a lookback longer than a group's history
                raise InfeasibleError(f"{exc}; {short}", exc.rules) from None
            raise
    ppy = periods_per_year(s.basis)
    rf = M.rf_per_period(s.cash_rate, ppy)
    rets = res.returns.astype(float)
    mets = M.summary(rets, risk_free=rf, periods_per_year=ppy, turnover=res.turnover)
    msgs = list(dict.fromkeys([str(w.message) for w in caught if issubclass(w.category, UserWarning)]
                              + list(res.warnings)))
    cost_total = float(np.nansum(res.costs.to_numpy())) if res.costs is not None else float("nan")
    return {"metrics": {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else
                            (str(v.date()) if isinstance(v, pd.Timestamp) else v)) for k, v in mets.items()},
            "returns": rets, "excess": rets - rf, "fits": int(res.manifest.get("config", {}).get("fits", 0)),
            "costs": cost_total, "final_value": float(res.equity.iloc[-1]), "warnings": msgs[:10],
            "n_warnings": len(msgs)}


def _short_history(s: Strategy, universe, market, symbols: list[str]) -> str | None:
    """Why a variant's first rebalance has a group without members, when the reason is that
    no member has a full lookback of history before the start (None otherwise)."""
    start = pd.Timestamp(s.start)
    px = market.prices(s.basis)
    before = px.loc[px.index < start, [c for c in symbols if c in px.columns]].notna().sum()
    m = universe.membership(s.budget_by, symbols=symbols)
    for g in s.budgets:
        if g not in m.columns:
            continue
        mem = [x for x in symbols if m.at[x, g] > 0]
        if not mem:
            continue
        best = before[mem].idxmax()
        if int(before[best]) < s.lookback:
            return (f"no member of {s.budget_by} {g} has {s.lookback} {s.basis} periods of history before "
                    f"{start.date()} (the most: {best}, {int(before[best])}): assets are held once they have a full "
                    f"lookback, so start later or shorten the lookback")
    return None


# ---------------------------------------------------------------- the sweep

@dataclass
class SweepResult:
    """Everything a sweep produced.

    Attributes
    ----------
    strategy : Strategy
        The base strategy.
    grid : Grid
    variants : list of Variant
    results : list of TaskResult
        One per variant, grid order.
    returns : pandas.DataFrame
        Dates x variant id: daily book returns of the variants that finished.
    excess : pandas.DataFrame
        The same in excess of the cash rate (what the overfitting statistics use).
    overfitting : dict
        ``dsr`` (:class:`~computefolio.overfitting.DeflatedSharpe` dict), ``pbo``
        (:class:`~computefolio.overfitting.PBOResult` dict), ``notes``.
    backend : str
    workers : int
    elapsed_s : float
    data_label : str
    """

    strategy: Strategy
    grid: Grid
    variants: list
    results: list
    returns: pd.DataFrame
    excess: pd.DataFrame
    overfitting: dict
    backend: str
    workers: int
    elapsed_s: float
    data_label: str = ""
    simulated: bool = False
    pbo_detail: Any = None
    end_reasons: list = field(default_factory=list)
    end_dates: list = field(default_factory=list)

    @property
    def failures(self) -> list[TaskResult]:
        return [r for r in self.results if not r.ok]

    def table(self) -> pd.DataFrame:
        """One row per variant: id, axis values, status, metrics, fits, costs, error."""
        rows = []
        for v, r in zip(self.variants, self.results):
            row = {"id": v.id, **{a: v.values[a] for a in self.grid.axes}, "status": "ok" if r.ok else "failed"}
            if r.ok:
                m = r.value["metrics"]
                row.update({k: m.get(k) for k in METRICS})
                row.update(fits=r.value["fits"], costs=r.value["costs"], final_value=r.value["final_value"],
                           warnings=r.value["n_warnings"], seconds=r.seconds, cached=r.cached)
            else:
                row.update(error=r.error, seconds=r.seconds)
            rows.append(row)
        return pd.DataFrame(rows)

    def best(self, metric: str | None = None):
        """The finished variant with the best ``metric`` (the grid's by default)."""
        metric = metric or self.grid.metric
        t = self.table()
        t = t[t["status"] == "ok"]
        if t.empty:
            return None
        hi = METRICS[metric][2]
        k = t[metric].astype(float).idxmax() if hi else t[metric].astype(float).idxmin()
        return self.variants[int(k)]


def _overfitting(excess: pd.DataFrame, grid: Grid, ppy: float) -> tuple[dict, Any]:
    from ..overfitting import deflated_sharpe_ratio, pbo_cscv

    notes = []
    out: dict = {"convention": "on daily returns in excess of the cash rate; Sharpe ratios per period "
                               f"(x sqrt({ppy:g}) to annualize)", "periods_per_year": ppy}
    x = excess.dropna(how="any")
    if len(x) < len(excess):
        notes.append(f"{len(excess) - len(x)} dates where a variant has no return were left out")
    detail = None
    if x.shape[1] >= 1 and len(x) > 2:
        d = deflated_sharpe_ratio(x.to_numpy(), n_trials=grid.n_trials)
        dd = d.to_dict()
        dd["best_id"] = str(x.columns[d.best])
        dd["sharpe_annualized"] = d.sharpe * np.sqrt(ppy)
        dd["sharpe_threshold_annualized"] = d.sharpe_threshold * np.sqrt(ppy)
        out["dsr"] = dd
        if x.shape[1] == 1:
            notes.append("one variant: the deflated Sharpe ratio equals its probabilistic Sharpe ratio against 0")
    else:
        notes.append("no finished variant: no deflated Sharpe ratio")
    if x.shape[1] >= 2 and len(x) >= 2 * grid.blocks:
        detail = pbo_cscv(x.to_numpy(), blocks=grid.blocks)
        out["pbo"] = detail.to_dict()
    else:
        notes.append(f"PBO needs at least 2 finished variants and {2 * grid.blocks} common dates "
                     f"({x.shape[1]} variants, {len(x)} dates)")
    if grid.n_trials is None and x.shape[1] > 1:
        notes.append(f"DSR counts the {x.shape[1]} variants as independent trials; variants of one strategy are "
                     "correlated, so this is conservative (set n_trials in the grid to override)")
    out["notes"] = notes
    return out, detail


def run_sweep(strategy: Strategy, grid: Grid, *, grid_file: str | None = None, data: str | Path | None = None,
              executor: Executor | None = None, checkpoint: str | Path | Checkpoint | None = None,
              on_result=None, on_start=None) -> SweepResult:
    """Run every variant of ``strategy`` that ``grid`` names.

    Parameters
    ----------
    strategy : Strategy
        The base strategy.
    grid : Grid
    grid_file : str, optional
        For error messages.
    data : path, optional
        Folder of long-format price files (overrides the strategy's data source).
    executor : Executor, optional
        Default :class:`~computefolio.scale.executor.SerialExecutor`.
    checkpoint : path or Checkpoint, optional
        Finished variants are stored there and not run again by a later call with the
        same strategy, grid values and data.
    on_result : callable, optional
        Called with each :class:`TaskResult` as it arrives (progress).
    on_start : callable, optional
        Called with the number of variants once they are known and the data loaded.

    Returns
    -------
    SweepResult
    """
    from ..clock import periods_per_year

    t0 = time.perf_counter()
    variants = expand_grid(strategy, grid, grid_file)
    ctx = build_context(strategy, variants, data)
    if on_start:
        on_start(len(variants))
    ex = executor or SerialExecutor()
    if ex.backend != "serial":
        from .executor import warm_numba

        warm_numba()
    params = [{"strategy": v.strategy.model_dump(mode="json"), "id": v.id} for v in variants]
    from ..backtest.manifest import package_version

    salt = f"{ctx.data_hash}|{package_version()}"  # new data or a new computefolio: run again
    keys = [task_key({"strategy": p["strategy"]}, salt) for p in params]
    ck = checkpoint if isinstance(checkpoint, Checkpoint) or checkpoint is None else Checkpoint(checkpoint)
    results = ex.map(run_variant, params, shared=ctx, keys=keys, checkpoint=ck, on_result=on_result)
    ok = [(v, r) for v, r in zip(variants, results) if r.ok]
    rets = pd.DataFrame({v.id: r.value["returns"] for v, r in ok}) if ok else pd.DataFrame()
    exc = pd.DataFrame({v.id: r.value["excess"] for v, r in ok}) if ok else pd.DataFrame()
    ppy = periods_per_year(strategy.basis)
    over, detail = _overfitting(exc, grid, ppy) if ok else ({"notes": ["no finished variant"]}, None)
    return SweepResult(strategy=strategy, grid=grid, variants=variants, results=results, returns=rets, excess=exc,
                       overfitting=over, backend=ex.backend, workers=getattr(ex, "workers", 1),
                       elapsed_s=time.perf_counter() - t0, data_label=ctx.market.label,
                       simulated=bool(getattr(ctx.market, "simulated", False)), pbo_detail=detail,
                       end_reasons=list(dict.fromkeys(r for _, r in ctx.ends.values())),
                       end_dates=sorted({str(pd.Timestamp(e).date()) for e, _ in ctx.ends.values()}))
