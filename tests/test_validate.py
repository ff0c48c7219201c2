"""Validation checks: synthetic cases for every check, and what the real shared files contain."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from computefolio.clock import sessions
from computefolio.data.market import MarketData
from computefolio.data.sources import read_long, splice
from computefolio.data.validate import Finding, ValidationReport, check, infer_classes, validate
from computefolio.errors import DataError
from computefolio.universe import universe_from_dict


def bars(symbol: str, closes, start="2024-01-02", calendar="XNYS", source="", ohlc=True, adj=None, volume=1000.0):
    """Long rows for ``symbol`` on consecutive days of ``calendar`` (open=close, high/low +-1%)."""
    closes = np.asarray(closes, dtype=float)
    if calendar == "XNYS":
        dates = sessions("XNYS", start, pd.Timestamp(start) + pd.Timedelta(days=3 * len(closes) + 10))[:len(closes)]
    else:
        dates = pd.date_range(start, periods=len(closes), freq="D")
    df = pd.DataFrame({"date": dates, "symbol": symbol, "close": closes})
    if ohlc:
        df["open"] = closes
        df["high"] = closes * 1.01
        df["low"] = closes * 0.99
        df["volume"] = volume
    if adj is not None:
        df["adj_close"] = np.asarray(adj, dtype=float)
    df["source"] = source
    return df


def walk(n=60, start=100.0, seed=0, vol=0.01):
    r = np.random.default_rng(seed).normal(0, vol, n)
    return start * np.exp(np.cumsum(r))


def checks(rep: ValidationReport, symbol=None) -> set[str]:
    return {f.check for f in rep.findings if symbol is None or f.symbol == symbol}


def only(rep: ValidationReport, check_name: str) -> list[Finding]:
    return [f for f in rep.findings if f.check == check_name]


# ---------------------------------------------------------------------------- clean data and the report API
def test_clean_equity_and_crypto_have_no_findings():
    df = pd.concat([bars("AAA", walk(80)), bars("BTC", walk(80, 30000, seed=1, vol=0.03), calendar="24/7")])
    rep = validate(df, calendars={"AAA": "XNYS", "BTC": "24/7"})
    assert rep.findings == [] and rep.ok
    assert rep.rows == 160
    assert rep.summary().startswith("no problems")
    assert list(rep.to_frame().columns) == ["severity", "check", "source", "symbol", "date", "value", "message"]


def test_report_api_counts_json_and_raise():
    df = bars("AAA", walk(20))
    df.loc[5, "close"] = -1.0
    df.loc[5, "open"] = -1.0
    rep = validate(df)
    assert not rep.ok and len(rep.errors) >= 1
    f = only(rep, "non_positive")[0]
    assert f.symbol == "AAA" and f.date == df.loc[5, "date"] and f.value == -1.0 and f.severity == "error"
    fr = rep.to_frame()
    assert (fr["severity"] == "error").sum() == len(rep.errors)
    d = json.loads(rep.to_json())
    assert d["ok"] is False and d["errors"] == len(rep.errors)
    assert d["findings"][0]["date"] == str(df.loc[5, "date"].date())
    assert "non_positive" in rep.summary()
    with pytest.raises(DataError, match="AAA"):
        rep.raise_for_errors()
    # errors sort first
    assert rep.findings[0].severity == "error"


def test_bad_input_is_a_one_line_error():
    with pytest.raises(DataError, match="'date' and 'symbol'"):
        validate(pd.DataFrame({"x": [1]}))
    with pytest.raises(DataError, match="not a date"):
        validate(pd.DataFrame({"date": ["2024-01-02", "nope"], "symbol": ["A", "A"], "close": [1.0, 2.0]}))
    with pytest.raises(DataError, match="DataFrame or MarketData"):
        validate([1, 2, 3])


# ---------------------------------------------------------------------------- row checks
def test_row_checks_each_reported_with_symbol_date_value():
    df = bars("AAA", walk(30))
    df.loc[3, "low"] = 0.0                      # non-positive
    df.loc[6, "high"] = df.loc[6, "close"] * 0.9  # high below close
    df.loc[9, "volume"] = -5.0                  # negative volume
    df.loc[12, "close"] = np.nan                # no price at all
    df = pd.concat([df, df.iloc[[15]]], ignore_index=True)  # duplicated date
    rep = validate(df)
    by = {f.check: f for f in rep.findings}
    assert by["non_positive"].date == df.loc[3, "date"] and by["non_positive"].value == 0.0
    assert by["ohlc_inconsistent"].date == df.loc[6, "date"]
    assert by["negative_volume"].value == -5.0
    assert by["missing_price"].date == df.loc[12, "date"]
    assert by["duplicate_date"].date == df.loc[15, "date"] and by["duplicate_date"].value == 2
    for c in ("non_positive", "ohlc_inconsistent", "negative_volume", "missing_price", "duplicate_date"):
        assert by[c].severity == "error" and by[c].symbol == "AAA"


def test_low_above_open_is_inconsistent_but_float_noise_is_not():
    df = bars("AAA", walk(10))
    df.loc[2, "low"] = df.loc[2, "open"] * 1.02
    df.loc[4, "high"] = df.loc[4, "close"] * (1 - 1e-9)
    rep = validate(df)
    found = only(rep, "ohlc_inconsistent")
    assert [f.date for f in found] == [df.loc[2, "date"]]


def test_missing_value_reported_as_runs():
    df = bars("AAA", walk(30))
    df.loc[10:12, "volume"] = np.nan
    rep = validate(df)
    mv = only(rep, "missing_value")
    assert len(mv) == 1 and mv[0].value == 3 and mv[0].date == df.loc[10, "date"] and mv[0].severity == "warning"
    assert "volume" in mv[0].message


def test_negative_yields_are_not_errors():
    df = bars("^IRX", [0.1, 0.05, -0.02, -0.1, 0.01, 0.02], ohlc=False)
    rep = validate(df)
    assert "non_positive" not in checks(rep)
    assert any("rate" in n for n in rep.notes)


# ---------------------------------------------------------------------------- calendars
def test_missing_sessions_equity_and_crypto_days():
    eq = bars("AAA", walk(40)).drop(index=[10, 11, 12, 30])
    cr = bars("BTC", walk(40, 30000, vol=0.02), calendar="24/7").drop(index=[5])
    rep = validate(pd.concat([eq, cr]), calendars={"AAA": "XNYS", "BTC": "24/7"})
    gaps = {(f.symbol, f.date): f.value for f in only(rep, "missing_sessions")}
    e = bars("AAA", walk(40))
    assert gaps[("AAA", e.loc[10, "date"])] == 3 and gaps[("AAA", e.loc[30, "date"])] == 1
    c = bars("BTC", walk(40), calendar="24/7")
    assert gaps[("BTC", c.loc[5, "date"])] == 1
    assert all(f.severity == "warning" for f in only(rep, "missing_sessions"))


def test_equity_bar_on_a_closed_day_is_an_error():
    df = bars("AAA", walk(10))
    extra = df.iloc[[0]].assign(date=pd.Timestamp("2024-01-06"))  # a Saturday
    rep = validate(pd.concat([df, extra]), calendars={"AAA": "XNYS"})
    off = only(rep, "off_calendar")
    assert len(off) == 1 and off[0].date == pd.Timestamp("2024-01-06") and off[0].severity == "error"


def test_calendar_inference_and_notes():
    df = pd.concat([bars("ZZZZ", walk(20)), bars("WEIRD", walk(30), calendar="24/7"), bars("ETH", walk(20), calendar="24/7")])
    cals, classes, notes = infer_classes(df["symbol"].unique(), df)
    assert cals == {"ZZZZ": "XNYS", "WEIRD": "24/7", "ETH": "24/7"}
    assert classes["ZZZZ"] == "equity" and classes["ETH"] == "crypto"
    assert any("default for unknown symbols" in n and "ZZZZ" in n for n in notes)
    assert any("weekend" in n and "WEIRD" in n for n in notes)
    rep = validate(df)
    assert rep.ok and "off_calendar" not in checks(rep)


def test_universe_calendars_classes_and_listed_dates():
    raw = {
        "name": "t", "sleeves": {"s": {"name": "S", "description": "d"}},
        "layers": {"l": {"name": "L", "description": "d"}},
        "assets": [
            {"symbol": "AAA", "name": "A", "asset_class": "equity", "sleeve": "s", "calendar": "XNYS", "venue": "NYSE",
             "listed": "2024-02-01", "layers": {"l": 1.0}, "compute_exposure": 0.5, "rationale": "test asset"},
            {"symbol": "TOK", "name": "T", "asset_class": "crypto", "sleeve": "s", "calendar": "24/7", "venue": "x",
             "layers": {"l": 1.0}, "compute_exposure": 0.5, "rationale": "test token"},
        ],
    }
    u = universe_from_dict(raw)
    p = walk(60)
    p[5] = 0.0  # junk before the listing date
    df = pd.concat([bars("AAA", p), bars("TOK", walk(60, vol=0.02) * np.r_[np.ones(30), 2.2 * np.ones(30)],
                                              calendar="24/7")])
    rep = validate(df, universe=u, listed_only=True)
    assert "non_positive" not in checks(rep, "AAA")
    assert any("outside its listed dates" in n for n in rep.notes)
    # crypto: a 2.2x day is a big move, never a split
    assert checks(rep, "TOK") == {"extreme_jump"}
    rep_all = validate(df, universe=u)
    assert "non_positive" in checks(rep_all, "AAA")


# ---------------------------------------------------------------------------- runs
def test_stale_run_threshold():
    p = walk(40)
    p[10:15] = p[10]  # 5 identical
    p[25:29] = p[25]  # 4 identical
    rep = validate(bars("AAA", p), stale_run=5)
    st = only(rep, "stale_close")
    assert len(st) == 1 and st[0].date == bars("AAA", p).loc[10, "date"] and "5 identical" in st[0].message
    assert st[0].severity == "warning"
    assert len(only(validate(bars("AAA", p), stale_run=4), "stale_close")) == 2


def test_zero_volume_runs():
    df = bars("AAA", walk(30))
    df.loc[[4, 5, 6, 20], "volume"] = 0.0
    zv = only(validate(df), "zero_volume")
    assert [(f.date, f.value) for f in zv] == [(df.loc[4, "date"], 3), (df.loc[20, "date"], 1)]


# ---------------------------------------------------------------------------- jumps and splits
def test_unadjusted_split_in_price_series_is_an_error():
    p = walk(60)
    p[30:] = p[30:] / 10.0  # 10:1 split not adjusted; bar opens at the new level
    rep = validate(bars("AAA", p))
    sj = only(rep, "split_jump")
    assert len(sj) == 1
    f = sj[0]
    assert f.date == bars("AAA", p).loc[30, "date"] and abs(f.value - 0.1) < 0.005 and f.severity == "error"
    assert "10:1 split" in f.message
    assert any(x.check == "extreme_jump" and x.date == f.date for x in rep.findings)


def test_reverse_split_and_ratio_list():
    p = walk(50)
    p[20:] = p[20:] * 3.0
    f = only(validate(bars("AAA", p)), "split_jump")[0]
    assert "1:3 reverse split" in f.message and abs(f.value - 3.0) < 0.1


def test_spike_that_reverts_is_not_a_split():
    p = walk(50)
    p[20] = p[19] * 2.5  # bad print for one day
    rep = validate(bars("AAA", p))
    assert not only(rep, "split_jump")
    assert [f.date for f in only(rep, "extreme_jump")] == list(bars("AAA", p).loc[[20, 21], "date"])


def test_real_move_without_gap_open_is_not_a_split():
    p = walk(50)
    p[25:] = p[25:] * 0.5
    df = bars("AAA", p)
    df.loc[25, "open"] = p[24]  # opened at yesterday's close, fell during the day: a real crash
    df.loc[25, "high"] = p[24] * 1.01
    assert not only(validate(df), "split_jump")
    assert only(validate(bars("AAA", p)), "split_jump")  # the same closes with the bar at the new level


def test_close_jumps_but_adjusted_does_not():
    adj = walk(60)
    close = adj.copy()
    close[:30] = close[:30] * 4.0  # close unadjusted for a 4:1 split on day 30
    df = bars("AAA", close, adj=adj)
    rep = validate(df)
    su = only(rep, "split_unadjusted")
    assert len(su) == 1 and su[0].date == df.loc[30, "date"] and "close is not adjusted" in su[0].message
    assert "4:1" in su[0].message
    assert not only(rep, "split_jump")


def test_adjusted_jumps_but_close_does_not():
    close = walk(60)
    adj = close.copy()
    adj[30:] = adj[30:] * 5.0
    rep = validate(bars("AAA", close, adj=adj))
    su = only(rep, "split_unadjusted")
    assert len(su) == 1 and abs(su[0].value - 5.0) < 0.2


def test_crypto_big_moves_are_warnings_never_splits():
    p = walk(40, vol=0.02)
    p[20:] = p[20:] * 1.79   # a real +79% day (FIL 2025-11-07): no finding at all
    p[30:] = p[30:] * 2.13   # LPT-like +113%: extreme_jump warning only
    rep = validate(bars("FIL", p, calendar="24/7"))
    assert {f.check for f in rep.findings} == {"extreme_jump"}
    assert [f.date for f in rep.findings] == [bars("FIL", p, calendar="24/7").loc[30, "date"]]
    assert rep.ok


def test_extreme_jump_threshold_is_symmetric_in_logs():
    p = walk(40)
    p[10:] = p[10:] * 0.45
    f = only(validate(bars("AAA", p), jump=1.0), "extreme_jump")
    assert len(f) == 1 and f[0].value == pytest.approx(p[10] / p[9] - 1)
    assert not only(validate(bars("AAA", p), jump=1.5), "extreme_jump")


def test_marketdata_input():
    p = walk(40)
    p[20:] = p[20:] / 2
    df = bars("AAA", p)
    md = MarketData.from_long(df.drop(columns="source"), {"AAA": "XNYS"})
    rep = validate(md)
    assert [f.check for f in rep.errors] == ["split_jump"]


# ---------------------------------------------------------------------------- several sources
def test_cross_source_scale_and_splice_seam():
    base = walk(80)
    a = bars("AAA", base[:50], source="old")             # old feed: pre-split basis, ends early
    b = bars("AAA", base / 10.0, source="new")             # new feed: adjusted for a later 10:1 split
    df = pd.concat([a, b])
    rep = validate(df)
    sc = only(rep, "source_scale")
    assert len(sc) == 1 and sc[0].severity == "error" and sc[0].value == pytest.approx(0.1)
    assert sc[0].source == "new vs old" and "10:1 split" in sc[0].message
    # each source alone is clean
    assert not only(rep, "split_jump")
    sp = splice(df, ["old", "new"])
    seam_rep = validate(sp.assign(origin=sp["source"], source="splice"))
    sj = only(seam_rep, "split_jump")
    assert len(sj) == 1 and sj[0].date == b["date"].iloc[50] and "passes from old to new" in sj[0].message


def test_cross_source_small_differences_pass_and_big_ones_warn():
    base = walk(60)
    a = bars("AAA", base, source="x")
    b = bars("AAA", base * 1.003, source="y")  # a few bp apart: fine
    c = bars("AAA", base * 1.6, source="z")   # 60% apart, not a split factor
    rep = validate(pd.concat([a, b, c]))
    assert not only(rep, "source_scale")
    dis = only(rep, "source_disagree")
    assert {f.source for f in dis} == {"x vs z", "y vs z"} and all(f.severity == "warning" for f in dis)


def test_check_files_with_priority(tmp_path):
    base = walk(80)
    a = bars("AAA", base[:50]).drop(columns="source")
    b = bars("AAA", base / 10.0).drop(columns="source")
    pa, pb = tmp_path / "old.csv", tmp_path / "new.csv"
    a.to_csv(pa, index=False)
    b.to_csv(pb, index=False)
    rep = check([pa, pb])
    assert {f.check for f in rep.errors} == {"source_scale"}
    rep2 = check([pa, pb], priority=["old.csv", "new.csv"])
    seam = [f for f in rep2.errors if f.check == "split_jump"]
    assert len(seam) == 1 and seam[0].source == "splice"


# ---------------------------------------------------------------------------- real data (what the files really hold)
P_DIEPERDEV = "equities_ohlcv_daily_dieperdev.csv.gz"
P_SPOOKY = "equities_ohlcv_daily_spookylabs.csv.gz"
P_DSTURDY = "equities_adjclose_daily_dsturdy.csv.gz"
SPLIT_10 = ["NVDA", "AVGO", "MSTR", "SMCI"]


@pytest.fixture(scope="module")
def equity_files(shared_dir):
    keep = [*SPLIT_10, "ANET", "CORZ", "MSFT"]
    out = {}
    for name in (P_DIEPERDEV, P_SPOOKY, P_DSTURDY):
        df = read_long(shared_dir / name)
        out[name] = df[df["symbol"].isin(keep)].assign(source=name).reset_index(drop=True)
    return out


@pytest.mark.realdata
def test_dieperdev_alone_has_its_pre_2024_splits_adjusted(equity_files):
    """SOURCES.md: dieperdev ends 2024-03-08 and is adjusted for every split before then.
    NVDA's 2021-07-20 4:1 split is smooth in both close and adj_close, and the file has no
    split-like jump for these symbols; its last NVDA close is on the pre-2024-split basis."""
    d = equity_files[P_DIEPERDEV]
    nv = d[d["symbol"] == "NVDA"].set_index("date")
    r = nv["close"].loc["2021-07-19":"2021-07-21"].pct_change().dropna()
    assert (r.abs() < 0.1).all()
    assert nv.index.max() == pd.Timestamp("2024-03-08") and nv["close"].iloc[-1] > 800
    rep = validate(d)
    assert not [f for f in rep.findings if f.check in ("split_jump", "split_unadjusted")]


@pytest.mark.realdata
def test_dieperdev_vs_later_adjusted_files_differ_by_the_split_factor(equity_files):
    """The 10:1 splits of 2024 (NVDA 06-10, AVGO 07-15, MSTR 08-08, SMCI 10-01) and ANET's
    4:1 of 2024-12 are adjusted in spookylabs and dsturdy but not in dieperdev."""
    df = pd.concat([equity_files[P_DIEPERDEV], equity_files[P_SPOOKY]])
    rep = validate(df)
    sc = {f.symbol: f.value for f in only(rep, "source_scale")}
    assert set(sc) == {*SPLIT_10, "ANET"}
    for s in SPLIT_10:
        assert 9.5 < sc[s] < 11.0, (s, sc[s])   # AVGO ~10.7: dividends differ too
    assert sc["ANET"] == pytest.approx(4.0, rel=0.02)
    rep2 = validate(pd.concat([equity_files[P_DIEPERDEV], equity_files[P_DSTURDY]]))
    sc2 = {f.symbol: f.value for f in only(rep2, "source_scale")}
    assert set(sc2) == {*SPLIT_10, "ANET"} and sc2["NVDA"] == pytest.approx(0.1, rel=0.01)


@pytest.mark.realdata
def test_splicing_dieperdev_with_spookylabs_flags_the_10_to_1_jumps(equity_files):
    df = pd.concat([equity_files[P_DIEPERDEV], equity_files[P_SPOOKY]])
    sp = splice(df, [P_DIEPERDEV, P_SPOOKY])
    rep = validate(sp.assign(origin=sp["source"], source="splice"))
    sj = {f.symbol: f for f in only(rep, "split_jump")}
    for s in SPLIT_10:
        assert sj[s].date == pd.Timestamp("2024-03-11") and 0.09 < sj[s].value < 0.11, s
    assert sj["NVDA"].value == pytest.approx(85.81 / 875.28, rel=0.01)
    assert sj["ANET"].value == pytest.approx(0.25, rel=0.03)


@pytest.mark.realdata
def test_spliced_close_against_adjusted_close(equity_files):
    """close from the dieperdev->spookylabs splice beside dsturdy's adj_close: the close
    jumps 10:1 on 2024-03-11 while adj_close moves like a normal day."""
    df = pd.concat([equity_files[P_DIEPERDEV], equity_files[P_SPOOKY]])
    close = splice(df, [P_DIEPERDEV, P_SPOOKY])
    close = close[(close["symbol"] == "NVDA") & (close["date"] >= "2024-01-02")].drop(columns=["adj_close", "source"])
    adj = equity_files[P_DSTURDY][["symbol", "date", "adj_close"]]
    both = close.merge(adj, on=["symbol", "date"], how="left")
    rep = validate(both)
    su = only(rep, "split_unadjusted")
    assert len(su) == 1 and su[0].date == pd.Timestamp("2024-03-11") and "close" in su[0].message


@pytest.mark.realdata
def test_spookylabs_corz_fake_jump_is_flagged(equity_files):
    d = equity_files[P_SPOOKY]
    rep = validate(d[d["symbol"] == "CORZ"])
    ej = [f for f in only(rep, "extreme_jump") if f.date == pd.Timestamp("2024-01-24")]
    assert len(ej) == 1 and ej[0].value == pytest.approx(3.49 / 0.0756 - 1, rel=1e-3)  # +4,516%
    assert "since 2022-12-30" in ej[0].message
    gap = [f for f in only(rep, "missing_sessions") if f.date == pd.Timestamp("2023-01-03")]
    assert gap and gap[0].value == 265


@pytest.mark.realdata
def test_real_crypto_moves_are_not_split_errors(shared_dir):
    d = read_long(shared_dir / "crypto_binance_spot_daily_djienne.csv.gz")
    rep = validate(d[d["symbol"].isin(["FIL", "BNB"])])
    assert rep.ok
    assert not [f for f in only(rep, "extreme_jump") if f.date in (pd.Timestamp("2025-11-07"), pd.Timestamp("2021-02-19"))]


def test_validate_never_changes_its_input():
    df = bars("AAA", walk(30))
    df.loc[3, "close"] = np.nan
    df.loc[5, "close"] = -1.0
    before = df.copy()
    validate(df)
    pd.testing.assert_frame_equal(df, before)
    md = MarketData.from_long(bars("BBB", walk(30)).drop(columns="source"), {"BBB": "XNYS"})
    h = md.data_hash()
    validate(md)
    assert md.data_hash() == h


def test_check_with_a_plan_over_files(tmp_path):
    from computefolio.data.sources import SourcePlan, SourceRule

    base = walk(80)
    a = bars("AAA", base[:50]).drop(columns="source")
    b = bars("AAA", base / 10.0).drop(columns="source")
    a.to_csv(tmp_path / "old.csv", index=False)
    b.to_csv(tmp_path / "new.csv", index=False)
    cut = b["date"].iloc[50]
    plan = SourcePlan([SourceRule("AAA", "old.csv", end=cut - pd.Timedelta(days=1)),
                       SourceRule("AAA", "new.csv", start=cut), SourceRule("ZZZ", "gone.csv")])
    rep = check([tmp_path / "old.csv", tmp_path / "new.csv"], plan=plan)
    seam = [f for f in rep.errors if f.source == "plan"]
    assert len(seam) == 1 and seam[0].check == "split_jump" and seam[0].date == cut
    assert any("gone.csv" in n for n in rep.notes)


# ---------------------------------------------------------------------------- splits on a day that also moved
@pytest.mark.parametrize("vol", [0.005, 0.01, 0.02, 0.04])
@pytest.mark.parametrize("move", [0.05, -0.05, 0.035, -0.035])
def test_four_to_one_split_with_a_same_day_move_is_found_with_its_ratio(vol, move):
    p = walk(120, vol=vol, seed=3)
    r = p[1:] / p[:-1]
    r[59] = 0.25 * (1 + move)  # the split day: /4 and the day's own move
    p = np.concatenate([[p[0]], p[0] * np.cumprod(r)])
    df = bars("AAA", p)
    sj = only(validate(df), "split_jump")
    assert len(sj) == 1, [f.message for f in validate(df).findings]
    f = sj[0]
    assert f.ratio == 4.0 and f.date == df.loc[60, "date"] and f.value == pytest.approx(0.25 * (1 + move))
    assert "4:1 split (ratio 4)" in f.message and f"{move:+.1%}" in f.message and "daily s.d." in f.message
    assert validate(df).to_dict()["findings"][0]["ratio"] == 4.0


def test_reverse_split_ratio_is_a_fraction():
    p = walk(60, vol=0.02, seed=4)
    r = p[1:] / p[:-1]
    r[29] = 10.0 * 1.04
    p = np.concatenate([[p[0]], p[0] * np.cumprod(r)])
    f = only(validate(bars("AAA", p)), "split_jump")[0]
    assert f.ratio == pytest.approx(0.1) and "1:10 reverse split" in f.message


def test_a_move_far_from_any_split_ratio_is_only_a_jump():
    p = walk(80, vol=0.01, seed=5)
    p[40:] = p[40:] * 0.38  # -62%: 0.38 is 24% from 1/2 and 14% from 1/3, beyond the 10% cap
    rep = validate(bars("AAA", p))
    assert not only(rep, "split_jump") and only(rep, "extreme_jump")


# ---------------------------------------------------------------------------- a price going to zero and back
def zero_and_back(tmp_path):
    df = bars("AAA", walk(60, seed=2))
    for c in ("open", "high", "low", "close"):
        df.loc[30, c] = 0.0
    df.loc[31, "close"] = 0.0  # two bars at zero on close, then the recovery
    df.loc[31, "low"] = 0.0
    df["date"] = df["date"].dt.strftime("%Y-%m-%d")
    path = tmp_path / "zero.csv"
    df.drop(columns="source").to_csv(path, index=False)
    return path, df


def test_zero_price_and_recovery_no_infinite_return(tmp_path):
    path, df = zero_and_back(tmp_path)
    rep = check([path])
    got = {(f.check, str(f.date.date())) for f in rep.errors}
    assert ("non_positive", df.loc[30, "date"]) in got and ("non_positive", df.loc[31, "date"]) in got
    assert all(np.isfinite(f.value) for f in rep.findings)
    json.loads(rep.to_json())


def test_data_check_cli_on_zero_price_table_json_exit_1(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from computefolio.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    path, df = zero_and_back(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["data", "check", str(path), "--no-universe"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    rows = [ln for ln in res.output.splitlines() if "non_positive" in ln and "AAA" in ln]
    assert len(rows) == 6  # open, high, low, close on the first day at zero; low and close on the second
    assert "errors" in res.output
    res = runner.invoke(app, ["data", "check", str(path), "--no-universe", "--json", "-"])
    assert res.exit_code == 1
    d = json.loads(res.stdout)
    zero_rows = [f for f in d["findings"] if f["check"] == "non_positive"]
    assert len(zero_rows) == 6 and {f["date"] for f in zero_rows} == {df.loc[30, "date"], df.loc[31, "date"]}
    out = tmp_path / "report.json"
    res = runner.invoke(app, ["data", "check", str(path), "--no-universe", "--json", str(out)])
    assert res.exit_code == 1 and "non_positive" in res.stdout and json.loads(out.read_text())["errors"] == d["errors"]


def test_infinite_values_follow_the_json_rule():
    df = bars("AAA", np.full(40, 100.0), ohlc=False)
    df.loc[20, "close"] = 1e-320  # a price at the bottom of float range: the rebound is x1e322
    d = json.loads(validate(df).to_json())
    inf = [k for k, v in d.get("nonfinite", {}).items() if v == "Infinity"]
    assert inf and all(d["findings"][int(k.split("/")[2])]["value"] is None for k in inf)


def test_a_volatile_stock_real_jump_near_a_split_ratio_is_a_warning():
    # a miner with 6% daily moves rallies +89% in a day (MARA on 2020-08-03): split-like (1:2
    # with a -5.7% residual) but a 9 s.d. move is not rare for it: a warning naming the ratio
    p = walk(150, vol=0.06, seed=11)
    p[75:] = p[75:] * 1.89
    f = only(validate(bars("AAA", p)), "split_jump")
    assert len(f) == 1 and f[0].severity == "warning" and f[0].ratio == 0.5
    assert "not rare for AAA" in f[0].message
    # the same move landing exactly on the factor stays an error
    q = walk(150, vol=0.06, seed=11)
    r = q[1:] / q[:-1]
    r[74] = 2.0
    q = np.concatenate([[q[0]], q[0] * np.cumprod(r)])
    g = only(validate(bars("AAA", q)), "split_jump")
    assert len(g) == 1 and g[0].severity == "error"
