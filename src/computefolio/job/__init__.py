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

from ..allocate.sleeves import StrategyAllocator, build_allocator, make_covariance
from .outputs import OUTPUT_FILES, write_outputs
from .results import assemble_results, headline_table, mandate_table
from .run import RunResult, execute, run_strategy
from .steps import (benchmark_weights, build_policy, data_start, history_start, investable_symbols, load_market,
                    select_scenarios)
from .terminal import Steps, print_summary

__all__ = ["OUTPUT_FILES", "RunResult", "Steps", "StrategyAllocator", "assemble_results", "benchmark_weights",
           "build_allocator", "build_policy", "data_start", "execute", "headline_table", "history_start",
           "investable_symbols", "load_market", "make_covariance", "mandate_table", "print_summary", "run_strategy",
           "select_scenarios", "write_outputs"]
