"""Run a strategy: the steps of the main job in order, timed, with their outputs."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..clock import basis_label, periods_per_year
from ..data.market import MarketData
from ..errors import ComputefolioError, DataError
from ..strategy import Strategy, load_strategy
from ..universe import Universe, load_universe
from .outputs import write_outputs
from .results import assemble_results
from .caveats import Caveats
from .steps import (_aggregate_dated, _correlation_step, _risk_step, benchmark_weights, build_policy,
                    group_gap_message, investable_symbols, load_market, resolve_end)
from .terminal import Steps


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
    with Steps(progress, console) as steps:
        res = execute(strategy, data=data, out_dir=Path(out_dir), steps=steps)
    res.elapsed_s = time.perf_counter() - t_start
    res.timings = dict(steps.timings)
    return res


def execute(strategy: Strategy, *, data=None, out_dir: Path, steps: Steps) -> RunResult:
    """The steps of :func:`run_strategy` (see the module docstring)."""
    from .. import metrics as M
    from ..backtest.costs import load_costs
    from ..backtest.policy import backtest
    from ..backtest.schedule import Calendar
    from ..backtest.simulator import simulate

    warns: list[str] = []
    caveats = Caveats()
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
        from ..allocate.mandate import load_mandate

        mandate = load_mandate(mandate_path) if mandate_path else None
        costs = load_costs(costs_path) if costs_path else None
        start = pd.Timestamp(strategy.start)
        delisted = {a.symbol: a.delisted for a in universe.assets if a.delisted is not None}
        end, end_reason = resolve_end(strategy, universe, market, delisted)
        caveats.add("note", "as_of", end_reason)
        if end <= start:
            raise DataError(f"the data end on {market.end.date()}, before the strategy's start {start.date()}")
        symbols = investable_symbols(strategy, universe, market)
        if not symbols:
            raise DataError("no symbol of the strategy's sleeves/layers has prices in the data")
        absent = [s for s in universe.symbols if s not in set(market.symbols)
                  and universe.asset(s).sleeve != "private_markets" and universe.asset(s).asset_class != "private"]
        if absent:
            warns.append(f"{len(absent)} universe symbols have no data and are not used: {', '.join(absent)}")
        if market.simulated:
            caveats.add("note", "simulated", "every price comes from the built-in sample market (simulated): no "
                                             "number describes real assets or real performance")

    # ---------------------------------------------------------------- 2 validate
    with steps.step("validate data"):
        from ..data.validate import validate

        vrep = validate(market, universe=universe)

    # ---------------------------------------------------------------- 3+4 construct and backtest
    with steps.step("construct and backtest"):
        policy = build_policy(strategy, universe, mandate, symbols, market)
        window = market.between(start, end)
        n_sched = len(Calendar(strategy.schedule.frequency, clock="session").dates(window.index(strategy.basis)))
        policy.allocator.on_fit = steps.sub("allocator fits", n_sched)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = backtest(policy, market.subset(symbols), costs=costs, capital=strategy.capital,
                                  start=start, end=end, universe=universe, cash_rate=strategy.cash_rate,
                                  keep_weights=True, seed=strategy.data.seed)
            except ComputefolioError as exc:
                why = group_gap_message(exc, strategy, universe, market, mandate)
                if why is None:
                    raise
                raise DataError(why) from None
        warns.extend(_aggregate_dated([str(w.message) for w in caught if issubclass(w.category, UserWarning)]))
        warns.extend(result.warnings)
        breaches = None
        if mandate is not None:
            from ..backtest.breaches import mandate_breaches

            # every rule after every rebalance and at every valuation date, active vs passive
            breaches = mandate_breaches(result, mandate, universe, market.subset(symbols))

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
                                        keep_weights=False, delisted=delisted)
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
    prun = None
    if strategy.private:
        with steps.step("private sleeve: marks, unsmoothing, lock-ups"):
            from .private import private_step

            # held beside the liquid book, valued by marks; the risk report is of the whole book (job.private)
            prun = private_step(strategy, universe, market, result, wlast, basis=basis, asof=final_date)
    with steps.step("risk report: VaR/ES, contributions, stress, liquidity"):
        # money at risk on today's AUM (the strategy's capital), not on the backtest's grown value
        extra = {} if prun is None else {"extra_returns": prun.risk.returns, "extra_methods": prun.risk.methods,
                                         "access": prun.access}
        rep = _risk_step(strategy, universe, hist, wlast if prun is None else prun.weights,
                         float(strategy.capital), final_date, **extra)
        warns.extend(rep.warnings)
        risk_dict = rep.to_dict()

    with steps.step("correlation regimes (rolling, EWMA, DCC)"):
        corr = _correlation_step(strategy, universe, rets.loc[start:final_date], warns)

    # ---------------------------------------------------------------- 7 write
    with steps.step("write report"):
        if prun is not None:
            from .private import private_caveats

            private_caveats(caveats, prun, mandate, strategy.data.stale_after_days)
        results = assemble_results(strategy, universe=universe, market=market, vrep=vrep, result=result,
                                   books=books, mets=mets, risk=risk_dict, corr=corr, wlast=wlast,
                                   mandate=mandate, warns=warns, notes=bench_notes, btxt=btxt, ppy=ppy,
                                   start=start, end=final_date, ref=ref_name, allocator=policy.allocator,
                                   caveats=caveats, end_reason=end_reason, delisted=delisted, breaches=breaches)
        from .performance import add_performance  # attribution, tear-sheet tables, executive summary

        add_performance(results, strategy, universe=universe, market=market, result=result, books=books,
                        risk=risk_dict, data=data, btxt=btxt, ppy=ppy)
        if prun is not None:
            from .private import private_tables

            results["private"] = private_tables(prun, strategy=strategy, universe=universe, mandate=mandate,
                                                risk=risk_dict, btxt=btxt)
        # a run on the simulated sample market never overwrites a real run's folder
        out = Path(out_dir) / (strategy.name + ("-sample" if market.simulated else ""))
        files = write_outputs(out, results, result, strategy, market)

    return RunResult(strategy=strategy, out_dir=out, files=files, results=results, backtest=result,
                     benchmarks={k: v for k, v in books.items() if k != "Strategy"}, market=market,
                     universe=universe, validation=vrep, final_weights=wlast, risk=risk_dict)
