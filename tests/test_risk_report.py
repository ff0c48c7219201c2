"""Drawdown, liquidity, proxies, decomposition and the whole report (sample and real data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from computefolio.risk.decompose import aggregate, risk_decomposition, volatility_contributions
from computefolio.risk.drawdown import drawdown_stats
from computefolio.risk.liquidity import liquidity
from computefolio.risk.proxies import proxy_fill
from computefolio.risk.report import SCHEMA, risk_report
from computefolio.risk.var import value_at_risk
from conftest import make_returns


def test_drawdown_known_path():
    idx = pd.bdate_range("2024-01-01", periods=6)
    r = pd.Series([0.10, -0.20, -0.10, 0.05, 0.40, -0.01], index=idx)
    r.attrs.update(basis="session", periods_per_year=252)
    s = drawdown_stats(r)
    wealth = np.cumprod(1 + r.to_numpy())
    assert abs(s.max_drawdown - (wealth[2] / wealth[0] - 1)) < 1e-12
    assert s.peak == "2024-01-01" and s.trough == "2024-01-03" and s.recovery == "2024-01-05"
    assert s.peak_to_trough_periods == 2 and s.recovery_periods == 2


def test_volatility_contributions_sum():
    r = make_returns(400, 6, seed=2)
    w = pd.Series(np.linspace(0.05, 0.3, 6), index=r.columns)
    cov = r.cov()
    c = volatility_contributions(w, cov, 252)
    assert abs(c.sum() - np.sqrt(w @ cov @ w * 252)) < 1e-12


def test_decomposition_weighted_membership(universe):
    """A 60/40 miner splits its contribution 60/40 between layers."""
    r = make_returns(300, 3, seed=4)
    r.columns = ["HUT", "NVDA", "BTC"]
    w = pd.Series({"HUT": 0.3, "NVDA": 0.3, "BTC": 0.4})
    es = value_at_risk(w, r, method="historical", confidence=0.95)
    d = risk_decomposition(w, r, universe, es=es)
    hut = d.by_asset.loc["HUT"]
    lay = d.by_group["layer"]
    nv_chip = d.by_asset.loc["NVDA", "vol_contribution"]
    assert abs(lay.loc["ai_hosting", "vol_contribution"] - 0.4 * hut["vol_contribution"]) < 1e-12
    assert abs(lay.loc["bitcoin_mining", "vol_contribution"] - 0.6 * hut["vol_contribution"]) < 1e-12
    assert abs(lay.loc["chip_design", "vol_contribution"] - nv_chip) < 1e-12
    assert abs(lay["vol_contribution"].sum() - d.volatility) < 1e-12
    assert abs(lay["es_contribution"].sum() - es.es_pct) < 1e-10
    assert abs(d.by_group["sleeve"]["es_contribution"].sum() - es.es_pct) < 1e-10
    assert abs(aggregate(pd.Series({"HUT": 1.0}), universe, "layer").sum() - 1.0) < 1e-12


def test_proxy_fill_uses_chain(universe):
    r = make_returns(100, 3, seed=5)
    r.columns = ["ETH", "RENDER", "AKT"]
    r.iloc[:60, 2] = np.nan  # AKT young; proxy RENDER
    r.iloc[:30, 1] = np.nan  # RENDER young; proxy ETH
    f, notes = proxy_fill(r, universe, ["AKT"])
    assert (f["AKT"].iloc[30:60] == r["RENDER"].iloc[30:60]).all()
    assert (f["AKT"].iloc[1:30] == r["ETH"].iloc[1:30]).all()
    assert "RENDER" in notes["AKT"] and "ETH" in notes["AKT"]


@pytest.fixture(scope="module")
def sample(universe):
    from computefolio.data.sample import sample_market

    return sample_market(universe, start="2021-01-01", end="2024-12-31", seed=7)


def test_liquidity_days_and_shares(sample, universe):
    w = pd.Series({"BTC": 0.5, "NVDA": 0.3, "AKT": 0.2})
    liq = liquidity(w, sample, universe, capital=100e6, participation=0.1)
    t = liq.table
    from computefolio.risk.liquidity import native_adv

    adv = native_adv(sample)
    assert abs(t.loc["AKT", "days"] - 20e6 / (0.1 * adv["AKT"])) < 1e-9
    assert 0 <= liq.liquid_share[1] <= liq.liquid_share[5] <= liq.liquid_share[20] <= 1


def test_report_on_sample_market(sample, universe):
    w = pd.Series({"BTC": 0.2, "ETH": 0.1, "TAO": 0.05, "NVDA": 0.2, "HUT": 0.1, "MSFT": 0.15, "QQQ": 0.1})
    rep = risk_report(w, sample, universe, confidence=0.99, horizon=1, n_sims=5000, lookback=504)
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["schema"] == SCHEMA
    assert d["meta"]["simulated"] is True and any("SIMULATED" in x for x in d["warnings"])
    assert set(d["var"]) == {"historical", "gaussian", "cornish_fisher", "filtered_historical", "monte_carlo"}
    for v in d["var"].values():
        assert abs(sum(c["es_pct"] for c in v["contributions"].values()) - v["es_pct"]) < 1e-10
    assert {"layer", "theme", "sleeve"} <= set(d["contributions"]["by_group"])
    names = {s["name"] for s in d["stress"]}
    assert "deepseek_jan_2025" in names and "ai_capex_cut" in names
    assert d["liquidity"]["liquid_share"]["20"] >= d["liquidity"]["liquid_share"]["1"]
    assert d["correlation"]["pairs"][0]["a"] == "BTC"


def test_report_on_real_data(real_market, universe):
    w = pd.Series({"NVDA": 0.2, "BTC": 0.3, "SOL": 0.1, "MSFT": 0.2, "GLXY": 0.1, "QQQ": 0.1})
    # as of the last date the crypto files have (the data run on to 2026-07-31 for equities only)
    rep = risk_report(w, real_market, universe, n_sims=5000, dcc=False, asof="2026-01-02")
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    assert "GLXY" in d["meta"]["history_fill"]
    assert d["var"]["historical"]["n_observations"] == 756
    assert d["meta"]["asof"] == "2026-01-02" and not d["meta"]["stale"]
    # as of the data's end, BTC and SOL are stale: held at their last price, listed with their age
    late = risk_report(w, real_market, universe, methods=("historical",), dcc=False, pairs=()).to_dict()
    assert late["meta"]["asof"] == "2026-07-31"
    assert late["meta"]["stale"]["BTC"]["last"] == "2026-01-02" and "SOL" in late["meta"]["stale"]
    ds = next(s for s in d["stress"] if s["name"] == "deepseek_jan_2025")
    assert -0.19 < ds["by_asset"]["NVDA"]["return"] < -0.15
