"""A 60/40 QQQ + BTC book on the real shared data, valued on both clocks.

Why the two clocks must agree: both books rebalance on the same dates (month-end XNYS
sessions, ``Calendar("monthly", clock="session")``) at the same prices (QQQ's session
close, BTC's close of the same date label), so they hold the same units and are worth
the same on every session; the calendar book merely also marks BTC on weekends. Hence

* total return: equal to float rounding (1e-12);
* CAGR over elapsed calendar time: differs only through the length of the first
  period (1 day vs 365.25/252 days) and a start one day apart (2018-01-01 is a
  holiday), at most ~2 days in ~2,900: |d CAGR| <= (1 + CAGR) ln(1 + CAGR) x 2 / days
  (~1e-4 here); we assert that bound;
* per-period annualized return (empyrical's convention, years = periods / ppy):
  differs only because 252 and 365 are rounded averages; the test checks that it is
  exactly ``(1 + total) ** (ppy / n) - 1`` on each basis and within the bound implied
  by the two year counts.

And the calendar-basis volatility is annualized with 365, the session-basis with 252.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio import metrics as M
from computefolio.backtest import Calendar, FixedWeights, Policy, backtest, load_costs, simulate
from computefolio.data.sources import load_folder, read_long

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def qqq_btc(shared_dir):
    return load_folder(shared_dir, {"QQQ": "XNYS", "BTC": "24/7"}, symbols=["QQQ", "BTC"],
                       start="2018-01-01", end="2025-12-31")


@pytest.fixture(scope="module")
def books(qqq_btc):
    # default fees and spreads; no impact, whose sigma and ADV are per period of each basis
    costs = load_costs().model_copy(update={"impact_k": 0.0})
    pol = {b: Policy(FixedWeights({"QQQ": 0.6, "BTC": 0.4}), Calendar("monthly", clock="session"),
                     basis=b, min_history=0) for b in ("session", "calendar")}
    return {b: backtest(p, qqq_btc, costs=costs, venues={"QQQ": "NASDAQ", "BTC": "binance"})
            for b, p in pol.items()}


def test_same_book_on_both_clocks(books):
    s, c = books["session"], books["calendar"]
    assert s.periods_per_year == 252 and c.periods_per_year == 365
    # identical trades, identical value on every session
    cols = ["date", "symbol", "quantity", "price", "cost"]
    ts, tc = (r.trades[cols].assign(date=r.trades["date"].astype("datetime64[ns]")) for r in (s, c))
    pd.testing.assert_frame_equal(ts, tc, check_exact=False, rtol=1e-12)
    common = s.equity.index.intersection(c.equity.index)
    assert np.max(np.abs(s.equity[common] / c.equity[common] - 1)) < 1e-12
    assert (c.equity.index.day_of_week >= 5).any()


def test_annualized_return_agrees_within_the_stated_bound(books):
    s, c = books["session"], books["calendar"]
    ms, mc = s.metrics(), c.metrics()
    assert ms["periods_per_year"] == 252 and mc["periods_per_year"] == 365
    assert ms["total_return"] == pytest.approx(mc["total_return"], rel=1e-12)
    days = (s.equity.index[-1] - s.equity.index[0]).days
    g = ms["cagr"]
    bound = (1 + g) * np.log(1 + g) * 2.0 / days
    assert abs(ms["cagr"] - mc["cagr"]) <= bound
    assert ms["cagr"] > 0.1  # a real, large number: QQQ + BTC 2018-2025
    for m, res in ((ms, s), (mc, c)):
        n = len(res.returns)
        assert m["annual_return"] == pytest.approx((1 + m["total_return"]) ** (res.periods_per_year / n) - 1,
                                                   rel=1e-12)
    ys, yc = len(s.returns) / 252, len(c.returns) / 365
    lr = np.log(1 + ms["total_return"])
    implied = abs(np.exp(lr / ys) - np.exp(lr / yc))
    assert abs(ms["annual_return"] - mc["annual_return"]) == pytest.approx(implied, rel=1e-9)
    assert implied < 0.01


def test_volatility_uses_the_basis_periods(books):
    s, c = books["session"], books["calendar"]
    vs, vc = s.metrics()["volatility"], c.metrics()["volatility"]
    assert vs == pytest.approx(np.std(s.returns, ddof=1) * np.sqrt(252), rel=1e-12)
    assert vc == pytest.approx(np.std(c.returns, ddof=1) * np.sqrt(365), rel=1e-12)
    # both estimate the same annual risk: within 15% of each other (weekend BTC risk is
    # in Monday's session return on one clock, spread over the weekend on the other)
    assert abs(vs / vc - 1) < 0.15


def test_costs_by_venue_and_cash_at_the_t_bill_rate(qqq_btc, shared_dir):
    irx = read_long(shared_dir / "rates_yield_pct_daily_dsturdy.csv.gz")
    irx = irx[irx["symbol"] == "^IRX"].set_index("date")["close"] / 100.0
    pol = Policy(FixedWeights({"QQQ": 0.5, "BTC": 0.3}), Calendar("monthly", clock="session"), min_history=0)
    with_rate = backtest(pol, qqq_btc, costs="default", venues={"QQQ": "NASDAQ", "BTC": "binance"},
                         cash_rate=irx)
    without = backtest(pol, qqq_btc, costs="default", venues={"QQQ": "NASDAQ", "BTC": "binance"})
    assert set(with_rate.costs_by_venue.index) == {"NASDAQ", "binance"}
    fee = with_rate.costs_by_venue
    assert fee.loc["binance", "fee"] / fee.loc["binance", "notional"] == pytest.approx(7.5e-4, rel=1e-9)
    # 20% in T-bills over 2018-2025 (average ^IRX about 2%) adds roughly 0.2 x 2% a year
    extra = M.cagr(with_rate.returns) - M.cagr(without.returns)
    assert 0.001 < extra < 0.01
    assert with_rate.manifest["data_hash"] == qqq_btc.data_hash()


def test_metrics_against_a_benchmark_on_the_same_basis(books, qqq_btc):
    for basis, res in books.items():
        bench = qqq_btc.returns(basis)["QQQ"]
        m = res.metrics(benchmark=bench)
        assert m["periods_per_year"] == res.periods_per_year
        assert 0.3 < m["beta"] < 1.2 and 0.5 < m["correlation"] < 1.0
        assert m["tracking_error"] > 0 and np.isfinite(m["information_ratio"])


def test_shipped_universe_venues_and_default_costs(shared_dir, universe):
    md = load_folder(shared_dir, universe.calendars, symbols=["NVDA", "BTC", "GLM"], start="2023-06-01",
                     end="2025-06-30")
    w = pd.DataFrame({"NVDA": [0.5], "BTC": [0.3], "GLM": [0.2]}, index=[pd.Timestamp("2023-09-29")])
    res = simulate(md, w, costs="default", universe=universe, basis="calendar")
    # GLM lists on 2023-08-10 (bybit), so all three trade; venues come from the universe
    assert set(res.trades["venue"]) == {"NASDAQ", "binance", "bybit"}
    glm = res.costs_by_asset.loc["GLM"]
    assert glm["spread"] / glm["notional"] == pytest.approx(25e-4, rel=1e-9)  # small-token override
    assert res.costs_by_asset.loc["BTC", "impact"] > 0  # crypto has volume: square-root impact


def test_full_universe_with_mandate_allocator_and_default_costs(shared_dir, universe):
    """End to end: every tradable asset of the shipped universe, an allocator under the
    shipped mandate, default costs with impact, assets entering and leaving."""
    allocate = pytest.importorskip("computefolio.allocate")
    from importlib import resources

    syms = [a.symbol for a in universe.assets if a.asset_class in ("equity", "crypto")]
    md = load_folder(shared_dir, universe.calendars, symbols=syms, start="2021-01-01", end="2024-12-31")
    mandate = str(resources.files("computefolio") / "resources" / "mandate_default.yaml")
    pol = Policy(allocate.InverseVolatility(), Calendar("monthly", clock="session"), mandate=mandate,
                 lookback=126, min_history=60)
    res = backtest(pol, md, costs="default", universe=universe)
    assert np.isfinite(res.equity).all() and res.total_costs > 0
    assert {"NASDAQ", "NYSE", "binance", "bybit"} <= set(res.costs_by_venue.index)
    # FET and THETA prices end on 2024-12-05 without a delisting date: stale, held at their last
    # price (never booked as a sale), not traded after it, and flagged
    assert not (res.trades["kind"] == "delist").any()
    late = res.trades[(res.trades["date"] > "2024-12-05") & res.trades["symbol"].isin(["FET", "THETA"])]
    assert late.empty
    held = [s for s in ("FET", "THETA") if res.weights[s].loc[:"2024-12-05"].iloc[-1] > 0]
    assert set(held) <= set(res.stale.index)
    if held:
        assert (res.weights.loc["2024-12-06":, held] > 0).all().all()
        assert any(e["stale"] for e in res.rebalances if e["date"] > pd.Timestamp("2024-12-05"))
    # the mandate's asset cap (8%, drift aside) and cash floor hold after each rebalance
    reb = sorted(set(res.trades.loc[res.trades["kind"] == "rebalance", "date"]))
    post = res.weights.loc[reb]
    assert post.max().max() <= 0.08 + 1e-6
    # (stale positions held at a fixed value weigh a little more after the day's costs: <1e-5)
    assert (post.sum(axis=1) <= 0.98 + 1e-5).all()
