"""Orders: rounding toward zero to venue filters (with ccxt as the peer), hours, T+1, cash
sequencing (property tests), stable ids, and one order list per book state across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from computefolio.book import Account, BookStore, prices_at, value_book
from computefolio.book.valuation import Valuation
from computefolio.rebalance.orders import estimate_costs, sequence_cash, size_orders
from computefolio.rebalance.venues import VenueRules, round_quantity

from _book_data import ACCOUNTS, book_with, funded_entries, synthetic_market

STEPS = [1.0, 0.1, 0.01, 0.001, 1e-5, 1e-8, 0.5, 0.25, 5.0]


@settings(max_examples=400, deadline=None)
@given(q=st.floats(min_value=0.0, max_value=1e7, allow_nan=False), step=st.sampled_from(STEPS),
       k=st.integers(min_value=0, max_value=3), neg=st.booleans())
def test_lot_rounding_never_exceeds_the_target(q, step, k, neg):
    mn = k * step
    r = round_quantity(-q if neg else q, step, mn)
    a = abs(r)
    assert a <= q  # never more than asked
    assert (r <= 0) if neg else (r >= 0)
    if a:
        assert a >= mn * (1 - 1e-12)
        n = (Decimal(repr(a)) - Decimal(repr(mn))) / Decimal(repr(step))
        assert abs(n - n.to_integral_value()) < Decimal("1e-6")  # Binance LOT_SIZE: (qty - minQty) % step == 0
    # maximal: one more step would exceed the target (or the target is below the minimum)
    if q >= mn:
        assert float(Decimal(repr(a)) + Decimal(repr(step))) > q * (1 - 1e-12)
    else:
        assert a == 0.0


def test_rounding_matches_ccxt_amount_to_precision():
    """ccxt truncates amounts to the market's step (TRUNCATE, TICK_SIZE): the same numbers."""
    dtp = pytest.importorskip("ccxt.base.decimal_to_precision", reason="ccxt (test extra) not installed")
    rng = np.random.default_rng(3)
    for step in STEPS:
        for q in np.concatenate([rng.uniform(0, 1000, 200), rng.uniform(0, 1, 200), [0.3, 2.675, 1e-8, 7.0]]):
            peer = float(dtp.decimal_to_precision(repr(float(q)), dtp.TRUNCATE, repr(step), dtp.TICK_SIZE))
            assert round_quantity(float(q), step, 0.0) == pytest.approx(peer, rel=0, abs=step * 1e-9), (q, step)


@pytest.fixture(scope="module")
def world(universe, tmp_path_factory):
    m = synthetic_market(universe)
    path = tmp_path_factory.mktemp("orders") / "s.duckdb"
    es = funded_entries() + [
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 10_000, "price": 120},
        {"date": "2025-01-03", "kind": "buy", "account": "binance", "symbol": "BTC", "quantity": 20, "price": 60000},
        {"date": "2025-01-04", "kind": "transfer", "account": "binance", "counter_account": "cold", "symbol": "BTC",
         "quantity": 5}]
    book_with(path, es, universe=universe)
    with BookStore(path) as bs:
        e, acc = bs.entries(), bs.accounts()
    return m, e, acc


def _size(world, universe, targets, day="2025-06-06", trade="2025-06-07"):
    m, e, acc = world
    v = value_book(e, m, day)
    syms = list(dict.fromkeys([*v.units().index, *targets]))
    pr = prices_at(m, day, syms)
    rules = VenueRules(universe=universe)
    return v, pr, rules, size_orders(v, pd.Series(targets), accounts=acc, rules=rules, prices=pr, trade_date=trade,
                                     list_id="Ltest")


def test_saturday_equity_orders_go_to_monday_and_settle_t_plus_one(world, universe):
    v, pr, rules, (o, dropped, notes) = _size(world, universe, {"NVDA": 0.05, "MSFT": 0.05, "BTC": 0.05,
                                                                 "ETH": 0.02})
    o = o.set_index("symbol")
    for s in ("NVDA", "MSFT"):
        assert o.at[s, "session"] == pd.Timestamp("2025-06-09") and bool(o.at[s, "deferred"])
        assert o.at[s, "settle_date"] == pd.Timestamp("2025-06-10")
        assert "closed on 2025-06-07" in o.at[s, "note"]
    assert o.at["BTC", "session"] == pd.Timestamp("2025-06-07") and not o.at["BTC", "deferred"]
    assert o.at["BTC", "settle_date"] == pd.Timestamp("2025-06-07")
    # a holiday: Friday 4 July 2025 -> Monday 7 July
    r = rules.rule("NVDA")
    assert r.session("2025-07-04") == (pd.Timestamp("2025-07-07"), True)
    assert r.settlement("2025-07-03") == pd.Timestamp("2025-07-07")
    # crypto sells come from the exchange, never from the custodian; the rest is said
    _, _, _, (o2, dropped2, notes2) = _size(world, universe, {"NVDA": 0.05})
    btc = o2[o2["symbol"] == "BTC"]
    assert list(btc["account"]) == ["binance"] and btc["quantity"].iloc[0] == 15
    assert any("cold" in n and "cannot be sold" in n for n in notes2)
    assert (dropped2["reason"].str.contains("not held in an account trading on binance")).any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=6, max_size=6))
def test_orders_never_buy_more_than_the_target(world, universe, w):
    syms = ["NVDA", "MSFT", "AMD", "BTC", "ETH", "SOL"]
    v, pr, rules, (o, dropped, _) = _size(world, universe, dict(zip(syms, w)))
    for r in o.itertuples():
        assert r.quantity <= r.target_quantity * (1 + 1e-12)
        want = w[syms.index(r.symbol)] * v.nav
        held = float(v.values().get(r.symbol, 0.0))
        if r.side == "buy":
            assert r.quantity * r.ref_price <= (want - held) * (1 + 1e-9) + 1e-6
        else:
            assert r.quantity * r.ref_price <= (held - want) * (1 + 1e-9) + 1e-6
        rule = rules.rule(r.symbol)
        assert r.quantity * r.ref_price >= rule.min_notional
        if r.side == "buy":
            assert r.limit_price <= r.ref_price * (1 + rules.limit_band) + 1e-9
        else:
            assert r.limit_price >= r.ref_price * (1 - rules.limit_band) - 1e-9


def test_orders_below_the_venue_minimum_are_dropped_and_listed(world, universe):
    m, e, acc = world
    v = value_book(e, m, "2025-06-06")
    tiny = 3.0 / v.nav  # 3 USD of SOL: below Binance's 10 USD minimum notional
    _, _, _, (o, dropped, _) = _size(world, universe, {"SOL": tiny, "NVDA": v.weights()["NVDA"]})
    assert "SOL" not in set(o["symbol"])
    row = dropped[dropped["symbol"] == "SOL"].iloc[0]
    assert "below the venue minimum 10 USDT" in row["reason"]


def _valuation(cash: dict, floors: dict) -> tuple[Valuation, dict]:
    accts = {a: Account(a, "exchange", a, "USD", (), floors[a]) for a in cash}
    c = pd.DataFrame({"account": list(cash), "currency": "USD", "amount": list(cash.values()), "rate": 1.0,
                      "value": list(cash.values())})
    nav = float(sum(cash.values()))
    pos = pd.DataFrame(columns=["account", "symbol", "quantity", "price", "value", "weight"])
    return Valuation(day=pd.Timestamp("2025-06-06"), positions=pos, cash=c, nav=nav,
                     prices=pd.DataFrame(), currency="USD"), accts


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_cash_never_goes_negative_on_any_account_after_sequencing(data):
    n_acc = data.draw(st.integers(2, 5))
    names = [f"a{i}" for i in range(n_acc)]
    floors = {a: data.draw(st.sampled_from([0.0, 1000.0, 50_000.0])) for a in names}
    cash = {a: floors[a] + data.draw(st.floats(0, 2e6)) for a in names}
    n = data.draw(st.integers(0, 12))
    rows = []
    for k in range(n):
        side = data.draw(st.sampled_from(["buy", "sell"]))
        q = data.draw(st.floats(1, 1e4))
        px = data.draw(st.floats(0.5, 500))
        fee = data.draw(st.floats(0, 0.001)) * q * px
        rows.append({"account": data.draw(st.sampled_from(names)), "symbol": f"S{k}", "side": side, "quantity": q,
                     "limit_price": px, "ref_price": px, "notional": q * px, "target_quantity": q, "est_fee": fee,
                     "est_spread": 0.0, "est_impact": 0.0, "est_cost": fee, "funding": "", "note": ""})
    o = pd.DataFrame(rows, columns=["account", "symbol", "side", "quantity", "limit_price", "ref_price", "notional",
                                    "target_quantity", "est_fee", "est_spread", "est_impact", "est_cost", "funding",
                                    "note"])
    v, accts = _valuation(cash, floors)
    out, transfers, notes = sequence_cash(o, v, accts)
    end = dict(cash)
    for r in out.itertuples():
        end[r.account] += (-1 if r.side == "buy" else 1) * r.quantity * r.limit_price - r.est_fee
    for t in transfers:
        assert t["amount"] > 0 and t["from"] != t["to"]
        end[t["from"]] -= t["amount"]
        end[t["to"]] += t["amount"]
    for a in names:
        assert end[a] >= floors[a] - 1e-6 * max(1.0, cash[a]), (a, end[a], floors[a])
    # buys are only ever scaled down, sells never touched
    sells_in = o[o["side"] == "sell"]["quantity"].sum()
    assert out[out["side"] == "sell"]["quantity"].sum() == pytest.approx(sells_in)


def test_costs_follow_the_cost_model(world, universe):
    m, e, acc = world
    v, pr, rules, (o, _, _) = _size(world, universe, {"NVDA": 0.02, "BTC": 0.02})
    sigma = pd.Series({"NVDA": 0.02, "BTC": 0.03})
    adv = pd.Series({"NVDA": 1e9, "BTC": 2e9})
    c = estimate_costs(o, rules.costs, sigma=sigma, adv=adv).set_index("symbol")
    x = c.at["BTC", "notional"]
    assert c.at["BTC", "est_fee"] == pytest.approx(7.5e-4 * x)
    assert c.at["BTC", "est_spread"] == pytest.approx(2e-4 * x)
    assert c.at["BTC", "est_impact"] == pytest.approx(0.1 * 0.03 * np.sqrt(x / 2e9) * x)
    assert c.at["NVDA", "est_cost_bps"] == pytest.approx(1e4 * c.at["NVDA", "est_cost"] / c.at["NVDA", "notional"])


def _cli(args, env):
    return subprocess.Popen([sys.executable, "-c", "from computefolio.cli import main; main()", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_rebalance_runs_at_once_record_one_order_list(tmp_path, universe):
    store = tmp_path / "store.duckdb"
    book_with(store, funded_entries() + [
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 10_000,
         "price": 120}], universe=universe)
    env = {**os.environ, "COMPUTEFOLIO_HOME": str(tmp_path), "COLUMNS": "200"}
    procs = [_cli(["rebalance", "--sample", "--book", str(store), "--asof", "2025-06-06", "--out",
                   str(tmp_path / f"out{k}")], env) for k in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], [o[1][-2000:] for o in outs]
    loser = outs[[p.returncode for p in procs].index(2)]
    assert "already recorded as list" in loser[1]
    with BookStore(store) as bs:
        from computefolio.rebalance.store import OrderStore

        lists = OrderStore(bs).lists()
    assert len(lists) == 1
    # the winner's files carry the same stable ids as the store
    winner = [k for k, p in zip((1, 2), procs) if p.returncode == 0][0]
    csv = pd.read_csv(tmp_path / f"out{winner}" / "orders.csv")
    assert csv["order_id"].str.startswith(lists["list_id"].iloc[0]).all()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([str(Path(__file__))]))
