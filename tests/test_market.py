"""MarketData on two bases: compounding crypto into sessions, carrying equities flat, NaN outside life."""

import numpy as np
import pandas as pd
import pytest

from computefolio.clock import sessions
from computefolio.data.market import MarketData
from computefolio.errors import DataError


@pytest.fixture
def toy():
    days = pd.date_range("2024-03-25", "2024-04-14")  # Good Friday 2024-03-29 is an XNYS holiday
    rng = np.random.default_rng(3)
    btc = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.03, len(days))), index=days)
    ses = sessions("XNYS", days[0], days[-1])
    spy = pd.Series(500 * np.cumprod(1 + rng.normal(0, 0.01, len(ses))), index=ses)
    late = spy.loc["2024-04-03":] * 0.1  # listed mid-window
    close = pd.DataFrame({"BTC": btc, "SPY": spy, "NEW": late})
    return MarketData(close, {"BTC": "24/7", "SPY": "XNYS", "NEW": "XNYS"}), btc, spy


def test_session_basis_compounds_crypto_over_weekends_and_holidays(toy):
    md, btc, _ = toy
    r = md.returns("session")
    assert r.attrs["periods_per_year"] == 252 and r.attrs["basis"] == "session"
    # Thursday 2024-03-28 -> Monday 2024-04-01 spans Good Friday and a weekend
    expected = btc["2024-04-01"] / btc["2024-03-28"] - 1
    assert r.loc["2024-04-01", "BTC"] == pytest.approx(expected, rel=1e-12)
    daily = btc.pct_change()
    assert (1 + daily.loc["2024-03-29":"2024-04-01"]).prod() - 1 == pytest.approx(expected, rel=1e-12)
    # the product of session returns equals the price ratio over the whole window
    ses = r["BTC"].dropna()
    assert (1 + ses).prod() == pytest.approx(btc[r.index[-1]] / btc[r.index[0]], rel=1e-12)


def test_calendar_basis_carries_equities_flat(toy):
    md, btc, spy = toy
    r = md.returns("calendar")
    assert r.attrs["periods_per_year"] == 365
    assert r.loc["2024-03-29", "SPY"] == 0.0  # Good Friday: closed, carried flat
    assert r.loc["2024-03-30", "SPY"] == 0.0 and r.loc["2024-03-31", "SPY"] == 0.0
    assert r.loc["2024-04-01", "SPY"] == pytest.approx(spy["2024-04-01"] / spy["2024-03-28"] - 1)
    assert (1 + r["SPY"].dropna()).prod() == pytest.approx(spy.iloc[-1] / spy.iloc[0], rel=1e-12)
    assert r.loc["2024-03-30", "BTC"] == pytest.approx(btc["2024-03-30"] / btc["2024-03-29"] - 1)


def test_late_listing_is_nan_never_zero(toy):
    md, _, _ = toy
    for basis in ("session", "calendar"):
        r = md.returns(basis)
        assert r.loc[:"2024-04-03", "NEW"].isna().all()
        assert r.loc["2024-04-04":, "NEW"].notna().any()
        p = md.prices(basis)
        assert p.loc[:"2024-04-02", "NEW"].isna().all()


def test_missing_bar_inside_life_stays_nan(toy):
    md, btc, spy = toy
    close = md.close.copy()
    close.loc["2024-04-09", "SPY"] = np.nan
    md2 = MarketData(close, md.calendars)
    r = md2.returns("session")
    assert np.isnan(r.loc["2024-04-09", "SPY"]) and np.isnan(r.loc["2024-04-10", "SPY"])


def test_long_round_trip_and_duplicate_rejection(toy):
    md, _, _ = toy
    long = md.to_long()
    md2 = MarketData.from_long(long, md.calendars)
    pd.testing.assert_frame_equal(md2.prices("session"), md.prices("session"), check_like=True)
    with pytest.raises(DataError, match="duplicated"):
        MarketData.from_long(pd.concat([long, long.iloc[:1]]), md.calendars)
    with pytest.raises(DataError, match="no calendar"):
        MarketData(md.close, {"BTC": "24/7"})


def test_data_hash_changes_with_data(toy):
    md, _, _ = toy
    h = md.data_hash()
    assert h == MarketData(md.close.copy(), dict(md.calendars)).data_hash()
    c = md.close.copy()
    c.iloc[5, 0] *= 1.0000001
    assert MarketData(c, md.calendars).data_hash() != h


def test_adv_in_currency_and_nan_without_volume(toy):
    md, _, _ = toy
    vol = md.close.notna().astype(float) * 1000.0
    md2 = MarketData(md.close, md.calendars, volume=vol.where(md.close.notna()))
    adv = md2.adv(window=5)
    assert adv["SPY"] == pytest.approx(1000.0 * md.prices("session")["SPY"].tail(5).mean(), rel=1e-9)
    assert md.adv().isna().all()


def test_venue_adv_counts_only_the_venues_own_bars(toy):
    md, _, _ = toy
    vol = md.close.notna().astype(float).where(md.close.notna()) * 1000.0
    md2 = MarketData(md.close, md.calendars, volume=vol)
    adv = md2.venue_adv(window=5)
    # SPY trades on XNYS sessions only: the mean over its last five sessions, no weekend zeros
    assert adv["SPY"] == pytest.approx(1000.0 * md.close["SPY"].dropna().tail(5).mean(), rel=1e-12)
    assert adv["BTC"] == pytest.approx(1000.0 * md.close["BTC"].dropna().tail(5).mean(), rel=1e-12)
    assert md.venue_adv().isna().all()
