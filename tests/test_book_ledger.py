"""The book: ledger kinds and legs, reversals, imports, hash chain, NAV at the cut-off, exposure."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from computefolio.book import (BookStore, cash, exposure, holdings, nav_series, positions, prices_at, value_book)
from computefolio.book.pricing import CUTOFF_RULE
from computefolio.errors import DataError

from _book_data import ACCOUNTS, book_with, funded_entries, synthetic_market


@pytest.fixture(scope="module")
def market(universe):
    return synthetic_market(universe, stale={"ETH": "2025-06-20"})


def _units(df, account, instrument):
    h = df[(df["account"] == account) & (df["instrument"] == instrument)]["quantity"]
    return float(h.sum()) if len(h) else 0.0


def test_every_entry_kind_and_its_legs(tmp_path, universe):
    es = funded_entries() + [
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 1000, "price": 120,
         "fee": 5},
        {"date": "2025-01-06", "kind": "sell", "account": "prime", "symbol": "NVDA", "quantity": 400, "price": 130,
         "fee": 2},
        {"date": "2025-01-03", "kind": "buy", "account": "binance", "symbol": "BTC", "quantity": 2.5, "price": 60000},
        {"date": "2025-01-04", "kind": "transfer", "account": "binance", "counter_account": "cold", "symbol": "BTC",
         "quantity": 1.0},
        {"date": "2025-01-05", "kind": "staking_reward", "account": "binance", "symbol": "SOL", "quantity": 3.0},
        {"date": "2025-01-07", "kind": "split", "account": "prime", "symbol": "NVDA", "quantity": 5400},
        {"date": "2025-01-08", "kind": "dividend", "account": "prime", "symbol": "NVDA", "amount": 60.0},
        {"date": "2025-01-08", "kind": "interest", "account": "prime", "amount": -1.5},
        {"date": "2025-01-09", "kind": "fee", "account": "binance", "amount": 10.0},
        {"date": "2025-01-09", "kind": "withdrawal", "account": "bybit", "amount": 1_000_000.0},
        {"date": "2025-01-09", "kind": "transfer", "account": "prime", "counter_account": "binance",
         "amount": 2_000_000.0, "currency": "USD"},
    ]
    book_with(tmp_path / "s.duckdb", es, universe=universe)
    with BookStore(tmp_path / "s.duckdb") as bs:
        e = bs.entries()
    h = holdings(e)
    assert _units(h, "prime", "NVDA") == 1000 - 400 + 5400
    assert _units(h, "binance", "BTC") == 1.5 and _units(h, "cold", "BTC") == 1.0
    assert _units(h, "binance", "SOL") == 3.0
    assert _units(h, "prime", "USD") == pytest.approx(50e6 - 120_005 + 51_998 + 60 - 1.5 - 2e6)
    assert _units(h, "binance", "USDT") == pytest.approx(30e6 - 150_000 - 10)
    assert _units(h, "binance", "USD") == 2e6  # a transfer keeps its currency
    assert _units(h, "bybit", "USDT") == pytest.approx(1e7 - 1e6)
    # positions on a date count only entries up to it
    p = positions(e, "2025-01-05")
    assert float(p.loc[p["symbol"] == "NVDA", "quantity"].iloc[0]) == 1000
    c = cash(e, "2025-01-02")
    assert set(c["account"]) == {"prime", "binance", "bybit"}


def test_equity_trades_settle_t_plus_one(tmp_path, universe):
    from computefolio.rebalance.venues import VenueRules

    settle = VenueRules(universe=universe).settle_fn()
    es = funded_entries() + [
        {"date": "2025-06-06", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 10, "price": 100},
        {"date": "2025-06-06", "kind": "buy", "account": "binance", "symbol": "BTC", "quantity": 1, "price": 100}]
    with BookStore(tmp_path / "s.duckdb") as bs:
        bs.append(es, accounts=ACCOUNTS, universe=universe, settle=settle)
        e = bs.entries()
    assert str(e.loc[e["symbol"] == "NVDA", "settle_date"].iloc[0].date()) == "2025-06-09"  # Friday -> Monday
    assert str(e.loc[e["symbol"] == "BTC", "settle_date"].iloc[0].date()) == "2025-06-06"
    settled = cash(e, "2025-06-06", settled=True)
    assert float(settled.loc[settled["account"] == "prime", "amount"].iloc[0]) == 50e6  # not yet paid


def test_reversal_cancels_and_is_the_only_correction(tmp_path, universe):
    es = funded_entries() + [{"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA",
                              "quantity": 100, "price": 120, "ref": "t1"}]
    with BookStore(tmp_path / "s.duckdb") as bs:
        bs.append(es, accounts=ACCOUNTS, universe=universe)
        bs.append([{"date": "2025-01-04", "kind": "reversal", "reverses": 4, "memo": "wrong price"},
                   {"date": "2025-01-04", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 100,
                    "price": 121}])
        e = bs.entries()
        h = holdings(e)
        assert _units(h, "prime", "NVDA") == 100
        assert _units(h, "prime", "USD") == pytest.approx(50e6 - 12_100)
        assert e.loc[e["entry_id"] == 5, "account"].iloc[0] == "prime"  # reversal names what it reverses
        with pytest.raises(DataError, match="already reversed"):
            bs.append([{"date": "2025-01-05", "kind": "reversal", "reverses": 4}])
        with pytest.raises(DataError, match="an existing entry id"):
            bs.append([{"date": "2025-01-05", "kind": "reversal", "reverses": 99}])
        assert bs.state().entries == 6


@pytest.mark.parametrize("row,err", [
    ({"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": -1, "price": 1},
     "field 'quantity'"),
    ({"date": "2025-01-03", "kind": "buy", "account": "nowhere", "symbol": "NVDA", "quantity": 1, "price": 1},
     "field 'account'"),
    ({"date": "2025-13-03", "kind": "deposit", "account": "prime", "amount": 1}, "field 'date'"),
    ({"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "XXX", "quantity": 1, "price": 1},
     "field 'symbol'"),
    ({"date": "2025-01-03", "kind": "gift", "account": "prime"}, "field 'kind'"),
    ({"date": "2025-01-03", "kind": "deposit", "account": "prime", "amount": 1, "currency": "EUR"},
     "field 'currency'"),
    ({"date": "2025-01-03", "kind": "transfer", "account": "prime", "counter_account": "prime", "amount": 1},
     "field 'counter_account'"),
])
def test_bad_entries_name_the_field_and_write_nothing(tmp_path, universe, row, err):
    with BookStore(tmp_path / "s.duckdb") as bs:
        bs.append(funded_entries(), accounts=ACCOUNTS, universe=universe)
        before = bs.state()
        with pytest.raises(DataError, match=err):
            bs.append([{"date": "2025-01-03", "kind": "deposit", "account": "prime", "amount": 5.0}, row],
                      universe=universe)
        assert bs.state() == before


def test_csv_imports_snapshot_and_idempotence(tmp_path, universe):
    acc = tmp_path / "accounts.csv"
    acc.write_text("account,kind,venue,currency,venues,cash_min\nprime,broker,pb,USD,NASDAQ|NYSE,1000\n"
                   "binance,exchange,binance,USDT,,0\ncold,custodian,vault,USD,,0\n")
    snap = tmp_path / "snap.csv"
    snap.write_text("date,account,symbol,quantity\n2025-03-31,prime,NVDA,1000\n2025-03-31,prime,USD,500000\n"
                    "2025-03-31,binance,BTC,2\n2025-03-31,binance,USDT,100000\n")
    snap2 = tmp_path / "snap2.csv"
    snap2.write_text("date,account,symbol,quantity\n2025-04-30,prime,NVDA,900\n2025-04-30,prime,USD,512000\n")
    tx = tmp_path / "tx.csv"
    tx.write_text("date,kind,account,symbol,quantity,price,fee\n2025-05-02,buy,binance,ETH,10,3000,3\n")
    with BookStore(tmp_path / "s.duckdb") as bs:
        r = bs.import_file(acc)
        assert r.accounts_added == 3 and bs.accounts()["prime"].trading_venues == ("NASDAQ", "NYSE")
        r = bs.import_file(snap, universe=universe)
        assert r.entries_added == 4 and bs.imports()["rows_read"].iloc[-1] == 4
        assert bs.import_file(snap, universe=universe).already_imported
        r = bs.import_file(snap2, universe=universe)
        assert r.entries_added == 2  # only the differences of the named account
        bs.import_file(tx, universe=universe)
        h = holdings(bs.entries())
        assert _units(h, "prime", "NVDA") == 900 and _units(h, "prime", "USD") == 512000
        assert _units(h, "binance", "BTC") == 2 and _units(h, "binance", "USDT") == pytest.approx(100000 - 30003)
        late = tmp_path / "late.csv"
        late.write_text("date,account,symbol,quantity\n2025-04-01,binance,BTC,3\n")
        with pytest.raises(DataError, match="older than ledger entries of binance"):
            bs.import_file(late, universe=universe)


@pytest.mark.parametrize("text,err", [
    ("date,kind,account,symbol,quantty\n2025-01-01,buy,prime,NVDA,1\n", "unknown column"),
    ("date,kind,account,symbol,quantity,price\n2025-01-01,buy,prime,NVDA,1,abc\n", "row 2: field 'price'"),
    ("foo,bar\n1,2\n", "none of the book's formats"),
    ("date,account,symbol,quantity\n2025-01-01,prime,NVDA,1\n2025-01-02,prime,AMD,1\n", "one date per"),
    ("date,account,symbol,quantity\n2025-01-01,prime,NOPE,1\n", "field 'symbol'"),
])
def test_bad_files_get_one_line_errors(tmp_path, universe, text, err):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with BookStore(tmp_path / "s.duckdb") as bs:
        bs.add_accounts(ACCOUNTS)
        with pytest.raises(DataError, match=err) as ei:
            bs.import_file(f, universe=universe)
        assert "\n" not in str(ei.value) and str(f) in str(ei.value)
        assert bs.state().entries == 0 and len(bs.imports()) == 0


def test_ledger_chain_detects_an_edited_or_deleted_entry(tmp_path, universe):
    path = tmp_path / "s.duckdb"
    book_with(path, funded_entries() + [{"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA",
                                         "quantity": 100, "price": 120}], universe=universe)
    with BookStore(path) as bs:
        assert bs.verify()[0]
    con = duckdb.connect(str(path))
    con.execute("UPDATE book_entries SET quantity = 1000 WHERE entry_id = 4")
    con.close()
    with BookStore(path) as bs:
        ok, msg, _ = bs.verify()
    assert not ok and "entry_id 4" in msg and "edited" in msg
    con = duckdb.connect(str(path))
    con.execute("UPDATE book_entries SET quantity = 100 WHERE entry_id = 4")
    con.execute("DELETE FROM book_entries WHERE entry_id = 2")
    con.close()
    with BookStore(path) as bs:
        ok, msg, _ = bs.verify()
    assert not ok and "entry_id 2" in msg


def test_nav_at_the_cutoff_with_price_ages(tmp_path, universe, market):
    es = funded_entries() + [
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 1000, "price": 120},
        {"date": "2025-01-03", "kind": "buy", "account": "binance", "symbol": "ETH", "quantity": 50, "price": 3000},
        {"date": "2025-01-03", "kind": "buy", "account": "binance", "symbol": "BTC", "quantity": 2, "price": 60000}]
    book_with(tmp_path / "s.duckdb", es, universe=universe)
    with BookStore(tmp_path / "s.duckdb") as bs:
        e, st = bs.entries(), bs.state()
    sat = pd.Timestamp("2025-06-28")  # a Saturday: NVDA at Friday's close, fresh; ETH stale since 06-20
    v = value_book(e, market, sat, state=st)
    p = v.prices
    assert p.at["NVDA", "date"] == pd.Timestamp("2025-06-27") and p.at["NVDA", "status"] == "fresh"
    assert p.at["NVDA", "age_days"] == 1 and p.at["NVDA", "stale_days"] == 0
    assert p.at["ETH", "status"] == "stale" and p.at["ETH", "stale_days"] == 8 and p.at["ETH", "missed_bars"] == 8
    assert p.at["BTC", "date"] == sat and p.at["BTC", "age_days"] == 0
    expect = (1000 * market.close.at[pd.Timestamp("2025-06-27"), "NVDA"]
              + 50 * market.close.at[pd.Timestamp("2025-06-20"), "ETH"]
              + 2 * market.close.at[sat, "BTC"] + v.cash_total)
    assert v.nav == pytest.approx(expect, rel=1e-12)
    d = v.to_dict()
    assert d["cutoff"] == "2025-06-28 24:00 UTC" and d["cutoff_rule"] == CUTOFF_RULE and d["stale"] == ["ETH"]
    assert any("ETH" in n and "stale" in n for n in v.notes)
    # the NAV series values each day exactly as value_book does
    s = nav_series(e, market, "2025-06-14", "2025-06-30")
    for day in ("2025-06-14", "2025-06-21", "2025-06-28", "2025-06-30"):
        assert s.at[pd.Timestamp(day), "nav"] == pytest.approx(value_book(e, market, day).nav, rel=1e-12)
    assert s.at[pd.Timestamp("2025-06-19"), "stale"] == 0 and s.at[pd.Timestamp("2025-06-21"), "stale"] == 1
    assert s.attrs["cutoff_rule"] == CUTOFF_RULE
    ss = nav_series(e, market, "2025-06-14", "2025-06-30", basis="session")
    assert pd.Timestamp("2025-06-28") not in ss.index and len(ss) == 10  # Juneteenth (06-19) is closed


def test_unit_price_is_the_traded_close_not_the_adjusted_close(universe):
    m = synthetic_market(universe, symbols=("NVDA", "BTC"), adjusted={"NVDA": 0.9})
    p = prices_at(m, "2025-06-30", ["NVDA"])
    assert p.at["NVDA", "price"] == m.close.at[pd.Timestamp("2025-06-30"), "NVDA"]
    assert p.at["NVDA", "field"] == "close"


def test_unpriced_holding_is_an_error(tmp_path, universe):
    es = funded_entries() + [{"date": "2025-01-03", "kind": "buy", "account": "bybit", "symbol": "RENDER",
                              "quantity": 1, "price": 5},
                             {"date": "2025-01-03", "kind": "buy", "account": "binance", "symbol": "BTC",
                              "quantity": 1, "price": 5}]
    book_with(tmp_path / "s.duckdb", es, universe=universe)
    with BookStore(tmp_path / "s.duckdb") as bs:
        e = bs.entries()
    m = synthetic_market(universe, symbols=("BTC",), start="2025-03-01")
    with pytest.raises(DataError, match=r"no market data for held RENDER \(bybit\)"):
        value_book(e, m, "2025-06-30")
    m = synthetic_market(universe, symbols=("BTC", "RENDER"), start="2025-03-01")
    with pytest.raises(DataError, match="no price on or before 2025-02-01 for held BTC, RENDER"):
        value_book(e, m, "2025-02-01")
    assert value_book(e, m, "2024-12-01").nav == 0.0  # nothing held yet


def test_exposure_with_look_through_and_by_account(tmp_path, universe, market):
    es = funded_entries() + [
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "GBTC", "quantity": 10000, "price": 50},
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "IBIT", "quantity": 10000, "price": 40},
        {"date": "2025-01-03", "kind": "buy", "account": "binance", "symbol": "BTC", "quantity": 10, "price": 60000},
        {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 1000, "price": 120}]
    book_with(tmp_path / "s.duckdb", es, universe=universe)
    with BookStore(tmp_path / "s.duckdb") as bs:
        e, acc = bs.entries(), bs.accounts()
    v = value_book(e, market, "2025-06-30")
    vals = v.values()
    a = exposure(v, universe, "asset")
    assert a.at["BTC", "value"] == pytest.approx(vals["BTC"] + vals["GBTC"] + vals["IBIT"])
    assert "GBTC" not in a.index
    s = exposure(v, universe, "sleeve")
    assert s.at["digital_assets", "value"] == pytest.approx(vals["BTC"] + vals["GBTC"] + vals["IBIT"])
    assert exposure(v, universe, "sleeve", look_through=False).at["benchmarks", "value"] == \
        pytest.approx(vals["GBTC"] + vals["IBIT"])
    for by in ("account", "venue", "layer", "sleeve"):
        assert exposure(v, universe, by, accounts=acc)["value"].sum() == pytest.approx(v.nav)
    t = exposure(v, universe, "theme")
    assert t.at["bitcoin_beta", "value"] == pytest.approx(a.at["BTC", "value"])
