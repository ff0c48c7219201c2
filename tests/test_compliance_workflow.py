"""The whole loop through the CLI on the sample market: import, show, nav, rebalance (blocked),
override with a reason, release, fills with slippage, the log, and a tampered log that
``compliance verify`` catches."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from computefolio.cli import app

ACCOUNTS = """account,kind,venue,currency,venues,cash_min,name
prime,broker,prime broker,USD,NASDAQ|NYSE,100000,Prime broker
binance,exchange,binance,USDT,,10000,Binance spot
bybit,exchange,bybit,USDT,,0,Bybit spot
cold,custodian,cold storage,USD,,0,Cold storage
"""
TX = """date,kind,account,symbol,quantity,price,amount,currency,fee,counter_account,memo
2025-05-01,deposit,prime,,,,70000000,USD,,,seed
2025-05-01,deposit,binance,,,,25000000,USDT,,,seed
2025-05-01,deposit,bybit,,,,5000000,USDT,,,seed
2025-05-02,buy,prime,NVDA,20000,130,,,10,,
2025-05-02,buy,binance,BTC,50,95000,,,50,,
2025-05-03,transfer,binance,BTC,5,,,,,cold,to cold storage
"""


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    d = tmp_path_factory.mktemp("loop")
    (d / "accounts.csv").write_text(ACCOUNTS)
    (d / "tx.csv").write_text(TX)
    store = d / "store.duckdb"
    return d, store


def run(*args):
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "220"})
    return r


def test_the_loop(loop):
    d, store = loop
    assert run("book", "import", d / "accounts.csv", "--store", store).exit_code == 0
    r = run("book", "import", d / "tx.csv", "--store", store)
    assert r.exit_code == 0 and "6 ledger entries added" in r.output
    r = run("book", "show", "--store", store, "--sample", "--asof", "2025-06-06", "--by", "venue")
    assert r.exit_code == 0, r.output
    assert "cut-off 2025-06-06 24:00 UTC" in r.output and "Cut-off rule" in r.output and "sample market" in r.output
    r = run("book", "nav", "--store", store, "--sample", "--from", "2025-05-30", "--to", "2025-06-06")
    assert r.exit_code == 0 and "NAV at 24:00 UTC each day" in r.output
    # propose: a Friday NAV, orders placed on Saturday (equities deferred to Monday)
    out = d / "orders"
    r = run("rebalance", "--book", store, "--sample", "--asof", "2025-06-06", "--out", out)
    assert r.exit_code == 0, r.output
    assert "(deferred)" in r.output and "Pre-trade compliance" in r.output and "24:00 UTC" in r.output
    j = json.loads((out / "orders.json").read_text())
    lid = j["list_id"]
    assert j["cutoff"] == "2025-06-06 24:00 UTC" and all(o["order_id"].startswith(lid) for o in j["orders"])
    assert {p["symbol"] for p in j["prices"]} >= {"NVDA", "BTC"} and all("age_days" in p for p in j["prices"])
    eq = [o for o in j["orders"] if o["venue"] in ("NASDAQ", "NYSE")]
    assert eq and all(o["session"] == "2025-06-09" and o["deferred"] for o in eq)
    assert j["pre_post"]["pre"]["weights"]["sleeve"] and "volatility" in j["pre_post"]["post"]
    blocks = [x for x in j["compliance"]["results"] if x["status"] == "block"]
    assert blocks, "the initial investment breaks the turnover rule: the list must be blocked"
    # a blocked list cannot be released
    r = run("compliance", "release", lid, "--by", "bob", "--store", store)
    assert r.exit_code == 2 and "without an override" in r.output
    # overrides need a reason and a name; each one is logged
    r = run("compliance", "override", lid, "--check", "turnover", "--by", "alice", "--store", store)
    assert r.exit_code == 2  # --reason missing
    for c in sorted({x["check"] for x in blocks}):
        r = run("compliance", "override", lid, "--check", c, "--reason", "initial investment of the fund",
                "--by", "alice", "--store", store)
        assert r.exit_code == 0, r.output
    r = run("compliance", "release", lid, "--by", "bob", "--store", store)
    assert r.exit_code == 0, r.output
    r = run("compliance", "log", "--store", store, "--list", lid, "--json", "-")
    ev = json.loads(r.stdout)["entries"]
    kinds = [e["event"] for e in ev]
    assert kinds[0] == "propose" and "override" in kinds and kinds[-1] == "release"
    ov = [e for e in ev if e["event"] == "override"]
    assert all(e["actor"] == "alice" and "initial investment" in e["detail"] for e in ov)
    assert [e for e in ev if e["event"] == "release"][0]["actor"] == "bob"
    # a second rebalance on the same book state is refused
    r = run("rebalance", "--book", store, "--sample", "--asof", "2025-06-06", "--out", d / "again")
    assert r.exit_code == 2 and "already recorded" in r.output
    # fills: one partial, one full, one crypto
    orders = pd.read_csv(out / "orders.csv")
    nv = orders[orders["symbol"] == "NVDA"].iloc[0]
    btc = orders[orders["venue"] == "binance"].iloc[0]
    f = d / "fills.csv"
    f.write_text("order_id,date,quantity,price,fee,fill_id\n"
                 f"{nv.order_id},2025-06-09,{int(nv.quantity // 2)},{nv.ref_price * 1.001},3.5,f1\n"
                 f"{btc.order_id},2025-06-07,{btc.quantity},{btc.ref_price * 0.999},12.0,f2\n")
    r = run("book", "fills", f, "--store", store)
    assert r.exit_code == 0, r.output
    assert "partially_filled" in r.output and "2 fill(s) booked" in r.output
    assert "+10.0" in r.output or "-10.0" in r.output, r.output  # slippage 10 bp either side
    r = run("book", "fills", f, "--store", store)
    assert "already applied" in r.output
    over = d / "over.csv"
    over.write_text(f"order_id,date,quantity,price\n{nv.order_id},2025-06-09,{nv.quantity},{nv.ref_price}\n")
    r = run("book", "fills", over, "--store", store)
    assert r.exit_code == 2 and "above the order's" in r.output
    # the fills are in the ledger and the log; the chains verify
    r = run("book", "ledger", "--store", store, "--verify")
    assert r.exit_code == 0 and "ledger chain verified" in r.output, r.output
    r = run("compliance", "verify", "--store", store)
    assert r.exit_code == 0 and "compliance log verified" in r.output


def test_an_order_file_is_checked_and_logged(loop):
    d, store = loop
    f = d / "manual.csv"
    f.write_text("order_id,account,symbol,side,quantity,price\nm1,prime,MSFT,buy,10,9999999\n"
                 "m2,prime,GBTC,buy,10,1\n")
    r = run("compliance", "check", f, "--store", store, "--sample", "--asof", "2025-06-06")
    assert r.exit_code == 1, r.output
    assert "price_collar" in r.output and "restricted list" in r.output
    r = run("compliance", "log", "--store", store, "--json", "-")
    tags = {x["list_id"] for x in json.loads(r.stdout)["entries"]}
    assert any(t and t.startswith("file:manual.csv:") for t in tags)
    bad = d / "bad.csv"
    bad.write_text("order_id,account,symbol,side,quantity\nm1,prime,MSFT,buy,10\n")
    r = run("compliance", "check", bad, "--store", store, "--sample")
    assert r.exit_code == 2 and "missing column(s) price" in r.output


def test_editing_one_log_row_makes_verify_fail(loop):
    d, store = loop
    con = duckdb.connect(str(store))
    n = con.execute("SELECT max(seq) FROM compliance_log").fetchall()[0][0]
    assert n and n > 5
    con.execute("UPDATE compliance_log SET status = 'pass', actor = 'mallory' WHERE seq = 4")
    con.close()
    r = run("compliance", "verify", "--store", store)
    assert r.exit_code == 1 and "seq 4" in r.output and "edited" in r.output, r.output


def test_risk_of_the_stored_book(loop):
    d, store = loop
    r = run("risk", "--book", "--store", store, "--sample", "--asof", "2025-06-10", "--no-dcc", "--json", d / "r.json")
    assert r.exit_code == 0, r.output
    assert "Stored book" in r.output and "cut-off 2025-06-10 24:00 UTC" in r.output
    rep = json.loads((d / "r.json").read_text())
    from computefolio.book import BookStore, value_book
    from computefolio.data.load import load_market
    from computefolio.universe import load_universe

    with BookStore(store) as bs:
        e = bs.entries()
    v = value_book(e, load_market(load_universe(), source="sample"), "2025-06-10")
    assert rep["meta"]["capital"] == pytest.approx(v.nav)
    assert rep["book"]["weights"]["NVDA"] == pytest.approx(v.weights()["NVDA"])
    r = run("risk", d / "r.json", "--book", "--store", store, "--sample")
    assert r.exit_code == 2 and "not both" in r.output

