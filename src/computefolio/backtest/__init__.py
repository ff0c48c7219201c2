"""Backtests: how a policy would have done after every cost, valued on the book's clock.

Public API
----------
simulate(prices, target_weights, costs=None, capital=1e8, ...) -> Result
    Low-level: bring your own target weights (DataFrame indexed by rebalance dates).
Policy(allocator, schedule, mandate=None, vol_target=None, lookback=252, basis="session")
    Allocator + schedule (+ mandate, volatility target); ``backtest(policy, market)``.
Calendar(freq, clock, anchor), DriftBands(abs, rel, group_abs, group_rel, groups)
    Schedules.
CostModel, load_costs(path=None)
    Trading costs per venue (``resources/costs_default.yaml``).
walk_forward(policy, market, train, test, mode="expanding"|"rolling")
backtest_many(policies_or_weights, market, ...)
    Many policies, or a (sets x dates x assets) weight tensor in one numba call.
Result
    equity, gross_equity, returns, weights, trades, costs_by_venue, costs_by_asset,
    turnover, cash, manifest, metrics(), to_dict().
"""

from .costs import AssetCost, CostModel, VenueCost, load_costs
from .policy import FixedWeights, Policy, VolTarget, backtest
from .result import Result
from .schedule import Calendar, DriftBands
from .simulator import DEFAULT_CAPITAL, cash_growth, prepare, simulate
from .sweep import ManyResult, backtest_many
from .walkforward import walk_forward

__all__ = ["simulate", "backtest", "backtest_many", "walk_forward", "Policy", "FixedWeights", "VolTarget",
           "Calendar", "DriftBands", "Result", "ManyResult", "CostModel", "VenueCost", "AssetCost", "load_costs",
           "DEFAULT_CAPITAL", "prepare", "cash_growth"]
