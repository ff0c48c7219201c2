"""Units of the real-data truth issue that need no real files: freshness and ages, the run's end
rule, volume plans valued at their own close and their seams, recorded stress on the sample market,
the caveats panel and --strict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.data.market import MarketData
from computefolio.data.sources import SourcePlan, SourceRule, attach_volume, volume_from_plan, volume_seams


def _market(days=60, end_early=None):
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    sess = idx[idx.day_of_week < 5]
    rng = np.random.default_rng(1)
    btc = pd.Series(40000 * np.exp(np.cumsum(rng.normal(0, 0.02, days))), index=idx)
    eth = pd.Series(2000 * np.exp(np.cumsum(rng.normal(0, 0.02, days))), index=idx)
    qqq = pd.Series(400 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sess)))), index=sess)
    close = pd.DataFrame({"BTC": btc, "ETH": eth, "QQQ": qqq})
    if end_early is not None:
        close.loc[pd.Timestamp(end_early) + pd.Timedelta(days=1):, "ETH"] = np.nan
    return MarketData(close=close, calendars={"BTC": "24/7", "ETH": "24/7", "QQQ": "XNYS"})


def test_freshness_ages_and_weekends():
    md = _market(end_early="2024-02-10")
    fr = md.freshness("2024-02-24", delisted={})  # a Saturday
    assert fr.at["BTC", "status"] == "fresh"
    assert fr.at["ETH", "status"] == "stale" and fr.at["ETH", "age_days"] == 14
    assert fr.at["ETH", "missed_bars"] == 14
    # an equity on a Saturday whose last bar is Friday is fresh (no session missed)
    assert fr.at["QQQ", "status"] == "fresh" and fr.at["QQQ", "last"] == pd.Timestamp("2024-02-23")
    fr2 = md.freshness("2024-02-24", delisted={"ETH": pd.Timestamp("2024-02-10")})
    assert fr2.at["ETH", "status"] == "delisted"


def test_last_fresh_date_by_majority_of_weight():
    md = _market(end_early="2024-02-10")
    day, fail = md.last_fresh_date({"crypto": {"BTC": 1.0, "ETH": 1.0}})
    # one of two (50%) fresh is not "most": the group is fresh only up to ETH's last date
    assert day == pd.Timestamp("2024-02-10") and fail["group"] == "crypto" and fail["fresh"] == ["BTC"]
    day, fail = md.last_fresh_date({"crypto": {"BTC": 3.0, "ETH": 1.0}})
    assert day == md.end and fail is None


def test_volume_plan_values_volume_at_its_own_close_and_flags_seams():
    dates = pd.date_range("2024-01-01", periods=40, freq="D")
    rows = []
    for i, d in enumerate(dates):
        rows.append({"date": d, "symbol": "X", "close": 100.0, "adj_close": np.nan, "volume": 1000.0,
                     "source": "a.csv"})
        # file b: the same days, prices split 10:1 and a venue feed of 2% of the volume
        rows.append({"date": d, "symbol": "X", "close": 10.0, "adj_close": np.nan, "volume": 200.0,
                     "source": "b.csv"})
    df = pd.DataFrame(rows)
    plan = SourcePlan([SourceRule("X", "a.csv", "volume", None, dates[19]),
                       SourceRule("X", "b.csv", "volume", dates[20], None)])
    v = volume_from_plan(df, plan)
    assert (v.loc[v["volume_source"] == "a.csv", "traded_value"] == 100_000.0).all()
    assert (v.loc[v["volume_source"] == "b.csv", "traded_value"] == 2_000.0).all()
    seams = volume_seams(df, plan)
    assert seams["X"]["ratio"] == pytest.approx(0.02) and seams["X"]["days"] == 40
    md = MarketData(close=pd.DataFrame({"X": np.full(40, 50.0)}, index=dates), calendars={"X": "24/7"})
    attach_volume(md, v)
    info = md.adv_info(5, asof=dates[-1])
    assert info.at["X", "adv"] == pytest.approx(2000.0) and info.at["X", "age_days"] == 0
    assert md.provenance["volume_sources"]["X"] == ["a.csv", "b.csv"]
    info = md.adv_info(5, asof=dates[-1] + pd.Timedelta(days=30))
    assert info.at["X", "age_days"] == 30 and "30 days old" in info.at["X", "text"]


def test_overlapping_volume_rules_are_refused():
    from computefolio.errors import DataError

    d = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-01"]), "symbol": ["X", "X"],
                      "close": [1.0, 1.0], "adj_close": [np.nan, np.nan], "volume": [1.0, 1.0],
                      "source": ["a.csv", "b.csv"]})
    plan = SourcePlan([SourceRule("X", "a.csv", "volume"), SourceRule("X", "b.csv", "volume")])
    with pytest.raises(DataError, match="several files"):
        volume_from_plan(d, plan)


def test_sample_market_stress_replays_recorded_real_returns(universe):
    """On the sample market each historical scenario's P&L = weights x the recorded real returns."""
    from computefolio.data.load import load_market
    from computefolio.risk.report import risk_report
    from computefolio.risk.stress import load_recorded

    md = load_market(universe, source="sample")
    w = pd.Series({"NVDA": 0.4, "BTC": 0.3, "MSFT": 0.2, "ETH": 0.1})
    rep = risk_report(w, md, universe, capital=50e6, methods=("gaussian",), dcc=False, pairs=())
    rec = load_recorded()
    n = 0
    for s in rep.stress:
        if isinstance(s, dict) or s.kind != "historical":
            continue
        r = rec[s.name]["bases"]["session"]["assets"]
        expect = sum(w[k] * r[k] for k in w.index if k in r)
        covered = all(k in r for k in w.index)
        if covered:
            assert s.pnl_pct == pytest.approx(expect, abs=1e-12)
            assert s.pnl == pytest.approx(expect * 50e6, rel=1e-12)
            n += 1
        assert s.source == "recorded"
    assert n >= 5
    ds = next(s for s in rep.stress if not isinstance(s, dict) and s.name == "deepseek_jan_2025")
    one = risk_report(pd.Series({"NVDA": 1.0}), md, universe, methods=("gaussian",), dcc=False, pairs=())
    nvda = next(s for s in one.stress if not isinstance(s, dict) and s.name == "deepseek_jan_2025")
    assert nvda.pnl_pct == pytest.approx(-0.17, abs=0.01) and ds.periods == 1


def test_caveats_strict_classes():
    from computefolio.job.caveats import Caveats

    c = Caveats()
    c.add("note", "as_of", "ends on its last date")
    assert not c.strict_failures()
    c.add("warning", "stale_price", "FET stale", ["FET"])
    c.add("warning", "stale_price", "FET stale", ["FET"])  # de-duplicated
    assert len(c.items) == 2 and [x.cls for x in c.strict_failures()] == ["stale_price"]
    d = c.to_dict()
    assert d["counts"] == {"error": 0, "warning": 1, "note": 1}
    assert d["items"][0]["severity"] == "warning"


def test_mandate_shifted_by_a_stale_block(universe):
    """The rest of the book invests what the held block leaves, within group bounds moved by it."""
    from computefolio.allocate.mandate import load_mandate
    from computefolio.backtest.policy import mandate_with_fixed

    m = load_mandate()
    fixed = pd.Series({"FET": 0.03, "THETA": 0.02})
    m2 = mandate_with_fixed(m, fixed, universe=universe)
    assert m2.invested_fraction() == pytest.approx(m.invested_fraction() - 0.05 * 1.002)  # + a cost margin
    g = {(r.by, r.group): r for r in m2.groups}
    assert g[("sleeve", "digital_assets")].min == pytest.approx(0.10 - 0.05)
    assert g[("sleeve", "digital_assets")].max == pytest.approx(0.50 - 0.05)
    dc = universe.exposure(fixed, "layer")["decentralized_compute"]
    assert g[("layer", "decentralized_compute")].max == pytest.approx(0.15 - dc)
    assert m.cash_min == 0.02  # the original is unchanged


def _long(sym, dates, close, volume, adj=None):
    return pd.DataFrame({"date": [d.strftime("%Y-%m-%d") for d in dates], "symbol": sym, "open": np.nan,
                         "high": np.nan, "low": np.nan, "close": close, "adj_close": adj if adj is not None else np.nan,
                         "volume": volume})


def test_store_takes_volume_from_its_volume_plan(tmp_path):
    """Prices from an adjusted-close file without volume, volume from an OHLCV file, in the store."""
    from computefolio.data.store import Store
    from computefolio.data.sources import SourcePlan, SourceRule

    from computefolio.clock import sessions

    dates = sessions("XNYS", "2024-01-02", "2024-03-01")[:30]
    px = _long("NVDA", dates, np.nan, np.nan, adj=np.linspace(100, 110, 30))
    ohlcv = _long("NVDA", dates, np.linspace(1000, 1100, 30), np.full(30, 5e6))  # unsplit: 10x price
    px.to_csv(tmp_path / "prices.csv", index=False)
    ohlcv.to_csv(tmp_path / "ohlcv.csv", index=False)
    u = __import__("computefolio").load_universe()
    with Store(tmp_path / "s.duckdb") as st:
        st.import_file(tmp_path / "prices.csv")
        st.import_file(tmp_path / "ohlcv.csv")
        st.set_plan(SourcePlan([SourceRule("NVDA", "prices.csv", "adj_close")]))
        st.set_plan(SourcePlan([SourceRule("NVDA", "ohlcv.csv", "volume")]), kind="volume")
        md = st.market(u, symbols=["NVDA"])
        assert st.plan("volume").rules[0].file == "ohlcv.csv"
    np.testing.assert_allclose(md.traded_value["NVDA"].to_numpy(), 5e6 * np.linspace(1000, 1100, 30))
    assert md.provenance["volume_sources"] == {"NVDA": ["ohlcv.csv"]}
    info = md.adv_info(20)
    assert info.at["NVDA", "bars"] == 20 and info.at["NVDA", "adv"] > 5e9


def test_data_flag_takes_one_file(tmp_path):
    from typer.testing import CliRunner

    from computefolio.cli import app

    dates = pd.date_range("2024-01-01", periods=400, freq="D")
    rng = np.random.default_rng(0)
    df = pd.concat([_long("BTC", dates, 40000 * np.exp(np.cumsum(rng.normal(0, 0.02, 400))), np.full(400, 1e4)),
                    _long("ETH", dates, 2000 * np.exp(np.cumsum(rng.normal(0, 0.02, 400))), np.full(400, 1e5))])
    f = tmp_path / "crypto.csv"
    df.to_csv(f, index=False)
    book = tmp_path / "book.csv"
    book.write_text("symbol,weight\nBTC,0.6\nETH,0.4\n")
    res = CliRunner().invoke(app, ["risk", str(book), "--data", str(f), "--no-dcc", "--lookback", "200"])
    assert res.exit_code == 0, res.output
    assert "file crypto.csv" in res.output
    res = CliRunner().invoke(app, ["risk", str(book), "--data", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "--data" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["risk", str(book), "--data", str(f), "--sample"])
    assert res.exit_code == 2 and "--data and --sample" in res.output


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    from computefolio.data.store import Store
    from computefolio.errors import DataError

    f = tmp_path / "prices.csv"
    f.write_text("date,symbol,close\n2024-01-02,BTC,1\n")
    with pytest.raises(DataError, match="not a DuckDB store"):
        Store(f).row_count()
    assert f.read_text().startswith("date,symbol")  # untouched


def test_folder_loads_are_cached_by_content(tmp_path, universe, monkeypatch):
    """A second load of the same files reads the cache; changing one byte of a file is a new load."""
    from computefolio.data import load as L

    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path / "home"))
    dates = pd.date_range("2024-01-01", periods=60, freq="D")
    df = _long("BTC", dates, np.linspace(100, 160, 60), np.full(60, 10.0))
    folder = tmp_path / "px"
    folder.mkdir()
    df.to_csv(folder / "btc.csv", index=False)
    calls = []
    real = L.__dict__.get("_cached_folder")
    import computefolio.data.sources as S

    orig = S.load_folder
    monkeypatch.setattr(S, "load_folder", lambda *a, **k: calls.append(1) or orig(*a, **k))
    a = L.load_market(universe, source="files", path=folder)
    b = L.load_market(universe, source="files", path=folder)
    assert len(calls) == 1 and a.data_hash() == b.data_hash()
    df.loc[5, "close"] = 101.5
    df.to_csv(folder / "btc.csv", index=False)
    c = L.load_market(universe, source="files", path=folder)
    assert len(calls) == 2 and c.close["BTC"].iloc[5] == 101.5
    assert real is not None
