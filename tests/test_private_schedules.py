"""Lock-ups and vesting as data, and the liquidity ladder that honours them.

Conventions: horizons of the ladder in calendar days; a unit unlocked "on D" can be sold on D;
values in USD on a capital of 100m; the market absorbs participation x ADV per trading day of
the asset's own venue.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from computefolio.data.market import MarketData
from computefolio.private.schedules import (
    Cliff,
    Gate,
    IpoLockup,
    Linear,
    Step,
    Terms,
    TokenSupply,
    locked_value_by_month,
    unlocked_units,
)
from computefolio.risk.liquidity import Access, liquidity

D = dt.date


def _market(end="2026-03-31"):
    """A token (24/7) and a stock (XNYS) that trade a lot: the market absorbs any position in a day."""
    days = pd.date_range("2024-01-01", end, freq="D")
    close = pd.DataFrame({"TOK": 10.0, "AAA": 50.0}, index=days)
    sess = pd.DatetimeIndex(pd.bdate_range("2024-01-01", end))
    close.loc[~close.index.isin(sess), "AAA"] = np.nan
    vol = pd.DataFrame({"TOK": 1e11, "AAA": 1e10}, index=days).where(close.notna())
    return MarketData(close=close, volume=vol, calendars={"TOK": "24/7", "AAA": "XNYS"})


def test_sections_unlock_exactly():
    cliff = Cliff(date=D(2025, 1, 1), fraction=0.25)
    step = Step(start=D(2025, 2, 1), every_months=1, count=24, fraction=0.75)
    lin = Linear(start=D(2025, 1, 1), end=D(2025, 1, 11), amount=100.0)
    q = 1_000_000
    assert unlocked_units([cliff, step], D(2024, 12, 31), q) == 0
    assert unlocked_units([cliff, step], D(2025, 1, 1), q) == 250_000          # on the cliff date
    assert unlocked_units([cliff, step], D(2025, 2, 1), q) == 250_000 + 31_250  # first step on its date
    assert unlocked_units([cliff, step], D(2025, 12, 31), q) == pytest.approx(250_000 + 11 * 31_250)
    assert unlocked_units([cliff, step], D(2027, 1, 1), q) == pytest.approx(q)
    assert step.dates()[-1] == D(2027, 1, 1)
    assert unlocked_units([lin], D(2025, 1, 1)) == 0 and unlocked_units([lin], D(2025, 1, 4)) == pytest.approx(30.0)
    assert unlocked_units([lin], D(2025, 1, 11)) == 100.0 and unlocked_units([lin], D(2026, 1, 1)) == 100.0


def test_terms_validate_their_fields():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of 'amount'"):
        Cliff(date=D(2025, 1, 1))
    with pytest.raises(ValidationError, match="after start"):
        Linear(start=D(2025, 1, 1), end=D(2025, 1, 1), amount=1.0)
    with pytest.raises(ValidationError, match="every_months"):
        Step(start=D(2025, 1, 1), count=3, amount=1.0)
    with pytest.raises(ValidationError, match="on or after the listing"):
        IpoLockup(listing=D(2025, 3, 28), release=D(2025, 3, 1))
    assert IpoLockup(listing=D(2025, 3, 28)).until == D(2025, 9, 24)      # listing + 180 days
    assert IpoLockup(listing=D(2025, 3, 28), release=D(2025, 8, 15)).until == D(2025, 8, 15)


def test_vesting_reduces_the_30_day_liquid_share_by_exactly_the_locked_amount():
    m = _market()
    asof = pd.Timestamp("2025-06-30")
    w = pd.Series({"TOK": 0.4, "AAA": 0.4})                 # 20% cash
    terms = Terms(vesting=[Cliff(date=D(2025, 1, 1), fraction=0.25),
                           Step(start=D(2025, 2, 1), every_months=1, count=24, fraction=0.75)])
    q = 4_000_000.0                                          # the grant: 40m at 10
    base = liquidity(w, m, capital=1e8, asof=asof)
    acc = {"TOK": Access(unlocked=lambda t: terms.unlocked_fraction(q, t), market=True)}
    lk = liquidity(w, m, capital=1e8, asof=asof, access=acc)
    gross = 0.8e8
    locked30 = 0.4e8 * (1 - terms.unlocked_fraction(q, asof + pd.Timedelta(days=30)))
    assert locked30 == pytest.approx(0.4e8 * 0.75 * 18 / 24)  # 6 of 24 monthly steps done by 2025-07-30
    assert base.ladder.at[30, "liquid_share"] == pytest.approx(1.0, abs=1e-12)
    assert lk.ladder.at[30, "liquid_share"] == pytest.approx(base.ladder.at[30, "liquid_share"] - locked30 / gross,
                                                             abs=1e-12)
    assert lk.ladder.at[30, "unlocked"] == pytest.approx(gross - locked30)
    # the ladder never exceeds what is unlocked nor what the market absorbs
    assert (lk.ladder["liquid"] <= lk.ladder[["market", "unlocked"]].min(axis=1) + 1e-6).all()
    assert (lk.ladder["liquid_share"].diff().dropna() >= -1e-12).all()   # more time, never less liquid
    assert lk.ladder.at[365, "liquid_share"] == pytest.approx(1 - 0.4 * 0.75 * 7 / 24 / 0.8)  # 17 steps by 2026-06-30


def test_a_position_past_its_unlock_date_is_liquid_that_day():
    m = _market()
    lock = Terms(ipo_lockup=IpoLockup(listing=D(2025, 3, 28), release=D(2025, 8, 15)))
    q = 1e6
    assert lock.unlocked_fraction(q, D(2025, 8, 14)) == 0.0
    assert lock.unlocked_fraction(q, D(2025, 8, 15)) == 1.0
    acc = {"AAA": Access(unlocked=lambda t: lock.unlocked_fraction(q, t), market=True)}
    w = pd.Series({"AAA": 0.5})
    before = liquidity(w, m, capital=1e8, asof="2025-08-13", access=acc)
    eve = liquidity(w, m, capital=1e8, asof="2025-08-14", access=acc)
    day = liquidity(w, m, capital=1e8, asof="2025-08-15", access=acc)
    assert before.ladder.at[1, "liquid"] == 0.0           # on 2025-08-14 still locked
    assert eve.ladder.at[1, "liquid"] == pytest.approx(0.5e8)  # sold on 2025-08-15, the release day
    assert day.liquid_share[1] == pytest.approx(1.0)      # as of the release day: unlocked, one session sells it
    assert day.ladder.at[1, "unlocked"] == pytest.approx(0.5e8)
    assert day.ladder.at[1, "liquid"] == 0.0              # a Friday: no XNYS session within one calendar day
    assert day.ladder.at[7, "liquid_share"] == pytest.approx(1.0)
    assert eve.liquid_share[1] == pytest.approx(1.0)      # one trading day after 08-14 is 08-15
    assert before.liquid_share[1] == 0.0


def test_no_market_and_a_fund_gate():
    m = _market()
    gate = Gate(frequency="quarterly", notice_days=90, max_fraction=0.25)
    asof = pd.Timestamp("2025-01-15")
    assert gate.redeemable(asof, 30) == 0.0
    assert gate.redeemable(asof, 180) == 0.25          # 2025-06-30
    assert gate.redeemable(asof, 365) == 0.75          # 06-30, 09-30, 12-31
    assert Gate(frequency="monthly", notice_days=0, max_fraction=0.5).redeemable(asof, 60) == 1.0
    locked = Gate(lockup_until=D(2025, 12, 31), notice_days=0)
    assert locked.redeemable(asof, 365) == 0.25        # only 2025-12-31 after the lock-up
    acc = {"AAA": Access(unlocked=lambda t: 1.0, market=False, redeem=lambda h: gate.redeemable(asof, h),
                         note="fund interest"),
           "TOK": Access(unlocked=lambda t: 1.0, market=False, note="private: no market")}
    rep = liquidity(pd.Series({"AAA": 0.5, "TOK": 0.5}), m, capital=1e8, asof=asof, access=acc)
    assert rep.ladder.at[30, "liquid"] == 0.0
    assert rep.ladder.at[180, "liquid"] == pytest.approx(0.25 * 0.5e8)
    assert rep.ladder.at[365, "liquid"] == pytest.approx(0.75 * 0.5e8)
    assert rep.table.at["TOK", "note"] == "private: no market" and np.isnan(rep.table.at["TOK", "days"])
    d = rep.to_dict()
    assert d["ladder"][2]["horizon_days"] == 30 and "smaller of" in d["ladder_rule"]


def test_token_overhang_is_a_share_of_circulating_supply():
    ts = TokenSupply(circulating=5.2e8, as_of=D(2025, 6, 30), source="test",
                     unlocks=[Linear(start=D(2025, 1, 1), end=D(2027, 1, 1), amount=4.0e7),
                              Cliff(date=D(2026, 2, 1), amount=1.5e7)])
    per_day = 4.0e7 / 730
    oh = ts.overhang("2025-06-30")
    assert oh[30] == pytest.approx(30 * per_day / 5.2e8)
    assert oh[90] == pytest.approx(90 * per_day / 5.2e8)
    oh2 = ts.overhang("2026-01-15")
    circ = 5.2e8 + per_day * (pd.Timestamp("2026-01-15") - pd.Timestamp("2025-06-30")).days
    assert oh2[30] == pytest.approx((30 * per_day + 1.5e7) / circ)


def test_locked_value_by_month():
    terms = {"g": Terms(vesting=[Cliff(date=D(2025, 9, 1), fraction=0.5), Cliff(date=D(2025, 11, 1), fraction=0.5)]),
             "s": Terms()}
    out = locked_value_by_month(pd.Series({"g": 100.0, "s": 50.0}), terms, pd.Series({"g": 10.0, "s": 1.0}),
                                "2025-07-15", months=6)
    assert list(out.index.strftime("%Y-%m-%d")) == ["2025-07-31", "2025-08-31", "2025-09-30", "2025-10-31",
                                                    "2025-11-30", "2025-12-31"]
    assert list(out["g"]) == [100.0, 100.0, 50.0, 50.0, 0.0, 0.0]
    assert (out["s"] == 0).all()
