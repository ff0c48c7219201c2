"""The two clocks: exchange sessions vs every day, and periods per year derived from them."""

import pandas as pd
import pytest

from computefolio import clock


def test_periods_per_year_derived_from_calendars():
    assert clock.periods_per_year("session") == 252
    assert clock.periods_per_year("calendar") == 365


def test_bad_basis_is_rejected():
    with pytest.raises(ValueError, match="session.*calendar"):
        clock.periods_per_year("weekly")


def test_xnys_sessions_skip_weekends_and_holidays():
    s = clock.sessions("XNYS", "2024-07-01", "2024-07-08")
    # 4 July 2024 (Independence Day) and the weekend are closed
    assert list(s.strftime("%m-%d")) == ["07-01", "07-02", "07-03", "07-05", "07-08"]
    assert not clock.is_session("XNYS", [pd.Timestamp("2024-07-04")])[0]


def test_crypto_trades_every_day():
    s = clock.sessions(clock.CRYPTO, "2024-07-01", "2024-07-08")
    assert len(s) == 8
    assert clock.is_session(clock.CRYPTO, s).all()


def test_basis_label_states_everything():
    assert clock.basis_label("calendar", "USD") == "calendar basis (every day, 365/yr), USD"
    assert "252/yr" in clock.basis_label("session")
