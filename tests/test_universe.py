"""The shipped universe: schema, weighted partitions, point-in-time history, listing dates,
and one-line errors for a malformed file (library and CLI)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from computefolio.cli import app
from computefolio.errors import ConfigError
from computefolio.universe import default_universe_path, load_universe, universe_from_dict

RATES_AND_INDICES = {"^GSPC", "^NDX", "^IRX", "^TNX"}
MINERS_TURNED_HOSTS = ["IREN", "CORZ", "CIFR", "WULF", "HUT", "BTDR"]


@pytest.fixture(scope="module")
def raw():
    with default_universe_path().open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# ------------------------------------------------------------------ the shipped file
def test_shipped_universe_validates_and_is_large(universe):
    assert len(universe) >= 45
    assert set(universe.sleeves) == {"digital_assets", "ai_equities", "benchmarks", "private_markets"}
    by_sleeve = pd.Series([a.sleeve for a in universe.assets]).value_counts()
    assert by_sleeve["digital_assets"] == 15 and by_sleeve["ai_equities"] == 33 and by_sleeve["benchmarks"] == 6
    for a in universe.assets:
        if a.sleeve == "private_markets":  # marked private stakes and CoreWeave (listed 2025-03-28): computefolio.private
            assert a.calendar == "XNYS" and a.proxy_basket is not None
            assert a.asset_class == "private" or a.listed is not None
            continue
        if a.sleeve == "digital_assets":
            assert a.calendar == "24/7" and a.asset_class == "crypto"
        else:
            assert a.calendar == "XNYS" and a.venue in ("NASDAQ", "NYSE")
        if a.sleeve == "benchmarks":
            assert a.benchmark and a.asset_class == "etf"
    assert set(universe.select(benchmark=True)) == {"SPY", "QQQ", "SMH", "SOXX", "IBIT", "GBTC"}
    # every group used is described
    for d in (universe.layers, universe.themes, universe.sleeves):
        assert all(len(g.description) > 10 for g in d.values())


def test_universe_covers_the_real_primary_symbols(universe, shared_dir):
    primary = set(pd.read_csv(shared_dir / "primary.csv")["symbol"]) - RATES_AND_INDICES
    # the private-markets sleeve has no real daily prices (marks; CRWV is not in the shared files)
    assert primary == set(universe.symbols) - set(universe.select(sleeve="private_markets"))


@pytest.mark.parametrize("date", [None, "2019-06-30", "2021-06-30", "2023-06-30", "2024-12-31"])
def test_layer_rows_are_partitions(universe, date):
    m = universe.membership("layer", date=date)
    np.testing.assert_allclose(m.sum(axis=1).to_numpy(), 1.0, atol=1e-9)
    assert (m.to_numpy() >= 0).all()
    # every layer has at least one member today
    if date is None:
        assert (m.sum(axis=0) > 0).all()


def test_every_asset_is_complete(universe):
    for a in universe.assets:
        assert a.name and len(a.rationale) > 10
        assert 0.0 <= a.compute_exposure <= 1.0
        assert a.themes, f"{a.symbol} has no theme"
        if a.proxy is not None:  # proxies point to an earlier, older symbol
            assert universe.symbols.index(a.proxy) < universe.symbols.index(a.symbol)


def test_history_changes_classification_by_date(universe):
    for s in MINERS_TURNED_HOSTS:
        a = universe.asset(s)
        then, now = a.classification_at("2021-12-31"), a.classification_at(None)
        assert then.layers == {"bitcoin_mining": 1.0}, s
        assert now.layers.get("ai_hosting", 0) > 0 and now.layers.get("bitcoin_mining", 0) > 0, s
        assert now.compute_exposure > then.compute_exposure, s
        assert a.since is not None and a.since.year >= 2024
    m21 = universe.membership("layer", date="2021-12-31", symbols=["IREN", "MSTR", "ETH"])
    mnow = universe.membership("layer", symbols=["IREN", "MSTR", "ETH"])
    assert m21.loc["IREN", "ai_hosting"] == 0.0 and mnow.loc["IREN", "ai_hosting"] == 0.5
    # MicroStrategy: software until its first bitcoin purchase, a bitcoin treasury after
    assert universe.membership("layer", date="2019-12-31").loc["MSTR", "clouds_and_platforms"] == 1.0
    assert mnow.loc["MSTR", "crypto_exchanges_and_treasuries"] == 1.0
    # ether was GPU-mined before the merge
    t_pre = universe.membership("theme", date="2022-09-14").loc["ETH", "gpu_supply_chain"]
    t_post = universe.membership("theme", date="2022-09-15").loc["ETH", "gpu_supply_chain"]
    assert t_pre > 0 and t_post == 0
    # the day before 'since' is still the old classification
    wulf = universe.asset("WULF")
    day_before = pd.Timestamp(wulf.since) - pd.Timedelta(days=1)
    assert wulf.classification_at(day_before).layers == {"bitcoin_mining": 1.0}
    assert wulf.classification_at(wulf.since).layers == {"bitcoin_mining": 0.6, "ai_hosting": 0.4}


def test_membership_and_exposure_of_a_60_40_miner(universe):
    wulf = universe.membership("layer", symbols=["WULF"]).loc["WULF"]
    assert wulf["bitcoin_mining"] == pytest.approx(0.6) and wulf["ai_hosting"] == pytest.approx(0.4)
    assert wulf.drop(["bitcoin_mining", "ai_hosting"]).abs().sum() == 0
    book = pd.Series({"WULF": 50e6, "NVDA": 30e6, "BTC": 20e6})  # USD
    exp = universe.exposure(book, "layer")
    assert exp["bitcoin_mining"] == pytest.approx(30e6)
    assert exp["ai_hosting"] == pytest.approx(20e6)
    assert exp["chip_design"] == pytest.approx(30e6)
    assert exp["store_of_value"] == pytest.approx(20e6)
    assert exp.sum() == pytest.approx(book.sum())  # a partition keeps the total
    # in 2021 the same book was all mining on that leg
    exp21 = universe.exposure(book, "layer", date="2021-12-31")
    assert exp21["bitcoin_mining"] == pytest.approx(50e6) and exp21["ai_hosting"] == 0
    # themes overlap: exposure can exceed the book
    assert universe.exposure(book, "theme").sum() > book.sum()


def test_listing_dates_trim_known_junk(universe):
    listed = {a.symbol: a.listed for a in universe.assets}
    assert listed["WULF"] >= pd.Timestamp("2021-12-01").date()      # IKONICS before
    assert listed["MARA"].year >= 2020 and listed["CLSK"].year >= 2020
    assert listed["CIFR"] >= pd.Timestamp("2021-08-27").date()       # Good Works SPAC
    assert listed["BTDR"] >= pd.Timestamp("2023-04-13").date()       # Blue Safari SPAC
    assert listed["VRT"] >= pd.Timestamp("2020-02-06").date()        # GS Acquisition SPAC
    assert listed["DELL"] >= pd.Timestamp("2018-12-28").date()       # DVMT era
    assert listed["FIL"] >= pd.Timestamp("2020-10-15").date()        # mainnet
    assert listed["GLM"] >= pd.Timestamp("2020-11-01").date()        # GNT before


def test_listing_dates_hold_on_real_data(universe, real_market):
    lives = real_market.lives()
    for a in universe.assets:
        if a.listed is not None and a.symbol in lives.index:  # CRWV: not in the shared files
            assert lives.at[a.symbol, "first"] >= pd.Timestamp(a.listed), a.symbol
    trimmed = real_market.provenance["trimmed"]
    assert trimmed["WULF"] > 5000 and {"MARA", "CLSK", "CIFR", "BTDR", "VRT", "DELL"} <= set(trimmed)
    # what remains of WULF is a live stock, not IKONICS' flat prints
    r = real_market.returns("session")["WULF"].dropna()
    assert (r == 0).mean() < 0.05  # IKONICS era: about 42% flat days


def test_cli_universe_show_by_layer():
    res = CliRunner().invoke(app, ["universe", "show", "--by", "layer"])
    assert res.exit_code == 0, res.output
    assert "bitcoin_mining" in res.output and "ai_hosting" in res.output


# ------------------------------------------------------------------ malformed files
def _write(tmp_path, data, name="bad_universe.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


def _find(data, symbol):
    return next(a for a in data["assets"] if a["symbol"] == symbol)


def _bad_layer_weight(data):
    _find(data, "WULF")["layers"] = {"bitcoin_mining": 0.7, "ai_hosting": 0.4}
    return "WULF", "layers"


def _unknown_sleeve(data):
    _find(data, "NVDA")["sleeve"] = "chips_and_dips"
    return "NVDA", "sleeve"


def _missing_field(data):
    del _find(data, "COIN")["calendar"]
    return "COIN", "calendar"


def _unknown_layer(data):
    _find(data, "AMD")["layers"] = {"gpus": 1.0}
    return "AMD", "layers"


def _bad_history_weight(data):
    _find(data, "IREN")["history"][0]["layers"] = {"bitcoin_mining": 0.5}
    return "IREN", "history"


BREAKERS = [_bad_layer_weight, _unknown_sleeve, _missing_field, _unknown_layer, _bad_history_weight]


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__.strip("_"))
def test_malformed_universe_is_one_line_naming_file_asset_field(tmp_path, raw, breaker):
    data = copy.deepcopy(raw)
    symbol, field = breaker(data)
    p = _write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_universe(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert "bad_universe.yaml" in msg and f"asset {symbol}" in msg and field in msg
    # the same data in memory gives the same item and field
    with pytest.raises(ConfigError, match=f"asset {symbol}.*{field}"):
        universe_from_dict(data)


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__.strip("_"))
def test_cli_reports_malformed_universe_in_one_line(tmp_path, raw, breaker):
    data = copy.deepcopy(raw)
    symbol, field = breaker(data)
    p = _write(tmp_path, data)
    res = CliRunner().invoke(app, ["universe", "show", "--universe", str(p), "--by", "layer"])
    out = res.output
    assert res.exit_code == 2, out
    assert "Traceback" not in out
    assert "bad_universe.yaml" in out and f"asset {symbol}" in out and field in out
    assert len([ln for ln in out.splitlines() if ln.strip()]) == 1


def test_cli_missing_universe_file(tmp_path):
    res = CliRunner().invoke(app, ["universe", "show", "--universe", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "Traceback" not in res.output and "file not found" in res.output
