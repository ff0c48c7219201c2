"""Pre-trade compliance on the shipped universe and mandate, active vs passive breaches, and the
property that a list released without overrides never leaves the book breaching a hard rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from computefolio.allocate.mandate import load_mandate, mandate_from_dict
from computefolio.book import BookStore, value_book
from computefolio.book.valuation import Valuation
from computefolio.compliance import BLOCK, WARN, Compliance, Override, policy_from_dict
from computefolio.errors import DataError
from computefolio.rebalance.venues import VenueRules

from _book_data import book_with, funded_entries, synthetic_market

DAY = "2025-06-06"  # a Friday: equities and crypto both open; orders placed the same day


@pytest.fixture(scope="module")
def market(universe):
    return synthetic_market(universe)


@pytest.fixture(scope="module")
def engine(universe):
    return Compliance(load_mandate(), universe=universe, venue_rules=VenueRules(universe=universe))


def _book(tmp_path, universe, market, weights: dict, nav=100e6):
    """A book holding ``weights`` of ``nav`` at the DAY prices (equities at prime, crypto at binance)."""
    px = market.close.loc[:pd.Timestamp(DAY)].ffill().iloc[-1]
    tmp_path.mkdir(parents=True, exist_ok=True)
    es = [{"date": "2025-06-01", "kind": "deposit", "account": "prime", "amount": nav, "currency": "USD"}]
    for s, w in weights.items():
        acct = "binance" if universe.asset(s).calendar == "24/7" else "prime"
        if acct == "binance":
            es.append({"date": "2025-06-01", "kind": "transfer", "account": "prime", "counter_account": "binance",
                       "amount": w * nav, "currency": "USD"})
        es.append({"date": "2025-06-02", "kind": "buy", "account": acct, "symbol": s, "quantity": w * nav / px[s],
                   "price": float(px[s])})
    path = tmp_path / "s.duckdb"
    book_with(path, es, universe=universe)
    with BookStore(path) as bs:
        e, acc = bs.entries(), bs.accounts()
    return value_book(e, market, DAY), acc


def _orders(market, rows, day=DAY):
    px = market.close.loc[:pd.Timestamp(day)].ffill().iloc[-1]
    out = []
    for k, r in enumerate(rows):
        s, side, frac_or_qty = r[0], r[1], r[2]
        price = float(px[s]) * (r[3] if len(r) > 3 else 1.0)
        q = frac_or_qty * 100e6 / float(px[s]) if frac_or_qty < 1 else frac_or_qty
        acct = r[4] if len(r) > 4 else None
        out.append({"order_id": f"o{k + 1}", "account": acct or ("binance" if s in ("BTC", "ETH", "SOL") else "prime"),
                    "symbol": s, "side": side, "quantity": float(np.floor(q)), "price": price, "trade_date": day,
                    "session": day, "deferred": False})
    return pd.DataFrame(out)


def _by(report, check):
    return [r for r in report.results if r.check == check]


def test_a_restricted_buy_blocks(tmp_path, universe, market, engine):
    v, acc = _book(tmp_path, universe, market, {"NVDA": 0.05})
    rep = engine.check(_orders(market, [("GBTC", "buy", 0.01), ("IBIT", "buy", 0.01), ("NVDA", "buy", 0.01)]), v,
                       market=market, accounts=acc)
    res = {r.order_id: r for r in _by(rep, "restricted")}
    assert res["o1"].status == BLOCK and "restricted list" in res["o1"].message
    assert res["o2"].status == BLOCK and "benchmark" in res["o2"].message
    assert "o3" not in res
    assert rep.status == BLOCK


def test_gbtc_look_through_counts_towards_bitcoins_cap(tmp_path, universe, market, engine):
    v, acc = _book(tmp_path, universe, market, {"BTC": 0.19, "GBTC": 0.02, "NVDA": 0.5})
    rep = engine.check(_orders(market, [("BTC", "buy", 0.005)]), v, market=market, accounts=acc)
    caps = [r for r in _by(rep, "asset_caps") if r.key == "BTC"]
    assert caps and caps[0].status == BLOCK and caps[0].kind == "active"
    assert "BTC + GBTC" in caps[0].message and caps[0].value == pytest.approx(0.215, abs=2e-3)
    # the same buy without the GBTC position passes the cap
    v2, acc2 = _book(tmp_path / "b", universe, market, {"BTC": 0.19, "NVDA": 0.5})
    rep2 = engine.check(_orders(market, [("BTC", "buy", 0.005)]), v2, market=market, accounts=acc2)
    assert not [r for r in _by(rep2, "asset_caps") if r.key == "BTC"]
    # holding the restricted GBTC is a passive finding, not a block
    rh = _by(rep, "restricted_holdings")
    assert rh and rh[0].status == WARN and rh[0].kind == "passive"


def test_a_ten_times_fat_finger_price_blocks(tmp_path, universe, market, engine):
    v, acc = _book(tmp_path, universe, market, {"NVDA": 0.05})
    rep = engine.check(_orders(market, [("NVDA", "buy", 100, 10.0), ("MSFT", "buy", 100, 1.04),
                                        ("AMD", "buy", 100, 1.001)]), v, market=market, accounts=acc)
    col = {r.order_id: r for r in _by(rep, "price_collar")}
    assert col["o1"].status == BLOCK and col["o1"].value == pytest.approx(9.0)
    assert col["o2"].status == WARN
    assert "o3" not in col


def test_order_size_adv_stale_and_oversell(tmp_path, universe, market):
    m = synthetic_market(universe, stale={"ETH": "2025-05-20"})
    eng = Compliance(load_mandate(), universe=universe, venue_rules=VenueRules(universe=universe))
    v, acc = _book(tmp_path, universe, m, {"NVDA": 0.05, "ETH": 0.02})
    adv = pd.Series(5e9, index=m.symbols)
    adv["MSFT"] = 50e6
    rep = eng.check(_orders(m, [("AMD", "buy", 0.12), ("MSFT", "buy", 0.07), ("ETH", "sell", 1.0),
                                ("NVDA", "sell", 0.08)]), v, market=m, adv=adv, accounts=acc)
    assert [r.order_id for r in _by(rep, "max_order_notional")] == ["o1"]
    adv_r = {r.order_id: r for r in _by(rep, "adv_participation")}
    assert adv_r["o2"].status == BLOCK and adv_r["o2"].value == pytest.approx(0.07 * 100e6 / 50e6, rel=1e-3)
    stale = {r.order_id: r for r in _by(rep, "stale_price")}
    assert stale["o3"].status == BLOCK and "2025-05-20" in stale["o3"].message
    over = {r.order_id: r for r in _by(rep, "oversell")}
    assert "o4" in over and over["o4"].status == BLOCK  # sells 8% of NAV of a 5% position


def test_closed_venue_blocks_unless_deferred(tmp_path, universe, market, engine):
    v, acc = _book(tmp_path, universe, market, {"NVDA": 0.05})
    o = _orders(market, [("NVDA", "buy", 100), ("MSFT", "buy", 100), ("BTC", "buy", 1)])
    o["trade_date"] = "2025-06-07"
    o["session"] = ["2025-06-07", "2025-06-09", "2025-06-07"]
    o["deferred"] = [False, True, False]
    rep = engine.check(o, v, market=market, accounts=acc)
    hrs = {r.order_id: r for r in _by(rep, "venue_hours")}
    assert hrs["o1"].status == BLOCK and "closed on 2025-06-07" in hrs["o1"].message
    assert "o2" not in hrs and "o3" not in hrs
    assert any("deferred" in n for n in rep.notes)


def test_active_and_passive_breaches_and_the_cure_deadline(tmp_path, universe, market, engine):
    v, acc = _book(tmp_path, universe, market, {"BTC": 0.22, "NVDA": 0.5})  # BTC above 20%: the market moved it
    sell = engine.check(_orders(market, [("BTC", "sell", 0.01)]), v, market=market, accounts=acc)
    r = [x for x in _by(sell, "asset_caps") if x.key == "BTC"][0]
    assert r.kind == "passive" and r.status == WARN and r.cure_by == "2025-07-06" and "reduce" in r.message
    buy = engine.check(_orders(market, [("BTC", "buy", 0.01)]), v, market=market, accounts=acc)
    r = [x for x in _by(buy, "asset_caps") if x.key == "BTC"][0]
    assert r.kind == "active" and r.status == BLOCK
    old = {"asset_caps:BTC": "2025-04-01"}
    other = engine.check(_orders(market, [("NVDA", "buy", 0.001)]), v, market=market, accounts=acc,
                         passive_since=old)
    r = [x for x in _by(other, "asset_caps") if x.key == "BTC"][0]
    assert r.status == BLOCK and "OVERDUE" in r.message and r.since == "2025-04-01"
    cure = engine.check(_orders(market, [("BTC", "sell", 0.01)]), v, market=market, accounts=acc,
                        passive_since=old)
    assert [x for x in _by(cure, "asset_caps") if x.key == "BTC"][0].status == WARN


def test_overrides_need_a_reason_and_a_name():
    with pytest.raises(DataError, match="reason"):
        Override("price_collar", "o1", "", "alice")
    with pytest.raises(DataError, match="name"):
        Override("price_collar", "o1", "fat finger checked", " ")
    o = Override("price_collar", "*", "checked with the desk", "alice")
    from computefolio.compliance import CheckResult

    assert o.covers(CheckResult("price_collar", BLOCK, "x", order_id="o7"))
    assert not o.covers(CheckResult("asset_caps", BLOCK, "x", key="BTC"))


def test_issuer_caps_ucits_5_10_40(tmp_path, universe, market):
    pol = policy_from_dict({"issuers": {"max": 0.10, "above": 0.05, "above_total_max": 0.40}})
    mand = mandate_from_dict({"name": "ucits", "assets": {"max": 1.0}, "cash_min": 0.0})
    eng = Compliance(mand, pol, universe, VenueRules(universe=universe))
    w = {"NVDA": 0.09, "MSFT": 0.09, "AMD": 0.09, "TSM": 0.09, "BTC": 0.03}
    v, acc = _book(tmp_path, universe, market, w)
    rep = eng.check(_orders(market, [("BTC", "buy", 0.06)]), v, market=market, accounts=acc)
    keys = {r.key: r for r in _by(rep, "issuer_caps")}
    assert keys["issuers above 0.05"].status == BLOCK  # 36% + BTC 9% above 5% -> 45% > 40%
    assert "BTC" not in keys  # 9% <= 10%


# ----------------------------------------------------------------------------- property
SYMS = ["BTC", "ETH", "SOL", "NVDA", "MSFT", "AMD"]
CRYPTO = {"BTC", "ETH", "SOL"}
SIMPLE = {"name": "simple", "long_only": True, "cash_min": 0.05, "gross_leverage_max": 1.0,
          "assets": {"max": 0.3, "overrides": {"BTC": {"max": 0.4}}},
          "groups": [{"by": "sleeve", "group": "digital_assets", "max": 0.5},
                     {"by": "layer", "group": "chip_design", "max": 0.45}]}


def _val(units: dict, px: dict, cash: dict) -> Valuation:
    rows = [{"account": "binance" if s in CRYPTO else "prime", "symbol": s, "quantity": q, "price": px[s],
             "value": q * px[s]} for s, q in units.items() if q > 0]
    pos = pd.DataFrame(rows, columns=["account", "symbol", "quantity", "price", "value"])
    c = pd.DataFrame({"account": list(cash), "currency": "USD", "amount": list(cash.values()), "rate": 1.0,
                      "value": list(cash.values())})
    nav = float(pos["value"].sum() + c["value"].sum())
    pos["weight"] = pos["value"] / nav
    return Valuation(day=pd.Timestamp(DAY), positions=pos, cash=c, nav=nav, prices=pd.DataFrame())


@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_a_list_released_without_overrides_never_breaks_a_hard_rule(universe, data):
    """Start from a book within every hard rule; any order list that the checks do not block
    leaves the book, after the trades, within every hard rule (checked here independently)."""
    mand = mandate_from_dict(SIMPLE)
    eng = Compliance(mand, policy_from_dict({"max_order_notional": {"fraction_of_nav": 1.0}}), universe,
                     checks=None)
    px = {s: data.draw(st.floats(1.0, 1000.0)) for s in SYMS}
    w = {s: data.draw(st.floats(0.0, 0.12)) for s in SYMS}
    nav = 1e6
    cash_total = nav * (1 - sum(w.values()))
    split = data.draw(st.floats(0.05, 0.95))
    units = {s: w[s] * nav / px[s] for s in SYMS}
    v = _val(units, px, {"prime": cash_total * split, "binance": cash_total * (1 - split)})
    prices = pd.DataFrame({"price": px, "date": pd.Timestamp(DAY), "stale_days": 0, "status": "fresh"})
    rows = []
    for k in range(data.draw(st.integers(1, 8))):
        s = data.draw(st.sampled_from(SYMS))
        side = data.draw(st.sampled_from(["buy", "sell"]))
        q = data.draw(st.floats(0.0, 0.4)) * nav / px[s]
        rows.append({"order_id": f"o{k}", "account": "binance" if s in CRYPTO else "prime", "symbol": s,
                     "side": side, "quantity": q, "price": px[s]})
    orders = pd.DataFrame(rows)
    rep = eng.check(orders, v, prices=prices, adv=pd.Series(1e12, index=SYMS), asof=DAY)
    if rep.blocks():
        event("blocked")
        return
    event("released")
    # independent post-trade book
    acc_units = {("binance" if s in CRYPTO else "prime", s): units[s] for s in SYMS}
    cash = {"prime": cash_total * split, "binance": cash_total * (1 - split)}
    for r in rows:
        sgn = 1 if r["side"] == "buy" else -1
        acc_units[(r["account"], r["symbol"])] += sgn * r["quantity"]
        cash[r["account"]] -= sgn * r["quantity"] * r["price"]
    # the oversell check's own rounding tolerance: 1e-6 of a unit (or of the holding)
    held0 = {("binance" if s in CRYPTO else "prime", s): units[s] for s in SYMS}
    assert all(q >= -1e-6 * max(1.0, abs(held0[k])) for k, q in acc_units.items())
    post = {s: sum(q for (a, x), q in acc_units.items() if x == s) * px[s] / nav for s in SYMS}
    tol = 1e-6
    for s in SYMS:
        assert post[s] <= (0.4 if s == "BTC" else 0.3) + tol
    assert sum(post[s] for s in CRYPTO) <= 0.5 + tol
    chip = universe.membership("layer", date=DAY, symbols=SYMS)["chip_design"]
    assert sum(post[s] * chip[s] for s in SYMS) <= 0.45 + tol
    assert sum(cash.values()) / nav >= 0.05 - tol
    assert all(c >= -tol for c in cash.values())
    assert sum(abs(x) for x in post.values()) <= 1.0 + tol
