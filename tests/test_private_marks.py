"""Marks: one clear error per bad mark; the NAV between marks; CoreWeave across its IPO.

The CoreWeave test uses the shipped marks (public round prices, the IPO price) and, after the
listing, a SYNTHETIC price series: the shared real files have no CRWV prices and no real
price is invented here (the numbers below are made up for the test only).
"""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from computefolio.data.market import MarketData
from computefolio.errors import ConfigError, DataError
from computefolio.private.marks import Mark, Marks, check_mark
from computefolio.private.nav import Basket, mark_valuation
from computefolio.private.positions import load_private_book
from computefolio.private.sleeve import value_sleeve

D = dt.date
TODAY = D(2026, 1, 31)


def _m(**kw):
    base = {"symbol": "CO", "date": D(2025, 3, 31), "price": 10.0, "currency": "USD", "source": "funding_round",
            "reference": "term sheet"}
    base.update(kw)
    return Mark(**base)


@pytest.mark.parametrize("mark, field, words", [
    (_m(price=-3.0), "price", "a positive price"),
    (_m(price=0.0), "price", "a positive price"),
    (_m(price=float("nan")), "price", "a positive price"),
    (_m(date=D(2026, 3, 1)), "date", "not in the future"),
    (_m(reported=D(2025, 3, 1)), "reported", "on or after the valuation date"),
    (_m(reported=D(2026, 6, 30)), "reported", "not in the future"),
    (_m(currency="EUR"), "currency", "USD, the currency of CO"),
    (_m(date=D(2024, 12, 31)), "date", "a mark before the position exists"),
    (_m(source="rumour"), "source", "one of funding_round"),
])
def test_each_bad_mark_gets_one_clear_error(mark, field, words):
    with pytest.raises(DataError) as e:
        check_mark(mark, currency="USD", inception=D(2025, 1, 1), today=TODAY, where="marks.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("marks.yaml: CO mark of")
    assert f"field '{field}'" in msg and words in msg


def test_two_marks_on_one_date_are_refused():
    with pytest.raises(DataError, match="one mark per symbol and date"):
        Marks([_m(), _m(price=11.0)])


def test_marks_from_records_check_every_mark():
    recs = [{"symbol": "CO", "date": "2025-03-31", "price": 10, "source": "funding_round"},
            {"symbol": "CO", "date": "2025-06-30", "price": "abc", "source": "funding_round"}]
    with pytest.raises(DataError, match=r"CO mark of 2025-06-30: field 'price': a number, got 'abc'"):
        Marks.from_records(recs, today=TODAY)
    ok = Marks.from_records(recs[:1], today=TODAY)
    assert ok.last("CO", "2025-04-01").price == 10.0 and ok.last("CO", "2025-03-30") is None


def _write_book(tmp_path, marks_yaml: str, position_extra: str = "") -> str:
    p = tmp_path / "private.yaml"
    p.write_text(f"""name: t
positions:
  - id: lam
    symbol: LAMBDA
    quantity: 0.001
    acquired: 2025-02-19
    cost: 2.5e9
{position_extra}marks:
{marks_yaml}
""", encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("mark, words", [
    ("{symbol: LAMBDA, date: 2025-06-30, price: -1, source: funding_round}", "field 'price': a positive price"),
    ("{symbol: LAMBDA, date: 2099-06-30, price: 3.0e9, source: funding_round}", "field 'date': not in the future"),
    ("{symbol: LAMBDA, date: 2025-06-30, price: 3.0e9, currency: EUR, source: funding_round}",
     "field 'currency': USD, the currency of LAMBDA"),
    ("{symbol: LAMBDA, date: 2024-06-30, price: 1.0e9, source: funding_round}",
     "field 'date': on or after 2025-02-19, when the position was first acquired"),
])
def test_bad_marks_in_a_positions_file_name_the_file_mark_and_field(tmp_path, universe, mark, words):
    path = _write_book(tmp_path, f"  - {mark}")
    with pytest.raises(DataError) as e:
        load_private_book(path, universe=universe)
    msg = str(e.value)
    assert msg.startswith(path) and "LAMBDA mark of" in msg and words in msg and "\n" not in msg


def test_positions_file_schema_errors_are_one_line(tmp_path, universe):
    path = _write_book(tmp_path, "  []")
    bad = path.replace("private.yaml", "bad.yaml")
    text = Path(path).read_text().replace("quantity: 0.001", "quantity: -1")
    Path(bad).write_text(text)
    with pytest.raises(ConfigError, match=r"bad.yaml, line 5: position LAMBDA: field 'quantity': more than 0"):
        load_private_book(bad, universe=universe)
    unknown = path.replace("private.yaml", "unknown.yaml")
    Path(unknown).write_text(Path(path).read_text().replace("symbol: LAMBDA", "symbol: NOPE"))
    with pytest.raises(ConfigError, match="position lam: field 'symbol': an asset of universe"):
        load_private_book(unknown, universe=universe)


# ---------------------------------------------------------------- the NAV between marks
def _basket_prices():
    days = pd.bdate_range("2025-01-01", "2025-12-31")
    t = np.arange(len(days))
    return pd.DataFrame({"P1": 100 * np.exp(0.001 * t), "P2": 50 * np.exp(-0.0005 * t)}, index=days)


def test_last_mark_is_carried_with_its_age_and_trued_up_when_the_next_arrives():
    marks = [_m(date=D(2025, 3, 31), price=10.0), _m(date=D(2025, 6, 30), price=12.0, reported=D(2025, 8, 14))]
    days = pd.date_range("2025-03-31", "2025-09-30")
    mv = mark_valuation("CO", marks, days, policy="last_mark")
    f = mv.frame
    assert f.at[pd.Timestamp("2025-03-31"), "method"] == "mark"
    assert f.at[pd.Timestamp("2025-08-13"), "price"] == 10.0           # Q2 mark not reported yet
    assert f.at[pd.Timestamp("2025-08-13"), "age_days"] == 135
    assert f.at[pd.Timestamp("2025-08-14"), "price"] == 12.0
    assert f.at[pd.Timestamp("2025-08-14"), "age_days"] == 45          # age from the valuation date
    assert f["price"].notna().all()
    t = mv.trueups.iloc[0]
    assert t["date"] == pd.Timestamp("2025-08-14") and t["previous"] == 10.0 and t["new"] == 12.0
    assert t["trueup_pct"] == pytest.approx(0.2)


def test_roll_forward_follows_the_basket_with_beta():
    bp = _basket_prices()
    b = Basket({"P1": 0.6, "P2": 0.4}, beta=1.5)
    marks = [_m(date=D(2025, 3, 31), price=10.0), _m(date=D(2025, 9, 30), price=9.0)]
    days = pd.bdate_range("2025-03-31", "2025-12-31")
    mv = mark_valuation("CO", marks, days, policy="roll_forward", basket=b, basket_prices=bp)
    q, t = pd.Timestamp("2025-03-31"), pd.Timestamp("2025-07-15")
    ratio = 0.6 * bp.at[t, "P1"] / bp.at[q, "P1"] + 0.4 * bp.at[t, "P2"] / bp.at[q, "P2"]
    assert mv.frame.at[t, "price"] == pytest.approx(10.0 * ratio ** 1.5, rel=1e-12)
    assert mv.frame.at[t, "method"] == "roll_forward"
    # the true-up at the next mark: rolled estimate vs the new mark
    q2 = pd.Timestamp("2025-09-30")
    r2 = 0.6 * bp.at[q2, "P1"] / bp.at[q, "P1"] + 0.4 * bp.at[q2, "P2"] / bp.at[q, "P2"]
    tu = mv.trueups.iloc[0]
    assert tu["previous"] == pytest.approx(10.0 * r2 ** 1.5) and tu["new"] == 9.0
    assert mv.frame.at[q2, "price"] == 9.0 and mv.frame.at[q2, "method"] == "mark"


def test_coreweave_is_valued_by_mark_before_its_ipo_and_by_price_after_without_a_gap(universe):
    """Shipped CoreWeave marks (public rounds, USD 40.00 IPO price) + a synthetic post-IPO series."""
    book = load_private_book(universe=universe)
    pos = book.position("crwv_series_c")
    assert universe.asset("CRWV").listed == D(2025, 3, 28)
    crwv = [m for m in book.get_marks(universe=universe).of("CRWV")]
    assert [(m.date, m.price, m.source) for m in crwv][-1] == (D(2025, 3, 27), 40.0, "ipo_price")
    sess = pd.bdate_range("2024-01-02", "2025-12-31")
    # synthetic, for this test only: the listed peers drift, CRWV trades from 2025-03-28
    rng = np.random.default_rng(0)
    close = pd.DataFrame({s: 20 * np.exp(np.cumsum(rng.normal(0, 0.02, len(sess)))) for s in
                          ("IREN", "CORZ", "ORCL", "NVDA", "RENDER")}, index=sess)
    listed = sess >= pd.Timestamp("2025-03-28")
    close["CRWV"] = np.where(listed, 41.0 * np.exp(np.cumsum(np.where(listed, rng.normal(0, 0.04, len(sess)), 0))),
                             np.nan)
    m = MarketData(close=close, calendars={s: universe.asset(s).calendar for s in close.columns})
    one = book.model_copy(update={"positions": [pos], "tokens": {},
                                  "marks": [m for m in book.marks if m.symbol == "CRWV"]})
    one._file = "test"
    for policy in ("last_mark", "roll_forward"):
        sv = value_sleeve(one, m, universe, sess[sess >= "2024-05-01"], policy=policy)
        v = sv.values["crwv_series_c"]
        meth = sv.methods["CRWV"]
        assert v.notna().all() and (v > 0).all()                      # no gap from acquisition on
        pre, post = v.index < "2025-03-28", v.index >= "2025-03-28"
        assert set(meth[pre]) <= {"mark", "last_mark", "roll_forward"} and (meth[post] == "market").all()
        assert v.loc["2025-03-27"] == pytest.approx(pos.quantity * 40.0)            # the IPO mark
        assert v.loc["2025-03-28"] == pytest.approx(pos.quantity * close.at[pd.Timestamp("2025-03-28"), "CRWV"])
        assert v.loc["2025-12-31"] == pytest.approx(pos.quantity * close["CRWV"].iloc[-1])
        tu = sv.trueups()
        lst = tu[tu["kind"] == "listing"].iloc[0]
        assert lst["date"] == pd.Timestamp("2025-03-28")
        assert lst["new"] == pytest.approx(close.at[pd.Timestamp("2025-03-28"), "CRWV"])
        # the policy's estimate that day: the IPO mark (rolled one day on the basket under roll_forward)
        assert lst["previous"] == pytest.approx(40.0, rel=0 if policy == "last_mark" else 0.05)
        if policy == "last_mark":
            assert v.loc["2024-11-12"] == pytest.approx(pos.quantity * 33.04)
            assert v.loc["2024-11-13"] == pytest.approx(pos.quantity * 40.0)
    # the same position without any CRWV price after the listing (the real shared files): marks go on, said
    m2 = MarketData(close=close.drop(columns="CRWV"), calendars={s: universe.asset(s).calendar
                                                                  for s in close.columns if s != "CRWV"})
    sv = value_sleeve(one, m2, universe, sess[sess >= "2024-05-01"], policy="last_mark")
    assert sv.values["crwv_series_c"].loc["2025-12-31"] == pytest.approx(pos.quantity * 40.0)
    assert any("listed on 2025-03-28 but the market has no price" in n for n in sv.notes)
