"""The main job: a strategy file in, an investment-committee report out.

:func:`run_strategy` runs every step of DESIGN.md's data flow on one
:class:`~computefolio.strategy.Strategy`:

1. **load** the universe and the market (built-in sample, a folder of long-format
   files, or the DuckDB store), with enough history before ``start`` for the estimators;
2. **validate** the data (:func:`computefolio.data.validate.validate`); findings go to
   the report, nothing is filled or dropped;
3. **construct**: a :class:`StrategyAllocator` (an allocator per sleeve or layer, risk
   or weight budgets across them) under the mandate, in a
   :class:`computefolio.backtest.Policy` with the schedule, drift bands and volatility
   target;
4. **backtest** it after costs, and the benchmarks (fixed-weight books, gross of
   costs) on the same clock;
5. **risk** on the final weights: VaR/ES by method, contributions by sleeve, layer and
   theme, liquidity, sleeve correlation (rolling, EWMA, DCC) with regimes;
6. **stress**: historical windows and hypothetical shocks, by layer;
7. **write** ``out/<name>/``: ``report.html``, ``results.json``, ``weights.csv``,
   ``trades.csv``, ``manifest.json``.

``results.json`` holds every number of the report, each with its unit and basis (the
layout is described in :mod:`computefolio.report.tables` and
:func:`computefolio.report.build_report`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .allocate.base import Allocator, FitContext
from .clock import basis_label, periods_per_year
from .data.load import load_market as load_data
from .data.market import MarketData
from .errors import ConfigError, DataError
from .report import build_report, column, quantity, table
from .strategy import Strategy, load_strategy
from .universe import Universe, load_universe

#: Output files of a run, in ``out/<strategy-name>/``.
OUTPUT_FILES = ("report.html", "results.json", "weights.csv", "trades.csv", "manifest.json")


# ----------------------------------------------------------------------------- construction
def make_allocator(spec, covariance=None) -> Allocator:
    """An allocator of :mod:`computefolio.allocate` from a strategy's allocator spec."""
    from .allocate import make_allocator as build  # the one method-name -> allocator table

    try:
        return build(spec.method, covariance=covariance, **dict(spec.params))
    except (TypeError, ValueError) as exc:
        raise ConfigError(None, "allocator", f"parameters accepted by the {spec.method!r} allocator ({exc})") from None


def make_covariance(strategy: Strategy):
    """The covariance estimator named by the strategy (:mod:`computefolio.risk.covariance`)."""
    from .risk import covariance as C

    spec = strategy.covariance
    if spec.method == "sample":
        return C.SampleCovariance()
    if spec.method == "ewma":
        return C.EWMACovariance(halflife=spec.halflife or 63)
    if spec.method == "ledoit_wolf":
        return C.LedoitWolfCovariance()
    return C.PairwiseShrunkCovariance()


class StrategyAllocator(Allocator):
    """Allocators per group (sleeve or layer) combined by risk or weight budgets.

    Each group's allocator runs on the group's members alone and gives a
    sub-portfolio ``w_g`` (summing to 1). With *weight* budgets the book is
    ``sum_g b_g w_g``. With *risk* budgets the group weights ``W`` solve risk budgeting
    on the sub-portfolios' covariance ``S_G = W_sub' S W_sub`` (Spinu's Newton method,
    :func:`computefolio.allocate.riskparity.risk_budget_weights`), so that the share of
    book variance from group ``g`` equals ``b_g``; the book is ``sum_g W_g w_g``.
    The result is scaled to the mandate's invested fraction and projected onto its
    rules by :class:`~computefolio.allocate.base.Allocator`.

    Weighted membership (layers): an asset in several layers enters each layer's
    sub-portfolio with its inner weight times its membership weight (renormalized), so
    a 60/40 miner contributes 60% of its inner weight to one layer and 40% to the other.

    Parameters
    ----------
    by : {"sleeve", "layer"}
    budgets : dict[str, float]
        Group -> budget (fractions summing to 1).
    kind : {"risk", "weight"}
    allocators : dict[str, Allocator]
        Group -> inner allocator (no mandate: the mandate applies to the whole book).
    covariance, mandate
        As for every allocator.

    Attributes
    ----------
    group_weights_ : pandas.Series
        Weight of each group's sub-portfolio (before the mandate projection).
    group_risk_ : pandas.Series
        Share of book variance from each group (before the projection).
    inner_ : dict[str, pandas.Series]
        Each group's sub-portfolio weights.
    """

    def __init__(self, by: str = "sleeve", budgets: dict | None = None, kind: str = "risk",
                 allocators: dict | None = None, *, covariance=None, mandate=None):
        super().__init__(covariance=covariance, mandate=mandate)
        self.by = by
        self.budgets = dict(budgets or {})
        self.kind = kind
        self.allocators = dict(allocators or {})
        #: Symbols whose data source has no volume at all: liquidity rules are not applied
        #: to them (set by the pipeline from the market; an asset with volume data but a
        #: zero or missing ADV stays frozen, as the mandate says).
        self.no_volume: set[str] = set()

    def fit(self, returns: pd.DataFrame, *, universe=None, current_weights=None, adv=None,
            date=None, capital: float | None = None) -> "StrategyAllocator":
        """Fit as every allocator, with three rules for a book run by a policy.

        * The *turnover* rule compares compositions: the current weights are rescaled to
          the mandate's invested fraction (a volatility-target overlay that left cash is
          not turnover), and the initial investment from cash is not capped.
        * Liquidity rules apply to assets with volume data; an asset without ADV is not
          constrained by them (named once in a warning) instead of being frozen.
        * If the rules cannot all hold against the current book (e.g. a group minimum
          that needs more turnover than allowed), the book is rebalanced without the
          turnover rule, then without the liquidity rules, with a warning naming the
          date and the conflict. Any other infeasibility raises
          :class:`~computefolio.errors.InfeasibleError`.
        """
        from .errors import InfeasibleError

        self._capital = capital  # liquidity rules are sized on today's book value
        mandate = self._mandate()
        cw = None
        if current_weights is not None:
            cw = pd.Series(current_weights, dtype=float).fillna(0.0)
            tot = float(cw.sum())
            if cw.abs().sum() <= 1e-12 or tot <= 1e-12:
                cw = None
            elif mandate is not None:
                cw = cw * (mandate.invested_fraction() / tot)
        adv_s = None
        if adv is not None:
            adv_s = pd.Series(adv, dtype=float).reindex([str(c) for c in returns.columns])
            novol = [s for s in adv_s.index if s in self.no_volume]
            if novol and not getattr(self, "_warned_adv", False):
                warnings.warn(f"no volume data in the source for {', '.join(novol)}: the mandate's liquidity "
                              f"rules are not applied to them", UserWarning, stacklevel=2)
                self._warned_adv = True
            # the mandate treats a missing ADV as 0 (frozen); "no rule" is an ADV so large
            # that the bounds exceed any weight (LP solvers read them as infinite)
            adv_s[novol] = 1e30
        day = pd.Timestamp(date).date() if date is not None else "?"
        if callable(getattr(self, "on_fit", None)):
            self.on_fit()
        try:
            return super().fit(returns, universe=universe, current_weights=cw, adv=adv_s, date=date, capital=capital)
        except InfeasibleError as exc:
            if cw is None and adv_s is None:
                raise
            first = exc
        if cw is not None:
            try:
                super().fit(returns, universe=universe, current_weights=None, adv=adv_s, date=date, capital=capital)
                warnings.warn(f"{day}: {first}; rebalanced without the turnover rule", UserWarning, stacklevel=2)
                return self
            except InfeasibleError:
                pass
        super().fit(returns, universe=universe, current_weights=None, adv=None, date=date, capital=capital)
        warnings.warn(f"{day}: {first}; rebalanced without the turnover and liquidity rules", UserWarning,
                      stacklevel=2)
        return self

    def _allocate(self, ctx: FitContext) -> np.ndarray:
        from .allocate.riskparity import risk_budget_weights

        if ctx.universe is None:
            raise DataError("StrategyAllocator needs the universe (fit(..., universe=...))")
        syms = ctx.symbols
        m = ctx.universe.membership(self.by, date=ctx.date, symbols=syms)
        groups, subs = [], []
        self.inner_ = {}
        notes = []
        for g, b in self.budgets.items():
            if g not in m.columns:
                raise DataError(f"budget group {g!r} is not a {self.by} of the universe")
            mem = m[g]
            members = [s for s in syms if mem[s] > 0]
            if not members:
                notes.append(f"{self.by} {g}: no asset with enough history; its budget is spread over the others")
                continue
            inner = self.allocators[g]
            inner.fit(ctx.returns[members], universe=ctx.universe, date=ctx.date)
            wi = inner.weights_.reindex(members).fillna(0.0) * mem[members]
            if wi.sum() <= 0:
                notes.append(f"{self.by} {g}: inner allocator returned no weight")
                continue
            wi = wi / wi.sum()
            self.inner_[g] = wi
            groups.append(g)
            subs.append(wi.reindex(syms).fillna(0.0).to_numpy())
        if not groups:
            raise DataError(f"no {self.by} with a budget has assets with enough history")
        wsub = np.column_stack(subs)  # n x G
        b = np.array([self.budgets[g] for g in groups], dtype=float)
        b = b / b.sum()
        cg = wsub.T @ ctx.cov @ wsub  # covariance of the sub-portfolios
        if self.kind == "risk" and len(groups) > 1:
            gw, info = risk_budget_weights(cg, b)
            self.diagnostics_["group_solver"] = info
        else:
            gw = b
        w = wsub @ gw
        var = float(gw @ cg @ gw)
        self.group_weights_ = pd.Series(gw, index=groups, name="weight")
        self.group_risk_ = pd.Series(gw * (cg @ gw) / var if var > 0 else np.zeros(len(gw)), index=groups,
                                     name="risk_share")
        self.diagnostics_["notes"] = notes
        self._status = f"{self.kind} budgets by {self.by}"
        return ctx.budget * w / w.sum()


def build_allocator(strategy: Strategy, mandate=None) -> StrategyAllocator:
    """The strategy's allocator: one inner allocator per budget group, budgets across them."""
    cov = make_covariance(strategy)
    inner = {g: make_allocator(b.allocator or strategy.allocator, covariance=cov)
             for g, b in strategy.budgets.items()}
    return StrategyAllocator(by=strategy.budget_by, budgets={g: b.budget for g, b in strategy.budgets.items()},
                             kind=strategy.budget_kind, allocators=inner, covariance=cov, mandate=mandate)


# ----------------------------------------------------------------------------- run result
@dataclass
class RunResult:
    """Everything a run produced.

    Attributes
    ----------
    strategy : Strategy
    out_dir : pathlib.Path
        ``<out>/<strategy-name>/``.
    files : dict[str, pathlib.Path]
        Output file name -> path.
    results : dict
        The ``results.json`` content (with the chart series).
    backtest : computefolio.backtest.Result
        The strategy's backtest.
    benchmarks : dict[str, computefolio.backtest.Result]
    market : MarketData
    universe : Universe
    validation : ValidationReport or None
    final_weights : pandas.Series
        Weights on the last valuation date (fractions of capital; cash not included).
    risk : dict
        The risk report's dict (:func:`computefolio.risk.report.risk_report`).
    elapsed_s : float
    """

    strategy: Strategy
    out_dir: Path
    files: dict
    results: dict
    backtest: Any
    benchmarks: dict
    market: MarketData
    universe: Universe
    validation: Any
    final_weights: pd.Series
    risk: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    timings: dict = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        return self.files["report.html"]


# ----------------------------------------------------------------------------- progress
class _Steps:
    """Rich progress over the steps of a run (a no-op without ``progress``)."""

    def __init__(self, enabled: bool, console=None, total: int = 7):
        self.enabled = enabled
        self.timings: dict[str, float] = {}
        self._p = None
        if enabled:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._p = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                               console=console, transient=False)
            self._task = self._p.add_task("computefolio run", total=total)

    def __enter__(self):
        if self._p is not None:
            self._p.__enter__()
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)

    @contextmanager
    def step(self, name: str):
        t0 = time.perf_counter()
        if self._p is not None:
            self._p.update(self._task, description=name)
        yield self
        self.timings[name] = time.perf_counter() - t0
        if self._p is not None:
            self._p.advance(self._task)

    def sub(self, name: str, total: int):
        """A nested bar for a long loop; returns a callable ``advance(n=1)``.

        ``total`` is an estimate (scheduled rebalances); drift-band refits can exceed it,
        and the bar's total then grows with the count instead of showing "81/72".
        """
        if self._p is None:
            return lambda n=1: None
        tid = self._p.add_task(f"  {name}", total=total)
        done = [0]

        def advance(n: int = 1) -> None:
            done[0] += n
            self._p.update(tid, completed=done[0], total=max(total, done[0]))

        return advance


# ----------------------------------------------------------------------------- loading
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
    if src == "sample":
        return load_data(universe, source="sample", start=start, end=end, seed=strategy.data.seed)
    if src == "files":
        return load_data(universe, source="files", path=strategy.resolve_dir(strategy.data.path, "data.path"),
                         start=start, end=end)
    return load_data(universe, source="store", store=strategy.data.store or None, start=start, end=end)


# ----------------------------------------------------------------------------- the run
def run_strategy(strategy: Strategy | str | Path | None = None, *, data: str | Path | None = None,
                 out_dir: str | Path = "out", progress: bool = True, console=None) -> RunResult:
    """Run a strategy end to end and write its outputs.

    Parameters
    ----------
    strategy : Strategy or path, optional
        A validated strategy or a strategy file (default: the shipped one).
    data : path, optional
        Folder of long-format price files; overrides the strategy's data source.
    out_dir : path
        Output root; files go to ``out_dir/<strategy.name>/``.
    progress : bool
        Show rich progress bars.
    console : rich.console.Console, optional

    Returns
    -------
    RunResult
    """
    t_start = time.perf_counter()
    if strategy is None or isinstance(strategy, (str, Path)):
        strategy = load_strategy(strategy)
    with _Steps(progress, console) as steps:
        res = execute(strategy, data=data, out_dir=Path(out_dir), steps=steps)
    res.elapsed_s = time.perf_counter() - t_start
    res.timings = dict(steps.timings)
    return res


def print_summary(res: RunResult, console, *, layer_table: bool = False) -> None:
    """Terminal summary: headline metrics, risk, stress, and where the files are."""
    from rich.table import Table

    r = res.results
    if r.get("data", {}).get("simulated"):
        console.print("[bold white on red] SAMPLE MARKET (SIMULATED) [/] every price in this run comes from the built-in sample market; no number below describes real assets or real performance.")
    if layer_table and r.get("layer_summary"):
        console.print(_rich_table(r["layer_summary"], Table))
    if r.get("headline"):
        console.print(_rich_table(r["headline"], Table, skip=("sortino", "max_drawdown_days", "calmar", "beta",
                                                              "correlation")))
    if r.get("budgets"):
        console.print(_rich_table(r["budgets"], Table))
    if r.get("var_es"):
        console.print(_rich_table(r["var_es"], Table))
    st = r.get("stress") or {}
    for key in ("historical", "hypothetical"):
        if st.get(key):
            console.print(_rich_table(st[key], Table, max_rows=12))
    mt = r.get("mandate")
    if mt and mt.get("rows"):
        broken = [row for row in mt["rows"] if row.get("status") == "breach"]
        if broken:
            console.print(_rich_table({**mt, "rows": broken}, Table, skip=()))
        else:
            console.print(f"[bold]{mt['title']}[/]", highlight=False)
    v = (r.get("data") or {}).get("validation") or {}
    if v.get("line"):
        console.print(f"[bold]data validation:[/] {v['line']}")
    console.print(f"finished in {res.elapsed_s:.1f} s; outputs in {res.out_dir.resolve()}", soft_wrap=True)
    console.print(f"[bold green]report:[/] {res.report_path.resolve()}", soft_wrap=True, highlight=False)
    console.print(f"results: {res.files['results.json'].resolve()}", soft_wrap=True, highlight=False)


def _rich_table(tab: dict, Table, max_rows: int | None = None, skip=("horizon_rule", "note", "name")):
    from .report.tables import fmt, unit_label

    t = Table(title=tab.get("title"), caption=tab.get("basis"))
    cols = [c for c in tab["columns"] if c["key"] not in skip]
    for c in cols:
        u = unit_label(c.get("unit", "text"))
        t.add_column(c["label"] + (f" ({u})" if u else ""),
                     justify="left" if c.get("unit") in ("text", "date") else "right")
    rows = tab.get("rows") or []
    for row in rows[: max_rows or len(rows)]:
        t.add_row(*[fmt(row.get(c["key"]), c.get("unit", "text")) for c in cols])
    return t


# ============================================================================= the steps
def _r7(v) -> float | None:
    """A float rounded to 7 significant digits for chart series (None for NaN)."""
    if v is None:
        return None
    f = float(v)
    return float(f"{f:.7g}") if math.isfinite(f) else None


def _series(frame: pd.DataFrame | pd.Series, unit: str, basis: str, **extra) -> dict:
    """A chart series in the results layout (dates as ISO strings, values rounded)."""
    df = frame.to_frame() if isinstance(frame, pd.Series) else frame
    out = {"unit": unit, "basis": basis, "index": [d.strftime("%Y-%m-%d") for d in df.index],
           "columns": {str(c): [_r7(v) for v in df[c].to_numpy(dtype=float)] for c in df.columns}}
    out.update(extra)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    from .allocate.voltarget import VolatilityTarget
    from .backtest.policy import Policy
    from .backtest.schedule import Calendar, DriftBands

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
                              basis=strategy.basis)
    alloc = build_allocator(strategy, mandate)
    if market is not None:
        vol = market.volume
        alloc.no_volume = set(symbols) if vol is None else {s for s in symbols if vol[s].notna().sum() == 0}
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
    rows = []
    for d in dates:
        live = [s for s in syms if np.isfinite(prices.at[d, s])]
        rows.append(pd.Series(1.0 / len(live), index=live) if live else pd.Series(dtype=float))
    w = pd.DataFrame(rows, index=pd.DatetimeIndex(dates)).reindex(columns=syms).fillna(0.0)
    notes.append(f"benchmark {spec.name}: equal weight over the listed assets of "
                 f"{', '.join(spec.equal_weight)} at each {spec.rebalance} rebalance")
    return w, notes


_HEADLINE = [
    ("total_return", "Total return", "fraction"), ("cagr", "CAGR", "fraction/yr"),
    ("volatility", "Volatility", "fraction/yr"), ("sharpe", "Sharpe", "ratio"), ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "fraction"), ("max_drawdown_days", "Longest drawdown", "days"),
    ("calmar", "Calmar", "ratio"), ("beta", "Beta to QQQ", "ratio"), ("correlation", "Corr. to QQQ", "ratio"),
    ("final_value", "Final value", None),
]


def headline_table(books: dict, metrics_by_book: dict, strategy: Strategy, basis_txt: str, ref: str | None) -> dict:
    cur = strategy.currency
    cols = [column("book", "Book")] + [column(k, lab if not (k in ("beta", "correlation") and ref)
                                               else lab.replace("QQQ", ref), u or cur) for k, lab, u in _HEADLINE]
    rows = []
    for name, res in books.items():
        m = metrics_by_book[name]
        row = {"book": name, **{k: m.get(k) for k, _, _ in _HEADLINE if k != "final_value"}}
        row["final_value"] = float(res.equity.iloc[-1])
        rows.append(row)
    return table("Strategy and benchmarks", cols, rows, basis=basis_txt,
                 note=(f"net of all trading costs for the strategy; benchmarks gross of costs; Sharpe and Sortino "
                       f"over a risk-free rate of {strategy.cash_rate:.2%}/yr (per period = rate / periods per "
                       f"year); drawdown duration in calendar days; beta and correlation of per-period returns"))


def execute(strategy: Strategy, *, data=None, out_dir: Path, steps: _Steps) -> RunResult:
    """The steps of :func:`run_strategy` (see the module docstring)."""
    from . import metrics as M
    from .backtest.costs import load_costs
    from .backtest.policy import backtest
    from .backtest.schedule import Calendar
    from .backtest.simulator import simulate

    warns: list[str] = []
    cur = strategy.currency
    basis = strategy.basis
    ppy = periods_per_year(basis)
    btxt = basis_label(basis, cur)

    # ---------------------------------------------------------------- 1 load
    with steps.step("load universe and market"):
        upath = strategy.resolve(strategy.universe, "universe") if strategy.universe else None
        universe = load_universe(upath)
        market = load_market(strategy, universe, data)
        mandate_path = strategy.resolve(strategy.mandate, "mandate")
        costs_path = strategy.resolve(strategy.costs, "costs")
        from .allocate.mandate import load_mandate

        mandate = load_mandate(mandate_path) if mandate_path else None
        costs = load_costs(costs_path) if costs_path else None
        start = pd.Timestamp(strategy.start)
        end = pd.Timestamp(strategy.end) if strategy.end is not None else market.end
        end = min(end, market.end)
        if end <= start:
            raise DataError(f"the data end on {market.end.date()}, before the strategy's start {start.date()}")
        symbols = investable_symbols(strategy, universe, market)
        if not symbols:
            raise DataError("no symbol of the strategy's sleeves/layers has prices in the data")
        absent = [s for s in universe.symbols if s not in set(market.symbols)]
        if absent:
            warns.append(f"{len(absent)} universe symbols have no data and are not used: {', '.join(absent)}")

    # ---------------------------------------------------------------- 2 validate
    with steps.step("validate data"):
        from .data.validate import validate

        vrep = validate(market, universe=universe)

    # ---------------------------------------------------------------- 3+4 construct and backtest
    with steps.step("construct and backtest"):
        policy = build_policy(strategy, universe, mandate, symbols, market)
        window = market.between(start, end)
        n_sched = len(Calendar(strategy.schedule.frequency, clock="session").dates(window.index(strategy.basis)))
        policy.allocator.on_fit = steps.sub("allocator fits", n_sched)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = backtest(policy, market.subset(symbols), costs=costs, capital=strategy.capital,
                              start=start, end=end, universe=universe, cash_rate=strategy.cash_rate,
                              keep_weights=True, seed=strategy.data.seed)
        warns.extend(_aggregate_dated([str(w.message) for w in caught if issubclass(w.category, UserWarning)]))
        warns.extend(result.warnings)

    # ---------------------------------------------------------------- benchmarks
    with steps.step("benchmarks"):
        prices_b = window.prices(basis)
        sched = {}
        books = {"Strategy": result}
        bench_notes = []
        for spec in strategy.benchmarks:
            freq = spec.rebalance if spec.rebalance != "never" else "monthly"
            if freq not in sched:
                sched[freq] = Calendar(freq, clock="session").dates(prices_b.index)
            tw, notes = benchmark_weights(spec, universe, prices_b, sched[freq])
            bench_notes.extend(notes)
            if tw is None:
                warns.extend(notes)
                continue
            syms_b = list(tw.columns)
            books[spec.name] = simulate(window.subset(syms_b), tw, costs=None, capital=strategy.capital,
                                        basis=basis, calendars=universe.calendars, cash_rate=0.0,
                                        keep_weights=False)
        ref_name = "QQQ" if "QQQ" in books else None
        ref_ret = books[ref_name].returns if ref_name else None
        rf = M.rf_per_period(strategy.cash_rate, ppy)
        mets = {}
        for name, res in books.items():
            mets[name] = M.summary(res.returns, benchmark=ref_ret if name != ref_name else res.returns,
                                   risk_free=rf, periods_per_year=ppy,
                                   turnover=res.turnover if name == "Strategy" else None)

    # ---------------------------------------------------------------- 5 risk
    final_date = result.equity.index[-1]
    final_value = float(result.equity.iloc[-1])
    wlast = result.weights.iloc[-1]
    wlast = wlast[wlast.abs() > 1e-10].astype(float)
    hist = market.between(None, final_date)
    rets = hist.returns(basis)
    with steps.step("risk report: VaR/ES, contributions, stress, liquidity"):
        rep = _risk_step(strategy, universe, hist, wlast, final_value, final_date)
        warns.extend(rep.warnings)
        risk_dict = rep.to_dict()

    with steps.step("correlation regimes (rolling, EWMA, DCC)"):
        corr = _correlation_step(strategy, universe, rets.loc[start:final_date], warns)

    # ---------------------------------------------------------------- 7 write
    with steps.step("write report"):
        results = assemble_results(strategy, universe=universe, market=market, vrep=vrep, result=result,
                                   books=books, mets=mets, risk=risk_dict, corr=corr, wlast=wlast,
                                   mandate=mandate, warns=warns, notes=bench_notes, btxt=btxt, ppy=ppy,
                                   start=start, end=final_date, ref=ref_name, allocator=policy.allocator)
        out = Path(out_dir) / strategy.name
        files = write_outputs(out, results, result, strategy, market)

    return RunResult(strategy=strategy, out_dir=out, files=files, results=results, backtest=result,
                     benchmarks={k: v for k, v in books.items() if k != "Strategy"}, market=market,
                     universe=universe, validation=vrep, final_weights=wlast, risk=risk_dict)


def select_scenarios(strategy: Strategy, universe: Universe) -> list:
    """The stress scenarios the strategy asks for (ConfigError naming an unknown one)."""
    from .risk.stress import load_scenarios

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
               asof: pd.Timestamp):
    """:func:`computefolio.risk.report.risk_report` on the final book (``market`` ends at ``asof``)."""
    from .risk.report import risk_report

    rk = strategy.risk
    pairs = (("BTC", "QQQ"),) if {"BTC", "QQQ"} <= set(market.symbols) else ()
    return risk_report(w, market, universe, capital=capital, basis=strategy.basis,
                       confidence=rk.confidence, horizon=rk.horizon, scenarios=select_scenarios(strategy, universe),
                       lookback=rk.window, asof=asof, participation=rk.participation, pairs=pairs,
                       regime_legs=(), correlation_window=rk.correlation_window, seed=rk.seed, dcc=False)


def _correlation_step(strategy: Strategy, universe: Universe, rets: pd.DataFrame, warns: list) -> dict | None:
    """Rolling, EWMA and DCC correlation of the two sleeves over the backtest, with regimes."""
    from .errors import ComputefolioError
    from .risk.regimes import correlation_regimes

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


def mandate_table(mandate, w: pd.Series, universe: Universe, market: MarketData, asof, capital: float) -> dict:
    """Each mandate rule on the final (drifted) book: the amount by which it is broken and its status."""
    cols = [column("rule", "Rule"), column("detail", "Detail"), column("breach", "Breach", "fraction"),
            column("status", "Status")]
    if mandate is None:
        return table("Mandate rules", cols, [], note="no mandate file")
    from .risk.liquidity import native_adv

    # liquidity rules compare positions with ADV in currency: check them on the book's
    # value today, not on the mandate's starting capital
    mandate = mandate.model_copy(update={"capital": float(capital)})
    syms = list(w.index)
    fixed = mandate.fixed_zero(syms, universe=universe, date=asof)
    rows = [{"rule": f"held at zero: {s}", "detail": why, "breach": abs(float(w[s])),
             "status": "breach" if abs(w[s]) > 1e-7 else "pass"} for s, why in fixed.items()]
    keep = [s for s in syms if s not in fixed]
    adv = None
    novol = [s for s in keep if market.volume is None or market.volume[s].notna().sum() == 0]
    if mandate.liquidity is not None and len(novol) < len(keep):
        adv = native_adv(market, 20, asof).reindex(keep)
        adv[novol] = 1e30  # no volume in the source: the liquidity rules are not checked (row below)
    cons = mandate.constraints(keep, universe=universe, date=asof, adv=adv, check=False)
    x = w.reindex(keep).to_numpy(dtype=float)
    for r in cons.rules:
        v = r.violation(x)
        status = "pass" if v <= 1e-7 else "breach"
        detail = r.detail
        if r.name == "budget":
            # the allocator invests exactly this fraction; less (more cash, e.g. after the
            # volatility target) is within the mandate, more is a breach of the cash floor
            inv = float(x.sum())
            lim = float(r.b[0])
            v = max(inv - lim, 0.0)
            status = "pass" if v <= 1e-7 else "breach"
            detail = f"invested {inv:.2%} of capital, at most {lim:.2%} (cash floor)"
        if r.name == "liquidity.max_adv_fraction":
            rows.append({"rule": r.name, "detail": detail + "; applies to the trades of a rebalance, checked by "
                         "the allocator then", "breach": None, "status": "n/a"})
            continue
        rows.append({"rule": r.name, "detail": detail, "breach": v, "status": status})
    for sk in cons.skipped:
        rows.append({"rule": "not checked", "detail": sk, "breach": None, "status": "n/a"})
    if mandate.liquidity is not None and novol:
        rows.append({"rule": "not checked", "detail": f"liquidity rules for {', '.join(novol)} (no volume data "
                     "in the source)", "breach": None, "status": "n/a"})
    nb = sum(1 for r in rows if r["status"] == "breach")
    return table(f"Mandate {getattr(mandate, 'name', '')}: {len(rows)} rules, {nb} breached on the final book", cols,
                 rows, note=f"final weights after drift since the last rebalance, book value {capital:,.0f}; "
                            "breach = how far the rule is exceeded, fraction of the book (0 when it holds)")


def _weights_by_layer(result, universe: Universe) -> pd.DataFrame:
    """Daily look-through weights by layer, each month with the classification in force at its start."""
    W = result.weights.fillna(0.0)
    parts = []
    for _, chunk in W.groupby(W.index.to_period("M")):
        m = universe.membership("layer", date=chunk.index[0], symbols=list(W.columns))
        parts.append(pd.DataFrame(chunk.to_numpy() @ m.to_numpy(), index=chunk.index, columns=m.columns))
    out = pd.concat(parts)
    out = out.loc[:, (out.abs() > 1e-9).any()]
    out.columns = [universe.group_name("layer", c) for c in out.columns]
    out["cash"] = 1.0 - W.sum(axis=1)
    return out


def _stress_tables(risk: dict, universe: Universe, cur: str, btxt: str) -> dict:
    hist_rows, hyp_rows, layer_rows, proxy_rows = [], [], [], []
    layers = set()
    for s in risk.get("stress") or []:
        title = s.get("title") or s.get("name")
        if "error" in s:
            row = {"scenario": title, "pnl_pct": None, "pnl": None, "note": f"not run: {s['error']}"}
            (hist_rows if s.get("kind") == "historical" else hyp_rows).append(
                {**row, "window": "", "periods": None})
            continue
        n_proxy = len(s.get("proxies") or {})
        if s["kind"] == "historical":
            hist_rows.append({"scenario": title, "window": f"{s.get('start')} to {s.get('end')}",
                              "periods": s.get("periods"), "pnl_pct": s["pnl_pct"], "pnl": s["pnl"],
                              "note": f"{n_proxy} holdings used a proxy" if n_proxy else ""})
        else:
            sr = s.get("stressed_risk") or {}
            hyp_rows.append({"scenario": title, "window": "", "periods": None, "pnl_pct": s["pnl_pct"],
                             "pnl": s["pnl"], "note": s.get("description", "")[:160]
                             + (f" (stressed volatility {sr['volatility']:.1%})" if sr.get("volatility") else "")})
        by_layer = {k: v.get("pnl_pct") for k, v in (s.get("by_layer") or {}).items()}
        layers |= set(by_layer)
        layer_rows.append({"scenario": title, **by_layer})
        for sym, how in (s.get("proxies") or {}).items():
            proxy_rows.append({"scenario": title, "symbol": sym, "proxy": str(how)})
    order = [g for g in universe.layers if g in layers] + sorted(layers - set(universe.layers))
    cols = [column("scenario", "Scenario"), column("window", "Window"), column("periods", "Periods", "periods"),
            column("pnl_pct", "P&L", "fraction"), column("pnl", "P&L", cur), column("note", "Note")]
    note = "today's weights; P&L as a fraction of the book's value and in currency; losses negative"
    return {
        "historical": table("Historical scenarios", cols, hist_rows, basis=btxt,
                            note=note + "; window = cumulative return over (start, end] on the basis"),
        "hypothetical": table("Hypothetical scenarios", [c for c in cols if c["key"] not in ("window", "periods")],
                              hyp_rows, note=note + "; shocks per layer, theme, sleeve or asset (scenarios.yaml)"),
        "by_layer": table("Stress P&L by layer", [column("scenario", "Scenario")]
                          + [column(g, universe.group_name("layer", g), "fraction") for g in order],
                          layer_rows, note="P&L by layer, fraction of the book's value (weighted membership)"),
        "proxies": table("Proxies used in historical scenarios", [column("scenario", "Scenario"),
                                                                  column("symbol", "Symbol"), column("proxy", "Proxy")],
                         proxy_rows, note="assets without data in a window stand in by these proxies"),
    }


def assemble_results(strategy: Strategy, *, universe, market, vrep, result, books, mets, risk, corr, wlast,
                     mandate, warns, notes, btxt, ppy, start, end, ref, allocator=None) -> dict:
    """The ``results.json`` dict (see :mod:`computefolio.report.tables` for the layout)."""
    import platform

    from . import __version__
    from .metrics import drawdown as dd_fn

    cur = strategy.currency
    final_value = float(result.equity.iloc[-1])
    contrib = (risk.get("contributions") or {})
    by_asset = contrib.get("by_asset") or {}

    # ---- exposure by sleeve / layer / theme
    exp_cols = [column("group", "Group"), column("name", "Name"), column("weight", "Weight", "fraction"),
                column("vol_contribution", "Volatility contribution", "fraction/yr"),
                column("vol_share", "Share of volatility", "fraction"),
                column("es_contribution", "ES contribution", "fraction"), column("es_share", "Share of ES", "fraction")]
    exposure = {}
    for by in ("sleeve", "layer", "theme"):
        g = (contrib.get("by_group") or {}).get(by) or {}
        rows = [{"group": k, "name": universe.group_name(by, k), "weight": v.get("exposure"),
                 "vol_contribution": v.get("vol_contribution"), "vol_share": v.get("vol_share"),
                 "es_contribution": v.get("es_contribution"), "es_share": v.get("es_share")}
                for k, v in g.items()]
        exposure[by] = table(f"By {by}", exp_cols, rows, basis=btxt,
                             note=("weighted membership; " + ("themes overlap, so they need not add up"
                                                               if by == "theme" else "groups add up to the book"))
                             + f"; ES at {strategy.risk.confidence:.0%} ({contrib.get('es_method') or 'historical'})")

    # ---- budgets: target vs last rebalance vs today
    by = strategy.budget_by
    today = ((contrib.get("by_group") or {}).get(by) or {})
    last_risk = {}
    last_date = None
    if allocator is not None and getattr(allocator, "symbols_", None):
        last_date = allocator.fit_context_.date
        last_risk = universe.exposure(allocator.risk_contributions_, by, date=last_date).to_dict()
    kind = "risk" if strategy.budget_kind == "risk" else "weight"
    budgets = table(
        f"{kind.capitalize()} budgets by {by}: target, last rebalance, today",
        [column("group", "Group"), column("budget", f"Target {kind} budget", "fraction"),
         column("last_rebalance", "Share of risk at last rebalance", "fraction"),
         column("today_vol", "Share of volatility today", "fraction"),
         column("today_weight", "Weight today", "fraction")],
        [{"group": g, "budget": b.budget, "last_rebalance": last_risk.get(g),
          "today_vol": (today.get(g) or {}).get("vol_share"), "today_weight": (today.get(g) or {}).get("exposure")}
         for g, b in strategy.budgets.items()],
        basis=btxt,
        note=(f"last rebalance {pd.Timestamp(last_date).date() if last_date is not None else 'n/a'}: shares of "
              "variance under the allocator's covariance after the mandate's projection (the projection moves "
              "weights away from exact budgets when rules bind); today: after drift and the volatility target, "
              "under the risk report's covariance"))

    # ---- VaR / ES
    var_cols = [column("method", "Method"), column("var_pct", "VaR", "fraction"), column("es_pct", "ES", "fraction"),
                column("var", "VaR", cur), column("es", "ES", cur), column("n_observations", "Observations", "count"),
                column("horizon_rule", "Horizon rule")]
    var_rows = [{"method": m, **{k: v.get(k) for k in ("var_pct", "es_pct", "var", "es", "n_observations",
                                                      "horizon_rule")}} for m, v in (risk.get("var") or {}).items()]
    meta = risk.get("meta") or {}
    var_es = table(f"VaR and ES at {strategy.risk.confidence:.0%}, horizon {strategy.risk.horizon} period(s)",
                   var_cols, var_rows, basis=btxt,
                   note=f"positive = loss; on the book's value of {final_value:,.0f} {cur} as of {meta.get('asof')}; "
                        f"{meta.get('lookback_periods')} periods of history from {meta.get('first')}"
                        + ("; history before a young asset's listing taken from its proxy: "
                           + "; ".join(f"{k}: {v}" for k, v in meta["history_fill"].items())
                           if meta.get("history_fill") else ""))

    # ---- liquidity
    liq = risk.get("liquidity") or {}
    buckets = table("Share of the book liquid within", [column("horizon", "Horizon"), column("liquid", "Liquid", "fraction")],
                    [{"horizon": f"{k} day{'s' if str(k) != '1' else ''}", "liquid": v}
                     for k, v in (liq.get("liquid_share") or {}).items()],
                    note=f"selling at {strategy.risk.participation:.0%} of ADV ({liq.get('adv_window_bars')} bars "
                         f"of each asset's own venue calendar); positions without volume count as not liquid")
    liq_assets = table("Days to liquidate by position",
                       [column("symbol", "Symbol"), column("value", "Position", cur), column("adv", "ADV", cur),
                        column("days", "Days to liquidate", "days"), column("note", "Note")],
                       [{"symbol": k, **v} for k, v in (liq.get("positions") or {}).items()],
                       note="days = position / (participation x ADV), trading days of the asset's venue")

    # ---- trading and costs
    r = result
    avg_eq = float(r.equity.mean())
    years = len(r.equity) / ppy
    n_reb = int((r.turnover > 0).sum())
    trading = {
        "summary": table("Trading over the backtest", [
            column("costs", "Total costs", cur), column("costs_bp_yr", "Costs per year", "bp"),
            column("trades", "Trades", "count"), column("rebalances", "Rebalance days", "count"),
            column("annual_turnover", "Turnover per year", "fraction/yr"),
            column("gross_final", "Final value gross of costs", cur), column("net_final", "Final value net", cur)],
            [{"costs": r.total_costs, "costs_bp_yr": r.total_costs / avg_eq / years * 1e4 if years > 0 else None,
              "trades": len(r.trades), "rebalances": n_reb, "annual_turnover": mets["Strategy"].get("annual_turnover"),
              "gross_final": float(r.gross_equity.iloc[-1]), "net_final": final_value}],
            basis=btxt, note="costs = commissions/fees + half-spread + square-root impact (cost file); "
                             "turnover one-way, traded notional / (2 x book value); costs per year in bp of the "
                             "average book value"),
        "by_venue": table("Costs by venue", [column("venue", "Venue"), column("notional", "Traded", cur),
                                             column("fee", "Fees", cur), column("spread", "Spread", cur),
                                             column("impact", "Impact", cur), column("cost", "Total", cur)],
                          [{"venue": v, **{k: float(row[k]) for k in ("notional", "fee", "spread", "impact", "cost")}}
                           for v, row in r.costs_by_venue.iterrows()]),
    }

    # ---- correlation
    corr_out = {}
    if corr is not None:
        cur_c = corr["current"]
        corr_out["summary"] = table(
            f"Sleeve correlation on {cur_c['date']}",
            [column("measure", "Measure"), column("value", "Correlation", "ratio")],
            [{"measure": f"rolling {corr['window']} periods", "value": cur_c.get("rolling")},
             {"measure": f"EWMA, half-life {corr['halflife']:g} periods", "value": cur_c.get("ewm")},
             {"measure": "DCC-GARCH(1,1)", "value": cur_c.get("dcc")},
             {"measure": f"regime now: {cur_c.get('regime')}", "value": None}],
            basis=btxt, note="legs: equal-weight mean of each sleeve's assets with a return that period")
        corr_out["regimes"] = table("Share of the backtest in each regime",
                                    [column("regime", "Regime"), column("share", "Share of periods", "fraction")],
                                    [{"regime": k, "share": v} for k, v in corr["regime_share"].items()],
                                    note=corr["thresholds"]["rule"])
        corr_out["note"] = ("Digital-asset sleeve vs AI-equity sleeve, daily returns on the book's basis; "
                            "regimes labelled on the EWMA correlation. " + corr["thresholds"]["rule"]
                            + (f". DCC a={corr['dcc']['a']:.3f}, b={corr['dcc']['b']:.3f}" if corr.get("dcc")
                               and "a" in corr["dcc"] else ""))
    pairs = ((risk.get("correlation") or {}).get("pairs") or [])
    if pairs:
        p = pairs[0]
        corr_out["btc_qqq"] = table(f"{p['a']} vs {p['b']}: daily correlation by method",
                                    [column("method", "Method"), column("value", "Correlation", "ratio"),
                                     column("n", "Observations", "count"), column("se", "Std. error", "ratio")],
                                    [{"method": v["description"], "value": v["value"], "n": v["n"],
                                      "se": v["standard_error"]} for k, v in p.items() if isinstance(v, dict)],
                                    note="crypto closes 00:00 UTC, US equities 16:00 New York: the raw same-label "
                                         "estimate is biased; lead-lag and weekly sums correct for it")

    # ---- final weights
    wt_rows = []
    for s, v in wlast.sort_values(ascending=False).items():
        a = universe.asset(s)
        ba = by_asset.get(s) or {}
        wt_rows.append({"symbol": s, "name": a.name, "sleeve": a.sleeve, "weight": float(v),
                        "value": float(v) * final_value, "vol_share": ba.get("vol_share"),
                        "es_contribution": ba.get("es_contribution")})
    weights_tab = table(f"Final weights on {end.date()}", [
        column("symbol", "Symbol"), column("name", "Name"), column("sleeve", "Sleeve"),
        column("weight", "Weight", "fraction"), column("value", "Value", cur),
        column("vol_share", "Share of volatility", "fraction"), column("es_contribution", "ES contribution", "fraction")],
        wt_rows, basis=btxt, note=f"cash {1 - float(wlast.sum()):.2%} of the book")

    # ---- data and validation
    vd = vrep.to_dict(limit=500) if vrep is not None else {}
    counts = vrep.counts() if vrep is not None else pd.DataFrame()
    lives = market.lives()
    data_hash = market.data_hash()  # hashes every stored value: once per run
    data = {
        "label": market.label, "source": market.source, "simulated": bool(market.simulated),
        "data_hash": data_hash, "start": str(market.start.date()), "end": str(market.end.date()),
        "symbols": len(market.symbols),
        "facts": {
            "source": market.label,
            "simulated": "yes: generated by the built-in sample market" if market.simulated else "no",
            "dates loaded": f"{market.start.date()} to {market.end.date()} (history before {start.date()} feeds "
                            f"the estimators)",
            "symbols with data": f"{len(market.symbols)} of {len(universe)} in universe {universe.name}",
            "data hash (sha256)": data_hash,
            **({"seed": str(market.provenance.get("seed"))} if market.simulated else {}),
            **({"folder": str(market.provenance.get("folder"))} if market.provenance.get("folder") else {}),
            **({"trimmed rows (outside listed dates)": ", ".join(f"{k} {v}" for k, v in
                                                                   market.provenance["trimmed"].items())}
               if market.provenance.get("trimmed") else {}),
            "youngest asset held": (max(((s, lives.at[s, "first"]) for s in wlast.index),
                                        key=lambda t: t[1])[0] if len(wlast) else ""),
            "validation": vrep.summary() if vrep is not None else "not run",
        },
        "validation": {
            "line": vrep.summary() if vrep is not None else "",
            "errors": vd.get("errors", 0), "warnings": vd.get("warnings", 0), "rows": vd.get("rows", 0),
            "notes": vd.get("notes", []),
            "summary": table("Validation findings by check", [column("severity", "Severity"),
                                                              column("check", "Check"), column("count", "Findings", "count")],
                             [{"severity": row.severity, "check": row.check, "count": int(row.count)}
                              for row in counts.itertuples()] if len(counts) else [],
                             note="computefolio.data.validate: nothing was filled or dropped; errors are shown, "
                                  "not fixed"),
            "findings": table("Findings (first 500)", [column("severity", "Severity"), column("check", "Check"),
                                                       column("symbol", "Symbol"), column("date", "Date", "date"),
                                                       column("value", "Value"), column("message", "Message")],
                              [{**{k: f.get(k) for k in ("severity", "check", "symbol", "date", "message")},
                                "value": "" if f.get("value") is None else f"{f['value']:.6g}"}
                               for f in vd.get("findings", [])]),
        },
    }

    # ---- layer summary (market by layer)
    layer_tab = None
    try:
        from .summary import layer_summary

        ls = layer_summary(market.between(None, end), universe)
        lcols = [column("group", "Layer"), column("name", "Name"), column("assets", "Assets", "count")]
        for c in ls.columns:
            if c.startswith("vol_ann_session"):
                lcols.append(column(c, f"Vol, session ({c.rsplit('_', 1)[-1]}/yr)", "fraction/yr"))
            elif c.startswith("vol_ann_calendar"):
                lcols.append(column(c, f"Vol, calendar ({c.rsplit('_', 1)[-1]}/yr)", "fraction/yr"))
            elif c.startswith("corr_"):
                lcols.append(column(c, f"Corr. with {c.split('_')[1].upper()}", "ratio"))
        layer_tab = table("Market by layer", lcols, [{"group": g, **row} for g, row in ls.to_dict("index").items()],
                          note=ls.attrs.get("basis_note"))
    except Exception as exc:  # noqa: BLE001 - the summary is informative only
        warns.append(f"layer summary: {exc}")

    # ---- series for the charts
    eq = pd.DataFrame({n: b.equity for n, b in books.items()})
    dd = pd.DataFrame({n: dd_fn(b.returns) for n, b in books.items()}).reindex(eq.index)
    win = strategy.risk.correlation_window
    rv = pd.DataFrame({n: b.returns.rolling(win).std() * math.sqrt(ppy) for n, b in books.items()})
    series = {
        "equity": _series(eq, cur, btxt),
        "drawdown": _series(dd, "fraction", btxt),
        "rolling_vol": _series(rv.dropna(how="all"), "fraction/yr", btxt, window=win),
        "weights_by_layer": _series(_weights_by_layer(result, universe), "fraction", btxt),
        "turnover": _series(result.turnover[result.turnover > 0].rename("turnover"), "fraction", btxt),
    }
    if corr is not None:
        cs = corr["series"]
        cframe = cs[[c for c in ("rolling", "ewm", "dcc") if c in cs.columns]].rename(
            columns={"rolling": f"rolling {corr['window']}", "ewm": f"EWMA (half-life {corr['halflife']:g})",
                     "dcc": "DCC-GARCH"})
        series["correlation"] = _series(cframe, "ratio", btxt, regimes=[str(x) for x in cs["regime"]])

    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema": "computefolio.results/1",
        "strategy": {"name": strategy.name, "description": strategy.description,
                     "file": strategy.file.name if strategy.file else None,
                     "config": json.loads(strategy.model_dump_json())},
        "run": {"created_utc": created, "computefolio_version": __version__, "python": platform.python_version()},
        "conventions": {
            "basis": strategy.basis, "basis_label": btxt, "periods_per_year": ppy, "currency": cur,
            "capital": quantity(strategy.capital, cur), "final_value": quantity(final_value, cur, btxt),
            "start": str(result.equity.index[0].date()), "end": str(end.date()), "asof": str(end.date()),
            "returns": "simple returns, fractions (0.01 = 1%)", "var_sign": "VaR and ES are positive losses",
            "fractions": "weights and P&L are fractions of the book's value",
        },
        "data": data,
        "layer_summary": layer_tab,
        "headline": headline_table(books, mets, strategy, btxt, ref),
        "metrics": {n: {k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in m.items()}
                    for n, m in mets.items()},
        "exposure": exposure,
        "budgets": budgets,
        "var_es": var_es,
        "volatility": {"ex_ante": quantity((risk.get("volatility") or {}).get("annualized"), "fraction/yr", btxt),
                       "covariance": (risk.get("volatility") or {}).get("covariance")},
        "stress": _stress_tables(risk, universe, cur, btxt),
        "liquidity": {"buckets": buckets, "assets": liq_assets},
        "trading": trading,
        "correlation": corr_out,
        "mandate": mandate_table(mandate, wlast, universe, market, end, final_value),
        "weights": weights_tab,
        "warnings": list(dict.fromkeys([*warns, *notes, *(risk.get("warnings") or [])])),
        "series": series,
    }


def _json_default(o):
    if isinstance(o, (pd.Timestamp, dt.date)):
        return str(o.date()) if isinstance(o, pd.Timestamp) else o.isoformat()
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, np.integer):
        return int(o)
    return o


def write_outputs(out: Path, results: dict, result, strategy: Strategy, market: MarketData) -> dict:
    """Write the five output files into ``out`` and return name -> path."""
    from . import __version__

    out.mkdir(parents=True, exist_ok=True)
    results = _clean(results)
    files = {n: out / n for n in OUTPUT_FILES}
    files["results.json"].write_text(json.dumps(results, indent=1, default=_json_default, allow_nan=False),
                                     encoding="utf-8")
    w = result.weights.copy()
    w["cash"] = 1.0 - w.sum(axis=1)
    w.index.name = "date"
    w.to_csv(files["weights.csv"], float_format="%.10g")
    result.trades.to_csv(files["trades.csv"], index=False, float_format="%.10g")
    files["report.html"].write_text(build_report(results), encoding="utf-8")
    import platform

    versions = {"computefolio": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "pandas": pd.__version__}
    manifest = {
        "schema": "computefolio.manifest/1",
        "created_utc": results["run"]["created_utc"],
        "strategy": results["strategy"]["config"],
        "strategy_file": str(strategy.file.name) if strategy.file else None,
        "strategy_file_sha256": _sha256(strategy.file) if strategy.file and strategy.file.is_file() else None,
        "data": {"label": market.label, "simulated": bool(market.simulated), "data_hash": results["data"]["data_hash"],
                 "start": str(market.start.date()), "end": str(market.end.date()),
                 "seed": market.provenance.get("seed") if market.simulated else None},
        "versions": versions,
        "backtest": result.manifest,
        "files": {n: {"sha256": _sha256(p), "bytes": p.stat().st_size} for n, p in files.items()
                  if n != "manifest.json"},
        "units": {"weights.csv": "fractions of book value per date (post-trade), cash = 1 - sum",
                  "trades.csv": f"quantity in units, money in {strategy.currency}"},
    }
    files["manifest.json"].write_text(json.dumps(_clean(manifest), indent=1, default=_json_default), encoding="utf-8")
    return files
