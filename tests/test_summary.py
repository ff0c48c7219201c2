"""The by-layer market summary: baskets, both bases, correlations; against closed forms and
empyrical (the peer for annualized volatility)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.data.market import MarketData
from computefolio.data.sample import sample_market
from computefolio.errors import DataError
from computefolio.summary import basket_returns, group_summary, layer_summary

VOL_S, VOL_C = "vol_ann_session_252", "vol_ann_calendar_365"
CB, CQ = "corr_btc_daily_session", "corr_qqq_daily_session"


@pytest.fixture(scope="module")
def sample(universe):
    return sample_market(universe)


@pytest.fixture(scope="module")
def summary(sample, universe):
    return layer_summary(sample, universe)


def test_one_row_per_layer_with_named_units(summary, universe, sample):
    assert list(summary.index) == list(universe.layers)
    assert list(summary.columns) == ["name", "assets", "obs_session", VOL_S, VOL_C, CB, CQ]
    assert summary.attrs["simulated"] and summary.attrs["source"] == sample.label
    assert "session" in summary.attrs["basis_note"] and "365" in summary.attrs["basis_note"]
    # weighted counts: the membership column sums, total = number of assets
    m = universe.membership("layer")
    np.testing.assert_allclose(summary["assets"].to_numpy(), m.sum(axis=0).to_numpy())
    assert summary["assets"].sum() == pytest.approx(len(universe))
    assert summary.at["bitcoin_mining", "assets"] == pytest.approx(6.25)
    assert summary[[VOL_S, VOL_C, CB, CQ]].notna().all().all()


def test_basket_is_membership_weighted_equal_weight(sample, universe):
    b = basket_returns(sample, universe, "layer", "session")
    r = sample.returns("session")
    # broad_market = SPY and QQQ, equal weight
    np.testing.assert_allclose(b["broad_market"].to_numpy()[1:], ((r["SPY"] + r["QQQ"]) / 2).to_numpy()[1:],
                               rtol=1e-12)
    # ai_hosting today: 60/40-style weights, renormalized over members that have a return
    m = universe.membership("layer")["ai_hosting"]
    m = m[m > 0]
    day = pd.Timestamp("2025-09-17")
    x = r.loc[day, m.index]
    expected = float((x * m).sum() / m[x.notna()].sum())
    assert b.at[day, "ai_hosting"] == pytest.approx(expected, rel=1e-12)
    # before any member listed the basket is NaN, not 0
    early = basket_returns(sample.subset(["GLXY", "BTC"]), universe, "layer", "session")
    assert early.loc[:"2025-05-15", "ai_hosting"].isna().all()
    assert b.attrs["basis"] == "session" and b.attrs["periods_per_year"] == 252


def test_vols_match_empyrical_and_closed_form(summary, sample, universe):
    empyrical = pytest.importorskip("empyrical")
    bs = basket_returns(sample, universe, "layer", "session")
    bc = basket_returns(sample, universe, "layer", "calendar")
    for g in ("store_of_value", "chip_design", "ai_hosting", "decentralized_compute"):
        xs, xc = bs[g].dropna(), bc[g].dropna()
        # empyrical: sample std (ddof=1) x sqrt(252 for 'daily'); calendar via annualization=365
        assert summary.at[g, VOL_S] == pytest.approx(empyrical.annual_volatility(xs), rel=1e-12)
        assert summary.at[g, VOL_C] == pytest.approx(empyrical.annual_volatility(xc, annualization=365), rel=1e-12)
        assert summary.at[g, VOL_S] == pytest.approx(xs.std(ddof=1) * np.sqrt(252), rel=1e-12)


def test_both_bases_agree_and_correlations_make_sense(summary):
    ratio = summary[VOL_S] / summary[VOL_C]
    assert ratio.between(0.9, 1.1).all(), ratio
    assert summary.at["store_of_value", CB] > 0.9
    assert summary.at["broad_market", CQ] > 0.95
    assert summary.at["chip_design", CQ] > summary.at["chip_design", CB]
    assert summary.at["decentralized_compute", CB] > summary.at["decentralized_compute", CQ]
    assert summary.at["decentralized_compute", VOL_S] > summary.at["clouds_and_platforms", VOL_S]


def test_as_of_date_uses_that_days_classification(sample, universe, summary):
    s21 = layer_summary(sample, universe, date="2021-06-30")
    assert s21.attrs["date"] == "2021-06-30"
    # in mid-2021 no miner hosted AI yet; only Galaxy and CoreWeave (no history yet) and the private
    # stakes without a market (LAMBDA 1, AIDCF 0.15) carry ai_hosting
    assert s21.at["ai_hosting", "assets"] == pytest.approx(0.4 + 1.0 + 1.0 + 0.15)
    assert s21.at["bitcoin_mining", "assets"] > summary.at["bitcoin_mining", "assets"]
    assert s21["obs_session"].max() < summary["obs_session"].max()
    assert s21.at["ai_hosting", VOL_S] != s21.at["ai_hosting", VOL_S]   # GLXY not listed: NaN, not 0


def test_themes_and_missing_reference(sample, universe):
    t = group_summary(sample, universe, "theme")
    assert list(t.index) == list(universe.themes)
    assert t.at["bitcoin_beta", CB] > 0.7 > t.at["ai_training", CB]
    no_btc = group_summary(sample.subset(["NVDA", "QQQ"]), universe, "layer")
    assert no_btc[CB].isna().all() and no_btc.at["chip_design", CQ] > 0.5


def test_unknown_symbol_is_a_clear_error(sample, universe):
    close = sample.close[["BTC"]].rename(columns={"BTC": "DOGE"})
    m = MarketData(close=close, calendars={"DOGE": "24/7"})
    with pytest.raises(DataError, match="DOGE"):
        layer_summary(m, universe)


@pytest.mark.realdata
def test_layer_summary_on_real_data(real_market, universe):
    s = layer_summary(real_market.between("2019-01-01", "2025-12-31"), universe)
    assert not s.attrs["simulated"]
    assert s.at["store_of_value", CB] > 0.9 and s.at["broad_market", CQ] > 0.95
    ratio = s[VOL_S] / s[VOL_C]
    assert ratio.between(0.9, 1.1).all(), ratio
    # real BTC-QQQ (raw daily, session basis) sits between the regimes' extremes
    assert 0.2 < s.at["broad_market", CB] < 0.5


def test_cli_universe_summary_on_the_sample():
    from typer.testing import CliRunner

    from computefolio.cli import app

    res = CliRunner().invoke(app, ["universe", "summary", "--start", "2023-01-01", "--end", "2024-12-31"])
    assert res.exit_code == 0, res.output
    assert "bitcoin_mining" in res.output and "simulated" in res.output and "252" in res.output
    bad = CliRunner().invoke(app, ["universe", "summary", "--data", "/nonexistent/folder"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
