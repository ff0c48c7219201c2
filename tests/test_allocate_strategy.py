"""The shipped strategy's construction at every rebalance, on the sample market and on real data.

Checked at each rebalance of a backtest of the shipped strategy (the main job's policy):

* the allocator's book and the volatility-target overlay's book break no mandate rule (the
  construction view of the rules: a passive breach the trade caps cannot cure in one day moves
  toward its bound as far as they allow, see ``Mandate.constraints``), and the overlay relaxed
  nothing;
* the risk shares are within one percentage point of 35/65, or the record names the binding
  rule (``StrategyAllocator.rebalances_``);
* ``computefolio allocate --strategy`` gives the first rebalance's book exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from computefolio.allocate.sleeves import rebalance_table


def _backtest(data=None):
    from computefolio.allocate.mandate import load_mandate
    from computefolio.backtest.costs import load_costs
    from computefolio.backtest.policy import backtest
    from computefolio.job.steps import build_policy, investable_symbols, load_market
    from computefolio.strategy import load_strategy
    from computefolio.universe import load_universe

    s = load_strategy(None)
    u = load_universe(s.resolve(s.universe, "universe") if s.universe else None)
    mk = load_market(s, u, data)
    mandate = load_mandate(s.resolve(s.mandate, "mandate"))
    costs = load_costs(s.resolve(s.costs, "costs"))
    syms = investable_symbols(s, u, mk)
    policy = build_policy(s, u, mandate, syms, mk)
    targets = []
    inner = policy.target

    def target(window, **kw):
        w = inner(window, **kw)
        targets.append((kw.get("date"), w.copy(), list(policy.vol_target.breaches_), list(policy.vol_target.relaxed_)))
        return w

    policy.target = target
    end = pd.Timestamp(s.start) + pd.DateOffset(years=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtest(policy, mk.subset(syms), costs=costs, capital=s.capital, start=pd.Timestamp(s.start),
                 end=min(end, mk.end), universe=u, cash_rate=s.cash_rate, keep_weights=False, seed=s.data.seed)
    return s, policy, targets


def _check(policy, targets):
    alloc = policy.allocator
    log = alloc.rebalances_
    assert len(log) == len(targets) >= 20
    for rec, (day, w, vt_breaches, relaxed) in zip(log, targets):
        assert rec["breaches"] == [], (rec["date"], rec["breaches"])
        assert vt_breaches == [] and relaxed == [], (rec["date"], vt_breaches, relaxed)
        assert w.sum() <= 0.98 + 1e-9 and (w >= -1e-12).all()
        if not rec["within_1pt"]:
            assert rec["binding"] and "not met" in rec["summary"], rec
        else:
            assert max(abs(v) for v in rec["gap_points"].values()) <= 1.0
    table = rebalance_table(alloc, policy.vol_target)
    assert len(table) == len(log) and {"share_digital_assets", "vol_after", "overlay_bound_by"} <= set(table.columns)
    assert len(alloc.rebalance_lines()) == len(log)
    return sum(r["within_1pt"] for r in log) / len(log)


def test_shipped_strategy_on_the_sample_holds_the_mandate_and_budgets():
    s, policy, targets = _backtest()
    share = _check(policy, targets)
    assert share > 0.5  # the sample's group minimum binds when the overlay scales far down


@pytest.mark.realdata
def test_shipped_strategy_on_real_data_holds_the_mandate_and_budgets(shared_dir):
    s, policy, targets = _backtest(shared_dir)
    share = _check(policy, targets)
    assert share > 0.9


def test_allocate_strategy_is_the_first_rebalance_of_run():
    from computefolio.cli.allocate import run_strategy_allocation
    from computefolio.strategy import load_strategy

    s, policy, targets = _backtest()
    res = run_strategy_allocation(load_strategy(None))
    assert res["first_rebalance_of_run"] and res["date"] == str(pd.Timestamp(targets[0][0]).date())
    first = targets[0][1]
    got = pd.Series(res["weights"]).reindex(first.index).fillna(0.0)
    np.testing.assert_allclose(got.to_numpy(), first.to_numpy(), rtol=0, atol=1e-12)
    assert res["status"] == policy.allocator.rebalances_[0]["status_text"]
