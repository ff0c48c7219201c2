"""``computefolio data sync`` on recorded answers: rewrites after a split, unfinished bars, ticker
migrations, de-pegged USDT days, garbage, no network, and a sync killed halfway."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

pytest.importorskip("yfinance", reason="the live extra (yfinance, ccxt) is not installed")
pytest.importorskip("ccxt", reason="the live extra (yfinance, ccxt) is not installed")
responses = pytest.importorskip("responses", reason="responses (test extra) is not installed")

LIVE = Path(__file__).parent / "recorded" / "live"
sys.path.insert(0, str(LIVE))
import livemock  # noqa: E402

from computefolio.data.connectors import Retry  # noqa: E402
from computefolio.data.connectors.exchanges import ExchangeConnector  # noqa: E402
from computefolio.data.connectors.yahoo import YahooConnector  # noqa: E402
from computefolio.data.load import load_market  # noqa: E402
from computefolio.data.store import Store  # noqa: E402
from computefolio.data.sync import Syncer, bar_final, plan  # noqa: E402
from computefolio.universe import load_universe  # noqa: E402

U = load_universe()
BINANCE = r"https://api\.binance\.com/api/v3/klines.*"


def at(ts: str):
    t = pd.Timestamp(ts, tz="UTC")
    return lambda: t


def syncer(store, now, sleeps=None):
    cons = {"yahoo": YahooConnector(min_interval=0, retry=Retry(sleep=lambda s: None)),
            "binance": ExchangeConnector("binance", markets=livemock.markets("binance"),
                                         retry=Retry(sleep=lambda s: None), now=now)}
    return Syncer(store, connectors=cons, now=now)


@pytest.fixture
def mock(tmp_path):
    livemock.reset_yfinance(tmp_path / "yf")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        y = livemock.Yahoo(rs).serve("USDT-USD", "USDT-USD_2022-05-14.json")
        y.rs = rs
        yield y


def binance_by_symbol(rs, files: dict):
    """Binance klines answered from a recorded file per exchange symbol (the last call's file repeats)."""
    state = {k: list(v) if isinstance(v, list) else [v] for k, v in files.items()}

    def cb(request):
        sym = parse_qs(urlparse(request.url).query)["symbol"][0]
        queue = state[sym]
        f = queue[0] if len(queue) == 1 else queue.pop(0)
        return (200, {"Content-Type": "application/json"}, (LIVE / "exchanges" / f).read_text())

    rs.add_callback(responses.GET, re.compile(BINANCE), callback=cb)
    return state


# ---------------------------------------------------------------------------- clocks
def test_bar_final_on_both_clocks():
    # a crypto day is final from 24:00 UTC
    assert not bar_final("2024-06-13", "24/7", pd.Timestamp("2024-06-13 23:59", tz="UTC"))
    assert bar_final("2024-06-13", "24/7", pd.Timestamp("2024-06-14 00:00", tz="UTC"))
    # an NYSE session closes 16:00 New York (20:00 UTC in June) and is final 30 minutes later
    assert not bar_final("2024-06-12", "XNYS", pd.Timestamp("2024-06-12 20:10", tz="UTC"))
    assert bar_final("2024-06-12", "XNYS", pd.Timestamp("2024-06-12 20:31", tz="UTC"))
    # early close the day after Thanksgiving (13:00 New York = 18:00 UTC)
    assert bar_final("2024-11-29", "XNYS", pd.Timestamp("2024-11-29 18:31", tz="UTC"))


# ---------------------------------------------------------------------------- rewrites
def test_split_rewrites_history_and_keeps_old_rows(tmp_path, mock):
    path = tmp_path / "store.duckdb"
    mock.serve("NVDA", "NVDA_2024-06-07.json")
    with Store(path) as st:
        r1 = syncer(st, at("2024-06-08 12:00")).run(plan(U, symbols=["NVDA"]), since="2024-06-03")
        assert r1.ok and r1.symbols[0].rows_added == 5
        old = st.prices(symbols=["NVDA"])
    mock.serve("NVDA", "NVDA_2024-06-12.json")
    with Store(path) as st:
        r2 = syncer(st, at("2024-06-13 02:00")).run(plan(U, symbols=["NVDA"]))
        s = r2.symbols[0]
        assert r2.ok and s.full and s.rows_rewritten == 5 and s.rows_added == 3
        assert any("new split 10:1 on 2024-06-10" in n for n in s.notes)
        new = st.prices(symbols=["NVDA"])
        want = livemock.load_json("yahoo", "NVDA_2024-06-12.json")["chart"]["result"][0]
        # the store ends equal to the new history
        assert new["close"].tolist() == want["indicators"]["quote"][0]["close"]
        assert new["adj_close"].tolist() == want["indicators"]["adjclose"][0]["adjclose"]
        # the old rows are kept in provenance, with the reason and the import that replaced them
        rev = st.revisions("NVDA")
        assert len(rev) == 5 and rev["close"].tolist() == old["close"].tolist()
        assert rev["reason"].str.contains("split 10:1").all()
        assert set(rev["replaced_by"]) == {int(new["import_id"].max())}
        acts = st.corporate_actions("NVDA")
        assert set(zip(acts["action"], acts["value"])) == {("split", 10.0), ("dividend", 0.01)}
        state = st.sync_state().set_index("symbol").loc["NVDA"]
        assert bool(state["last_final"]) and str(state["last_bar"])[:10] == "2024-06-12"
        # a third sync with the same answer changes nothing
        r3 = syncer(st, at("2024-06-13 03:00")).run(plan(U, symbols=["NVDA"]))
        assert r3.symbols[0].status == "unchanged" and not r3.symbols[0].full
    # the main job's loader reads the synced store
    md = load_market(U, source="store", store=path)
    assert "NVDA" in md.symbols and md.provenance["sources"]["NVDA"][0][0] == "yahoo"
    # ... and the report's provenance names each synced symbol's source and last fetch
    from computefolio.job.results import provenance_table

    row = {r["symbol"]: r for r in provenance_table(md)["rows"]}["NVDA"]
    assert row["prices"] == "yahoo" and row["fetched_at"] == "2024-06-13T03:00:00Z" and row["final"] == "yes"
    with Store(path, read_only=True) as st:
        prov = st.sync_provenance()
    assert prov["NVDA"][0]["source"] == "yahoo" and prov["NVDA"][0]["fetched_at"] == "2024-06-13T03:00:00Z"
    assert prov["NVDA"][0]["last_bar"] == "2024-06-12" and prov["NVDA"][0]["last_final"] is True


def test_unfinished_last_bar_is_replaced_the_next_day(tmp_path, mock):
    path = tmp_path / "store.duckdb"
    binance_by_symbol(mock.rs, {"BTCUSDT": ["binance_klines_BTCUSDT_0613_partial.json", "binance_klines_BTCUSDT.json"]})
    with Store(path) as st:
        r1 = syncer(st, at("2024-06-13 09:00")).run(plan(U, symbols=["BTC"]), since="2024-06-10")
        btc = [s for s in r1.symbols if s.symbol == "BTC"][0]
        assert btc.rows_added == 4 and btc.last_final is False
        state = st.sync_state("binance").set_index("symbol").loc["BTC"]
        assert not bool(state["last_final"]) and str(state["final_through"])[:10] == "2024-06-12"
        partial = st.prices(symbols=["BTC"]).iloc[-1]
        assert partial["close"] == 68010.55
        r2 = syncer(st, at("2024-06-14 01:00")).run(plan(U, symbols=["BTC"]))
        btc = [s for s in r2.symbols if s.symbol == "BTC"][0]
        assert btc.rows_rewritten == 1 and btc.rows_added == 0 and btc.last_final is True and not btc.full
        rows = st.prices(symbols=["BTC"])
        assert rows["close"].iloc[-1] == 66756.23 and len(rows) == 4
        rev = st.revisions("BTC")
        assert len(rev) == 1 and rev["close"].iloc[0] == 68010.55 and rev["reason"].iloc[0] == "unfinished bar replaced"
        assert bool(st.sync_state("binance").set_index("symbol").loc["BTC", "last_final"])


def test_ticker_migration_continues_the_series(tmp_path, mock):
    path = tmp_path / "store.duckdb"
    calls = binance_by_symbol(mock.rs, {"RNDRUSDT": "binance_klines_RNDRUSDT.json",
                                        "RENDERUSDT": "binance_klines_RENDERUSDT.json"})
    assert calls
    with Store(path) as st:
        refs = plan(U, symbols=["RENDER"], venue="binance")
        assert [s.source_symbol for s in refs[0].segments] == ["RNDR/USDT", "RENDER/USDT"]
        r = syncer(st, at("2024-07-28 01:00")).run(refs, since="2024-07-14")
        s = [x for x in r.symbols if x.symbol == "RENDER"][0]
        assert r.ok and s.rows_added == 4
        rows = st.prices(symbols=["RENDER"])
        # one asset, one source, one series: RNDR's bars then RENDER's, no new symbol
        assert st.symbols() == ["RENDER", "USDT"] and rows["source"].unique().tolist() == ["binance"]
        assert rows["date"].dt.strftime("%m-%d").tolist() == ["07-14", "07-15", "07-26", "07-27"]
        assert rows["close"].tolist() == [6.28, 6.47, 5.98, 6.05]
        state = st.sync_state("binance").set_index("symbol").loc["RENDER"]
        assert "RNDR/USDT until 2024-07-26" in state["source_symbol"]
        assert "ticker migration" in state["note"]


def test_depegged_usdt_day_is_flagged(tmp_path, mock):
    path = tmp_path / "store.duckdb"
    binance_by_symbol(mock.rs, {"BTCUSDT": "binance_klines_BTCUSDT_2022-05.json"})
    with Store(path) as st:
        r = syncer(st, at("2022-05-15 01:00")).run(plan(U, symbols=["BTC"]), since="2022-05-10")
        assert r.ok and [s.symbol for s in r.symbols] == ["USDT", "BTC"]  # the rate first
        flags = st.sync_flags("BTC")
        assert flags["date"].astype(str).tolist() == ["2022-05-12"] and flags["check"].iloc[0] == "quote_depeg"
        assert flags["value"].iloc[0] == pytest.approx(0.9912)
        assert "0.88% off USD" in flags["message"].iloc[0]
        assert any("off its USD peg" in n for n in r.symbols[1].notes)
        # prices stay in their quote currency (USDT); the quote is recorded
        assert st.prices(symbols=["BTC"])["close"].iloc[2] == 29029.75
        assert st.sync_provenance(["BTC"])["BTC"][0]["quote"] == "USDT"


# ---------------------------------------------------------------------------- garbage and offline
def test_garbage_is_reported_per_symbol_and_never_stored(tmp_path, mock):
    path = tmp_path / "store.duckdb"
    mock.serve("NVDA", "NVDA_zero_close.json").serve("AMD", "not_json.html", tz="NVDA_2024-06-07.json")
    mock.serve("INTC", "NVDA_empty.json", tz="NVDA_2024-06-07.json")
    with Store(path) as st:
        r = syncer(st, at("2024-06-13 02:00")).run(plan(U, symbols=["NVDA", "AMD", "INTC"]), since="2024-06-10")
        by = {s.symbol: s for s in r.symbols}
        assert not r.ok
        assert by["NVDA"].status == "updated" and by["NVDA"].rows_added == 2 and by["NVDA"].rows_quarantined == 1
        assert by["AMD"].status == "failed" and by["AMD"].reason == "bad response" and "not JSON" in by["AMD"].message
        assert by["INTC"].status == "failed" and by["INTC"].reason == "no data"
        assert st.symbols() == ["NVDA"]
        q = st.quarantined()
        assert q["date"].astype(str).tolist() == ["2024-06-11"] and "non_positive" in q["check"].iloc[0]
        assert "2024-06-11" not in st.prices(symbols=["NVDA"])["date"].astype(str).tolist()


def test_offline_sync_says_so_per_source_and_leaves_the_store(tmp_path, mock):
    import requests
    from typer.testing import CliRunner

    from computefolio.cli import app

    path = tmp_path / "store.duckdb"
    mock.serve("NVDA", "NVDA_2024-06-07.json")
    with Store(path) as st:
        syncer(st, at("2024-06-08 12:00")).run(plan(U, symbols=["NVDA"]), since="2024-06-03")
        before = st.snapshot()
    mock.rs.reset()
    mock.rs.add(responses.GET, re.compile(r"https://.*"), body=requests.exceptions.ConnectionError("Network is unreachable"))
    out = CliRunner().invoke(app, ["data", "sync", "--store", str(path), "--symbols", "NVDA,BTC,ETH"])
    assert out.exit_code == 1, out.output
    text = " ".join(out.output.split())
    assert "yahoo: offline" in text and "binance: offline" in text
    assert text.count("binance: offline") == 1  # one line per source, not per symbol
    with Store(path, read_only=True) as st:
        assert st.snapshot() == before


def test_cli_refuses_a_bad_since_and_unknown_symbols(tmp_path):
    from typer.testing import CliRunner

    from computefolio.cli import app

    out = CliRunner().invoke(app, ["data", "sync", "--store", str(tmp_path / "s.duckdb"), "--since", "yesterday-ish"])
    assert out.exit_code == 2 and "--since" in out.output
    out = CliRunner().invoke(app, ["data", "sync", "--store", str(tmp_path / "s.duckdb"), "--symbols", "NVDAA"])
    assert out.exit_code == 2 and "NVDAA" in out.output
    out = CliRunner().invoke(app, ["data", "sync", "--store", str(tmp_path / "s.duckdb"), "--venue", "ftx"])
    assert out.exit_code == 2 and "--venue" in out.output


# ---------------------------------------------------------------------------- a sync killed halfway
CHILD = """
import os, sys, time
sys.path.insert(0, {live!r})
import livemock, responses, pandas as pd
from computefolio.data.store import Store
from computefolio.data.sync import Syncer, plan
from computefolio.data.connectors import Retry
from computefolio.data.connectors.yahoo import YahooConnector
from computefolio.universe import load_universe

real = Store._put_sync_state
def put_then_hang(self, con, row):
    real(self, con, row)
    if row["symbol"] == "SPY":  # inside SPY's transaction: its rows are written, not committed
        open({marker!r}, "w").write("writing SPY")
        time.sleep(120)
Store._put_sync_state = put_then_hang

livemock.reset_yfinance({cache!r})
with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
    y = livemock.Yahoo(rs).serve("NVDA", "NVDA_2024-06-12.json").serve("SPY", "NVDA_2024-06-12.json")
    now = pd.Timestamp("2024-06-13 02:00", tz="UTC")
    with Store({store!r}) as st:
        Syncer(st, connectors={{"yahoo": YahooConnector(min_interval=0, retry=Retry(sleep=lambda s: None))}},
               now=lambda: now).run(plan(load_universe(), symbols=["NVDA", "SPY"]))
"""


def _spy_state(st):
    return (st.prices(symbols=["SPY"]).to_json(date_format="iso"), st.sync_state().query("symbol == 'SPY'").to_json(date_format="iso"),
            st.revisions("SPY").to_json(date_format="iso"), st.corporate_actions("SPY").to_json(date_format="iso"))


def test_kill_during_sync_leaves_the_symbol_untouched_and_the_next_sync_completes_it(tmp_path, mock):
    path = tmp_path / "store.duckdb"
    mock.serve("NVDA", "NVDA_2024-06-07.json").serve("SPY", "NVDA_2024-06-07.json")
    with Store(path) as st:
        assert syncer(st, at("2024-06-08 12:00")).run(plan(U, symbols=["NVDA", "SPY"]), since="2024-06-03").ok
        spy_before = _spy_state(st)
        nvda_before = st.prices(symbols=["NVDA"])
    marker = tmp_path / "writing"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD.format(live=str(LIVE), marker=str(marker), cache=str(tmp_path / "yf2"),
                                                   store=str(path))))
    env = dict(os.environ, YF_DISABLE_CURL_CFFI="1")
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail("the child sync ended before writing SPY: " + proc.stdout.read().decode()[-2000:])
            if time.monotonic() > deadline:
                pytest.fail("the child sync never reached SPY")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the honest kill: no cleanup, no rollback by the process
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as st:
        # NVDA's transaction committed before the kill: fully updated
        assert len(st.prices(symbols=["NVDA"])) == 8 and len(st.revisions("NVDA")) == 5
        # SPY's did not: untouched, exactly as before
        assert _spy_state(st) == spy_before
        # the next sync resumes and completes SPY
        mock.serve("NVDA", "NVDA_2024-06-12.json").serve("SPY", "NVDA_2024-06-12.json")
        r = syncer(st, at("2024-06-13 03:00")).run(plan(U, symbols=["NVDA", "SPY"]))
        by = {s.symbol: s for s in r.symbols}
        assert by["NVDA"].status == "unchanged" and by["SPY"].status == "updated" and by["SPY"].full
        assert st.prices(symbols=["SPY"])["close"].tolist() == st.prices(symbols=["NVDA"])["close"].tolist()
        assert len(nvda_before) == 5
