"""Stress library: shipped scenarios, proxies, hypothetical shocks, malformed files, real windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.errors import ConfigError
from computefolio.risk.stress import (HistoricalScenario, load_scenarios, run_stress, scenarios_from_dict,
                                      stress_test, window_returns)
from conftest import make_returns

REQUIRED = {"covid_march_2020", "rate_shock_2022", "terra_luna_may_2022", "ftx_nov_2022", "yen_carry_aug_2024",
            "deepseek_jan_2025", "crypto_winter_2018", "china_mining_ban_2021", "ai_capex_cut", "crypto_crackdown"}


def test_shipped_library_is_valid(universe):
    sc = load_scenarios(universe=universe)
    assert REQUIRED <= {s.name for s in sc}
    crack = next(s for s in sc if s.name == "crypto_crackdown")
    assert crack.correlation is not None and crack.correlation.between == ("digital_assets", "ai_equities")


def _write(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return p


def test_malformed_file_names_file_scenario_field(tmp_path, universe):
    p = _write(tmp_path, "scenarios:\n  - {name: oops, kind: historical, title: t, start: 2022-05-06, end: notadate}\n")
    with pytest.raises(ConfigError) as e:
        load_scenarios(p)
    msg = str(e.value)
    assert "bad.yaml" in msg and "scenario oops" in msg and "end" in msg
    p = _write(tmp_path, "scenarios:\n  - {name: cut, kind: hypothetical, title: t, shocks: {layer: {chips: -0.3}}}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*scenario cut.*shocks\.layer\.chips"):
        load_scenarios(p, universe)
    p = _write(tmp_path, "scenarios:\n  - {name: big, kind: hypothetical, title: t, shocks: {asset: {BTC: -2}}}\n")
    with pytest.raises(ConfigError, match=r"scenario big.*shocks\.asset"):
        load_scenarios(p)
    p = _write(tmp_path, "scenarios:\n  - {name: back, kind: historical, title: t, start: 2022-05-06, end: 2022-05-01}\n")
    with pytest.raises(ConfigError, match=r"scenario back.*field 'end'"):
        load_scenarios(p)
    p = _write(tmp_path, "scenarios:\n  - {name: k, kind: future, title: t}\n")
    with pytest.raises(ConfigError, match=r"scenario k.*kind"):
        load_scenarios(p)


def test_window_returns_compound_and_nan():
    r = make_returns(30, 2)
    r.iloc[10, 1] = np.nan
    d = r.index
    cum, n, used = window_returns(r, d[4], d[8])
    assert n == 4 and used[0] == d[5]
    assert abs(cum["A0"] - (np.prod(1 + r["A0"].iloc[5:9]) - 1)) < 1e-15
    cum, _, _ = window_returns(r, d[8], d[12])
    assert np.isnan(cum["A1"])


def test_hypothetical_weighted_membership(universe):
    sc = scenarios_from_dict({"scenarios": [{"name": "x", "kind": "hypothetical", "title": "x",
                                             "shocks": {"layer": {"bitcoin_mining": -0.5, "ai_hosting": 0.1},
                                                        "asset": {"NVDA": -0.2}}}]}, universe=universe)
    w = pd.Series({"HUT": 0.5, "NVDA": 0.5})  # HUT: 60% bitcoin_mining, 40% ai_hosting
    res = stress_test(w, sc[0], None, universe, capital=1e6)
    assert abs(res.by_asset.loc["HUT", "return"] - (0.6 * -0.5 + 0.4 * 0.1)) < 1e-12
    assert res.by_asset.loc["NVDA", "return"] == -0.2
    assert abs(res.pnl - 1e6 * (0.5 * -0.26 + 0.5 * -0.2)) < 1e-6
    assert abs(res.by_layer["pnl_pct"].sum() - res.pnl_pct) < 1e-12


def test_real_deepseek_and_ftx(real_market, universe):
    r = real_market.returns("session")
    sc = {s.name: s for s in load_scenarios(universe=universe)}
    w = pd.Series({"NVDA": 0.4, "SOL": 0.3, "GLXY": 0.3})
    ds = stress_test(w, sc["deepseek_jan_2025"], r, universe)
    assert -0.19 < ds.by_asset.loc["NVDA", "return"] < -0.15  # NVDA fell ~17% on 27 Jan 2025
    assert ds.start == ds.end == "2025-01-27"
    assert ds.by_asset.loc["GLXY", "source"].startswith("proxy")  # listed May 2025
    ftx = stress_test(w, sc["ftx_nov_2022"], r, universe)
    assert ftx.by_asset.loc["SOL", "return"] < -0.5  # SOL collapsed with FTX
    assert ftx.by_asset.loc["SOL", "source"] == "data"


def test_real_full_library_and_correlation_stress(real_market, universe):
    r = real_market.returns("session")
    w = pd.Series({"BTC": 0.3, "ETH": 0.1, "NVDA": 0.2, "MSFT": 0.2, "TAO": 0.2})
    res = {x.name: x for x in run_stress(w, r, universe)}
    assert REQUIRED <= set(res)
    assert res["crypto_winter_2018"].by_asset.loc["BTC", "return"] < -0.7
    assert "proxy" in res["crypto_winter_2018"].proxies["TAO"] or "layer" in res["crypto_winter_2018"].proxies["TAO"]
    cc = res["crypto_crackdown"].stressed_risk
    assert cc["volatility_annualized_stressed"] > cc["volatility_annualized_before"]
    assert set(cc["propagated"]) == {"NVDA", "MSFT"}
    d = res["covid_march_2020"].to_dict()
    assert d["basis"] == "session" and d["currency"] == "USD" and "NVDA" in d["by_asset"]
