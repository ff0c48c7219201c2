"""P&L net of external flows (:mod:`computefolio.book.pnl`), against closed forms.

A book funded with cash, buying bitcoin, receiving a second deposit and paying a
withdrawal: the daily P&L must be units x price change (a deposit is not a profit), the
daily return P&L / (NAV before + flow), the month and year to date the sums and chained
products of the days. Tolerance 1e-9 relative (floating point only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.book import Account, BookStore
from computefolio.book.pnl import daily_pnl, flows, pnl_summary
from computefolio.data.market import MarketData
from computefolio.universe import load_universe


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    u = load_universe()
    days = pd.date_range("2025-05-25", "2025-07-05")
    px = 100_000 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.02, len(days))))
    m = MarketData.from_long(pd.DataFrame({"date": days, "symbol": "BTC", "close": px, "volume": 1e6}),
                             u.calendars, source="test")
    p = pd.Series(px, index=days)
    path = tmp_path_factory.mktemp("pnl") / "s.duckdb"
    with BookStore(path) as bs:
        bs.append([
            {"date": "2025-05-28", "kind": "deposit", "account": "x", "amount": 1_000_000, "currency": "USDT"},
            {"date": "2025-05-28", "kind": "buy", "account": "x", "symbol": "BTC", "quantity": 5, "price": p["2025-05-28"]},
            {"date": "2025-06-10", "kind": "deposit", "account": "x", "amount": 250_000, "currency": "USDT"},
            {"date": "2025-06-20", "kind": "deposit", "account": "x", "symbol": "BTC", "quantity": 1},
            {"date": "2025-07-01", "kind": "withdrawal", "account": "x", "amount": 100_000, "currency": "USDT"},
            {"date": "2025-07-02", "kind": "fee", "account": "x", "amount": 50, "currency": "USDT"},
        ], accounts=[Account("x", "exchange", "binance", "USDT", (), 0.0, "x")], universe=u)
        e = bs.entries()
    return e, m, p


def test_daily_pnl_is_units_times_price_change(book):
    e, m, p = book
    d = daily_pnl(e, m, end="2025-07-05")
    units = pd.Series(0.0, index=d.index)
    units[units.index >= "2025-05-28"] = 5.0
    units[units.index >= "2025-06-20"] = 6.0
    # BTC held from the day before, valued at the close; fees lose money; the in-kind deposit is a flow
    exp = units.shift(1).fillna(0.0) * p.reindex(d.index).diff().fillna(0.0)
    exp["2025-07-02"] -= 50.0
    np.testing.assert_allclose(d["pnl"].to_numpy(), exp.to_numpy(), rtol=1e-9, atol=1e-6)
    f = flows(e, m, d.index)
    assert f["2025-05-28"] == pytest.approx(1_000_000) and f["2025-06-10"] == pytest.approx(250_000)
    assert f["2025-06-20"] == pytest.approx(p["2025-06-20"]) and f["2025-07-01"] == pytest.approx(-100_000)
    assert f.drop(pd.to_datetime(["2025-05-28", "2025-06-10", "2025-06-20", "2025-07-01"])).abs().max() == 0
    # daily return = P&L / (NAV before + flow)
    prev = d["nav"].shift(1).fillna(0.0)
    np.testing.assert_allclose(d["return"].dropna(), (d["pnl"] / (prev + d["flow"])).dropna(), rtol=1e-12)


def test_period_sums_and_chains(book):
    e, m, _ = book
    d = daily_pnl(e, m, end="2025-07-05")
    s = pnl_summary(d, "2025-07-05")
    assert s["today"]["pnl"] == pytest.approx(d["pnl"].iloc[-1]) and s["today"]["from"] == "2025-07-04"
    july = d.loc["2025-07-01":"2025-07-05"]
    assert s["mtd"]["pnl"] == pytest.approx(july["pnl"].sum()) and s["mtd"]["days"] == 5
    assert s["mtd"]["return"] == pytest.approx(np.prod(1 + july["return"].to_numpy()) - 1, rel=1e-12)
    ytd = d.loc["2025-01-01":"2025-07-05"]
    assert s["ytd"]["pnl"] == pytest.approx(ytd["pnl"].sum())
    # NAV = flows in + P&L, to the cent: the deposits are not profit
    assert d["nav"].iloc[-1] == pytest.approx(d["flow"].sum() + d["pnl"].sum(), abs=1e-6)
    assert d["flow"].sum() > 1_150_000 + 90_000
